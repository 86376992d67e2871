"""The CAPA and deviation part of the demo plant."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select

from bridge.core import accounts
from bridge.core.uow import UnitOfWork
from qms.capa import actions as capa_actions
from qms.capa import lifecycle as capa_lifecycle
from qms.capa import services as capas
from qms.demo_plant import DEMO_PASSWORD, acting_as
from qms.deviations import assessments as deviation_assessments
from qms.deviations import services as deviations
from qms.documents import services as documents
from qms.documents.models import Document
from qms.org.models import JobFunction

logger = logging.getLogger(__name__)


def load_demo(uow: UnitOfWork) -> None:
    """Add a deviation with a recorded training adequacy assessment and the CAPA it raised,
    whose training action leaves open assignments, to the demo plant.

    Runs after :func:`qms.demo_plant.load` (it needs its SOPs, job functions and people).
    """
    session = uow.session
    sop001 = session.scalar(select(Document).where(Document.code == "SOP-001"))
    sop020 = session.scalar(select(Document).where(Document.code == "SOP-020"))
    operator = session.scalar(select(JobFunction).where(JobFunction.code == "OPERATOR"))
    if sop001 is None or sop020 is None or operator is None:
        logger.warning("the qms demo plant is not loaded: no CAPA or deviation demo")
        return
    # The demo plant moved the clock to the moment its SOPs came into force (on a movable
    # clock), so the deviation recorded now meets the version of SOP-001 in force.
    op1 = accounts.get_user(session, "operator1").person_id
    op2 = accounts.get_user(session, "operator2").person_id
    with acting_as(uow, "qa.author"):
        deviation = deviations.create_deviation(
            uow,
            title="Gowning step skipped before entering grade C",
            description="Operator entered the granulation suite without the second pair of gloves.",
            classification="major",
            occurred_at=uow.clock.now(),
            discovered_at=None,
            person_ids=[op1, op2],
            document_ids=[sop001.id],
        )
        deviations.start_investigation(uow, deviation.id)
    with acting_as(uow, "qa.approver"):
        deviation_assessments.record_assessment(
            uow,
            deviation.id,
            conclusion="inadequate",
            rationale="Omar Operator had not signed SOP-001 when the deviation occurred.",
            username="qa.approver",
            password=DEMO_PASSWORD,
            lockout_threshold=5,
        )
    with acting_as(uow, "qa.author"):
        capa = capas.create_capa(
            uow,
            title="Retrain operators on gowning and raw-material sampling",
            description="Raised from the gowning deviation.",
            source="deviation",
            source_reference=None,
            owner_person_id=accounts.get_user(session, "supervisor").person_id,
            due_at=uow.clock.now() + dt.timedelta(days=45),
            deviation_id=deviation.id,
        )
        capas.start_investigation(uow, capa.id)
        capas.record_root_cause(
            uow, capa.id, root_cause="Operators start on the line before their training is signed."
        )
        capa_actions.add_action(
            uow,
            capa.id,
            kind="preventive",
            description="Line access badge granted only once the gowning SOP is signed.",
            due_at=uow.clock.now() + dt.timedelta(days=30),
        )
        capa_actions.add_action(
            uow,
            capa.id,
            kind="training",
            description="Every operator trains on raw-material sampling (SOP-020).",
            due_at=uow.clock.now() + dt.timedelta(days=21),
            training_item_ids=[documents.item_of_document(session, sop020.id).id],
            job_function_ids=[operator.id],
        )
    with acting_as(uow, "qa.approver"):
        capa_lifecycle.approve_plan(
            uow, capa.id, username="qa.approver", password=DEMO_PASSWORD, lockout_threshold=5
        )
    logger.info("qms demo: deviation %s and %s loaded", deviation.number, capa.number)
