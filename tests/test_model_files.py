from __future__ import annotations

import json
from pathlib import Path

import pytest

from lesion.errors import ModelLoadError
from lesion.model_card import read_card
from lesion.model_files import check_model_files
from tests.conftest import MODELS_DIR, copy_models


@pytest.mark.parametrize("name", ["classifier", "segmenter"])
def test_committed_cards_are_complete(name: str) -> None:
    card = read_card(MODELS_DIR / f"{name}.json")
    raw = card.raw
    for field in (
        "data",
        "input_size",
        "preprocessing",
        "threshold",
        "validation",
        "training",
        "date",
        "gflops_per_image",
    ):
        assert field in raw, f"{name}.json lacks {field}"
    assert raw["training"]["command"].startswith(f"python -m training.train_{name}")
    assert raw["gflops_per_image"] > 0  # the speed budget itself is measured by `make bench`


def test_no_model_file_exceeds_100_mb_and_the_folder_stays_within_200_mb() -> None:
    sizes = {path.name: path.stat().st_size for path in MODELS_DIR.iterdir() if path.is_file()}
    assert max(sizes.values()) <= 100 * 1000 * 1000, sizes
    assert sum(sizes.values()) <= 200 * 1000 * 1000, sizes


def test_classifier_members_have_complete_cards_and_current_exports() -> None:
    members = read_card(MODELS_DIR / "classifier.json").raw["members"]
    assert members and 0 < sum(entry["share"] for entry in members) < 1
    for entry in members:
        card = read_card(MODELS_DIR / f"{entry['name']}.json")
        assert card.input_size == read_card(MODELS_DIR / "classifier.json").input_size  # one preprocessing
        for field in ("data", "preprocessing", "training", "date", "gflops_per_image", "training_data", "tflite"):
            assert field in card.raw, f"{entry['name']}.json lacks {field}"
        assert card.raw["training"]["command"].startswith("python -m training.train_low_resolution")
        assert any("ISIC 2019" in data["name"] and "NC" in data["licence"] for data in card.training_data)


def test_a_missing_member_is_named_at_start_up(tmp_path: Path) -> None:
    models = copy_models(tmp_path)
    member = read_card(MODELS_DIR / "classifier.json").raw["members"][0]["name"]
    card = read_card(models / f"{member}.json").raw
    (models / card["file"]).unlink()
    (models / card["tflite"]["file"]).unlink()
    problem = check_model_files(models)
    assert problem is not None and member in problem


def test_classifier_card_reports_both_sources_with_intervals() -> None:
    raw = read_card(MODELS_DIR / "classifier.json").raw
    for block in (raw["validation"], raw["ham_held_out"], raw["isic2020_report"]):
        low, high = block["auc_ci95"]
        assert low <= block["auc"] <= high
    assert "contaminated" in raw["ham_held_out"]  # the dermoscopy member was trained on HAM10000
    licences = {entry["licence"] for entry in raw["training_data"]}
    assert {"CC-0", "CC BY-NC-SA 4.0", "CC BY-NC 4.0", "MIT"} <= licences
    assert "CC BY-NC-SA 4.0" in raw["data"]["second_source"]
    assert raw["operating_point"]["chosen_on"].startswith("the selection parts")


def test_committed_models_pass_the_start_up_check() -> None:
    assert check_model_files(MODELS_DIR) is None


def test_missing_model_file_is_reported_in_one_line(tmp_path: Path) -> None:
    models = copy_models(tmp_path)
    (models / "segmenter.keras").unlink()
    problem = check_model_files(models)
    assert problem is not None and "segmenter.keras does not exist" in problem and "\n" not in problem


def test_corrupt_model_file_is_reported(tmp_path: Path) -> None:
    models = copy_models(tmp_path)
    (models / "classifier.keras").unlink()
    (models / "classifier.keras").write_bytes(b"PK\x03\x04 this is not a keras archive")
    assert "corrupt" in check_model_files(models)


def test_card_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "classifier.json"
    path.write_text("{not json")
    with pytest.raises(ModelLoadError, match=r"classifier\.json"):
        read_card(path)
    path.write_text(json.dumps({"name": "x", "version": "1", "input_size": 224}))
    with pytest.raises(ModelLoadError, match="threshold"):
        read_card(path)
