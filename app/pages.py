"""The HTML page: upload form and result."""

from __future__ import annotations

import time

from flask import Blueprint, render_template

from app.inference_extension import get_predictor
from app.metrics import observe_stages
from app.uploads import COMPARED, analyse_request, compare_request
from lesion.analysis import DISPLAY_MAX_SIDE, EXPLANATION_NOTE, NOT_A_DIAGNOSIS, quality_of
from lesion.change import change_rows, overlay_image
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
            # An entry may name its own user (the quality gate's phone photos trained no model here).
            user = entry.get("used_by", loaded.card.name)
            item = merged.setdefault(entry["name"], {**entry, "models": ""})
            item["models"] = f"{item['models']} and {user}" if item["models"] else user
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


@bp.get("/compare")
def compare_form():
    return render_template("compare.html", disclaimer=NOT_A_DIAGNOSIS)


@bp.post("/compare")
def compare():
    started = time.perf_counter()
    predictor, pair, dates = compare_request("The models are still loading; try again in a moment.")
    started_render = time.perf_counter()
    card = predictor.classifier.card
    sides = []
    for name, result, taken in zip(COMPARED, (pair.before, pair.after), dates, strict=True):
        photo_jpeg, overlay_png = display_images(result)
        sides.append(
            {
                "name": name,
                "result": result,
                "date": taken,
                "quality": quality_of(result),
                "band": risk_band(result.analysis.probability, card.risk_bands),
                "photo_uri": data_uri(photo_jpeg, "image/jpeg"),
                "overlay_uri": data_uri(overlay_png, "image/png"),
            }
        )
    registered = pair.registration.same_lesion
    overlay_uri = data_uri(encode_png(overlay_image(pair, DISPLAY_MAX_SIDE)), "image/png") if registered else None
    own = {"register": pair.timing_ms["register"], "compare": pair.timing_ms["compare"]}
    for stages in (pair.before.timing_ms, pair.after.timing_ms, own):
        observe_stages(stages)
    observe_stages({"render": 1000 * (time.perf_counter() - started_render)})
    change = pair.comparison.change
    return render_template(
        "compare_result.html",
        disclaimer=NOT_A_DIAGNOSIS,
        sides=sides,
        same_lesion=registered,
        registration=pair.registration,
        change=change,
        rows=[] if change is None else change_rows(change),
        message=pair.comparison.message,
        overlay_uri=overlay_uri,
        bands=card.risk_bands,
        threshold_meaning=card.raw.get("threshold_meaning", ""),
        models=predictor.model_versions,
        total_ms=round(1000 * (time.perf_counter() - started), 1),
    )
