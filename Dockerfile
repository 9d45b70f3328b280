# The lesion analysis service: gunicorn serving the committed models.
#
#   podman build -t lesion .                         # LiteRT serving of the TFLite exports (no TensorFlow)
#   podman build --build-arg RUNTIME=keras -t lesion .  # also TensorFlow/Keras, to serve the .keras files
#
# PYTHON_IMAGE pins the base; pass a digest (python:3.11-slim@sha256:...) for byte-for-byte rebuilds.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ARG RUNTIME=litert
WORKDIR /build
COPY requirements.txt requirements-serve.txt ./
RUN case "$RUNTIME" in \
        litert) requirements=requirements-serve.txt ;; \
        keras) requirements=requirements.txt ;; \
        *) echo "RUNTIME must be litert or keras, got '$RUNTIME'" >&2; exit 1 ;; \
    esac \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
        --cert /etc/ssl/certs/ca-certificates.crt -r "$requirements" \
    && /opt/venv/bin/pip uninstall --yes pip \
    && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} + \
    && find /opt/venv -path '*/tests' -prune -exec rm -rf {} +
# The LiteRT image serves the TFLite exports: the .keras files they were made from (the
# classifier's is 94 MB) stay out of it. A multi-stage copy, so no layer holds them.
COPY models/ /build/models/
RUN if [ "$RUNTIME" = litert ]; then rm -f /build/models/*.keras; fi

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    MALLOC_ARENA_MAX=2 \
    PORT=8000
RUN useradd --system --no-create-home --uid 10001 --user-group lesion
WORKDIR /srv/lesion
COPY --from=build /opt/venv /opt/venv
COPY app/ app/
COPY lesion/ lesion/
COPY records/ records/
COPY migrations/ migrations/
COPY --from=build /build/models/ models/
COPY templates/ templates/
COPY static/ static/
COPY wsgi.py gunicorn.conf.py ./

USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8000\")}/healthz', timeout=4)"]
STOPSIGNAL SIGTERM
CMD ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
