"""The player's HTTP side without a browser: play links, package files under a per-attempt CSP,
idempotent SCORM commits (JSON and sendBeacon text/plain) becoming SCORM-profile statements and
evidence, resume data in the State resource, and the cmi5 fetch URL, token and rules.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from bridge.core.db import utcnow
from bridge.core.uow import UnitOfWork
from qms.documents import approval
from qms.training.models import Assignment
from tests.conftest import TEST_PASSWORD
from tests.content import builders
from tests.lti.conftest import assign
from xapi.store import StatementRow

SCORM = "https://w3id.org/xapi/scorm"


def import_and_assign(client, db, make_user, api_token, content: bytes, code: str, **form: str):
    """Import, approve and assign a course to a new learner; returns (version id, learner headers, person)."""
    make_user("author", "qa_author")
    response = client.post(
        "/api/v1/courses/import",
        headers=api_token("author"),
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(content), "p.zip"), "code": code, "label": "1.0", **form},
    )
    assert response.status_code == 201, response.get_json()
    version_id = response.get_json()["item_version_id"]
    approver = make_user("approver", "qa_approver")
    with UnitOfWork(db, approver) as uow:
        approval.approve_course_version(
            uow,
            version_id,
            username="approver",
            password=TEST_PASSWORD,
            effective_at=utcnow() + dt.timedelta(days=1),
            lockout_threshold=3,
        )
        uow.commit()
    learner = make_user("learner1", "learner", name="Lee Learner")
    assign(db, learner.person_id, version_id)
    return version_id, api_token("learner1"), learner.person_id


def play_link(client, version_id: int, headers: dict[str, str]) -> str:
    response = client.get(f"/content/start/{version_id}", headers=headers)
    assert response.status_code == 303, response.get_data(as_text=True)
    location = urlsplit(response.headers["Location"]).path
    assert location.startswith("/play/")
    return location


def statements(db) -> list[dict]:
    with db.read_sessions() as s:
        return [json.loads(body) for body in s.scalars(select(StatementRow.body).order_by(StatementRow.seq))]


def status_of(db, person_id: int) -> str:
    with db.read_sessions() as s:
        return s.scalars(select(Assignment.status).where(Assignment.person_id == person_id)).one()


def test_scorm12_play_commit_statements_evidence_and_resume(client, db, make_user, api_token):
    version_id, learner, person_id = import_and_assign(
        client, db, make_user, api_token, builders.scorm12_package(), "CRS-12"
    )
    play = play_link(client, version_id, learner)
    page = client.get(play)
    assert page.status_code == 200 and "Set-Cookie" not in page.headers
    csp = page.headers["Content-Security-Policy"]
    assert f"connect-src http://localhost{play}" in csp and "sandbox allow-scripts allow-forms" in csp
    data = json.loads(page.get_data(as_text=True).split('id="play-data">')[1].split("</script>")[0])
    assert data["standard"] == "scorm12" and data["launch_url"].endswith(f"{play}pkg/sco/index.html")
    # Package files: typed by extension, under the attempt's CSP; nothing outside the package.
    sco = client.get(f"{play}pkg/sco/index.html")
    assert sco.status_code == 200 and sco.mimetype == "text/html"
    assert sco.headers["X-Content-Type-Options"] == "nosniff"
    assert f"form-action http://localhost{play}" in sco.headers["Content-Security-Policy"]
    assert "allow-popups" not in sco.headers["Content-Security-Policy"]
    assert client.get(f"{play}pkg/sco/sco.js").mimetype == "text/javascript"
    for bad in ("pkg/../imsmanifest.xml", "pkg/sco/../../x", "pkg/sco/", "pkg/nothing.html"):
        assert client.get(f"{play}{bad}").status_code == 404, bad
    assert client.get("/play/not-a-token/pkg/sco/index.html").status_code == 401
    # Commits: the first reports initialized; the final one (a sendBeacon, text/plain) the result.
    first = {
        "sequence": 0,
        "terminate": False,
        "cmi": {
            "cmi": {"core": {"lesson_status": "incomplete", "lesson_location": "p2"}, "suspend_data": "a=1"}
        },
    }
    assert client.post(f"{play}commit", json=first).get_json()["applied"] is True
    final = {
        "sequence": 1,
        "terminate": True,
        "cmi": {
            "core": {
                "lesson_status": "passed",
                "score": {"raw": "90", "min": "0", "max": "100"},
                "session_time": "00:05:30",
                "lesson_location": "p3",
                "exit": "",
            },
            "suspend_data": "a=2",
            "interactions": {
                "childArray": [{"id": "q1", "type": "choice", "student_response": "b", "result": "correct"}]
            },
        },
    }
    answer = client.post(f"{play}commit", data=json.dumps(final), content_type="text/plain;charset=UTF-8")
    assert answer.get_json() == {"result": True, "errorCode": 0, "applied": True, "statements": 7}
    # Replayed (a beacon after the XHR): idempotent.
    assert client.post(f"{play}commit", json=final).get_json()["applied"] is False
    stored = statements(db)
    verbs = [s["verb"]["id"].rsplit("/", 1)[1] for s in stored]
    assert verbs == [
        "initialized",
        "completed",
        "passed",
        "scored",
        "responded",
        "completed",
        "passed",
        "terminated",
    ]
    # The SCO's results are parts; the course's own, rolled up from its one SCO, are the evidence.
    course = f"/content/versions/{version_id}"
    assert [s["object"]["id"].endswith(course) for s in stored] == [False] * 5 + [True, True, False]
    assert stored[6]["result"] == {
        "score": {"raw": 90.0, "min": 0.0, "max": 100.0, "scaled": 0.9},
        "success": True,
        "completion": True,
    }
    for statement in stored:
        context = statement["context"]
        assert {"id": SCORM, "objectType": "Activity"} in context["contextActivities"]["category"]
        assert context["registration"] and statement["actor"]["account"]["name"] == f"person-{person_id}"
    terminated = stored[-1]
    assert terminated["result"] == {
        "score": {"raw": 90.0, "min": 0.0, "max": 100.0, "scaled": 0.9},
        "success": True,
        "completion": True,
        "duration": "PT0H5M30S",
    }
    assert stored[4]["result"] == {"response": "b", "success": True}
    assert status_of(db, person_id) == "content_complete"  # the learner's signature follows
    # A new attempt after suspending resumes where the learner left.
    play2 = play_link(client, version_id, learner)
    client.post(
        f"{play2}commit",
        json={
            "sequence": 0,
            "terminate": True,
            "cmi": {
                "core": {"lesson_status": "incomplete", "exit": "suspend", "lesson_location": "p4"},
                "suspend_data": "s=4",
            },
        },
    )
    assert [s["verb"]["id"].rsplit("/", 1)[1] for s in statements(db)][-3:] == [
        "initialized",
        "suspended",
        "terminated",
    ]
    play3 = play_link(client, version_id, learner)
    data = json.loads(
        client.get(play3).get_data(as_text=True).split('id="play-data">')[1].split("</script>")[0]
    )
    assert data["resume"] == {"suspend_data": "s=4", "location": "p4", "exit": "suspend"}
    client.post(f"{play3}commit", json={"sequence": 0, "terminate": False, "cmi": {"core": {}}})
    assert statements(db)[-1]["verb"]["id"].endswith("/resumed")


def test_commit_refusals(client, db, make_user, api_token):
    version_id, learner, _person = import_and_assign(
        client, db, make_user, api_token, builders.scorm2004_package(), "CRS-04"
    )
    play = play_link(client, version_id, learner)
    assert client.post(f"{play}commit", data="not json", content_type="text/plain").status_code == 400
    assert client.post(f"{play}commit", json={"cmi": {}}).status_code == 400
    assert (
        client.post(
            f"{play}commit", json={"sequence": 0, "cmi": {}}, headers={"Origin": "https://evil.example"}
        ).status_code
        == 403
    )
    assert client.get(f"/content/start/{version_id}").status_code == 401  # no one signed in


def test_scorm2004_failed_attempt_is_no_completion(client, db, make_user, api_token):
    version_id, learner, person_id = import_and_assign(
        client, db, make_user, api_token, builders.scorm2004_package(), "CRS-04F"
    )
    play = play_link(client, version_id, learner)
    client.post(
        f"{play}commit",
        json={
            "sequence": 0,
            "terminate": True,
            "cmi": {"completion_status": "completed", "success_status": "failed", "score": {"scaled": "0.4"}},
        },
    )
    verbs = [s["verb"]["id"].rsplit("/", 1)[1] for s in statements(db)]
    assert verbs == ["initialized", "completed", "failed", "scored", "failed", "terminated"]
    assert status_of(db, person_id) == "open"


def _cmi5_launch(client, play: str) -> dict[str, str]:
    data = json.loads(
        client.get(play).get_data(as_text=True).split('id="play-data">')[1].split("</script>")[0]
    )
    query = {k: v[0] for k, v in parse_qs(urlsplit(data["launch_url"]).query).items()}
    assert set(query) == {"endpoint", "fetch", "actor", "registration", "activityId"}
    return query


def test_cmi5_launch_token_rules_and_satisfied(client, db, make_user, api_token):
    version_id, learner, person_id = import_and_assign(
        client, db, make_user, api_token, builders.cmi5_package(), "CRS-C5"
    )
    play = play_link(client, version_id, learner)
    launch = _cmi5_launch(client, play)
    assert [s["verb"]["id"] for s in statements(db)] == ["http://adlnet.gov/expapi/verbs/launched"]
    token = client.post(urlsplit(launch["fetch"]).path).get_json()["auth-token"]
    assert client.post(urlsplit(launch["fetch"]).path).get_json()["error-code"] == "1"  # once
    auth = {"Authorization": f"Basic {token}", "X-Experience-API-Version": "1.0.3"}
    endpoint = urlsplit(launch["endpoint"]).path
    state = client.get(
        f"{endpoint}activities/state",
        headers=auth,
        query_string={
            "activityId": launch["activityId"],
            "agent": launch["actor"],
            "registration": launch["registration"],
            "stateId": "LMS.LaunchData",
        },
    ).get_json()
    assert state["moveOn"] == "CompletedAndPassed" and state["masteryScore"] == 0.8
    session_id = state["contextTemplate"]["extensions"][
        "https://w3id.org/xapi/cmi5/context/extensions/sessionid"
    ]
    actor = json.loads(launch["actor"])

    def send(verb: str, result: dict | None = None, *, category: bool = True, **changes: object) -> int:
        statement = {
            "actor": actor,
            "verb": {"id": f"http://adlnet.gov/expapi/verbs/{verb}"},
            "object": {"id": launch["activityId"]},
            "context": {
                "registration": launch["registration"],
                "extensions": {"https://w3id.org/xapi/cmi5/context/extensions/sessionid": session_id},
            },
        }
        if category:
            statement["context"]["contextActivities"] = {
                "category": [{"id": "https://w3id.org/xapi/cmi5/context/categories/cmi5"}]
            }
        if result:
            statement["result"] = result
        statement.update(changes)
        return client.post(f"{endpoint}statements", headers=auth, json=statement).status_code

    assert client.post(f"{endpoint}statements", json={}).status_code == 401  # no token
    assert send("completed", {"completion": True}) == 403  # initialized must come first
    assert send("initialized", category=False) == 403  # cmi5 defined: the category
    assert send("initialized", actor={"mbox": "mailto:other@example.com"}) == 403
    assert send("initialized") == 200
    assert send("initialized") == 403  # once per session
    assert send("passed", {"success": True, "score": {"scaled": 0.5}}) == 403  # below the mastery score
    assert send("completed", {"completion": True}) == 200
    assert status_of(db, person_id) == "open"  # moveOn is CompletedAndPassed: not satisfied yet
    assert send("completed", {"completion": True}) == 403  # once per registration
    assert send("passed", {"success": True, "score": {"scaled": 0.9}}) == 200
    assert status_of(db, person_id) == "content_complete"  # the course's "satisfied" is the evidence
    verbs = [s["verb"]["id"].rsplit("/", 1)[1] for s in statements(db)]
    assert verbs == ["launched", "initialized", "completed", "passed", "satisfied"]
    satisfied = statements(db)[-1]
    assert satisfied["object"]["id"].endswith(f"/content/versions/{version_id}")
    assert satisfied["context"]["registration"] == launch["registration"]
    assert send("terminated") == 200
    assert send("experienced", category=False) == 403  # nothing after terminated


@pytest.mark.parametrize("standard", ["scorm12", "cmi5"])
def test_play_from_another_persons_token_is_impossible(client, db, make_user, api_token, standard):
    content = builders.scorm12_package() if standard == "scorm12" else builders.cmi5_package()
    version_id, learner, _person = import_and_assign(client, db, make_user, api_token, content, "CRS-X")
    play = play_link(client, version_id, learner)
    other = play.replace(play.split("/")[2], "x" * 43)
    assert client.get(other).status_code == 401
    assert client.post(f"{other}commit", json={"sequence": 0, "cmi": {}}).status_code == 401


def test_console_lists_packages_with_a_play_link(client, db, make_user, api_token):
    version_id, learner, _person = import_and_assign(
        client, db, make_user, api_token, builders.scorm2004_package("scorm2004_3"), "CRS-CON"
    )
    page = client.get("/content/", headers=learner)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "CRS-CON" in text and "scorm2004_3" in text and f'href="/content/start/{version_id}"' in text
    assert client.get("/content/").status_code in (302, 401)  # signed-in users only
    assert play_link(client, version_id, learner).startswith("/play/")


def test_a_course_of_two_scos_is_done_when_both_are(client, db, make_user, api_token):
    version_id, learner, person_id = import_and_assign(
        client, db, make_user, api_token, builders.scorm12_two_sco_package(), "CRS-2SCO"
    )
    menu = client.get(f"/content/start/{version_id}", headers=learner)
    assert menu.status_code == 200
    html = menu.get_data(as_text=True)
    assert html.count('class="unit"') == 2 and html.count("not attempted") == 2

    def play(unit: str, cmi: dict, sequence: int = 0) -> dict:
        response = client.get(f"/content/start/{version_id}", headers=learner, query_string={"unit": unit})
        assert response.status_code == 303
        link = urlsplit(response.headers["Location"]).path
        return client.post(
            f"{link}commit", json={"sequence": sequence, "terminate": True, "cmi": cmi}
        ).get_json()

    passed = {"core": {"lesson_status": "passed", "score": {"raw": "85", "min": "0", "max": "100"}}}
    assert play("lesson", passed)["statements"] == 5  # initialized completed passed scored terminated
    assert status_of(db, person_id) == "open"  # one part of two: the course is not done
    html = client.get(f"/content/start/{version_id}", headers=learner).get_data(as_text=True)
    assert "passed" in html and "not attempted" in html
    # Opening the lesson again and leaving it incomplete does not undo it.
    play("lesson", {"core": {"lesson_status": "incomplete"}})
    assert play("reading", {"core": {"lesson_status": "completed"}})["statements"] == 5
    assert status_of(db, person_id) == "content_complete"
    course = [s for s in statements(db) if s["object"]["id"].endswith(f"/content/versions/{version_id}")]
    assert [s["verb"]["id"].rsplit("/", 1)[1] for s in course] == ["completed", "passed"]
    assert "score" not in course[0]["result"]  # two SCOs: no one score for the course
    # The units' statements are parts of the course, not unknown activities waiting for a mapping.
    assert client.get("/api/v1/evidence/unmapped", headers=api_token("author")).get_json()["activities"] == []
    # Once done, a unit played again states nothing more about the course.
    play("reading", {"core": {"lesson_status": "failed"}})
    assert len([s for s in statements(db) if s["object"]["id"].endswith(f"/versions/{version_id}")]) == 2
    assert status_of(db, person_id) == "content_complete"
