"""Activities (canonical definitions), Agents (Person object), alternate request syntax."""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote, urlencode

from tests.xapi.conftest import statement

SOP = "https://lms.plant.example/sop-014"


def test_activity_definitions_merge_into_the_canonical_one(client, lrs_headers):
    h = lrs_headers["1.0.3"]
    client.post(
        "/xapi/statements",
        json=statement(
            object={
                "id": SOP,
                "definition": {
                    "name": {"en-US": "SOP-014"},
                    "type": "http://adlnet.gov/expapi/activities/course",
                },
            }
        ),
        headers=h,
    )
    client.post(
        "/xapi/statements",
        json=statement(
            object={
                "id": SOP,
                "definition": {
                    "name": {"de-DE": "SOP-014 (de)"},
                    "type": "http://adlnet.gov/expapi/activities/lesson",
                },
            }
        ),
        headers=h,
    )
    response = client.get(f"/xapi/activities?activityId={quote(SOP)}", headers=h)
    assert response.status_code == 200
    assert response.json == {
        "objectType": "Activity",
        "id": SOP,
        "definition": {
            "name": {"en-US": "SOP-014", "de-DE": "SOP-014 (de)"},
            "type": "http://adlnet.gov/expapi/activities/lesson",
        },
    }
    unknown = client.get(f"/xapi/activities?activityId={quote('https://x.example/none')}", headers=h)
    assert unknown.json == {"objectType": "Activity", "id": "https://x.example/none"}
    assert client.get("/xapi/activities", headers=h).status_code == 400
    assert client.get("/xapi/activities?activityId=not%20an%20iri", headers=h).status_code == 400


def test_agents_returns_person_with_linked_identities(client, lrs_headers, uow_factory):
    from bridge.core import people

    with uow_factory() as uow:
        person = people.create_person(uow.session, "Olivia Operator", email="olivia@plant.example")
        people.link_identity(uow.session, person, "xapi_account", "https://lms.plant.example", "olivia")
        uow.commit()
    agent = {"objectType": "Agent", "mbox": "mailto:olivia@plant.example", "name": "O. Operator"}
    response = client.get(f"/xapi/agents?agent={quote(json.dumps(agent))}", headers=lrs_headers["2.0.0"])
    assert response.status_code == 200
    person_object = response.json
    assert person_object["objectType"] == "Person"
    assert person_object["name"] == ["O. Operator", "Olivia Operator"]
    assert person_object["mbox"] == ["mailto:olivia@plant.example"]
    assert person_object["account"] == [{"homePage": "https://lms.plant.example", "name": "olivia"}]
    unknown = {"mbox": "mailto:nobody@plant.example"}
    response = client.get(f"/xapi/agents?agent={quote(json.dumps(unknown))}", headers=lrs_headers["2.0.0"])
    assert response.json == {"objectType": "Person", "mbox": ["mailto:nobody@plant.example"]}
    assert client.get("/xapi/agents", headers=lrs_headers["2.0.0"]).status_code == 400


def test_alternate_request_syntax_in_1_0_only(client, lrs_headers):
    statement_id = str(uuid.uuid4())
    form = {
        "statementId": statement_id,
        "content": json.dumps(statement()),
        "Authorization": lrs_headers["1.0.3"]["Authorization"],
        "X-Experience-API-Version": "1.0.3",
        "Content-Type": "application/json",
    }
    response = client.post(
        "/xapi/statements?method=PUT", data=urlencode(form), content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 204
    assert (
        client.get(f"/xapi/statements?statementId={statement_id}", headers=lrs_headers["1.0.3"]).status_code
        == 200
    )
    form["X-Experience-API-Version"] = "2.0.0"
    form["statementId"] = str(uuid.uuid4())
    response = client.post(
        "/xapi/statements?method=PUT", data=urlencode(form), content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400 and response.json["field"] == "method"
    response = client.get("/xapi/statements?method=GET", headers=lrs_headers["1.0.3"])
    assert response.status_code == 400
