"""The quality part of the demo plant: departments, job functions, SOPs with versions (one
with a pending change control), a course, the matrix, the demo people hired into it, and
some signed completions.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select

from bridge.core import accounts
from bridge.core.uow import UnitOfWork
from qms.changes import services as changes
from qms.documents import approval, effective_dates, presentations
from qms.documents import services as documents
from qms.documents.models import DocumentVersion
from qms.org import services as org
from qms.policy import QmsPolicy
from qms.training import completions, matrix
from qms.training.models import Assignment

logger = logging.getLogger(__name__)

DEMO_PASSWORD = "Demo-Password-2026"  # noqa: S105 - the published demo credential (bridge.demo)
SOP_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


@contextmanager
def acting_as(uow: UnitOfWork, username: str) -> Iterator[None]:
    """Let a demo user execute their own signatures inside the loader's transaction."""
    saved = uow.actor
    uow.actor = accounts.get_user(uow.session, username).actor()
    try:
        yield
    finally:
        uow.actor = saved


def _publish(uow: UnitOfWork, code: str, title: str, iri: str) -> int:
    """A document with version 1.0 approved and effective; returns the document id."""
    with acting_as(uow, "qa.author"):
        document = documents.create_document(uow, code=code, title=title)
        version = documents.create_version(
            uow, document.id, label="1.0", revision="major", change_summary="first issue", activity_iris=[iri]
        )
        documents.attach_file(
            uow,
            version.id,
            content=SOP_PDF + code.encode(),
            file_name=f"{code}.pdf",
            media_type="application/pdf",
        )
        approval.submit_version(uow, version.id)
    # Approval needs a future effective date; leave room for the signature's password check
    # on a busy machine, then make the version effective at that date.
    soon = uow.clock.now() + dt.timedelta(seconds=3)
    with acting_as(uow, "qa.approver"):
        approval.approve_version(
            uow,
            version.id,
            username="qa.approver",
            password=DEMO_PASSWORD,
            effective_at=soon,
            lockout_threshold=5,
        )
    _let_time_pass(uow, soon)
    effective_dates.make_effective(uow, version.item_version, now=soon, policy=uow.policy(QmsPolicy))
    return document.id


def _let_time_pass(uow: UnitOfWork, until: dt.datetime) -> None:
    """Move a movable clock (tests, a demo on a :class:`MovableClock`) on to ``until``.

    The demo's present is then the moment its SOPs came into force, so the records made
    after them (the CAPA demo's deviation) meet the versions in force. The system clock
    does not move: there the versions come into force a few seconds after the demo's records.
    """
    move = getattr(uow.clock, "set", None)
    if move is not None and uow.clock.now() < until:
        move(until)


def load(uow: UnitOfWork) -> None:
    """Build the demo plant (called by ``gxpbridge demo load`` after the demo users exist)."""
    session = uow.session
    with acting_as(uow, "qa.author"):
        prod = org.create_unit(uow, "department", "PROD", "Production")
        qc = org.create_unit(uow, "department", "QC", "Quality Control")
        operator = org.create_unit(uow, "job_function", "OPERATOR", "Manufacturing operator")
        analyst = org.create_unit(uow, "job_function", "QC-ANALYST", "QC analyst")
        granulator = org.create_unit(uow, "equipment", "GRAN-01", "High-shear granulator")
    sop1 = _publish(uow, "SOP-001", "Gowning and entry to grade C areas", "https://demo.example/xapi/sop-001")
    sop14 = _publish(uow, "SOP-014", "Cleaning of the granulator", "https://demo.example/xapi/sop-014")
    sop20 = _publish(uow, "SOP-020", "Sampling of raw materials", "https://demo.example/xapi/sop-020")
    items = {
        code: documents.item_of_document(session, doc).id
        for code, doc in (("SOP-001", sop1), ("SOP-014", sop14), ("SOP-020", sop20))
    }
    with acting_as(uow, "qa.author"):
        matrix.add_requirement(
            uow,
            scope="department",
            scope_id=prod.id,
            training_item_id=items["SOP-001"],
            retrain_interval_days=365,
            grace_days=30,
        )
        matrix.add_requirement(
            uow, scope="equipment", scope_id=granulator.id, training_item_id=items["SOP-014"]
        )
        matrix.add_requirement(
            uow, scope="job_function", scope_id=analyst.id, training_item_id=items["SOP-020"]
        )
        matrix.add_requirement(
            uow, scope="job_function", scope_id=operator.id, training_item_id=items["SOP-001"]
        )
        for username in ("operator1", "operator2"):
            person_id = accounts.get_user(session, username).person_id
            org.hire(
                uow,
                person_id=person_id,
                department_id=prod.id,
                job_function_ids=[operator.id],
                equipment_ids=[granulator.id],
            )
        org.hire(
            uow,
            person_id=accounts.get_user(session, "supervisor").person_id,
            department_id=qc.id,
            job_function_ids=[analyst.id],
        )
    # operator1 has read and signed SOP-001.
    op1 = accounts.get_user(session, "operator1").person_id
    first = session.scalar(
        select(Assignment).where(Assignment.person_id == op1, Assignment.training_item_id == items["SOP-001"])
    )
    if first is not None:
        with acting_as(uow, "operator1"):
            # The document is presented (the file opened) before "read and understood" is signed.
            shown = session.scalar(
                select(DocumentVersion.id).where(DocumentVersion.item_version_id == first.item_version_id)
            )
            if shown is not None:
                presentations.present_file(uow, shown, channel="rest")
            completions.complete_with_signature(uow, first.id, username="operator1", password=DEMO_PASSWORD)
    # A major revision of SOP-014 waits for approval in a change control.
    with acting_as(uow, "qa.author"):
        v2 = documents.create_version(
            uow,
            sop14,
            label="2.0",
            revision="major",
            change_summary="new cleaning agent and contact time",
            activity_iris=["https://demo.example/xapi/sop-014"],
        )
        documents.attach_file(
            uow,
            v2.id,
            content=SOP_PDF + b"SOP-014 rev 2",
            file_name="SOP-014-2.0.pdf",
            media_type="application/pdf",
        )
        change = changes.create_change_control(
            uow,
            title="Change of cleaning agent for GRAN-01",
            description="Supplier change of detergent.",
            impact="Cleaning procedure steps 4-7 change: operators must retrain.",
            effective_at=uow.clock.now() + dt.timedelta(days=14),
            document_version_ids=[v2.id],
            min_trained_pct=80,
        )
        changes.submit_change_control(uow, change.id)
    logger.info("qms demo plant loaded")
