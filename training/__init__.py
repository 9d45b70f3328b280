"""The shipped training pipeline that `make train` runs; one-off studies live in experiments/."""
