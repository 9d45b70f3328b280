# The lesion analysis service: gunicorn serving the committed models.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    MALLOC_ARENA_MAX=2 \
    PORT=8000

WORKDIR /srv/lesion
COPY requirements.txt ./
RUN pip install -r requirements.txt \
    && useradd --create-home --uid 10001 lesion

COPY app/ app/
COPY models/classifier.keras models/classifier.json models/segmenter.keras models/segmenter.json models/
COPY templates/ templates/
COPY static/ static/
COPY wsgi.py gunicorn.conf.py ./

USER lesion
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8000\")}/healthz', timeout=4)"
CMD ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
