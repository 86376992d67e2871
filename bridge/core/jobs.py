"""Background jobs the worker runs (sweeps), each in a unit of work the job runner owns.

Packages register their sweeps with :func:`register_sweep` from ``init_app``; ``gxpbridge
worker`` schedules them (APScheduler) and ``gxpbridge worker --once`` runs each once.

Several workers may run beside each other (two hosts): on PostgreSQL a sweep runs under a
transaction-level advisory lock named after it, so a sweep another worker is running is skipped,
not run twice at once (two overdue sweeps would both mark and audit the same assignment, two
checkpoint sweeps both sign the same head). On SQLite the write lock each sweep takes at its
start serialises them: the second sees what the first committed.
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
        """Run the job in its own unit of work and commit it once; returns the job's outcome, or
        :data:`SKIPPED` when another worker is running this sweep right now.
        """
        with UnitOfWork(db, SYSTEM) as uow:
            if not claim(uow, self.name):
                logger.info("sweep %s: running in another worker, skipped", self.name)
                return SKIPPED
            outcome = self.job(uow)
            uow.commit()
        logger.info("sweep %s: %s", self.name, outcome)
        return outcome


SKIPPED = "skipped: running in another worker"


def lock_key(name: str) -> int:
    """The PostgreSQL advisory lock key of a sweep (a signed 64-bit integer from its name)."""
    return int.from_bytes(hashlib.sha256(f"gxpbridge.sweep:{name}".encode()).digest()[:8], "big", signed=True)


def claim(uow: UnitOfWork, name: str) -> bool:
    """Take the sweep's lock for the rest of ``uow``'s transaction; False when another worker
    holds it (PostgreSQL). Always True on SQLite, whose write lock serialises the sweeps.
    """
    if uow.session.get_bind().dialect.name != "postgresql":
        return True
    return bool(uow.session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": lock_key(name)}))


def register_sweep(app: Flask, name: str, job: Job, seconds: int) -> None:
    """Have the worker run ``job(uow)`` every ``seconds`` (idempotent per name)."""
    sweeps: dict[str, Sweep] = app.extensions.setdefault("gxpbridge.sweeps", {})
    sweeps[name] = Sweep(name, job, seconds)


def sweeps_of(app: Flask) -> list[Sweep]:
    """The sweeps registered on ``app``, in registration order."""
    return list(app.extensions.get("gxpbridge.sweeps", {}).values())
