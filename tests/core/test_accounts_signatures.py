"""Accounts, lockout (§11.300), API tokens and e-signatures (§11.50/11.70/11.200)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bridge.core import accounts, audit, signatures
from bridge.core.errors import AccountLocked, Conflict, Forbidden, Unauthorized, ValidationFailed
from tests.conftest import TEST_PASSWORD


def _sign(uow_factory, actor, password=TEST_PASSWORD, username=None, content=None):
    with uow_factory(actor) as uow:
        sig = signatures.sign(uow, username=username or actor.username, password=password,
                              meaning="approved", record_type="document_version", record_id=7,
                              content=content or {"title": "SOP-014 Cleaning", "rev": "2.0"},
                              lockout_threshold=3)
        uow.commit()
        return sig


def test_signature_binds_to_content_and_shows_manifestation(uow_factory, make_user, db):
    actor = make_user("robin", "qa_approver", name="Robin Approver")
    sig = _sign(uow_factory, actor)
    assert sig.printed_name == "Robin Approver" and sig.meaning == "approved"
    assert sig.signed_at.tzinfo is not None
    assert "Robin Approver — I approve this record —" in sig.manifestation()
    with db.read_sessions() as session:
        assert signatures.verify(session, sig.id, {"title": "SOP-014 Cleaning", "rev": "2.0"}).valid
        changed = signatures.verify(session, sig.id, {"title": "SOP-014 Cleaning", "rev": "2.1"})
        assert not changed.valid and changed.expected_hash != changed.actual_hash
        rows = audit.history(session, "electronic_signature", sig.id)
    assert rows[0].action == "create" and rows[0].actor_username == "robin"


def test_signing_for_another_person_is_refused(uow_factory, make_user):
    actor = make_user("robin", "qa_approver")
    make_user("terry", "qa_approver")
    with pytest.raises(Forbidden, match="owner"):
        _sign(uow_factory, actor, username="terry")


def test_wrong_password_counts_toward_lockout_and_locks(uow_factory, make_user, db):
    actor = make_user("robin", "qa_approver")
    for _attempt in range(3):
        with pytest.raises(Unauthorized, match="wrong password"):
            _sign(uow_factory, actor, password="Wrong-Password-1")
    with db.read_sessions() as session:
        user = accounts.get_user(session, "robin")
        assert user.failed_attempts == 3 and user.locked_at is not None
        assert not session.scalars(select(signatures.ElectronicSignature)).all()
        actions = [r.action for r in session.scalars(select(audit.AuditEvent))]
    assert "account.locked" in actions
    with pytest.raises(AccountLocked):
        _sign(uow_factory, actor)  # even the right password is refused now
    with uow_factory() as uow:
        accounts.unlock(uow, accounts.get_user(uow.session, "robin"), "identity re-confirmed by phone")
        uow.commit()
    assert _sign(uow_factory, actor).id


def test_success_resets_failure_count(uow_factory, make_user, db):
    actor = make_user("robin", "qa_approver")
    with pytest.raises(Unauthorized):
        _sign(uow_factory, actor, password="Wrong-Password-1")
    _sign(uow_factory, actor)
    with db.read_sessions() as session:
        assert accounts.get_user(session, "robin").failed_attempts == 0


@pytest.mark.parametrize(
    ("password", "rule"),
    [("Short-1a", "at least 12"), ("alllowercaseletters", "three of"),
     ("Robin-Is-Great-1", "username")],
)
def test_password_policy(uow_factory, password, rule):
    with uow_factory() as uow, pytest.raises(ValidationFailed, match=rule):
        accounts.create_user(uow, "robin", roles=["learner"], password=password)


def test_unknown_role_and_duplicate_username(uow_factory, make_user):
    make_user("robin", "learner")
    with uow_factory() as uow, pytest.raises(ValidationFailed, match="unknown role"):
        accounts.create_user(uow, "kim", roles=["wizard"], password=TEST_PASSWORD)
    with uow_factory() as uow, pytest.raises(Conflict, match="taken"):
        accounts.create_user(uow, "robin", roles=["learner"], password=TEST_PASSWORD)


def test_only_administrators_create_users(uow_factory, make_user):
    learner = make_user("lee", "learner")
    with uow_factory(learner) as uow, pytest.raises(Forbidden, match="administrator"):
        accounts.create_user(uow, "kim", roles=["learner"], password=TEST_PASSWORD)


def test_api_token_authenticates_and_revocation_is_immediate(client, make_user, api_token, uow_factory):
    make_user("robin", "qa_approver", name="Robin Approver")
    headers = api_token("robin")
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 200
    assert response.json["username"] == "robin" and response.json["roles"] == ["qa_approver"]
    with uow_factory() as uow:
        token = uow.session.scalar(select(accounts.ApiToken))
        accounts.revoke_token(uow, token.id, "laptop lost")
        uow.commit()
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.json == {"error": "token_revoked", "message": "this API token was revoked"}


def test_api_without_credentials_is_401_json(client):
    response = client.get("/api/v1/me")
    assert response.status_code == 401 and response.json["error"] == "unauthorized"
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer nonsense"}).status_code == 401


def test_unknown_api_path_is_json_404(client):
    response = client.get("/api/v1/does-not-exist")
    assert response.status_code == 404 and response.json["error"] == "not_found"
