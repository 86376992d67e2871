"""gunicorn settings of the GxP Bridge web process (the container's ``web`` command).

    gunicorn --config deploy/gunicorn.conf.py

The same defaults as ``gxpbridge serve``: sync workers (one request at a time each), CPU cores
+ 1 of them on PostgreSQL and 2 on SQLite, behind a buffering TLS proxy (deploy/nginx.conf).
Environment: ``GXPBRIDGE_BIND`` (default ``0.0.0.0:8000``), ``GXPBRIDGE_WEB_WORKERS``,
``GXPBRIDGE_WEB_TIMEOUT`` (seconds, default 120), ``FORWARDED_ALLOW_IPS`` (the proxy addresses
whose ``X-Forwarded-*`` headers gunicorn believes; see deploy/README.md, "TLS and proxy headers").
"""

from __future__ import annotations

import os
from typing import Any

from bridge.cli import default_workers, prepare_to_fork, start_forked_worker
from bridge.core.settings import Settings

wsgi_app = "bridge.app:create_app()"
bind = [os.environ.get("GXPBRIDGE_BIND", "0.0.0.0:8000")]
workers = int(os.environ.get("GXPBRIDGE_WEB_WORKERS")
              or default_workers(Settings().resolved_database_url(), cpus=os.cpu_count()))
worker_class = "sync"
timeout = int(os.environ.get("GXPBRIDGE_WEB_TIMEOUT", "120"))
graceful_timeout = 30
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# The master builds the app once and the workers share its memory, as under ``gxpbridge
# serve`` (one app per worker cost each about 80 MB). An upgrade restarts the processes
# (docs/admin-guide.md): a HUP would fork new workers from the master's old code.
preload_app = True


def pre_fork(_server: Any, _worker: Any) -> None:
    """In the master, before each fork: mappers configured, the app's objects frozen."""
    prepare_to_fork()


def post_worker_init(worker: Any) -> None:
    """In the worker: the master's connections stay its own; on SQLite, copy the write-ahead
    log from a background thread (``bridge.cli.start_forked_worker``, as ``serve`` does).
    """
    app = getattr(worker, "wsgi", None)
    if "gxpbridge.db" in getattr(app, "extensions", {}):
        start_forked_worker(app)  # type: ignore[arg-type]


def child_exit(_server: Any, worker: Any) -> None:
    """Drop a dead worker's figures from the shared metrics (PROMETHEUS_MULTIPROC_DIR, bridge/metrics.py)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
