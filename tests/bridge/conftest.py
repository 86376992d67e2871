"""A plant, an LTI-registered Moodle and an LRS credential: statements shaped like the shared
Moodle 4.5 captures and like hand-written xAPI content become evidence."""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bridge.core.actor import SYSTEM
from bridge.core.people import get_person, link_identity
from lti import services as lti_services
from tests.qms.conftest import Plant, cheap_password_hashing, future, plant  # noqa: F401 - fixtures
from xapi import auth

DATA = Path(__file__).resolve().parent.parent / "data" / "moodle-4.5"
MOODLE = "https://moodle.plant.example"
QUIZ = f"{MOODLE}/mod/quiz/view.php?id=5"
PAGE = f"{MOODLE}/mod/page/view.php?id=4"
SCORM = "http://127.0.0.1:8081/mod/scorm/view.php?id=3"


def capture(name: str) -> list[dict[str, Any]]:
    """A Moodle capture, as the log store POSTs it (arrays of statements without ids)."""
    return copy.deepcopy(json.loads((DATA / name).read_text()))


def quiz_session() -> list[dict[str, Any]]:
    return capture("logstore_xapi-quiz-page-session.json")


def scorm_session() -> list[dict[str, Any]]:
    return capture("logstore_xapi-statements.json")


@dataclass
class Bridge:
    """The plant's API plus the record store's, as Moodle's log store and content call it."""

    plant: Plant
    xapi_headers: dict[str, str]
    people: dict[str, int]
    versions: dict[str, int]
    items: dict[str, int]

    def post_statements(self, statements: Any, expect: int = 200) -> list[str]:
        response = self.plant.client.post("/xapi/statements", json=statements, headers=self.xapi_headers)
        assert response.status_code == expect, response.get_data(as_text=True)
        return response.json if expect == 200 else []

    def put_statement(self, statement: dict[str, Any], expect: int = 204) -> None:
        response = self.plant.client.put(
            f"/xapi/statements?statementId={statement['id']}", json=statement, headers=self.xapi_headers
        )
        assert response.status_code == expect, response.get_data(as_text=True)

    def assign(self, person: str, version: str) -> int:
        return self.plant.post(
            "/assignments",
            "trainer",
            {
                "person_ids": [self.people[person]],
                "item_version_id": self.versions[version],
                "due_at": future(5),
            },
            expect=201,
        ).json["assignment_ids"][0]

    def assignment(self, assignment_id: int) -> dict[str, Any]:
        return self.plant.get(f"/assignments/{assignment_id}", "auditor")

    def course(self, code: str, iris: list[str], **rule: Any) -> int:
        item = self.plant.post(
            "/training-items", "author", {"code": code, "kind": "course", "title": code, **rule}, expect=201
        ).json
        version = self.plant.post(
            f"/training-items/{item['id']}/versions",
            "author",
            {"label": "1", "activity_iris": iris},
            expect=201,
        ).json
        self.plant.post(
            f"/training-item-versions/{version['id']}/approve",
            "approver",
            {**self.plant.sign("approver"), "effective_at": future()},
            expect=200,
        )
        self.items[code], self.versions[code] = item["id"], version["id"]
        return version["id"]


@pytest.fixture
def bridge(plant, app, uow_factory) -> Bridge:  # noqa: F811 - the plant fixture
    with uow_factory(SYSTEM) as uow:
        issued = auth.create_credential(
            uow,
            "moodle",
            scopes=["statements/write", "statements/read"],
            pepper=app.config["SECRET_KEY"],
            home_page="http://lrs.test",
        )
        lti_services.add_platform(
            uow,
            issuer=MOODLE,
            client_id="moodle-client",
            deployment_ids=["1"],
            auth_login_url=f"{MOODLE}/mod/lti/auth.php",
            auth_token_url=f"{MOODLE}/mod/lti/token.php",
            keyset_url=f"{MOODLE}/mod/lti/certs.php",
            name="Plant Moodle",
        )
        uow.commit()
    key = base64.b64encode(f"{issued.key}:{issued.secret}".encode()).decode()
    headers = {"Authorization": f"Basic {key}", "X-Experience-API-Version": "1.0.3"}
    people = dict(plant.people)
    op = plant.unit("job-functions", "OP")
    # Nina is Moodle user 4: she launched from Moodle before (LTI sub 4); Stu is known by e-mail.
    nina = plant.post(
        "/people/hire",
        "supervisor",
        {
            "display_name": "Nina Newhire",
            "department_id": plant.unit("departments", "PROD"),
            "job_function_ids": [op],
        },
        expect=201,
    ).json
    stu = plant.post(
        "/people/hire",
        "supervisor",
        {
            "display_name": "Stu Dent",
            "department_id": plant.unit("departments", "QC"),
            "job_function_ids": [op],
        },
        expect=201,
    ).json
    omar = plant.post(
        "/people/hire",
        "supervisor",
        {
            "display_name": "Omar Operator",
            "department_id": plant.unit("departments", "PACK"),
            "job_function_ids": [op],
        },
        expect=201,
    ).json
    people.update(nina=nina["person"]["id"], stu=stu["person"]["id"], omar=omar["person"]["id"])
    with uow_factory(SYSTEM) as uow:
        link_identity(uow.session, get_person(uow.session, people["nina"]), "lti", MOODLE, "4")
        link_identity(uow.session, get_person(uow.session, people["stu"]), "mbox", "", "student1@example.com")
        uow.commit()
    return Bridge(plant=plant, xapi_headers=headers, people=people, versions={}, items={})
