"""Domain events the quality system publishes (dispatched before the commit)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from bridge.core.events import DomainEvent


@dataclass(frozen=True)
class TrainingCompleted(DomainEvent):
    """A completion was recorded (lti/ sends the AGS score from it)."""

    completion_id: int
    person_id: int
    training_item_id: int
    item_version_id: int | None
    score_scaled: float | None
    completed_at: dt.datetime


@dataclass(frozen=True)
class ChangeControlApproved(DomainEvent):
    """A change control was approved; its assignments already exist."""

    change_control_id: int
    item_version_ids: tuple[int, ...] = ()
    assignments_created: int = 0


@dataclass(frozen=True)
class AssignmentsCreated(DomainEvent):
    """Assignments were created for a quality record."""

    reason: str
    source_type: str | None
    source_id: int | None
    assignment_ids: tuple[int, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class VersionBecameEffective(DomainEvent):
    """A training item version (and its document version) became effective."""

    item_version_id: int
    document_version_id: int | None
    trained_pct: float | None
