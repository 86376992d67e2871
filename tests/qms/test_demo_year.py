"""The demo plant carries a year of history told through the services (issue 14 #19)."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from bridge.core import accounts
from bridge.core.demo import HISTORY_DAYS
from bridge.demo import DEMO_PASSWORD
from qms.capa.models import Capa
from qms.changes.models import ChangeControl
from qms.deviations.models import Deviation
from qms.documents.models import DocumentVersion
from qms.training.models import Assignment, Completion


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def test_the_demo_plant_has_a_year_of_history(runner, client, db, clock, api_token):
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    assert "demo plant loaded in" in result.output and "assignments:" in result.output
    present = clock.now()
    with db.read_sessions() as session:
        op1 = accounts.get_user(session, "operator1").person_id
        op2 = accounts.get_user(session, "operator2").person_id
        completions = session.scalars(select(Completion)).all()
        # History spans the year: the first completions are about a year old, none in the future.
        assert min(c.completed_at for c in completions) < present - dt.timedelta(days=HISTORY_DAYS - 30)
        assert max(c.completed_at for c in completions) <= present
        versions = {(v.document.code, v.label): v for v in session.scalars(select(DocumentVersion))}
        assert versions[("SOP-001", "1.1")].revision == "minor"
        assert versions[("SOP-001", "2.0")].status == "effective"
        assert versions[("SOP-001", "1.0")].status == "superseded"
        assert {c.status for c in session.scalars(select(ChangeControl))} == {"approved", "submitted"}
        deviations = session.scalars(select(Deviation).order_by(Deviation.occurred_at)).all()
        assert [d.status for d in deviations] == ["under_investigation", "closed"]
        assert all(d.occurred_at < present - dt.timedelta(days=90) for d in deviations)
        (capa,) = session.scalars(select(Capa))
        assert capa.status == "actions_in_progress"
        overdue = session.scalars(select(Assignment).where(Assignment.status == "overdue")).all()
        assert {a.person_id for a in overdue} >= {op2}
        periodic = session.scalars(select(Assignment).where(Assignment.reason == "periodic")).all()
        assert op1 in {a.person_id for a in periodic}
        assert all(a.due_at > present for a in periodic)
    auditor = api_token("auditor")
    # As of six months ago and now: Priya Nair (hired month 5, trained late in month 6) was not
    # qualified then and is now; operator2 is not qualified now (overdue on SOP-014).
    half_year_ago = _iso(present - dt.timedelta(days=182))
    people = {p["display_name"]: p["id"] for p in client.get("/api/v1/people", headers=auditor).json}
    priya = people["Priya Nair"]
    then = client.get(f"/api/v1/people/{priya}/compliance?at={half_year_ago}", headers=auditor).json
    now = client.get(f"/api/v1/people/{priya}/compliance?at={_iso(present)}", headers=auditor).json
    assert then["qualified"] is False and now["qualified"] is True
    assert client.get(f"/api/v1/people/{op2}/compliance?at={_iso(present)}", headers=auditor).json[
        "qualified"
    ] is False
    first_month = _iso(present - dt.timedelta(days=HISTORY_DAYS - 20))
    assert client.get(f"/api/v1/people/{op1}/compliance?at={first_month}", headers=auditor).json[
        "qualified"
    ] is True
    report = client.get("/api/v1/reports/overdue?format=json", headers=auditor).json
    rows = report["data"]["rows"]
    late = {(r["person"], r["item"]) for r in rows}
    assert {("Omar Operator", "SOP-014"), ("Lena Vogel", "GMP-101")} <= late, late
    # operator1 signs in with the demo password to a plausible state: trained, qualified, with
    # retraining falling due.
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    signed_in = client.post("/login", data={"csrf_token": csrf, "username": "operator1",
                                            "password": DEMO_PASSWORD})
    assert signed_in.status_code == 302
    mine = client.get("/api/v1/me/assignments").json
    assert mine and all(a["status"] != "overdue" for a in mine)
    assert any(a["reason"] == "periodic" for a in mine), mine
    assert client.get(f"/api/v1/people/{op1}/compliance?at={_iso(present)}", headers=auditor).json[
        "qualified"
    ] is True
    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0 and "audit trail intact" in verified.output, verified.output
