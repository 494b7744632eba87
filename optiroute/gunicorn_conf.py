"""How OptiRoute's web server runs, wherever it runs: `make run`, the Dockerfile and
docker-compose.yml all start `gunicorn optiroute.wsgi --config python:optiroute.gunicorn_conf`.

WEB_WORKERS processes (default: one per CPU) of WEB_THREADS threads (default 8): routing is
CPU-bound Python, so processes, not threads, are what use the cores; and a kept-alive client
connection stays with the worker that accepted it, so a worker needs a thread for each
connection it may hold (fewer threads measured worse tail latency at concurrency 8).
"""

from __future__ import annotations

import gc
import logging
import os
from typing import Any

logger = logging.getLogger(__name__)

workers = int(os.environ.get("WEB_WORKERS") or os.cpu_count() or 2)
threads = int(os.environ.get("WEB_THREADS") or 8)
timeout = 120
bind = os.environ.get("WEB_BIND", "127.0.0.1:8000")


def post_worker_init(worker: Any) -> None:
    """Load what every routed request reads before the first request comes, then freeze it.

    Without this the first calls in each worker pay for the registry snapshot, the analyzer
    and the embedder. Frozen, those long-lived objects (~190,000) are no longer traversed by
    every full garbage collection: such a pass had paused a worker, and every request on it,
    for ~140 ms about once per thousand requests.
    """
    from routing.pipeline import routing_state_load

    try:
        routing_state_load()
    except Exception:  # e.g. a database not migrated yet: the first request loads what it can
        logger.warning("routing state not preloaded in web worker %s", worker.pid, exc_info=True)
    gc.freeze()


def child_exit(server: Any, worker: Any) -> None:
    """A worker that exits leaves its counters to the sum; its live gauges go with it."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
