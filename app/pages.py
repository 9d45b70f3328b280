"""The HTML page: upload form and result."""

from __future__ import annotations

import time

from flask import Blueprint, render_template

from app.inference_extension import get_predictor
from app.metrics import observe_stages
from app.uploads import analyse_request
from lesion.analysis import EXPLANATION_NOTE, NOT_A_DIAGNOSIS, quality_of
from lesion.overlay import data_uri, encode_png
from lesion.postprocessing import risk_band
from lesion.rendering import display_images, explanation_layer

bp = Blueprint("pages", __name__)


@bp.app_context_processor
def training_data() -> dict[str, list[dict[str, str]]]:
    """The footer's list: every data set the loaded models learned from, its licence and which models."""
    predictor = get_predictor()
    if predictor is None:
        return {"training_data": []}
    merged: dict[str, dict[str, str]] = {}
    for loaded in (predictor.classifier, predictor.segmenter):
        for entry in loaded.card.training_data:
            item = merged.setdefault(entry["name"], {**entry, "models": ""})
            item["models"] = f"{item['models']} and {loaded.card.name}" if item["models"] else loaded.card.name
    return {"training_data": list(merged.values())}


@bp.get("/")
def index():
    return render_template("index.html", disclaimer=NOT_A_DIAGNOSIS)


@bp.post("/")
def analyse():
    started = time.perf_counter()
    predictor, result = analyse_request("The models are still loading; try again in a moment.", for_display=True)
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
