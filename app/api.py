"""JSON API under /api/v1, and the health probes."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, jsonify, request

from app.inference_extension import get_predictor
from app.metrics import observe_stages
from app.uploads import analyse_request, compare_request, ready_predictor
from lesion.analysis import DISPLAY_MAX_SIDE, EXPLANATION_NOTE, NOT_A_DIAGNOSIS, UploadResult, quality_of
from lesion.change import ChangeResult, overlay_png_base64
from lesion.inference import Predictor
from lesion.postprocessing import risk_band
from lesion.rendering import explanation_png_base64, mask_png_base64

bp = Blueprint("api", __name__, url_prefix="/api/v1")
probes = Blueprint("probes", __name__)
NOT_READY = "The models are not loaded yet."
#: A comparison's own stages, recorded beside the two analyses' stages.
STAGES = ("register", "compare", "overlay")


def result_json(result: UploadResult, predictor: Predictor, total_ms: float, with_mask: bool = True) -> dict[str, Any]:
    """The API's answer for one analysed image; no probability, label or band for a refused photo."""
    card = predictor.classifier.card
    probability = result.analysis.probability
    width, height = result.decoded.size
    judged = result.analysis.in_distribution
    payload = {
        "quality": quality_of(result),
        "malignant_probability": round(probability, 6) if judged else None,
        "label": result.analysis.label if judged else None,
        "threshold": result.analysis.threshold,
        "threshold_meaning": card.raw.get("threshold_meaning", ""),
        "risk_band": risk_band(probability, card.risk_bands) if judged else None,
        "mask_png": mask_png_base64(result),
        "image": {"width": width, "height": height},
        "lesion": result.lesion.as_dict(),
        "model": predictor.model_versions,
        "timing_ms": {**result.timing_ms, "total": round(total_ms, 2)},
        "disclaimer": NOT_A_DIAGNOSIS,
    }
    if not with_mask:
        del payload["mask_png"]
    return payload


def compare_json(pair: ChangeResult, predictor: Predictor, overlay_png: str | None) -> dict[str, Any]:
    """The API's answer for a comparison; ``change`` is null unless the photos show the same lesion."""
    change = pair.comparison.change
    return {
        "same_lesion": pair.same_lesion,
        "message": pair.comparison.message,
        "registration": {**pair.registration.summary(), "reason": pair.registration.reason},
        "before": result_json(pair.before, predictor, pair.timing_ms["before"], with_mask=False),
        "after": result_json(pair.after, predictor, pair.timing_ms["after"], with_mask=False),
        "change": None if change is None else change.as_dict(),
        "overlay_png": overlay_png,
        "disclaimer": NOT_A_DIAGNOSIS,
    }


@bp.post("/analyze")
def analyze():
    started = time.perf_counter()
    predictor, result = analyse_request(NOT_READY)
    explain = request.args.get("explain", "").lower() in ("1", "true", "yes")
    if explain:
        started_explanation = time.perf_counter()
        explanation = explanation_png_base64(result)
        explanation_ms = round(1000 * (time.perf_counter() - started_explanation), 2)
    payload = result_json(result, predictor, 1000 * (time.perf_counter() - started))
    if explain:
        payload["explanation_png"] = explanation
        payload["timing_ms"]["explanation"] = explanation_ms
        payload["explanation"] = EXPLANATION_NOTE
    observe_stages(payload["timing_ms"])
    return jsonify(payload)


@bp.post("/compare")
def compare():
    started = time.perf_counter()
    predictor, pair, _ = compare_request(NOT_READY)
    started_overlay = time.perf_counter()
    overlay = None
    if pair.registration.same_lesion:
        overlay = overlay_png_base64(pair, DISPLAY_MAX_SIDE)
    timing = {**pair.timing_ms, "overlay": round(1000 * (time.perf_counter() - started_overlay), 2)}
    payload = compare_json(pair, predictor, overlay)
    payload["timing_ms"] = {**timing, "total": round(1000 * (time.perf_counter() - started), 2)}
    for stages in (pair.before.timing_ms, pair.after.timing_ms, {name: timing[name] for name in STAGES}):
        observe_stages(stages)
    return jsonify(payload)


@bp.get("/models")
def models():
    predictor = ready_predictor(NOT_READY)
    return jsonify(
        classifier=predictor.classifier.card.raw,
        segmenter=predictor.segmenter.card.raw,
        disclaimer=NOT_A_DIAGNOSIS,
    )


@probes.get("/healthz")
def healthz():
    return jsonify(status="alive")


@probes.get("/readyz")
def readyz():
    if get_predictor() is None:
        return jsonify(status="loading"), 503
    return jsonify(status="ready", models=get_predictor().model_versions)
