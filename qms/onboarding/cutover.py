"""The day-0 cut-over: the qualification of every employed person at the cut-over moment, answered
by the as-of rule from the records (imported history included), signed by QA and rendered like
the other reports (JSON, CSV, PDF). The signature binds the hash of the qualification table; the
report recomputes it and says whether it still matches.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.core import signatures
from bridge.core.errors import Forbidden, NotFound, ValidationFailed
from bridge.core.people import Person
from bridge.core.uow import UnitOfWork
from qms.documents.models import TrainingItem
from qms.onboarding.models import MIGRATED_METHOD, Cutover, ImportBatch
from qms.reports.models import Report, Section
from qms.roles import APPROVERS
from qms.training import asof
from qms.training import scope as in_scope
from qms.training.models import Completion

logger = logging.getLogger(__name__)


def qualification(session: Session, at: dt.datetime) -> list[dict[str, Any]]:
    """One row per requirement of every person employed at ``at`` (as-of rule, immutable records)."""
    people = sorted(in_scope.employed_people(session, list(session.scalars(select(Person.id))), at))
    evaluated = asof.evaluate_as_of(session, people, at)
    names = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_(people)))} if people else {}
    codes = dict(session.execute(select(TrainingItem.id, TrainingItem.code)).all())
    migrated = set(session.scalars(select(Completion.id).where(Completion.method == MIGRATED_METHOD)))
    rows = []
    for pid in people:
        entry = evaluated[pid]
        person = names[pid]
        base = {
            "person_id": pid,
            "person": person.display_name,
            "employee_no": person.employee_no,
            "qualified": entry["qualified"],
            "on_leave": entry["on_leave"],
        }
        if not entry["requirements"]:
            rows.append(
                {
                    **base,
                    "item": None,
                    "version_in_force": None,
                    "met": None,
                    "completed_version": None,
                    "completed_at": None,
                    "source": None,
                    "explanation": "no requirement in force",
                }
            )
        for req in sorted(entry["requirements"], key=lambda r: codes.get(r.training_item_id, "")):
            rows.append(
                {
                    **base,
                    "item": codes.get(req.training_item_id),
                    "version_in_force": req.version_in_force_label,
                    "met": req.met,
                    "completed_version": req.completed_version_label,
                    "completed_at": req.completed_at,
                    "source": None
                    if req.completion_id is None
                    else ("migrated" if req.completion_id in migrated else "signed here"),
                    "explanation": req.explanation,
                }
            )
    return rows


def _summary(rows: list[dict[str, Any]]) -> dict[str, int]:
    people = {r["person_id"]: r["qualified"] for r in rows}
    return {
        "people": len(people),
        "qualified": sum(1 for q in people.values() if q),
        "requirements": sum(1 for r in rows if r["met"] is not None),
        "requirements_met": sum(1 for r in rows if r["met"]),
    }


def _content(at: dt.datetime, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"cutover_at": at, "rows": rows}


def sign_cutover(uow: UnitOfWork, *, username: str, password: str, at: dt.datetime | None = None) -> Cutover:
    """QA signs the qualification of everyone at the cut-over moment (now unless ``at`` is given)."""
    uow.actor.require(*APPROVERS, action="signing the day-0 cut-over")
    session = uow.session
    now = uow.clock.now()
    at = at or now
    if at > now:
        raise ValidationFailed("the cut-over moment cannot be in the future", field="at")
    importers = set(
        session.scalars(select(ImportBatch.imported_by).where(ImportBatch.kind == "legacy_training"))
    )
    if uow.actor.username in importers:
        raise Forbidden(
            "the person who imported the legacy records cannot sign the cut-over (separation of duties)",
            field="username",
            code="separation_of_duties",
        )
    rows = qualification(session, at)
    summary = _summary(rows)
    cutover = Cutover(
        cutover_at=at,
        people=summary["people"],
        qualified=summary["qualified"],
        content_hash=signatures.content_hash(_content(at, rows)),
        created_at=now,
    )
    with uow.because("day-0 cut-over signed by QA"):
        session.add(cutover)
        session.flush()
        signature = signatures.sign(
            uow,
            username=username,
            password=password,
            meaning="approved",
            record_type="qms_cutover",
            record_id=cutover.id,
            content=_content(at, rows),
            lockout_threshold=uow.settings.lockout_threshold,
            comment="day-0 cut-over: qualification of every person from the imported history",
        )
        cutover.signature_id = signature.id
    logger.info("cut-over %s signed: %s", cutover.id, summary)
    return cutover


def get_cutover(session: Session, cutover_id: int) -> Cutover:
    """Cut-over ``cutover_id`` or 404."""
    found = session.get(Cutover, cutover_id)
    if found is None:
        raise NotFound(f"no cut-over {cutover_id}", field="cutover_id")
    return found


COLUMNS = [
    ("person", "Person"),
    ("employee_no", "Employee no."),
    ("qualified", "Qualified"),
    ("item", "Requirement"),
    ("version_in_force", "Version in force"),
    ("met", "Met"),
    ("completed_version", "Completed version"),
    ("completed_at", "Completed at"),
    ("source", "Record"),
    ("explanation", "Explanation"),
]


def report(session: Session, cutover_id: int, *, generated_by: str, now: dt.datetime) -> Report:
    """The cut-over report: the signed table, recomputed, with whether it still matches its signature."""
    cutover = get_cutover(session, cutover_id)
    rows = qualification(session, cutover.cutover_at)
    summary = _summary(rows)
    intact = signatures.content_hash(_content(cutover.cutover_at, rows)) == cutover.content_hash
    signed = signatures.signatures_of(session, "qms_cutover", cutover.id)
    people = {r["person_id"]: r for r in rows}
    return Report(
        key=f"cutover-{cutover.id}",
        title=f"Day-0 cut-over: qualification as of {cutover.cutover_at:%Y-%m-%d %H:%M:%S} UTC",
        generated_by=generated_by,
        filters={"cutover_id": cutover.id, "at": cutover.cutover_at},
        sections=[
            Section(
                "People",
                [
                    ("person", "Person"),
                    ("employee_no", "Employee no."),
                    ("qualified", "Qualified"),
                    ("on_leave", "On leave"),
                ],
                list(people.values()),
            ),
            Section("Requirements", COLUMNS, rows),
        ],
        data={
            "cutover": {
                "id": cutover.id,
                "at": cutover.cutover_at,
                "content_hash": cutover.content_hash,
                "intact": intact,
            },
            "summary": summary,
            "rows": rows,
        },
        generated_at=now,
        summary=[
            ("Cut-over moment", cutover.cutover_at),
            ("People", summary["people"]),
            ("Qualified", summary["qualified"]),
            ("Requirements met", f"{summary['requirements_met']} of {summary['requirements']}"),
            ("Signed content still matches", "yes" if intact else "NO: the records changed since signing"),
        ],
        signatures=[s.manifestation() for s in signed],
    )
