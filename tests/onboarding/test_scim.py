"""SCIM 2.0 provisioning: conformance (scim2-tester), the working life of a person provisioned by an
identity provider and the obligations each step creates, tokens, errors, filters and paging.
"""

from __future__ import annotations

from collections import Counter

import pytest
from scim2_client.engines.wsgi import WSGISCIMClient
from scim2_tester import check_server
from sqlalchemy import select

from bridge.core.audit import AuditEvent
from bridge.core.people import Person
from qms.org.models import Employment, Leave, PersonDepartment, PersonJobFunction
from qms.provisioning import clients
from qms.provisioning.models import ProvisioningClient
from qms.training.models import Assignment
from tests.onboarding.conftest import open_items

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def test_scim2_tester_conformance(app, scim_token):
    """Every check of scim2-tester against /scim/v2 (through the WSGI app, no mock)."""
    client = WSGISCIMClient(
        app.wsgi_app, base_url="http://localhost/scim/v2", headers={"Authorization": f"Bearer {scim_token}"}
    )
    results = check_server(client, raise_exceptions=False)
    statuses = Counter(r.status.name for r in results)
    failures = [
        (r.title, r.resource_type, r.reason) for r in results if r.status.name in ("ERROR", "CRITICAL")
    ]
    print(f"scim2-tester: {dict(statuses)}")
    assert not failures, failures
    assert statuses["SUCCESS"] >= 120
    # Only searching several resource types at once (POST /.search, a MAY) is not offered.
    assert statuses["SKIPPED"] <= 2


@pytest.fixture
def site(plant):
    ids = plant.ids
    ids["prod"] = plant.unit("departments", "PROD")
    ids["qc"] = plant.unit("departments", "QC")
    ids["op"] = plant.unit("job-functions", "OPERATOR")
    created = {code: plant.document(code) for code in ("SOP-OP", "SOP-PROD", "SOP-QC")}
    plant.publish_many([doc["id"] for doc in created.values()])
    docs = {code: doc["training_item_id"] for code, doc in created.items()}
    for scope, scope_id, code in (
        ("job_function", ids["op"], "SOP-OP"),
        ("department", ids["prod"], "SOP-PROD"),
        ("department", ids["qc"], "SOP-QC"),
    ):
        plant.post(
            "/requirements",
            "author",
            {"scope": scope, "scope_id": scope_id, "training_item_id": docs[code]},
            expect=201,
        )
    ids.update({f"item:{k}": v for k, v in docs.items()})
    return plant


def _user(name: str, department: str, number: str, **extra) -> dict:
    return {
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "userName": name,
        "name": {"givenName": name.split(".")[0].title(), "familyName": name.split(".")[-1].title()},
        "emails": [{"value": f"{name}@plant.example", "primary": True, "type": "work"}],
        "active": True,
        ENTERPRISE: {"department": department, "employeeNumber": number},
        **extra,
    }


