"""Prometheus metrics at ``/metrics``: requests, record-store ingest and the outbox.

- ``gxpbridge_http_requests_total{method,endpoint,status}`` and
  ``gxpbridge_http_request_duration_seconds{method,endpoint}`` for every request (the endpoint
  is the Flask endpoint name, never the raw path, so ids do not explode the label set);
- ``gxpbridge_xapi_statements_stored_total``: statements the record store committed
  (counted after commit, from the ``StatementsStored`` event);
- ``gxpbridge_outbox_messages{status}`` and ``gxpbridge_outbox_oldest_pending_age_seconds``,
  read from the database at each scrape;
- ``gxpbridge_info{version}``;
- with a read replica configured: ``gxpbridge_replica_up`` (1 when it answers),
  ``gxpbridge_replica_lag_seconds`` and ``gxpbridge_replica_in_use`` (1 while reads may go to
  it), and ``gxpbridge_db_reads_total{source}``: read-only requests by the database that
  answered (``primary`` or ``replica``).

Under gunicorn each worker process counts for itself; set ``PROMETHEUS_MULTIPROC_DIR`` to an
empty folder writable by the service (deploy/gunicorn.conf.py clears dead workers) to get the
sum of all workers at each scrape. ``GXPBRIDGE_METRICS_TOKEN``, when set, makes ``/metrics``
require ``Authorization: Bearer <token>``; otherwise restrict it at the proxy (deploy/nginx.conf).
"""

from __future__ import annotations

import datetime as dt
import hmac
import importlib.metadata
import os
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from bridge.core import outbox
from bridge.core.events import bus
from bridge.core.uow import UnitOfWork
from xapi.statements import StatementsStored

REGISTRY = CollectorRegistry()
REQUESTS = Counter("gxpbridge_http_requests", "HTTP requests answered",
                   ["method", "endpoint", "status"], registry=REGISTRY)
LATENCY = Histogram("gxpbridge_http_request_duration_seconds", "Time to answer an HTTP request",
                    ["method", "endpoint"], registry=REGISTRY,
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
STATEMENTS = Counter("gxpbridge_xapi_statements_stored", "xAPI statements stored (committed)",
                     registry=REGISTRY)

READS = Counter("gxpbridge_db_reads", "Read-only requests by the database that answered them",
                ["source"], registry=REGISTRY)

bp = Blueprint("metrics", __name__)


def _count_statements(uow: UnitOfWork, event: StatementsStored) -> None:
    stored = len(event.statement_ids)
    if stored:
        uow.after_commit(lambda: STATEMENTS.inc(stored))


class DatabaseCollector(Collector):
    """Outbox figures, read at scrape time from the app's database."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def describe(self) -> list[GaugeMetricFamily]:
        """Nothing up front: registering must not read the database."""
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Yield the outbox gauges (nothing when the database cannot be read)."""
        db = self.app.extensions["gxpbridge.db"]
        messages = GaugeMetricFamily("gxpbridge_outbox_messages", "Outbox messages by status",
                                     labels=["status"])
        oldest = GaugeMetricFamily("gxpbridge_outbox_oldest_pending_age_seconds",
                                   "Age of the oldest message waiting to be sent")
        model = outbox.OutboxMessage
        with db.read_sessions() as session:
            for status, count in session.execute(
                    select(model.status, func.count()).group_by(model.status)).all():
                messages.add_metric([status], count)
            first = session.scalar(select(func.min(model.created_at)).where(model.status == "pending"))
        if first is not None:
            if first.tzinfo is None:
                first = first.replace(tzinfo=dt.UTC)
            oldest.add_metric([], max(0.0, (self.app.clock.now() - first).total_seconds()))  # type: ignore[attr-defined]
        else:
            oldest.add_metric([], 0.0)
        yield messages
        yield oldest
        yield from self._replica(db)

    @staticmethod
    def _replica(db: Any) -> Iterator[GaugeMetricFamily]:
        """The replica's gauges (none without a replica)."""
        if db.replica is None:
            return
        status = db.replica.status()
        yield GaugeMetricFamily("gxpbridge_replica_up", "Whether the read replica answers",
                                value=1.0 if status.reachable else 0.0)
        yield GaugeMetricFamily("gxpbridge_replica_in_use",
                                "Whether reads may go to the replica (it answers and lags little enough)",
                                value=1.0 if status.usable(db.replica.max_lag_seconds) else 0.0)
        if status.lag_seconds is not None:
            yield GaugeMetricFamily("gxpbridge_replica_lag_seconds", "How far the replica is behind",
                                    value=status.lag_seconds)


def _scrape_registry(app: Flask) -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(app.extensions["gxpbridge.metrics"])
        registry.register(_Info())
        return registry
    return REGISTRY


@bp.get("/metrics")
def metrics() -> Any:
    """The Prometheus text exposition of this process (or of all workers, multiprocess mode)."""
    token = current_app.config.get("GXPBRIDGE_METRICS_TOKEN")
    if token:
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            abort(401)
    return Response(generate_latest(_scrape_registry(current_app)), mimetype=CONTENT_TYPE_LATEST)


def _started() -> None:
    g.metrics_started = time.perf_counter()


# The labelled children of REQUESTS and LATENCY, by label values: ``labels()`` builds and
# checks its key under a lock on every call, and this runs for every response.
_request_counters: dict[tuple[str, str, int], Any] = {}
_latencies: dict[tuple[str, str], Any] = {}


def _finished(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is not None and request.endpoint != "metrics.metrics":
        method, endpoint, status = request.method, request.endpoint or "unmatched", response.status_code
        counter = _request_counters.get((method, endpoint, status))
        if counter is None:
            counter = _request_counters[(method, endpoint, status)] = REQUESTS.labels(
                method, endpoint, str(status))
        counter.inc()
        latency = _latencies.get((method, endpoint))
        if latency is None:
            latency = _latencies[(method, endpoint)] = LATENCY.labels(method, endpoint)
        latency.observe(time.perf_counter() - started)
        if request.method in ("GET", "HEAD") and g.get("gxp_read_source"):
            READS.labels(g.gxp_read_source).inc()
    return response


def init_app(app: Flask) -> None:
    """Serve ``/metrics``, time every request and count stored statements."""
    app.config.setdefault("GXPBRIDGE_METRICS_TOKEN", os.environ.get("GXPBRIDGE_METRICS_TOKEN") or None)
    app.register_blueprint(bp)
    app.before_request(_started)
    app.after_request(_finished)
    bus.subscribe(StatementsStored, _count_statements)
    collector = DatabaseCollector(app)
    app.extensions["gxpbridge.metrics"] = collector
    # One module registry per process; the newest app's database answers (tests build many apps).
    if _registered:
        REGISTRY.unregister(_registered.pop())
    REGISTRY.register(collector)
    _registered.append(collector)


# The database collector currently on REGISTRY (at most one).
_registered: list[DatabaseCollector] = []


class _Info(Collector):
    def describe(self) -> list[GaugeMetricFamily]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        info = GaugeMetricFamily("gxpbridge_info", "GxP Bridge version", labels=["version"])
        try:
            version = importlib.metadata.version("gxpbridge")
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
        info.add_metric([version], 1)
        yield info


REGISTRY.register(_Info())
