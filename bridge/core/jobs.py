"""Background jobs the worker runs (sweeps), each in a unit of work the job runner owns.

Packages register their sweeps with :func:`register_sweep` from ``init_app``; ``gxpbridge
worker`` schedules them (APScheduler) and ``gxpbridge worker --once`` runs each once.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import text

from bridge.core.actor import SYSTEM
from bridge.core.db import Database
from bridge.core.uow import UnitOfWork

logger = logging.getLogger(__name__)

Job = Callable[[UnitOfWork], Any]


@dataclass(frozen=True)
class Sweep:
    """A job run every ``seconds`` by the worker, as the system actor."""

    name: str
    job: Job
    seconds: int

    def run(self, db: Database) -> Any:
        """Run the job in its own unit of work and commit it once; returns the job's outcome.

        On PostgreSQL the run holds a transaction-scoped advisory lock named after the sweep:
        when several workers run, exactly one runs each sweep at a time and the others skip
        it (outcome ``None``). SQLite has one worker (and one writer at a time anyway).
        """
        with UnitOfWork(db, SYSTEM) as uow:
            if db.dialect == "postgresql" and not uow.session.scalar(
                    text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": sweep_lock_key(self.name)}):
                logger.info("sweep %s: running in another worker, skipped", self.name)
                return None
            outcome = self.job(uow)
            uow.commit()
        logger.info("sweep %s: %s", self.name, outcome)
        return outcome


def sweep_lock_key(name: str) -> int:
    """The PostgreSQL advisory lock key of sweep ``name`` (a stable signed 64-bit number)."""
    digest = hashlib.sha256(f"gxpbridge.sweep:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def register_sweep(app: Flask, name: str, job: Job, seconds: int) -> None:
    """Have the worker run ``job(uow)`` every ``seconds`` (idempotent per name)."""
    sweeps: dict[str, Sweep] = app.extensions.setdefault("gxpbridge.sweeps", {})
    sweeps[name] = Sweep(name, job, seconds)


def sweeps_of(app: Flask) -> list[Sweep]:
    """The sweeps registered on ``app``, in registration order."""
    return list(app.extensions.get("gxpbridge.sweeps", {}).values())