def test_provisioning_sequence_creates_the_obligations(site, scim, db):
    """Create, join a job function, move department, leave, return, terminate: each step's assignments."""
    ids = site.ids
    created = scim("POST", "/Users", _user("ada.lovelace", "PROD", "E-100"), expect=201).json
    with db.read_sessions() as session:
        person = session.scalar(select(Person).where(Person.employee_no == "E-100"))
        assert person.display_name == "Ada Lovelace" and person.email == "ada.lovelace@plant.example"
        pid = person.id
        assert session.scalar(select(Employment.id).where(Employment.person_id == pid))
    # Hired into PROD: its requirement is assigned in the same transaction.
    assert open_items(db, pid) == [ids["item:SOP-PROD"]]

    group = scim(
        "POST",
        "/Groups",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "OPERATOR",
            "members": [{"value": created["id"]}],
        },
        expect=201,
    ).json
    assert open_items(db, pid) == sorted([ids["item:SOP-PROD"], ids["item:SOP-OP"]])
    user = scim("GET", f"/Users/{created['id']}", expect=200).json
    assert [g["value"] for g in user["groups"]] == [group["id"]]

    # Department moves to QC (PATCH of the enterprise extension): SOP-PROD cancelled, SOP-QC assigned.
    scim(
        "PATCH",
        f"/Users/{created['id']}",
        {
            "schemas": [PATCH],
            "Operations": [{"op": "replace", "path": f"{ENTERPRISE}:department", "value": "QC"}],
        },
        expect=200,
    )
    assert open_items(db, pid) == sorted([ids["item:SOP-QC"], ids["item:SOP-OP"]])
    with db.read_sessions() as session:
        departments = session.scalars(
            select(PersonDepartment).where(PersonDepartment.person_id == pid).order_by(PersonDepartment.id)
        ).all()
        assert [(d.department_id, d.valid_to is None) for d in departments] == [
            (ids["prod"], False),
            (ids["qc"], True),
        ]
        cancelled = session.scalars(
            select(Assignment).where(Assignment.person_id == pid, Assignment.status == "cancelled")
        ).all()
        assert [a.training_item_id for a in cancelled] == [ids["item:SOP-PROD"]]

    # active=false: a leave with the reason; the obligations are exempt, not cancelled.
    scim(
        "PATCH",
        f"/Users/{created['id']}",
        {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]},
        expect=200,
    )
    transcript = site.get(f"/people/{pid}/transcript")
    assert {r["status"] for r in transcript["requirements"]} == {"exempt"}
    with db.read_sessions() as session:
        leave = session.scalar(select(Leave).where(Leave.person_id == pid))
        assert leave.ends_at is None and "active=false" in leave.reason
    # active=true: the leave ends.
    scim(
        "PATCH",
        f"/Users/{created['id']}",
        {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": True}}]},
        expect=200,
    )
    transcript = site.get(f"/people/{pid}/transcript")
    assert {r["status"] for r in transcript["requirements"]} == {"due"}

    # Leaving the group ends the job function: SOP-OP no longer required.
    scim(
        "PATCH",
        f"/Groups/{group['id']}",
        {
            "schemas": [PATCH],
            "Operations": [{"op": "remove", "path": f'members[value eq "{created["id"]}"]'}],
        },
        expect=200,
    )
    assert open_items(db, pid) == [ids["item:SOP-QC"]]

    # DELETE terminates: open assignments cancelled, the person stays, the SCIM user is gone.
    scim("DELETE", f"/Users/{created['id']}", expect=204)
    assert open_items(db, pid) == []
    scim("GET", f"/Users/{created['id']}", expect=404)
    with db.read_sessions() as session:
        person = session.get(Person, pid)
        assert person is not None and person.active is False
        employment = session.scalar(select(Employment).where(Employment.person_id == pid))
        assert employment.terminated_at is not None and "SCIM DELETE" in employment.termination_reason
        assert all(
            m.valid_to is not None
            for m in session.scalars(select(PersonJobFunction).where(PersonJobFunction.person_id == pid))
        )
        actors = set(
            session.scalars(
                select(AuditEvent.actor_username).where(AuditEvent.entity_type == "qms_employment")
            )
        )
        assert "scim:entra-test" in actors


def test_filters_paging_and_errors(site, scim):
    for index, department in enumerate(["PROD", "QC", "PROD"]):
        scim(
            "POST",
            "/Users",
            _user(f"user{index}.smith", department, f"E-{index}", externalId=f"hr-{index}"),
            expect=201,
        )

    def names(query: str) -> list[str]:
        body = scim("GET", f"/Users?{query}", expect=200).json
        return sorted(r["userName"] for r in body["Resources"])

    assert names('filter=userName eq "USER1.smith"') == ["user1.smith"]
    assert names('filter=externalId eq "hr-2"') == ["user2.smith"]
    assert names('filter=emails.value co "user0"') == ["user0.smith"]
    assert names('filter=userName sw "user" and displayName pr') == []
    assert names('filter=userName sw "user" and name.familyName eq "Smith"') == [
        "user0.smith",
        "user1.smith",
        "user2.smith",
    ]
    assert names('filter=userName eq "user0.smith" or userName eq "user2.smith"') == [
        "user0.smith",
        "user2.smith",
    ]
    assert names(f'filter={ENTERPRISE}:department eq "QC"') == ["user1.smith"]
    page = scim("GET", "/Users?startIndex=2&count=1", expect=200).json
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (3, 2, 1)
    assert page["Resources"][0]["userName"] == "user1.smith"

    bad = scim("GET", "/Users?filter=userName%20zz%20%22x%22", expect=400).json
    assert bad["schemas"] == [ERROR] and bad["scimType"] == "invalidFilter" and bad["status"] == "400"
    duplicate = scim("POST", "/Users", _user("user0.smith", "QC", "E-9"), expect=409).json
    assert duplicate["scimType"] == "uniqueness"
    assert scim("POST", "/Users", {"schemas": [USER_SCHEMA]}, expect=400).json["schemas"] == [ERROR]
    assert scim("GET", "/Users/nope", expect=404).json["status"] == "404"
    stale = scim("GET", '/Users?filter=userName eq "user0.smith"', expect=200).json["Resources"][0]
    scim(
        "PATCH",
        f"/Users/{stale['id']}",
        {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "title", "value": "x"}]},
        headers={"If-Match": 'W/"99"'},
        expect=412,
    )


