"""The CAPA and deviation part of the demo plant, loaded after the quality demo plant."""

from __future__ import annotations

from sqlalchemy import select

from bridge import demo
from bridge.core import accounts
from bridge.core.actor import SYSTEM
from bridge.core.uow import UnitOfWork
from qms import demo_plant
from qms.capa import demo as capa_demo
from qms.capa.models import Capa
from qms.deviations.models import Deviation
from qms.training.models import Assignment


def test_demo_loader_adds_a_capa_with_open_training_and_an_assessed_deviation(db, client, api_token):
    with UnitOfWork(db, SYSTEM) as uow:
        demo.load_users(uow)
        demo_plant.load(uow)
        capa_demo.load_demo(uow)
        uow.commit()
    with db.read_sessions() as session:
        (record,) = session.scalars(select(Capa))
        assert record.status == "actions_in_progress" and record.approval_signature_id
        (deviation,) = session.scalars(select(Deviation))
        assert deviation.status == "under_investigation"
        assert {
            a.reason for a in session.scalars(select(Assignment).where(Assignment.source_type == "capa"))
        } == {"capa"}
    headers = api_token("auditor")
    detail = client.get(f"/api/v1/capas/{record.id}", headers=headers).json
    assert detail["open_training"] == 2 and {r["item"] for r in detail["training"]} == {"SOP-020"}
    assessment = client.get(f"/api/v1/deviations/{deviation.id}", headers=headers).json["assessments"][0]
    assert assessment["conclusion"] == "inadequate" and assessment["signature_valid"] is True
    adequacy = client.get(f"/api/v1/deviations/{deviation.id}/training-adequacy", headers=headers).json
    by_name = {r["person"]: r["trained"] for r in adequacy["rows"]}
    with db.read_sessions() as session:
        op1 = accounts.get_user(session, "operator1").person.display_name
        op2 = accounts.get_user(session, "operator2").person.display_name
    assert by_name == {op1: True, op2: False}
