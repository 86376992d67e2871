"""Administrators' pages for LMS platforms and registration links (console sign-in)."""

from __future__ import annotations

import re

from sqlalchemy import select

from lti.models import LtiPlatform
from tests.conftest import TEST_PASSWORD


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _sign_in(client, username: str) -> None:
    token = _csrf(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"csrf_token": token, "username": username,
                                           "password": TEST_PASSWORD, "next": "/lti/admin/"})
    assert response.status_code == 302


def test_admin_pages_register_remove_and_create_links(client, make_user, db):
    assert client.get("/lti/admin/").status_code == 302  # to the sign-in page
    make_user("admin", "administrator")
    _sign_in(client, "admin")
    page = client.get("/lti/admin/").get_data(as_text=True)
    assert "No platform registered" in page and "/lti/jwks" in page
    form = {"csrf_token": _csrf(page), "action": "add", "name": "Moodle", "issuer": "https://moodle.example",
            "client_id": "abc", "deployment_ids": "1, 2", "auth_login_url": "https://moodle.example/auth",
            "auth_token_url": "https://moodle.example/token", "keyset_url": "https://moodle.example/certs"}
    added = client.post("/lti/admin/", data=form)
    assert added.status_code == 200 and "registered" in added.get_data(as_text=True)
    again = client.post("/lti/admin/", data=form)
    assert again.status_code == 409 and "already registered" in again.get_data(as_text=True)
    no_csrf = client.post("/lti/admin/", data={**form, "csrf_token": "forged"})
    assert no_csrf.status_code == 400
    link = client.post("/lti/admin/", data={"csrf_token": form["csrf_token"], "action": "token",
                                             "label": "Moodle", "hours": "2"})
    assert re.search(r"/lti/register\?gxp_token=gxpreg_[\w-]+", link.get_data(as_text=True))
    with db.read_sessions() as s:
        platform_id = s.scalar(select(LtiPlatform.id))
    deployment = client.post("/lti/admin/", data={"csrf_token": form["csrf_token"], "action": "deployment",
                                                   "platform_id": str(platform_id), "deployment_id": "3"})
    assert deployment.status_code == 200 and "1, 2, 3" in deployment.get_data(as_text=True)
    no_reason = client.post("/lti/admin/", data={"csrf_token": form["csrf_token"], "action": "remove",
                                                  "platform_id": str(platform_id), "reason": ""})
    assert no_reason.status_code == 400
    removed = client.post("/lti/admin/", data={"csrf_token": form["csrf_token"], "action": "remove",
                                                "platform_id": str(platform_id), "reason": "replaced"})
    assert removed.status_code == 200 and "removed" in removed.get_data(as_text=True)


def test_admin_pages_need_the_administrator_role(client, make_user):
    make_user("quinn", "qa_author")
    _sign_in(client, "quinn")
    assert client.get("/lti/admin/").status_code == 403
