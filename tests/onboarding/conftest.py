"""Fixtures of the onboarding tests: the plant of the quality-system tests, a provisioning client."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from qms.provisioning import clients
from tests.qms.conftest import Plant, _app_clock, cheap_password_hashing, plant  # noqa: F401


@pytest.fixture
def scim_token(uow_factory) -> str:
    """A provisioning client's bearer token."""
    with uow_factory() as uow:
        issued = clients.issue_client(uow, "entra-test")
        uow.commit()
    return issued.token


@pytest.fixture
def scim(client, scim_token):
    """Call ``/scim/v2`` as the provisioning client."""

    def call(method: str, path: str, json=None, expect: int | None = None, **kwargs):
        headers = {"Authorization": f"Bearer {scim_token}", **kwargs.pop("headers", {})}
        response = client.open(f"/scim/v2{path}", method=method, json=json, headers=headers, **kwargs)
        if expect is not None:
            assert response.status_code == expect, (response.status_code, response.get_data(as_text=True))
        return response

    return call


def open_items(db, person_id: int) -> list[int]:
    """The training items a person has open assignments for."""
    from qms.training.models import Assignment

    with db.read_sessions() as session:
        return sorted(
            session.scalars(
                select(Assignment.training_item_id).where(
                    Assignment.person_id == person_id, Assignment.status == "open"
                )
            )
        )
