"""The quality part of the demo plant: its organisation, documents, course and training matrix,
and the helpers the demo's year (:mod:`qms.demo_year`) is told with.

Everything goes through the services, acting as the demo users, on the unit of work's clock:
:class:`Timeline` moves that clock through the year and runs the worker's sweeps on the way,
as the worker would have.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import select

from bridge.core import accounts
from bridge.core.errors import NotFound
from bridge.core.uow import UnitOfWork
from qms import sweeps
from qms.changes import services as changes
from qms.documents import approval, catalog, presentations
from qms.documents import services as documents
from qms.documents.models import DocumentVersion
from qms.org import services as org
from qms.training import completions, matrix
from qms.training.models import OPEN_ASSIGNMENT_STATUSES, Assignment

logger = logging.getLogger(__name__)

DEMO_PASSWORD = "Demo-Password-2026"  # noqa: S105 - the published demo credential (bridge.demo)
LOCKOUT = 5
DEMO_LMS = "https://moodle.demo.example"
SOP_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
SOPS = (
    ("SOP-001", "Gowning and entry to grade C areas"),
    ("SOP-014", "Cleaning of the granulator"),
    ("SOP-020", "Sampling of raw materials"),
)


@contextmanager
def acting_as(uow: UnitOfWork, username: str) -> Iterator[None]:
    """Let a demo user act (and execute their own signatures) inside the loader's transaction."""
    saved = uow.actor
    uow.actor = accounts.get_user(uow.session, username).actor()
    try:
        yield
    finally:
        uow.actor = saved


class Timeline:
    """The demo's year on the unit of work's clock: day 0 is where the clock stands when the
    story starts, day :attr:`days` its present.

    Moving on runs the worker's sweeps (versions coming into force, overdue, periodic
    retraining) at the new moment, as a worker running all year would have.
    """

    def __init__(self, uow: UnitOfWork, days: int = 365) -> None:
        """Start the story now on ``uow``'s clock, which must be movable (``set``)."""
        if not hasattr(uow.clock, "set"):
            raise TypeError("the demo's year needs a movable clock (bridge.core.clock.MovableClock)")
        self.uow = uow
        self.days = days
        self.start = uow.clock.now()

    def moment(self, day: float) -> dt.datetime:
        """The moment of ``day`` (may be fractional)."""
        return self.start + dt.timedelta(days=day)

    def day(self, day: float) -> dt.datetime:
        """Move the clock on to ``day`` (never back) and run the sweeps there."""
        target = self.moment(min(day, self.days))
        if self.uow.clock.now() < target:
            self.uow.clock.set(target)  # type: ignore[attr-defined]
        for name in ("effective", "overdue", "periodic"):
            sweeps.SWEEPS[name](self.uow)
        return self.uow.clock.now()


@dataclass
class Plant:
    """Ids of the demo plant's records, by code."""

    units: dict[str, int] = field(default_factory=dict)
    documents: dict[str, int] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)


def person_of(uow: UnitOfWork, username: str) -> int:
    """The person id of a demo user."""
    person_id = accounts.get_user(uow.session, username).person_id
    assert person_id is not None
    return person_id


def page_of(code: str, nth: int) -> str:
    """The demo Moodle page delivering the ``nth`` version of document ``code`` (SOP-020's second
    version: ``view.php?id=2002``): one page per version, so a statement names its version.
    """
    return f"{DEMO_LMS}/mod/page/view.php?id={int(code[-3:]) * 100 + nth}"


def draft_version(uow: UnitOfWork, document_id: int, label: str, revision: str, summary: str) -> int:
    """As qa.author: draft a version of a document with its controlled file; returns its id."""
    document = documents.get_document(uow.session, document_id)
    with acting_as(uow, "qa.author"):
        version = documents.create_version(
            uow,
            document_id,
            label=label,
            revision=revision,
            change_summary=summary,
            activity_iris=[page_of(document.code, len(document.versions) + 1)],
        )
        documents.attach_file(
            uow,
            version.id,
            content=SOP_PDF + f"{document.code} {label}".encode(),
            file_name=f"{document.code}-{label}.pdf",
            media_type="application/pdf",
        )
    return version.id


def change_control(
    uow: UnitOfWork,
    version_ids: list[int],
    *,
    title: str,
    impact: str,
    effective_at: dt.datetime,
    approve: bool = True,
    min_trained_pct: float | None = None,
) -> int:
    """Open and submit a change control as qa.author; qa.approver signs it unless ``approve`` is
    false. Returns its id.
    """
    with acting_as(uow, "qa.author"):
        change = changes.create_change_control(
            uow,
            title=title,
            description=title,
            impact=impact,
            effective_at=effective_at,
            document_version_ids=version_ids,
            min_trained_pct=min_trained_pct,
        )
        changes.submit_change_control(uow, change.id)
    if approve:
        with acting_as(uow, "qa.approver"):
            changes.approve_change_control(
                uow, change.id, username="qa.approver", password=DEMO_PASSWORD, lockout_threshold=LOCKOUT
            )
    return change.id


