"""The HTML page through Flask's test client (works without JavaScript)."""

from __future__ import annotations

import io
import re


def test_upload_form(client) -> None:
    html = client.get("/").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in html
    assert re.search(r'<input type="file" id="image" name="image" accept="image/\*"', html)
    assert '<label for="image">' in html
    assert "not a medical device" in html


def test_result_page_shows_probability_overlay_and_measurements(client, lesion_path) -> None:
    response = client.post(
        "/", data={"image": (io.BytesIO(lesion_path.read_bytes()), "lesion.jpg")}, content_type="multipart/form-data"
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'id="probability">\d+\.\d%<', html)
    assert 'id="overlay"' in html and "data:image/png;base64," in html
    assert "threshold" in html and "Risk band" in html
    assert "Largest diameter" in html and "Processed in" in html
    assert "not a diagnosis" in html.lower()


def test_bad_upload_shows_the_error_on_the_page(client) -> None:
    response = client.post(
        "/",
        data={"image": (io.BytesIO(b"plain text"), "a.jpg")},
        content_type="multipart/form-data",
        headers={"Accept": "text/html"},
    )
    assert response.status_code == 415
    html = response.get_data(as_text=True)
    assert 'role="alert"' in html and "not an image in a supported format" in html


def test_footer_names_the_training_data_of_the_cards(app, client) -> None:
    html = client.get("/").get_data(as_text=True)
    footer = html[html.index('<footer class="site-footer">') :]
    predictor = app.extensions["lesion_predictor"]
    entries = predictor.classifier.card.training_data + predictor.segmenter.card.training_data
    assert entries
    for entry in entries:
        assert entry["name"] in footer and entry["licence"] in footer
    assert "ISIC 2017 challenge data (CC-0; classifier and segmenter)" in footer
    assert "HAM10000 (CC BY-NC-SA 4.0; classifier)" in footer
    assert "PAD-UFES-20 smartphone photos (CC BY 4.0; quality gate)" in footer  # it trained the gate only


def test_threshold_text_speaks_plainly(client, lesion_path) -> None:
    response = client.post(
        "/", data={"image": (io.BytesIO(lesion_path.read_bytes()), "lesion.jpg")}, content_type="multipart/form-data"
    )
    meaning = re.search(r'<p class="meaning">(.*?)</p>', response.get_data(as_text=True), re.S).group(1)
    assert "flagged for a closer look" in meaning and "melanomas" in meaning
    assert "selection" not in meaning.lower()
