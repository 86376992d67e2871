"""Reading statements: every query parameter, the more cursor, formats, HEAD and headers."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from urllib.parse import quote

import pytest

from tests.xapi.conftest import basic, statement

OLIVIA = {"objectType": "Agent", "mbox": "mailto:olivia@plant.example"}
OMAR = {"objectType": "Agent", "account": {"homePage": "https://lms.plant.example", "name": "omar"}}
TRAINER = {"objectType": "Agent", "mbox": "mailto:terry@plant.example"}
SOP = "https://lms.plant.example/sop-014"
COURSE = "https://lms.plant.example/course/gmp"
COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
ATTEMPTED = "http://adlnet.gov/expapi/verbs/attempted"
REGISTRATION = str(uuid.uuid4())


def post(client, headers, *statements):
    response = client.post("/xapi/statements", json=list(statements), headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def ids(client, headers, query: str) -> list[str]:
    response = client.get(f"/xapi/statements?{query}", headers=headers)
    assert response.status_code == 200, response.json
    return [s["id"] for s in response.json["statements"]]


@pytest.fixture
def stored(client, lrs_headers, clock):
    """Four statements with different actors, verbs, activities and context."""
    headers = lrs_headers["1.0.3"]
    a = post(client, headers, statement(actor=OLIVIA))[0]
    clock.advance(milliseconds=5)  # distinct stored milliseconds, for since/until
    b = post(
        client,
        headers,
        statement(
            actor=OMAR,
            verb={"id": ATTEMPTED},
            context={
                "registration": REGISTRATION,
                "instructor": TRAINER,
                "contextActivities": {"parent": {"id": COURSE}},
            },
        ),
    )[0]
    clock.advance(milliseconds=5)
    c = post(client, headers, statement(actor=OLIVIA, object={"objectType": "Activity", "id": COURSE}))[0]
    d = post(client, headers, statement(actor=TRAINER, object=OLIVIA))[0]
    return {"a": a, "b": b, "c": c, "d": d}


def q(value: dict) -> str:
    return quote(json.dumps(value))


def test_filters(client, lrs_headers, stored):
    h = lrs_headers["1.0.3"]
    assert ids(client, h, f"agent={q(OLIVIA)}") == [stored["d"], stored["c"], stored["a"]]
    assert ids(client, h, f"agent={q(TRAINER)}") == [stored["d"]]
    assert ids(client, h, f"agent={q(TRAINER)}&related_agents=true") == [stored["d"], stored["b"]]
    assert ids(client, h, f"verb={quote(ATTEMPTED)}") == [stored["b"]]
    assert ids(client, h, f"activity={quote(COURSE)}") == [stored["c"]]
    assert ids(client, h, f"activity={quote(COURSE)}&related_activities=true") == [stored["c"], stored["b"]]
    assert ids(client, h, f"registration={REGISTRATION}") == [stored["b"]]
    assert ids(client, h, f"agent={q(OLIVIA)}&activity={quote(COURSE)}") == [stored["c"]]
    assert ids(client, h, f"agent={q(OMAR)}&verb={quote(COMPLETED)}") == []
    assert ids(client, h, "ascending=true")[:2] == [stored["a"], stored["b"]]


def test_combined_filters_page_through_every_match_once(client, lrs_headers):
    """Two and three filters at once, paged with the more cursor both ways, give exactly the
    statements matching all of them (the filters are joined on the first one's rows)."""
    h = lrs_headers["2.0.0"]
    agents, verbs, registrations = (OLIVIA, OMAR), (COMPLETED, ATTEMPTED), (REGISTRATION, str(uuid.uuid4()))
    made = [
        statement(
            actor=agents[i % 2],
            verb={"id": verbs[i // 2 % 2]},
            context={"registration": registrations[i % 3 // 2]},
        )
        for i in range(24)
    ]
    posted = post(client, h, *made)
    cases = [
        (
            f"agent={q(OMAR)}&verb={quote(ATTEMPTED)}",
            lambda s: s["actor"] is OMAR and s["verb"]["id"] == ATTEMPTED,
        ),
        (
            f"agent={q(OLIVIA)}&verb={quote(COMPLETED)}&registration={REGISTRATION}",
            lambda s: s["actor"] is OLIVIA
            and s["verb"]["id"] == COMPLETED
            and s["context"]["registration"] == REGISTRATION,
        ),
    ]
    for query, matches in cases:
        expected = [statement_id for statement_id, s in zip(posted, made, strict=True) if matches(s)]
        assert expected, query
        for ascending in (False, True):
            seen: list[str] = []
            url = f"/xapi/statements?{query}&limit=2&ascending={str(ascending).lower()}"
            while url:
                body = client.get(url, headers=h).json
                seen.extend(s["id"] for s in body["statements"])
                url = body["more"]
            assert seen == (expected if ascending else expected[::-1]), query


def test_activity_filter_is_exact(client, lrs_headers, stored):
    assert ids(client, lrs_headers["1.0.3"], f"activity={quote(SOP)}") == [stored["b"], stored["a"]]


def test_since_until(client, lrs_headers, stored):
    h = lrs_headers["1.0.3"]
    middle = client.get(f"/xapi/statements?statementId={stored['b']}", headers=h).json["stored"]
    assert stored["b"] not in ids(client, h, f"since={quote(middle)}")
    assert set(ids(client, h, f"since={quote(middle)}")) <= {stored["c"], stored["d"]}
    assert stored["b"] in ids(client, h, f"until={quote(middle)}")
    assert stored["c"] not in ids(client, h, f"until={quote(middle)}")


def test_more_cursor_pages_through_everything_once(client, lrs_headers):
    h = lrs_headers["2.0.0"]
    posted = post(client, h, *[statement() for _ in range(23)])
    seen: list[str] = []
    url = "/xapi/statements?limit=5"
    pages = 0
    while url:
        body = client.get(url, headers=h).json
        seen.extend(s["id"] for s in body["statements"])
        url = body["more"]
        pages += 1
        # A statement stored meanwhile does not disturb the pages already being read.
        if pages == 2:
            post(client, h, statement())
    assert pages == 5
    assert sorted(seen) == sorted(posted) and len(seen) == len(set(seen))


def test_more_cursor_cannot_be_forged(client, lrs_headers):
    response = client.get(
        "/xapi/statements?more=eyJxIjp7fSwiYWZ0ZXIiOjF9.forged", headers=lrs_headers["1.0.3"]
    )
    assert response.status_code == 400 and response.json["field"] == "more"


def test_format_ids_and_canonical(client, lrs_headers):
    h = lrs_headers["1.0.3"]
    first = statement(object={"id": SOP, "definition": {"name": {"en-US": "SOP-014", "fr-FR": "POS-014"}}})
    later = statement(object={"id": SOP, "definition": {"description": {"en-US": "Line clearance"}}})
    statement_id = post(client, h, first, later)[0]
    as_ids = client.get(f"/xapi/statements?statementId={statement_id}&format=ids", headers=h).json
    assert as_ids["actor"] == {"objectType": "Agent", "mbox": "mailto:olivia@plant.example"}
    assert as_ids["object"] == {"id": SOP} and as_ids["verb"] == {"id": COMPLETED}
    canonical = client.get(
        f"/xapi/statements?statementId={statement_id}&format=canonical",
        headers=dict(h, **{"Accept-Language": "fr-FR"}),
    ).json
    assert canonical["object"]["definition"] == {
        "name": {"fr-FR": "POS-014"},
        "description": {"en-US": "Line clearance"},
    }
    exact = client.get(f"/xapi/statements?statementId={statement_id}", headers=h).json
    assert exact["object"]["definition"]["name"] == {"en-US": "SOP-014", "fr-FR": "POS-014"}


def test_headers_and_head(client, lrs_headers, stored):
    h = lrs_headers["1.0.3"]
    response = client.get("/xapi/statements", headers=h)
    assert response.headers["X-Experience-API-Version"] == "1.0.3"
    assert response.headers["X-Experience-API-Consistent-Through"].endswith("Z")
    assert "Last-Modified" in response.headers
    head = client.head("/xapi/statements", headers=h)
    assert head.status_code == 200 and head.data == b""
    assert "X-Experience-API-Consistent-Through" in head.headers
    refused = client.get("/xapi/statements?limit=-1", headers=h)
    assert refused.status_code == 400 and "X-Experience-API-Consistent-Through" in refused.headers


@pytest.mark.parametrize(
    "query",
    [
        "Agent=x",
        "statementId=not-a-uuid",
        "limit=ten",
        "ascending=yes",
        "format=full",
        f"statementId=6f1c2a52-0d36-4a8e-9a57-5a1e0f2a3b4c&verb={quote(COMPLETED)}",
        "agent=not-json",
        "agent=%7B%7D",
        "since=yesterday",
        "verb=completed",
    ],
)
def test_bad_parameters_are_400(client, lrs_headers, query):
    response = client.get(f"/xapi/statements?{query}", headers=lrs_headers["1.0.3"])
    assert response.status_code == 400, query
    assert response.json["field"]


def test_unknown_statement_is_404(client, lrs_headers):
    response = client.get(f"/xapi/statements?statementId={uuid.uuid4()}", headers=lrs_headers["1.0.3"])
    assert response.status_code == 404


def test_read_mine_sees_only_own_statements(client, lrs_headers, make_credential, stored):
    key, secret = make_credential("content-package", ("statements/write", "statements/read/mine"))
    mine_headers = {"Authorization": basic(key, secret), "X-Experience-API-Version": "1.0.3"}
    own = post(client, mine_headers, statement())[0]
    assert ids(client, mine_headers, "") == [own]
    denied = client.get(f"/xapi/statements?statementId={stored['a']}", headers=mine_headers)
    assert denied.status_code == 404
    key, secret = make_credential("writer", ("statements/write",))
    response = client.get(
        "/xapi/statements", headers={"Authorization": basic(key, secret), "X-Experience-API-Version": "1.0.3"}
    )
    assert response.status_code == 403


def test_statement_ref_matches_its_target_filters(client, lrs_headers, stored):
    h = lrs_headers["1.0.3"]
    ref = post(
        client,
        h,
        statement(
            actor=OMAR,
            verb={"id": "http://adlnet.gov/expapi/verbs/commented"},
            object={"objectType": "StatementRef", "id": stored["a"]},
        ),
    )[0]
    assert ref in ids(client, h, f"activity={quote(SOP)}")
    assert ref in ids(client, h, f"verb={quote(COMPLETED)}")


def test_times_come_from_the_app_clock(client, lrs_headers, clock):
    """``stored``, ``Last-Modified`` and ``X-Experience-API-Consistent-Through`` (of answers and
    refusals alike) read the injected clock, not the server's."""
    headers = lrs_headers["2.0.0"]
    clock.freeze(dt.datetime(2031, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC))
    stored_id = post(client, headers, statement())[0]
    found = client.get(f"/xapi/statements?statementId={stored_id}", headers=headers)
    assert found.json["stored"] == "2031-01-02T03:04:05.678Z"
    assert found.json["timestamp"] == "2031-01-02T03:04:05.678Z"
    assert found.headers["Last-Modified"] == "Thu, 02 Jan 2031 03:04:05 GMT"
    clock.advance(minutes=3)
    page = client.get("/xapi/statements", headers=headers)
    assert page.headers["X-Experience-API-Consistent-Through"] == "2031-01-02T03:07:05.678Z"
    refused = client.get("/xapi/statements?bogus=1", headers=headers)
    assert refused.status_code == 400
    assert refused.headers["X-Experience-API-Consistent-Through"] == "2031-01-02T03:07:05.678Z"
