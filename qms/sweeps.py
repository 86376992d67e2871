"""Scheduled sweeps of the quality system (run by ``gxpbridge worker`` or on demand)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bridge.core.uow import UnitOfWork
from qms.documents import effective_dates
from qms.training import due_dates

logger = logging.getLogger(__name__)


def effective(uow: UnitOfWork) -> dict[str, Any]:
    """Make due versions effective (or leave them blocked by their trained-percentage gate)."""
    return effective_dates.effective_sweep(uow)


def overdue(uow: UnitOfWork) -> dict[str, Any]:
    """Mark late assignments overdue."""
    return {"overdue": due_dates.overdue_sweep(uow)}


def periodic(uow: UnitOfWork) -> dict[str, Any]:
    """Assign periodic retraining falling due within the lead time."""
    return {"assignments_created": len(due_dates.periodic_sweep(uow))}


SWEEPS: dict[str, Callable[[UnitOfWork], dict[str, Any]]] = {
    "effective": effective,
    "overdue": overdue,
    "periodic": periodic,
}
# Seconds between runs under the worker.
INTERVALS = {"effective": 300, "overdue": 900, "periodic": 3600}
