"""The deviation and CAPA chapters of the demo's year (told by :mod:`qms.demo_year`)."""

from __future__ import annotations

import datetime as dt
import logging

from bridge.core.uow import UnitOfWork
from qms.capa import actions as capa_actions
from qms.capa import lifecycle as capa_lifecycle
from qms.capa import services as capas
from qms.demo_plant import DEMO_PASSWORD, LOCKOUT, Plant, acting_as, person_of
from qms.deviations import assessments as deviation_assessments
from qms.deviations import services as deviations

logger = logging.getLogger(__name__)


def granulator_deviation(uow: UnitOfWork, plant: Plant, occurred_at: dt.datetime) -> tuple[int, int]:
    """A major deviation on the granulator's cleaning, assessed "inadequate" (Omar Operator had
    not signed SOP-014), and the CAPA it raised: a preventive action and a training action on
    raw-material sampling (SOP-020) for every operator, due in three weeks.

    Returns:
        The deviation's and the CAPA's ids.
    """
    op1, op2 = person_of(uow, "operator1"), person_of(uow, "operator2")
    with acting_as(uow, "qa.author"):
        deviation = deviations.create_deviation(
            uow,
            title="Granulator GRAN-01 cleaned without the contact time",
            description="Batch 24-117 granulated after a cleaning that skipped the 10-minute contact time.",
            classification="major",
            occurred_at=occurred_at,
            discovered_at=occurred_at + dt.timedelta(hours=20),
            person_ids=[op1, op2],
            document_ids=[plant.documents["SOP-014"]],
        )
        deviations.start_investigation(uow, deviation.id)
    with acting_as(uow, "qa.approver"):
        deviation_assessments.record_assessment(
            uow,
            deviation.id,
            conclusion="inadequate",
            rationale="Omar Operator had not signed SOP-014 when he cleaned the granulator.",
            username="qa.approver",
            password=DEMO_PASSWORD,
            lockout_threshold=LOCKOUT,
        )
    now = uow.clock.now()
    with acting_as(uow, "qa.author"):
        capa = capas.create_capa(
            uow,
            title="Operators work on equipment before their training is signed",
            description="Raised from the granulator cleaning deviation.",
            source="deviation",
            source_reference=None,
            owner_person_id=person_of(uow, "supervisor"),
            due_at=now + dt.timedelta(days=60),
            deviation_id=deviation.id,
        )
        capas.start_investigation(uow, capa.id)
        capas.record_root_cause(
            uow, capa.id, root_cause="Line access is granted before the equipment SOPs are signed."
        )
        capa_actions.add_action(
            uow,
            capa.id,
            kind="preventive",
            description="Line access badge granted only once the equipment SOPs are signed.",
            due_at=now + dt.timedelta(days=30),
        )
        capa_actions.add_action(
            uow,
            capa.id,
            kind="training",
            description="Every operator trains on raw-material sampling (SOP-020).",
            due_at=now + dt.timedelta(days=21),
            training_item_ids=[plant.items["SOP-020"]],
            job_function_ids=[plant.units["OPERATOR"]],
        )
    with acting_as(uow, "qa.approver"):
        capa_lifecycle.approve_plan(
            uow, capa.id, username="qa.approver", password=DEMO_PASSWORD, lockout_threshold=LOCKOUT
        )
    logger.info("demo: deviation %s and %s", deviation.number, capa.number)
    return deviation.id, capa.id


def sampling_deviation(uow: UnitOfWork, plant: Plant, occurred_at: dt.datetime) -> int:
    """A minor deviation in QC sampling, assessed "adequate" (the analyst was trained on the
    version in force) and closed. Returns its id.
    """
    with acting_as(uow, "qa.author"):
        deviation = deviations.create_deviation(
            uow,
            title="Sample container label missing the lot number",
            description="One of six containers of lactose lot L-2231 was labelled without its lot number.",
            classification="minor",
            occurred_at=occurred_at,
            discovered_at=occurred_at + dt.timedelta(hours=3),
            person_ids=[person_of(uow, "supervisor")],
            document_ids=[plant.documents["SOP-020"]],
        )
        deviations.start_investigation(uow, deviation.id)
    with acting_as(uow, "qa.approver"):
        deviation_assessments.record_assessment(
            uow,
            deviation.id,
            conclusion="adequate",
            rationale="Sam Supervisor had signed SOP-020 2.0, the version in force: "
            "a slip, not a training gap.",
            username="qa.approver",
            password=DEMO_PASSWORD,
            lockout_threshold=LOCKOUT,
        )
        deviations.close_deviation(
            uow,
            deviation.id,
            conclusion="Label reprinted and verified; no impact on the lot.",
            username="qa.approver",
            password=DEMO_PASSWORD,
            lockout_threshold=LOCKOUT,
        )
    return deviation.id
