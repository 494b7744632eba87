"""gunicorn's server hooks; optiroute.runner.gunicorn_command passes this module as its config."""

from __future__ import annotations

import gc
import logging
from typing import Any

logger = logging.getLogger(__name__)


def post_worker_init(worker: Any) -> None:
    """Load what every routed request reads before the first request comes, then freeze it.

    Without this the first calls in each worker pay for the registry snapshot, the analyzer
    and the embedder. Frozen, those long-lived objects (~190,000) are no longer traversed by
    every full garbage collection: such a pass had paused a worker, and every request on it,
    for ~140 ms about once per thousand requests.
    """
    from routing.services import routing_state_load

    try:
        routing_state_load()
    except Exception:  # e.g. a database not migrated yet: the first request loads what it can
        logger.warning("routing state not preloaded in web worker %s", worker.pid, exc_info=True)
    gc.freeze()
