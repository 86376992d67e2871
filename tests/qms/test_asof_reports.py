"""Issues 17 and 18: the matrix-compliance report asked "as of" a past moment in the console answers
by the as-of rule at that moment (not from today's maintained state), and every set-based answer
of the rule (a department, the matrix, standings, deviation pairs) agrees with the per-person one.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

from qms.training import asof, standing
from tests.console.conftest import sign_in
from tests.qms.conftest import now
from tests.qms.test_capa import small_plant


def _summary(client, path: str) -> dict[str, str]:
    """The ``# label,value`` lines of a console report's CSV."""
    response = client.get(path + "&format=csv")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    lines = csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")))
    return {row[0][2:]: row[1] for row in lines if len(row) == 2 and row[0].startswith("# ")}


def test_console_matrix_compliance_as_of_a_past_day_follows_the_rule(plant, app, clock):
    """Ann, trained two days after the day asked, is not compliant as of that day (she is now)."""
    p = small_plant(plant)  # Ann (OP) and Bob (QC) in PROD; SOP-CAPA 1.0 effective
    plant.post("/requirements", "author",
               {"scope": "job_function", "scope_id": p["op"], "training_item_id": p["item"]}, expect=201)
    day = now().date()
    end_of_day = dt.datetime.combine(day, dt.time.max, tzinfo=dt.UTC)
    clock.set(end_of_day + dt.timedelta(days=2))
    (assignment,) = plant.get("/me/assignments", "ann")
    plant.post(f"/assignments/{assignment['id']}/sign", "ann", plant.sign("ann"), expect=201)

    console = app.test_client()
    assert sign_in(console, "auditor").status_code == 302
    today = _summary(console, "/console/reports/matrix-compliance?run=1")
    assert (today["Compliant"], today["Person × requirement pairs"]) == ("1", "1")
    then = _summary(console, f"/console/reports/matrix-compliance?run=1&as_of={day.isoformat()}")
    assert (then["Compliant"], then["Person × requirement pairs"]) == ("0", "1")
    assert then["Compliance %"] == "0.0"
    # The same answer as the person's own as-of answer and the REST report at that moment.
    (requirement,) = plant.get(f"/people/{plant.people['ann']}/compliance",
                               query_string={"at": end_of_day.isoformat()})["requirements"]
    assert requirement["met"] is False
    rest = plant.get("/reports/matrix-compliance", query_string={"at": end_of_day.isoformat()})
    assert rest["data"]["totals"]["compliant"] == 0 and rest["data"]["totals"]["pairs"] == 1


def test_set_based_answers_agree_with_the_per_person_rule(plant, db, clock):
    """A department, the matrix, standings and a deviation's pairs, each computed for many people
    at once, give every person the answer of :func:`asof.as_of_person`: met, unmet, lapsed."""
    p = small_plant(plant)
    plant.post("/requirements", "author",
               {"scope": "job_function", "scope_id": p["op"], "training_item_id": p["item"]}, expect=201)
    periodic = plant.document("SOP-PER")
    plant.publish(periodic["id"])
    plant.post("/requirements", "author",
               {"scope": "department", "scope_id": p["prod"], "retrain_interval_days": 10,
                "training_item_id": periodic["training_item_id"], "grace_days": 2}, expect=201)
    clock.set(now() + dt.timedelta(hours=1))
    for user in ("ann", "bob"):
        for assignment in plant.get("/me/assignments", user):
            if user == "ann" or assignment["training_item"]["id"] == periodic["training_item_id"]:
                plant.post(f"/assignments/{assignment['id']}/sign", user, plant.sign(user), expect=201)
    signed = now()
    moments = [signed - dt.timedelta(minutes=30), signed + dt.timedelta(days=5),
               signed + dt.timedelta(days=13)]
    clock.set(signed + dt.timedelta(days=20))
    people = [plant.people["ann"], plant.people["bob"]]
    with db.read_sessions() as session:
        for at in moments:
            each = {pid: asof.as_of_person(session, pid, at) for pid in people}
            department = {r["person_id"]: r for r in asof.as_of_department(session, p["prod"], at)["people"]}
            standings = standing.standing_of(session, people, at)
            items = [p["item"], periodic["training_item_id"]]
            pairs = asof.trained_on_documents_as_of(session, people, items, at)
            for pid, answer in each.items():
                met = sum(1 for r in answer["requirements"] if r["met"])
                assert (department[pid]["qualified"], department[pid]["met"]) == (answer["qualified"], met)
                assert department[pid]["requirements"] == len(answer["requirements"])
                assert (standings[pid]["qualified"], standings[pid]["met"]) == (answer["qualified"], met)
                for r in answer["requirements"]:
                    single = asof.trained_on_document_as_of(session, pid, r["training_item_id"], at)
                    assert pairs[(pid, r["training_item_id"])]["completion_id"] == single["completion_id"]
                    assert single["completion_id"] == r["completion_id"]
            matrix = standing.matrix_as_of(session, at)["totals"]
            assert matrix["compliant"] == sum(
                1 for a in each.values() for r in a["requirements"] if r["met"]
            )
        # Just after signing everyone is met but Bob (QC, no SOP-CAPA requirement is his) ...
        after = {pid: asof.as_of_person(session, pid, moments[1]) for pid in people}
        assert after[plant.people["ann"]]["qualified"] and after[plant.people["bob"]]["qualified"]
        # ... before it nobody was, and 13 days on the periodic training had lapsed (10 + 2 days).
        before = asof.as_of_person(session, plant.people["ann"], moments[0])
        assert not before["qualified"]
        lapsed = asof.as_of_person(session, plant.people["ann"], moments[2])
        assert [r["expired"] for r in lapsed["requirements"]
                if r["training_item_id"] == periodic["training_item_id"]] == [True]


