"""The skin-lesion analysis web service (Flask app factory)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create the app and load the models once.

    Configuration comes from defaults, then ``LESION_*`` environment variables
    (``LESION_MODELS_DIR``, ``LESION_MAX_CONTENT_LENGTH``...), then ``test_config``.
    """
    app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    app.config.from_mapping(
        MODELS_DIR=str(ROOT / "models"),
        MAX_CONTENT_LENGTH=20 * 1024 * 1024,
        MAX_IMAGE_PIXELS=50_000_000,
        MAX_FORM_MEMORY_SIZE=1024 * 1024,
        MAX_FORM_PARTS=16,
        LOAD_MODELS=True,
        PROXY_HOPS=0,
    )
    app.config.from_prefixed_env("LESION")
    if test_config:
        app.config.update(test_config)
    app.config["DEBUG"] = False if not app.config.get("TESTING") else app.config.get("DEBUG", False)

    from app import api, error_handlers, inference_extension, metrics, pages, security
    from app.memory_request import InMemoryRequest

    app.request_class = InMemoryRequest

    inference_extension.init_app(app)
    metrics.init_app(app)
    error_handlers.init_app(app)
    security.init_app(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(api.probes)
    init_records(app)
    return app


def init_records(app: Flask) -> None:
    """Patient records: off (404) unless LESION_RECORDS_KEY is set; see records/__init__.py."""
    from app import (
        records_api,
        records_auth,
        records_cli,
        records_errors,
        records_extension,
        records_pages,
        records_timeline,
    )

    records_extension.init_app(app)
    records_errors.init_app(app)
    records_cli.init_app(app)
    app.register_blueprint(records_auth.bp)
    app.register_blueprint(records_api.bp)
    app.register_blueprint(records_pages.bp)
    app.register_blueprint(records_timeline.bp)
