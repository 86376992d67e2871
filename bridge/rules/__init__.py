"""The rules that make one system of the others: the one table of what each domain event leads
to in another package, run in the publishing transaction (Cosmic Python's message bus).

Read :data:`RULES` top to bottom to know every cross-package consequence; each handler is a
small named function in ``bridge/rules`` with a docstring saying why. Packages publish events
and never subscribe to each other's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask

from bridge.core.events import bus
from bridge.core.people import IdentityLinked
from bridge.core.uow import UnitOfWork
from bridge.rules import evidence, training
from qms.events import TrainingCompleted, VersionBecameEffective
from xapi.statements import StatementsStored

logger = logging.getLogger(__name__)

Rule = tuple[type, Callable[[UnitOfWork, Any], None]]

# event                           -> consequence (in the same transaction)
RULES: tuple[Rule, ...] = (
    (TrainingCompleted,             training.send_score_to_the_lms),
    (VersionBecameEffective,        training.carry_capa_training_to_the_new_version),
    (StatementsStored,              evidence.record_evidence_of_statements),
    (IdentityLinked,                evidence.apply_statements_waiting_for_the_identity),
)


def init_app(app: Flask) -> None:
    """Subscribe every rule's handler to its event (idempotent: one bus per process)."""
    for event_type, handler in RULES:
        bus.subscribe(event_type, handler)
    app.extensions["gxpbridge.rules"] = RULES
