"""What a report shows instead of internal ids and raw vocabulary: record numbers, names, words."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.core.people import Person
from qms.capa.models import Capa
from qms.changes.models import ChangeControl
from qms.deviations.models import Deviation
from qms.documents.models import Document, DocumentVersion, TrainingItem, TrainingItemVersion
from qms.org.models import Department, Equipment, JobFunction
from qms.training.models import Requirement

# The order in which a person's standing on an item is the most telling (worst first).
STATUS_SEVERITY = ("overdue", "due", "exempt", "not_in_force", "compliant")


def words(value: Any) -> Any:
    """A vocabulary value in words (``new_hire`` → ``new hire``); anything else unchanged."""
    return value.replace("_", " ") if isinstance(value, str) else value


def worded(row: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """A copy of ``row`` with the vocabulary values of ``keys`` in words."""
    return {**row, **{k: words(row.get(k)) for k in keys if k in row}}


def _requirement_label(session: Session, ids: list[int]) -> dict[int, str]:
    units: dict[str, dict[int, str]] = {
        "job_function": dict(session.execute(select(JobFunction.id, JobFunction.code)).all()),
        "department": dict(session.execute(select(Department.id, Department.code)).all()),
        "equipment": dict(session.execute(select(Equipment.id, Equipment.code)).all()),
    }
    found = {}
    for r in session.scalars(select(Requirement).where(Requirement.id.in_(ids or [0]))):
        unit = r.job_function_id or r.department_id or r.equipment_id
        found[r.id] = f"training matrix ({words(r.scope)} {units[r.scope].get(unit, '?')})"
    return found


def source_labels(
    session: Session, sources: Iterable[tuple[str | None, int | None]]
) -> dict[tuple[Any, Any], str]:
    """For each (source_type, source_id): the record number or name a reader knows it by."""
    wanted: dict[str, set[int]] = defaultdict(set)
    for kind, ident in sources:
        if kind and ident is not None:
            wanted[kind].add(ident)
    labels: dict[tuple[Any, Any], str] = {}

    def numbered(kind: str, model: Any, prefix: str) -> None:
        for ident, number in session.execute(
            select(model.id, model.number).where(model.id.in_(sorted(wanted.get(kind, ())) or [0]))
        ):
            labels[(kind, ident)] = f"{prefix} {number}"

    numbered("change_control", ChangeControl, "change control")
    numbered("capa", Capa, "CAPA")
    numbered("deviation", Deviation, "deviation")
    for ident, name in session.execute(
        select(Person.id, Person.display_name).where(Person.id.in_(sorted(wanted.get("person", ())) or [0]))
    ):
        labels[("person", ident)] = f"organisation event of {name}"
    for ident, code, label in session.execute(
        select(DocumentVersion.id, Document.code, DocumentVersion.label)
        .join(Document, Document.id == DocumentVersion.document_id)
        .where(DocumentVersion.id.in_(sorted(wanted.get("document_version", ())) or [0]))
    ):
        labels[("document_version", ident)] = f"approval of {code} {label}"
    for ident, code, label in session.execute(
        select(TrainingItemVersion.id, TrainingItem.code, TrainingItemVersion.label)
        .join(TrainingItem, TrainingItem.id == TrainingItemVersion.training_item_id)
        .where(TrainingItemVersion.id.in_(sorted(wanted.get("training_item_version", ())) or [0]))
    ):
        labels[("training_item_version", ident)] = f"approval of {code} {label}"
    for ident, text in _requirement_label(session, sorted(wanted.get("requirement", ()))).items():
        labels[("requirement", ident)] = text
    for kind, idents in wanted.items():
        for ident in idents:
            labels.setdefault((kind, ident), f"{words(kind)} {ident}")
    return labels


def source_label(labels: dict[tuple[Any, Any], str], source_type: str | None, source_id: int | None) -> str:
    """One source's label ('' when the assignment names none)."""
    if not source_type:
        return ""
    return labels.get((source_type, source_id), words(source_type))


def worst(statuses: Iterable[str]) -> str:
    """The most telling status among a person's rows for one item."""
    found = list(statuses)
    rank = {s: i for i, s in enumerate(STATUS_SEVERITY)}
    return min(found, key=lambda s: rank.get(s, len(rank)))
