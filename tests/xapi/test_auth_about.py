"""LRS credentials, HTTP Basic, scopes, version negotiation and /xapi/about."""

from __future__ import annotations

import json

import pytest

from tests.xapi.conftest import basic


def test_about_lists_both_versions_without_auth(client):
    response = client.get("/xapi/about")
    assert response.status_code == 200
    assert response.json["version"] == ["1.0.3", "2.0.0"]
    assert response.headers["X-Experience-API-Version"] == "1.0.3"
    assert (
        client.get("/xapi/about", headers={"X-Experience-API-Version": "2.0.0"}).headers[
            "X-Experience-API-Version"
        ]
        == "2.0.0"
    )


def test_cli_create_list_revoke(runner, client):
    result = runner.invoke(
        args=[
            "lrs",
            "credentials",
            "create",
            "moodle",
            "--scope",
            "statements/write",
            "--scope",
            "statements/read",
            "--json",
        ]
    )
    assert result.exit_code == 0, result.output
    pair = json.loads(result.stdout)
    assert set(pair) == {"key", "secret"}
    headers = {"Authorization": basic(pair["key"], pair["secret"]), "X-Experience-API-Version": "1.0.3"}
    assert client.get("/xapi/statements", headers=headers).status_code in (200, 404)  # authenticated

    result = runner.invoke(args=["lrs", "credentials", "list"])
    assert result.exit_code == 0 and "moodle" in result.output and "active" in result.output

    result = runner.invoke(args=["lrs", "credentials", "create", "moodle"])
    assert result.exit_code == 1 and "already exists" in result.output
    result = runner.invoke(args=["lrs", "credentials", "create", "x", "--scope", "everything"])
    assert result.exit_code == 1 and "unknown xAPI scope" in result.output

    result = runner.invoke(args=["lrs", "credentials", "revoke", "moodle"])
    assert result.exit_code == 0, result.output
    response = client.get("/xapi/statements", headers=headers)
    assert response.status_code == 401 and "revoked" in response.json["message"]
    assert "revoked" in runner.invoke(args=["lrs", "credentials", "list"]).output


def test_cli_plain_output_prints_key_and_secret(runner):
    result = runner.invoke(args=["lrs", "credentials", "create", "content"])
    assert result.exit_code == 0
    assert "key:" in result.output and "secret:" in result.output


@pytest.mark.parametrize("header", [None, "Bearer abc", "Basic !!!", basic("nokey", "x")])
def test_bad_credentials_are_401_with_challenge(client, header):
    headers = {"X-Experience-API-Version": "1.0.3"}
    if header:
        headers["Authorization"] = header
    response = client.get("/xapi/statements", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_wrong_secret_is_401(client, make_credential):
    key, _secret = make_credential()
    response = client.get(
        "/xapi/statements",
        headers={"Authorization": basic(key, "wrong"), "X-Experience-API-Version": "1.0.3"},
    )
    assert response.status_code == 401 and "wrong secret" in response.json["message"]


@pytest.mark.parametrize(
    ("sent", "answered"),
    [
        ("1.0", "1.0.3"),
        ("1.0.0", "1.0.3"),
        ("1.0.2", "1.0.3"),
        ("1.0.3", "1.0.3"),
        ("2.0.0", "2.0.0"),
        ("2.0", "2.0.0"),
    ],
)
def test_version_negotiation(client, make_credential, sent, answered):
    key, secret = make_credential()
    response = client.get(
        "/xapi/statements", headers={"Authorization": basic(key, secret), "X-Experience-API-Version": sent}
    )
    assert response.headers["X-Experience-API-Version"] == answered


@pytest.mark.parametrize("sent", [None, "0.95", "1.1.0", "3.0.0", "banana"])
def test_missing_or_unsupported_version_is_400(client, make_credential, sent):
    key, secret = make_credential()
    headers = {"Authorization": basic(key, secret)}
    if sent:
        headers["X-Experience-API-Version"] = sent
    response = client.get("/xapi/statements", headers=headers)
    assert response.status_code == 400
    assert response.json["field"] == "X-Experience-API-Version"


def test_demo_credential_and_statements(runner, client):
    from xapi.demo import DEMO_KEY, DEMO_SECRET

    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    headers = {"Authorization": basic(DEMO_KEY, DEMO_SECRET), "X-Experience-API-Version": "1.0.3"}
    response = client.get("/xapi/statements", headers=headers)
    assert response.status_code == 200
    assert len(response.json["statements"]) == 5
    assert {s["actor"]["mbox"] for s in response.json["statements"]} == {
        "mailto:olivia.operator@demo.example", "mailto:omar.operator@demo.example"}


def test_about_tells_a_1_0_client_of_1_0_only(client):
    response = client.get("/xapi/about", headers={"X-Experience-API-Version": "1.0.1"})
    assert response.json["version"] == ["1.0.3"]
    assert client.get("/xapi/about", headers={"X-Experience-API-Version": "2.0.0"}).json["version"] == [
        "1.0.3", "2.0.0"]
