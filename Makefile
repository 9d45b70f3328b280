# Two commands for a fresh machine with Python 3.11: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
DATA ?= ../shared/data/isic2017
HAM ?= ../shared/data/ham10000
WEIGHTS ?= imagenet
export PYTHONPATH := $(CURDIR)
export TF_CPP_MIN_LOG_LEVEL ?= 2
# glibc makes an arena per thread; TensorFlow's many threads then bloat memory.
export MALLOC_ARENA_MAX ?= 2

.PHONY: container container-test setup run test lint train train-classifier ensemble train-segmenter calibrate export quality-gate evaluate bench load fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

## setup: create .venv/ and install everything (runtime, training, tests)
setup: $(VENV)/.runtime $(VENV)/.dev

## run: set up and serve the committed models with gunicorn on 0.0.0.0:$(PORT)
run: $(VENV)/.runtime
	PORT=$(PORT) $(BIN)/gunicorn --config gunicorn.conf.py wsgi:app

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

## train: train both models on $(DATA) (WEIGHTS=imagenet or a .weights.h5 file), then
## calibrate, score and export them
train: train-classifier ensemble train-segmenter calibrate export quality-gate evaluate

train-classifier: setup
	$(BIN)/python -m training.train_classifier --data $(DATA) --backbone-weights $(WEIGHTS)

## ensemble: add the linear probe on frozen ImageNet features to the fine-tuned classifier
ensemble: setup
	$(BIN)/python -m training.probe_ensemble --data $(DATA) --backbone-weights $(WEIGHTS)

train-segmenter: setup
	$(BIN)/python -m training.train_segmenter --data $(DATA) --backbone-weights $(WEIGHTS)

## calibrate: Platt scaling and the 90%-sensitivity threshold, on $(DATA)/val
calibrate: setup
	$(BIN)/python -m training.calibrate --data $(DATA)/val

## evaluate: official ISIC metrics of the committed models on $(DATA)/val, into the cards
evaluate: setup
	$(BIN)/python -m training.evaluate --data $(DATA)/val --out models/val_metrics.json --update-cards

## export: TFLite files for serving, checked against the Keras models
export: setup
	$(BIN)/python -m training.export_tflite --models models

## quality-gate: fit the photo-kind gate on $(DATA)/train, the $(HAM) fit part and installed/generated photos
quality-gate: setup
	$(BIN)/python -m training.quality_gate --data $(DATA) --ham $(HAM)

## bench: speed benchmark (writes bench/RESULTS.md)
bench: setup
	$(BIN)/python -m bench.run

## load: 60 s load and fault run against gunicorn (writes bench/LOAD_RESULTS.md)
load: setup
	$(BIN)/python -m bench.load

## fuzz: five minutes of fuzzing of decode + preprocess
fuzz: setup
	$(BIN)/python -m bench.fuzz --minutes 5

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