def test_tokens_are_per_client_hashed_and_revocable(client, scim, scim_token, uow_factory, runner):
    assert client.get("/scim/v2/Users").status_code == 401
    wrong = client.get("/scim/v2/Users", headers={"Authorization": "Bearer scim_nope"})
    assert wrong.status_code == 401 and wrong.json["schemas"] == [ERROR]
    # An API token of a console user is not a provisioning token.
    assert client.get("/scim/v2/Users", headers={"Authorization": "Bearer gxp_x"}).status_code == 401
    scim("GET", "/Users", expect=200)
    with uow_factory(readonly=True) as uow:
        row = uow.session.scalar(select(ProvisioningClient))
        assert row.token_hash != scim_token and scim_token not in str(row.__dict__)
    result = runner.invoke(args=["qms", "scim-client", "revoke", "entra-test", "--reason", "IdP replaced"])
    assert result.exit_code == 0, result.output
    assert scim("GET", "/Users").status_code == 401
    result = runner.invoke(args=["qms", "scim-client", "issue", "okta"])
    assert result.exit_code == 0 and "token (shown once): scim_" in result.output
    token = result.output.split("token (shown once): ")[1].strip()
    assert client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with uow_factory(readonly=True) as uow:
        actions = set(
            uow.session.scalars(
                select(AuditEvent.action).where(AuditEvent.entity_type == "qms_provisioning_client")
            )
        )
        assert "scim.client_issued" in actions
        assert clients.list_clients(uow.session)[0].name == "entra-test"


def test_bulk_provisions_in_one_transaction(site, scim, db):
    ids = site.ids
    operations = [
        {"method": "POST", "path": "/Users", "bulkId": "ada", "data": _user("ada.b", "PROD", "B-1")},
        {"method": "POST", "path": "/Users", "bulkId": "bob", "data": _user("bob.b", "QC", "B-2")},
        {"method": "POST", "path": "/Users", "bulkId": "dup", "data": _user("ada.b", "QC", "B-3")},
        {
            "method": "POST",
            "path": "/Groups",
            "bulkId": "ops",
            "data": {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "OPERATOR",
                "members": [{"value": "bulkId:ada"}, {"value": "bulkId:bob"}],
            },
        },
        {
            "method": "PATCH",
            "path": "/Users/bulkId:bob",
            "data": {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]},
        },
    ]
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": operations}
    answer = scim("POST", "/Bulk", body, expect=200).json
    assert [o["status"] for o in answer["Operations"]] == ["201", "201", "409", "201", "200"]
    assert answer["Operations"][2]["response"]["scimType"] == "uniqueness"
    with db.read_sessions() as session:
        people = dict(
            session.execute(
                select(Person.employee_no, Person.id).where(Person.employee_no.in_(["B-1", "B-2", "B-3"]))
            ).all()
        )
    assert set(people) == {"B-1", "B-2"}  # the refused operation left nothing behind
    # Obligations were re-evaluated once, before the commit: department and job function.
    assert open_items(db, people["B-1"]) == sorted([ids["item:SOP-PROD"], ids["item:SOP-OP"]])
    transcript = site.get(f"/people/{people['B-2']}/transcript")
    assert {r["status"] for r in transcript["requirements"]} == {"exempt"}
    assert (
        scim("POST", "/Bulk", {"schemas": ["x"], "Operations": []}, expect=400).json["scimType"]
        == "invalidSyntax"
    )
