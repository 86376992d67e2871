"""Sign-in tells nothing about accounts: an unknown user, a wrong password and a locked account
get the same answer after the same argon2 work (the lock and the attempt are still audited)."""

from __future__ import annotations

import re

import pytest

from bridge.core import accounts, audit
from tests.conftest import TEST_PASSWORD


def _csrf(client) -> str:
    page = client.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


@pytest.fixture
def verifications(monkeypatch):
    """Count the argon2 verifications made."""
    calls = []
    real = accounts._hasher

    class Counting:
        def verify(self, stored, password):
            calls.append(stored)
            return real.verify(stored, password)

        def __getattr__(self, name):
            return getattr(real, name)

    monkeypatch.setattr(accounts, "_hasher", Counting())
    return calls


def _answer(client, username, password):
    response = client.post("/login", data={"csrf_token": _csrf(client), "username": username,
                                           "password": password})
    page = response.get_data(as_text=True)
    alert = re.search(r'role="alert">([^<]*)<', page).group(1)
    return response.status_code, alert


def test_unknown_user_costs_one_argon2_verification(client, make_user, verifications):
    make_user("robin", "qa_approver")
    verifications.clear()
    unknown = _answer(client, "nobody", "Whatever-123")
    assert len(verifications) == 1
    wrong = _answer(client, "robin", "Whatever-123")
    assert len(verifications) == 2
    assert unknown == wrong == (401, "wrong username or password")


def test_a_locked_account_answers_like_a_wrong_password(client, make_user, db, verifications):
    make_user("robin", "qa_approver")
    for _ in range(3):
        assert _answer(client, "robin", "Wrong-Password-9") == (401, "wrong username or password")
    verifications.clear()
    # The right password on the locked account: same status, same words, same work.
    assert _answer(client, "robin", TEST_PASSWORD) == (401, "wrong username or password")
    assert len(verifications) == 1
    assert client.get("/api/v1/me").status_code == 401
    with db.read_sessions() as session:
        user = accounts.get_user(session, "robin")
        assert user.locked_at is not None
        actions = [row.action for row in audit.history(session, "user_account", user.id)]
    assert "account.locked" in actions and actions[-1] == "account.login_refused"


def test_a_deactivated_account_answers_like_a_wrong_password(client, make_user, uow_factory,
                                                             verifications):
    make_user("robin", "qa_approver")
    with uow_factory() as uow:
        accounts.get_user(uow.session, "robin").active = False
        uow.commit()
    verifications.clear()
    assert _answer(client, "robin", TEST_PASSWORD) == (401, "wrong username or password")
    assert len(verifications) == 1


def test_signing_on_a_locked_account_costs_the_same_work(make_user, uow_factory, verifications):
    from bridge.core.errors import AccountLocked

    make_user("robin", "qa_approver")
    with uow_factory() as uow:
        user = accounts.get_user(uow.session, "robin")
        user.locked_at = uow.clock.now()
        uow.commit()
    verifications.clear()
    with uow_factory() as uow, pytest.raises(AccountLocked):
        accounts.check_credentials(uow, accounts.get_user(uow.session, "robin"), TEST_PASSWORD,
                                   threshold=3, context="signature", signing=True)
    assert len(verifications) == 1
