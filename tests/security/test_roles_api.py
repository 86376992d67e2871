"""Role by operation over the REST API: every operation of the OpenAPI document with ``x-roles``
lets in exactly its roles and administrators; an auditor changes nothing but reads what it may.
"""

from __future__ import annotations

import re

from bridge.core.accounts import ROLES

METHODS_WITH_BODY = {"post", "put", "patch"}


def _role_refusal(response, method: str, path: str) -> bool:
    """Whether the registry's role check refused the request (not a later, per-record check)."""
    if response.status_code != 403:
        return False
    body = response.get_json(silent=True) or {}
    return body.get("error") == "role_required" and body.get("message", "").startswith(
        f"{method.upper()} {path} needs")


def test_each_role_reaches_exactly_its_operations(client, make_user, api_token):
    headers = {}
    for role in ROLES:
        make_user(f"only.{role}", role)
        headers[role] = api_token(f"only.{role}")
    spec = client.get("/api/v1/openapi.json").get_json()
    checked = reads_for_auditors = 0
    for template, operations in spec["paths"].items():
        path = re.sub(r"{\w+}", "1", template)
        for method, operation in operations.items():
            allowed = operation.get("x-roles")
            if not allowed:
                continue
            if "auditor" in allowed:
                # Auditors read everything and change nothing.
                assert method == "get", f"{method.upper()} {template} lets auditors change records"
                reads_for_auditors += 1
            for role in ROLES:
                kwargs = {"json": {}} if method in METHODS_WITH_BODY else {}
                response = client.open(path, method=method.upper(), headers=headers[role], **kwargs)
                refused = _role_refusal(response, method, path)
                expected_refusal = role not in allowed and role != "administrator"
                assert refused == expected_refusal, (
                    f"{role} on {method.upper()} {template} (x-roles {allowed}): "
                    f"{response.status_code} {response.get_data(as_text=True)[:200]}")
                checked += 1
    assert checked > 100 and reads_for_auditors > 10


def test_administrator_reads_what_auditors_read():
    from bridge.core.actor import Actor

    admin = Actor(kind="user", username="admin", roles=frozenset({"administrator"}))
    auditor = Actor(kind="user", username="auditor", roles=frozenset({"auditor"}))
    assert admin.has_role("auditor", "qa_author")
    assert admin.has_role("auditor")
    assert admin.has_role("qa_approver")
    assert auditor.has_role("auditor", "qa_author")
    assert not auditor.has_role("qa_author")
