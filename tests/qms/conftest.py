"""A small plant for the quality-system tests, driven through the REST API."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from bridge.core.clock import MovableClock
from tests.conftest import TEST_PASSWORD

PDF = b"%PDF-1.4\n% test controlled file\n%%EOF\n"
SIGN_PATH = re.compile(r"^/assignments/(\d+)/sign$")


_CLOCK = MovableClock()


@pytest.fixture(autouse=True)
def _app_clock(clock: MovableClock) -> None:
    """Let :func:`now` and :func:`future` read the app's clock, which tests move instead of sleeping."""
    global _CLOCK
    _CLOCK = clock


def now() -> dt.datetime:
    """The app's current time."""
    return _CLOCK.now()


def future(days: float = 10) -> str:
    return (now() + dt.timedelta(days=days)).isoformat()


@dataclass
class Plant:
    """API client helpers acting as the plant's users."""

    client: Any
    headers: dict[str, dict[str, str]]
    people: dict[str, int]
    ids: dict[str, int] = field(default_factory=dict)

    def call(
        self, method: str, path: str, user: str, json: Any = None, expect: int | None = None, **kwargs: Any
    ) -> Any:
        response = self.client.open(
            f"/api/v1{path}", method=method, json=json, headers=self.headers[user], **kwargs
        )
        if expect is not None:
            assert response.status_code == expect, (response.status_code, response.get_data(as_text=True))
        return response

    def get(self, path: str, user: str = "auditor", expect: int | None = 200, **kw: Any) -> Any:
        response = self.call("GET", path, user, expect=expect, **kw)
        return response.json if response.is_json else response

    def post(
        self,
        path: str,
        user: str,
        json: Any = None,
        expect: int | None = None,
        present: bool = True,
        **kw: Any,
    ) -> Any:
        """POST as ``user``. Signing an assignment first opens its controlled file as the learner
        would (a "read and understood" needs the document presented), unless ``present=False``."""
        signing = SIGN_PATH.match(path)
        if signing and present:
            self.open_document(int(signing.group(1)), user)
        return self.call("POST", path, user, json=json if json is not None else {}, expect=expect, **kw)

    def open_document(self, assignment_id: int, user: str) -> None:
        """The learner downloads the controlled file of one of their assignments (when it has one)."""
        response = self.call("GET", "/me/assignments", user)
        if response.status_code != 200:
            return
        for row in response.json:
            file_url = row["id"] == assignment_id and row["content"].get("file_url")
            if file_url:
                self.client.get(file_url, headers=self.headers[user])

    def sign(self, user: str) -> dict[str, str]:
        return {"username": user, "password": TEST_PASSWORD}

    # -- building blocks ------------------------------------------------------------------------
    def unit(self, kind: str, code: str) -> int:
        return self.post(f"/{kind}", "author", {"code": code, "name": code.title()}, expect=201).json["id"]

    def hire(
        self,
        name: str,
        department: int,
        functions: list[int],
        equipment: list[int] | None = None,
        person_id: int | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "department_id": department,
            "job_function_ids": functions,
            "equipment_ids": equipment or [],
        }
        if person_id is not None:
            body["person_id"] = person_id
        else:
            body["display_name"] = name
        return self.post("/people/hire", "supervisor", body, expect=201).json

    def document(self, code: str) -> dict[str, Any]:
        return self.post(
            "/documents", "author", {"code": code, "title": f"{code} procedure"}, expect=201
        ).json

    def draft(self, document_id: int, label: str, revision: str = "major", **extra: Any) -> dict[str, Any]:
        version = self.post(
            f"/documents/{document_id}/versions",
            "author",
            {"label": label, "revision": revision, **extra},
            expect=201,
        ).json
        self.call(
            "PUT",
            f"/document-versions/{version['id']}/file",
            "author",
            data=PDF + label.encode(),
            content_type="application/pdf",
            expect=200,
        )
        return version

    def _approve_at_a_moment(self, version_id: int, seconds: float) -> tuple[dict[str, Any], dt.datetime]:
        """Approve with an effective date a moment away (a longer one if the machine is busy)."""
        for attempt in range(5):
            at = now() + dt.timedelta(seconds=seconds * 2**attempt)
            response = self.post(
                f"/document-versions/{version_id}/approve",
                "approver",
                {**self.sign("approver"), "effective_at": at.isoformat()},
            )
            if response.status_code != 400:
                break
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.json, at

    @staticmethod
    def _wait_until(at: dt.datetime) -> None:
        """Move the app's clock on to ``at`` (no test sleeps)."""
        if _CLOCK.now() < at:
            _CLOCK.set(at)

    def approve_soon(self, version_id: int, seconds: float = 0.3) -> dict[str, Any]:
        """Approve with an effective date a moment away, then move the clock to it."""
        approved, at = self._approve_at_a_moment(version_id, seconds)
        self._wait_until(at)
        return approved

    def publish_many(self, document_ids: list[int]) -> list[dict[str, Any]]:
        """Publish version 1.0 of several documents, then make them effective in one sweep."""
        approved = []
        latest = now()
        for document_id in document_ids:
            version = self.draft(document_id, "1.0")
            self.post(f"/document-versions/{version['id']}/submit", "author", {}, expect=200)
            result, at = self._approve_at_a_moment(version["id"], 0.3)
            approved.append(result)
            latest = max(latest, at)
        self._wait_until(latest)
        outcome = self.post("/sweeps/effective", "admin", expect=200).json["outcome"]
        assert {a["item_version_id"] for a in approved} <= set(outcome["effective"]), outcome
        return approved

    def publish(
        self, document_id: int, label: str = "1.0", revision: str = "major", **extra: Any
    ) -> dict[str, Any]:
        """Draft, submit, approve and make a version effective (the sweep runs at its date)."""
        version = self.draft(document_id, label, revision, **extra)
        self.post(f"/document-versions/{version['id']}/submit", "author", {}, expect=200)
        approved = self.approve_soon(version["id"])
        outcome = self.post("/sweeps/effective", "admin", expect=200).json["outcome"]
        assert approved["item_version_id"] in outcome["effective"], outcome
        return approved


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch):
    """Real argon2, lighter parameters: the suite hashes and verifies many passwords."""
    from argon2 import PasswordHasher

    from bridge.core import accounts

    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def plant(client, make_user, api_token) -> Plant:
    users = {
        "author": ("qa_author",),
        "approver": ("qa_approver",),
        "trainer": ("trainer",),
        "supervisor": ("supervisor",),
        "auditor": ("auditor",),
        "admin": ("administrator",),
        "ann": ("learner",),
        "bob": ("learner",),
    }
    headers = {}
    people = {}
    for username, roles in users.items():
        actor = make_user(username, *roles, name=username.title())
        people[username] = actor.person_id
        headers[username] = api_token(username)
    return Plant(client=client, headers=headers, people=people)


def run_effective_sweep(db, at: dt.datetime | None = None) -> dict[str, list[int]]:
    """Run the effective-date sweep as the scheduler would, at ``at`` (the app's now by default)."""
    from bridge.core.actor import SYSTEM
    from bridge.core.uow import UnitOfWork
    from qms.documents import effective_dates

    with UnitOfWork(db, SYSTEM) as uow:
        outcome = effective_dates.effective_sweep(uow, now=at)
        uow.commit()
    return outcome