def test_matrix_report_counts_a_pair_past_its_due_date_before_the_sweep(plant, clock):
    """The maintained-state matrix report judges due dates against now: a pair whose due date
    passed is overdue even before the overdue sweep has marked it."""
    p = small_plant(plant)
    plant.post("/requirements", "author",
               {"scope": "job_function", "scope_id": p["op"], "training_item_id": p["item"]}, expect=201)
    (assignment,) = plant.get("/me/assignments", "ann")
    totals = plant.get("/matrix/compliance")["totals"]
    assert (totals["pairs"], totals["compliant"], totals["overdue"]) == (1, 0, 0)
    clock.set(dt.datetime.fromisoformat(assignment["due_at"]) + dt.timedelta(hours=1))
    totals = plant.get("/matrix/compliance")["totals"]
    assert (totals["pairs"], totals["compliant"], totals["overdue"]) == (1, 0, 1)
    report = plant.get("/reports/matrix-compliance")["data"]["totals"]
    assert (report["compliant"], report["overdue"]) == (0, 1)


def test_console_document_training_as_of_a_past_day_follows_the_rule(plant, app, clock):
    """The document-training report asked about a past day lists who needed the document then and
    whether each was trained on the version in force then: Ann, trained two days later, was not.
    """
    p = small_plant(plant)
    plant.post("/requirements", "author",
               {"scope": "job_function", "scope_id": p["op"], "training_item_id": p["item"]}, expect=201)
    day = now().date()
    end_of_day = dt.datetime.combine(day, dt.time.max, tzinfo=dt.UTC)
    clock.set(end_of_day + dt.timedelta(days=2))
    (assignment,) = plant.get("/me/assignments", "ann")
    plant.post(f"/assignments/{assignment['id']}/sign", "ann", plant.sign("ann"), expect=201)

    console = app.test_client()
    assert sign_in(console, "auditor").status_code == 302
    then = _summary(console, f"/console/reports/document-training?document=SOP-CAPA&as_of={day.isoformat()}")
    assert (then["People who needed it"], then["Trained on the version in force"], then["Not trained"]) == (
        "1", "0", "1")
    assert then["As of (UTC)"].startswith(day.isoformat())
    page = console.get(f"/console/reports/document-training?document=SOP-CAPA&as_of={day.isoformat()}")
    assert "as of" in page.get_data(as_text=True)
    today = _summary(console, "/console/reports/document-training?document=SOP-CAPA")
    assert "As of (UTC)" not in today and today["People who need it"] == "1"


def test_console_transcript_as_of_a_past_day_follows_the_rule(plant, app, clock):
    """Ann's transcript as of the day before her signature: not qualified, no completion yet."""
    p = small_plant(plant)
    plant.post("/requirements", "author",
               {"scope": "job_function", "scope_id": p["op"], "training_item_id": p["item"]}, expect=201)
    day = now().date()
    end_of_day = dt.datetime.combine(day, dt.time.max, tzinfo=dt.UTC)
    clock.set(end_of_day + dt.timedelta(days=2))
    (assignment,) = plant.get("/me/assignments", "ann")
    plant.post(f"/assignments/{assignment['id']}/sign", "ann", plant.sign("ann"), expect=201)

    console = app.test_client()
    assert sign_in(console, "auditor").status_code == 302
    then = _summary(console, f"/console/reports/transcript?person=ann&as_of={day.isoformat()}")
    assert (then["Qualified"], then["Completions by then"]) == ("no", "0")
    assert then["Assignments made by then"] == "1"
    today = _summary(console, "/console/reports/transcript?person=ann")
    assert today["Completions"] == "1" and "Qualified" not in today
