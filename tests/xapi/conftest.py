"""Fixtures of the LRS tests: a credential and request headers per xAPI version."""

from __future__ import annotations

import base64

import pytest

from bridge.core.actor import SYSTEM
from xapi import auth


def basic(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


@pytest.fixture
def make_credential(app, uow_factory):
    """Create a credential with scopes; returns (key, secret)."""

    def make(name: str = "lms", scopes: tuple[str, ...] = ("all",)) -> tuple[str, str]:
        with uow_factory(SYSTEM) as uow:
            issued = auth.create_credential(
                uow, name, scopes=list(scopes), pepper=app.config["SECRET_KEY"], home_page="http://lrs.test"
            )
            uow.commit()
        return issued.key, issued.secret

    return make


@pytest.fixture
def lrs_headers(make_credential):
    """Headers for xAPI 1.0.3 and 2.0.0 requests with an ``all`` credential."""
    key, secret = make_credential()
    auth_header = basic(key, secret)
    return {
        "1.0.3": {"Authorization": auth_header, "X-Experience-API-Version": "1.0.3"},
        "2.0.0": {"Authorization": auth_header, "X-Experience-API-Version": "2.0.0"},
    }


def statement(**overrides):
    """A minimal valid statement; keyword arguments replace or add top-level properties."""
    body = {
        "actor": {"objectType": "Agent", "name": "Olivia Operator", "mbox": "mailto:olivia@plant.example"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "completed"}},
        "object": {
            "objectType": "Activity",
            "id": "https://lms.plant.example/sop-014",
            "definition": {
                "name": {"en-US": "SOP-014 Line clearance"},
                "type": "http://adlnet.gov/expapi/activities/course",
            },
        },
    }
    body.update(overrides)
    return body
