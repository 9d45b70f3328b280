"""gunicorn settings for the lesion analysis service (used by `make run` and the Dockerfile)."""

import os
import sys
import tempfile

# The project's root, for the lesion package (gunicorn reads this file before it imports wsgi).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lesion.runtimes import use_worker_threads

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads let a worker keep serving while one of its connections is slow to send its body;
# inference itself is CPU-bound, so a few threads per worker are enough.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so slow leaks cannot accumulate. A recycling worker answers
# the connections it has already accepted with the pinned gunicorn 27.0.1 (23.0.0's gthread
# worker reset some of them: bench/load.py's recycling run, tests/test_faults.py).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "1000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "100")) if max_requests else 0
# Request line / header limits (gunicorn's own guards against huge headers).
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
raw_env = ["TF_CPP_MIN_LOG_LEVEL=2"]
# No runtime control socket (gunicorn >= 25.1): nothing here uses gunicornc, and its default
# path in $HOME would be shared by every instance on the host and unwritable in the container.
control_socket_disable = True
# Two inference threads per worker: one request uses both cores of a 2-core machine (measured in
# bench/RESULTS.md; see lesion.runtimes.WORKER_INFERENCE_THREADS).
use_worker_threads()


def on_starting(server):
    """Refuse to start, with one clear line, when a model file or card is missing or corrupt."""
    from lesion.model_files import check_model_files

    models_dir = os.environ.get("LESION_MODELS_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "models"))
    problem = check_model_files(models_dir)
    if problem:
        server.log.error("cannot start: %s", problem)
        sys.exit(1)
    # Workers write their Prometheus metrics here, so /metrics counts them all.
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="lesion-metrics-")
