"""The lesion core: read a photo, run the models, measure and judge it. Imports no Flask.

Used by the web app (``app``), the batch CLI (``python -m app.batch``), ``training`` and ``bench``.
"""
