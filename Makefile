# Two commands for a fresh machine with Python 3.11: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
DATA ?= ../shared/data/isic2017
HAM ?= ../shared/data/ham10000
ISIC2020 ?= ../shared/data/isic2020
ARCHIVE ?= ../shared/data/isic_archive
CLINICAL ?= ../shared/data/clinical_photos
ISIC2019 ?= ../shared/data/isic2019
WEIGHTS ?= imagenet
# The last commit with the version-3 models, compared end to end by `make bench`.
BENCH_BASELINE ?= d010f66
export PYTHONPATH := $(CURDIR)
export TF_CPP_MIN_LOG_LEVEL ?= 2
# glibc makes an arena per thread; TensorFlow's many threads then bloat memory.
export MALLOC_ARENA_MAX ?= 2

.PHONY: container container-test setup run records-hint migrate backup test lint train train-classifier ensemble dermoscopy low-resolution train-segmenter self-train-segmenter calibrate export quality-gate evaluate bench load fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

# sklesion pins tensorflow 2.17 in its metadata; its model.keras loads in Keras 3.15, so no deps.
$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps sklesion==0.2.2
	touch $@

## setup: create .venv/ and install everything (runtime, training, tests)
setup: $(VENV)/.runtime $(VENV)/.dev

## run: set up and serve the committed models with gunicorn on 0.0.0.0:$(PORT)
run: $(VENV)/.runtime records-hint
	PORT=$(PORT) $(BIN)/gunicorn --config gunicorn.conf.py wsgi:app

# records-hint: what `make run` prints while patient records are off (LESION_RECORDS_KEY unset)
records-hint:
	@if [ -z "$$LESION_RECORDS_KEY" ]; then \
		echo "Patient records are off. To turn them on: make migrate, then"; \
		echo "  export LESION_RECORDS_KEY=\$$($(BIN)/python -c 'import base64,secrets; print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())')"; \
		echo "  $(BIN)/flask --app wsgi records create-user EMAIL --clinic NAME --admin   (password on standard input)"; \
		echo "and keep the key safe: without it the stored photos cannot be read (docs/RECORDS.md)."; \
	fi

## migrate: bring the records database at DATABASE_URL (default instance/records.sqlite3) up to date
migrate: $(VENV)/.runtime
	$(BIN)/python -m records migrate

## backup: a consistent copy of the records database (SQLite online backup; pg_dump for PostgreSQL) in $(BACKUP)
BACKUP ?= backups/records-$(shell date -u +%Y%m%dT%H%M%SZ).backup
backup: $(VENV)/.runtime
	$(BIN)/python -m records backup $(BACKUP)

## test: set up and run the whole test suite
test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

## container: build the service image (localhost/lesion:latest) with podman
container:
	bash deploy/build-image.sh

## container-test: build the image, run it and check it (skips where podman cannot run)
container-test: setup
	$(BIN)/python -m pytest -m container -v

lint: setup
	$(BIN)/ruff check .

## train: train both models on $(DATA) and $(HAM) (WEIGHTS=imagenet or a .weights.h5 file), then
## calibrate, export, fit the quality gate and score them on data that chose nothing
train: train-classifier ensemble dermoscopy low-resolution train-segmenter calibrate export quality-gate evaluate

train-classifier: setup
	$(BIN)/python -m training.train_classifier --data $(DATA) --ham $(HAM) --backbone-weights $(WEIGHTS)

## ensemble: add the linear probe on frozen ImageNet features to the fine-tuned classifier
ensemble: setup
	$(BIN)/python -m training.train_ensemble --data $(DATA) --ham $(HAM) --backbone-weights $(WEIGHTS)

## dermoscopy: add the dermoscopy member (a probe on sklesion's Xception features) to the ensemble: version 3
dermoscopy: setup
	$(BIN)/python -m training.train_dermoscopy --data $(DATA) --archive $(ARCHIVE) --isic2020 $(ISIC2020)

## low-resolution: train the low-resolution member (every source at ISIC 2019's 84 px) and blend it into the
## classifier by the worst selection-part gain over version 3: version 4
low-resolution: setup
	$(BIN)/python -m training.train_low_resolution --data $(DATA) --ham $(HAM) --archive $(ARCHIVE) \
		--isic2020 $(ISIC2020) --isic2019 $(ISIC2019) --backbone-weights $(WEIGHTS) --epochs 10
	$(BIN)/python -m training.blend_low_resolution --data $(DATA) --ham $(HAM) --archive $(ARCHIVE) \
		--isic2020 $(ISIC2020) --isic2019 $(ISIC2019) --models models

## train-segmenter: the shipped segmenter, version 1's recipe (the tool's defaults and the
## self-trained candidate scored lower on val/: see docs/MODELS.md)
train-segmenter: setup
	$(BIN)/python -m training.train_segmenter --data $(DATA) --backbone-weights $(WEIGHTS) \
		--select-on-val --full-resolution 0 --plain-augmentation --epochs 24

## self-train-segmenter: the rejected self-trained candidate (not in `make train`): the shipped
## segmenter's confident outlines on $(HAM), $(ISIC2020) and $(ARCHIVE) photos as extra masks
self-train-segmenter: setup
	$(BIN)/python -m training.self_train_segmenter --data $(DATA) --ham $(HAM) --isic2020 $(ISIC2020) \
		--archive $(ARCHIVE)

## calibrate: Platt scaling, the 90%-sensitivity threshold and risk bands, on the selection parts
calibrate: setup
	$(BIN)/python -m training.calibrate --data $(DATA) --ham $(HAM) --isic2020 $(ISIC2020)

## evaluate: official ISIC metrics on $(DATA)/val, AUC on the held-out $(HAM) lesions and the $(ISIC2020)
## report patients, into the cards
evaluate: setup
	$(BIN)/python -m training.evaluate --data $(DATA)/val --ham $(HAM) --isic2020 $(ISIC2020) --isic2019 $(ISIC2019) \
		--out models/val_metrics.json --update-cards

## export: TFLite files for serving, checked against the Keras models
export: setup
	$(BIN)/python -m training.export_tflite --models models

## quality-gate: fit the photo-kind gate on dermoscopy ($(DATA)/train, the $(HAM) fit part, $(ISIC2020) fit and
## select patients, $(ARCHIVE)), the $(CLINICAL) phone photos not held out and installed/generated photos
quality-gate: setup
	$(BIN)/python -m training.quality_gate --data $(DATA) --ham $(HAM) --isic2020 $(ISIC2020) --archive $(ARCHIVE) \
		--clinical $(CLINICAL)

## bench: speed benchmark (writes bench/RESULTS.md), end to end also with the models of $(BENCH_BASELINE)
bench: setup
	$(BIN)/python -m bench.run --baseline-rev $(BENCH_BASELINE)

## load: 60 s load and fault run against gunicorn (writes bench/LOAD_RESULTS.md)
load: setup
	$(BIN)/python -m bench.load

## fuzz: five minutes of fuzzing of decode + preprocess
fuzz: setup
	$(BIN)/python -m bench.fuzz --minutes 5

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
