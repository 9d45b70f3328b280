"""One-off studies behind the shipped models (not run by `make train`); see experiments/README.md."""
