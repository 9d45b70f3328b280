"""The HTML page: upload form and result."""

from __future__ import annotations

import time

from flask import Blueprint, current_app, render_template, request

from app.analysis import (
    EXPLANATION_NOTE,
    NOT_A_DIAGNOSIS,
    analyse_upload,
    display_images,
    explanation_layer,
    quality_of,
    read_scale,
    read_upload,
    risk_band,
)
from app.error_handlers import error_response
from app.inference_extension import get_predictor
from app.metrics import observe_stages
from app.overlay import data_uri, encode_png

bp = Blueprint("pages", __name__)


@bp.get("/")
def index():
    return render_template("index.html", disclaimer=NOT_A_DIAGNOSIS)


@bp.post("/")
def analyse():
    started = time.perf_counter()
    predictor = get_predictor()
    if predictor is None:
        return error_response(503, "not_ready", "The models are still loading; try again in a moment.")
    scale = read_scale(request.values)
    data = read_upload(request.files)
    result = analyse_upload(data, predictor, current_app.config["MAX_IMAGE_PIXELS"], scale, for_display=True)
    started_render = time.perf_counter()
    photo_jpeg, overlay_png = display_images(result)
    heat = explanation_layer(result)
    observe_stages({**result.timing_ms, "render": 1000 * (time.perf_counter() - started_render)})
    card = predictor.classifier.card
    return render_template(
        "result.html",
        disclaimer=NOT_A_DIAGNOSIS,
        result=result,
        probability=result.analysis.probability,
        band=risk_band(result.analysis.probability, card.risk_bands),
        bands=card.risk_bands,
        threshold_meaning=card.raw.get("threshold_meaning", ""),
        photo_uri=data_uri(photo_jpeg, "image/jpeg"),
        overlay_uri=data_uri(overlay_png, "image/png"),
        explanation_uri=None if heat is None else data_uri(encode_png(heat), "image/png"),
        explanation_note=EXPLANATION_NOTE,
        models=predictor.model_versions,
        quality=quality_of(result),
        total_ms=round(1000 * (time.perf_counter() - started), 1),
    )