def sign_read_and_understood(uow: UnitOfWork, username: str, item_id: int) -> int:
    """The demo user signs their open assignment on a document (or signed course); returns the
    completion id.

    The one place the demo signs "read and understood": when the controlled file must have been
    presented to the signer first, record that opening here through its service.
    """
    person_id = person_of(uow, username)
    assignment_id = uow.session.scalar(
        select(Assignment.id)
        .where(
            Assignment.person_id == person_id,
            Assignment.training_item_id == item_id,
            Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES),
        )
        .order_by(Assignment.id.desc())
        .limit(1)
    )
    if assignment_id is None:
        raise NotFound(f"{username} has no open assignment on training item {item_id}")
    with acting_as(uow, username):
        assignment = uow.session.get(Assignment, assignment_id)
        shown = uow.session.scalar(
            select(DocumentVersion.id).where(DocumentVersion.item_version_id == assignment.item_version_id)
        )
        if shown is not None:  # a document: its controlled file is opened before signing
            presentations.present_file(uow, shown, channel="lti")
        completion = completions.complete_with_signature(
            uow, assignment_id, username=username, password=DEMO_PASSWORD, lockout_threshold=LOCKOUT
        )
    return completion.id


def pass_course(uow: UnitOfWork, person_id: int, item_id: int, score: float) -> None:
    """The LMS reports a passed e-learning course for a person (as the record store's rule does)."""
    version = catalog.effective_version(uow.session, item_id)
    assert version is not None
    completions.record_course_result(
        uow, person_id=person_id, item_version_id=version.id, score_scaled=score, passed=True,
        evidence={"source": "demo LMS", "score_scaled": score},
    )


def set_up(uow: UnitOfWork, timeline: Timeline) -> Plant:
    """Day 0: the organisation, the first issue of three SOPs (one change control) and of the
    GMP e-learning course, and the training matrix. Everything comes into force on day 7.
    """
    plant = Plant()
    with acting_as(uow, "qa.author"):
        for kind, code, name in (
            ("department", "PROD", "Production"),
            ("department", "QC", "Quality Control"),
            ("department", "WH", "Warehouse"),
            ("job_function", "OPERATOR", "Manufacturing operator"),
            ("job_function", "QC-ANALYST", "QC analyst"),
            ("job_function", "WH-OPERATOR", "Warehouse operator"),
            ("equipment", "GRAN-01", "High-shear granulator"),
        ):
            plant.units[code] = org.create_unit(uow, kind, code, name).id
        for code, title in SOPS:
            plant.documents[code] = documents.create_document(uow, code=code, title=title).id
            plant.items[code] = documents.item_of_document(uow.session, plant.documents[code]).id
        course = catalog.create_training_item(
            uow, code="GMP-101", kind="course", title="GMP basics (annual e-learning)", pass_score=0.8
        )
        plant.items["GMP-101"] = course.id
        course_version = catalog.create_item_version(
            uow, course.id, label="2026", activity_iris=[f"{DEMO_LMS}/mod/scorm/view.php?id=101"]
        )
    first = [draft_version(uow, plant.documents[code], "1.0", "major", "first issue") for code, _ in SOPS]
    in_force = timeline.moment(7)
    change_control(
        uow, first, title="First issue of the production and QC SOPs",
        impact="Everyone in scope trains before starting work.", effective_at=in_force,
    )
    with acting_as(uow, "qa.approver"):
        approval.approve_course_version(
            uow, course_version.id, username="qa.approver", password=DEMO_PASSWORD,
            effective_at=in_force, lockout_threshold=LOCKOUT,
        )
    units, items = plant.units, plant.items
    with acting_as(uow, "qa.author"):
        for scope, unit, item, interval in (
            ("department", "PROD", "SOP-001", 365),
            ("job_function", "OPERATOR", "SOP-001", None),
            ("equipment", "GRAN-01", "SOP-014", None),
            ("job_function", "QC-ANALYST", "SOP-020", None),
            ("department", "PROD", "GMP-101", 365),
            ("department", "QC", "GMP-101", 365),
            ("department", "WH", "GMP-101", 365),
        ):
            matrix.add_requirement(
                uow, scope=scope, scope_id=units[unit], training_item_id=items[item],
                retrain_interval_days=interval, grace_days=30 if interval else 0,
            )
    return plant


def hire(
    uow: UnitOfWork,
    plant: Plant,
    *,
    department: str,
    job_function: str,
    username: str | None = None,
    name: str | None = None,
    equipment: tuple[str, ...] = (),
) -> int:
    """Hire a demo user (``username``) or a new person (``name``); returns the person id."""
    with acting_as(uow, "qa.author"):
        person, _ = org.hire(
            uow,
            person_id=person_of(uow, username) if username else None,
            display_name=name,
            email=f"{name.lower().replace(' ', '.')}@demo.example" if name else None,
            department_id=plant.units[department],
            job_function_ids=[plant.units[job_function]],
            equipment_ids=[plant.units[code] for code in equipment],
        )
    return person.id
