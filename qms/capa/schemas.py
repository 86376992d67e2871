"""Request models of the CAPA routes."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from qms.schemas import Signature, Strict


class CapaCreate(Strict):
    """A new CAPA."""

    title: str = Field(min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=8000)
    source: Literal["deviation", "audit", "complaint", "inspection", "trend", "other"]
    source_reference: str | None = Field(default=None, max_length=200, description="e.g. audit report number")
    deviation_id: int | None = Field(default=None, description="required when the source is a deviation")
    owner_person_id: int
    due_at: AwareDatetime


class CapaListQuery(Strict):
    """Filter of the CAPA list."""

    status: (
        Literal["open", "investigation", "actions_in_progress", "effectiveness_check", "closed", "cancelled"]
        | None
    ) = None


class RootCause(Strict):
    """The root cause found by the investigation."""

    root_cause: str = Field(min_length=1, max_length=8000)


class CapaActionCreate(Strict):
    """A corrective, preventive or training action."""

    kind: Literal["corrective", "preventive", "training"]
    description: str = Field(min_length=1, max_length=4000)
    due_at: AwareDatetime
    owner_person_id: int | None = None
    training_item_ids: list[int] = Field(
        default_factory=list, description="training actions: items to train on"
    )
    person_ids: list[int] = Field(default_factory=list, description="training actions: people to train")
    job_function_ids: list[int] = Field(
        default_factory=list, description="training actions: everyone now holding these job functions"
    )


class ActionDone(Strict):
    """What was done."""

    note: str = Field(min_length=1, max_length=4000)


class CapaClose(Signature):
    """Closure: how effectiveness was verified, and the signature."""

    effectiveness_summary: str = Field(min_length=1, max_length=8000)


class CapaCancel(Signature):
    """Cancellation with its reason and signature."""

    reason: str = Field(min_length=1, max_length=2000)
