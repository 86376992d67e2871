"""Administrators' pages for LMS platforms and registration links: console pages at
``/console/lti/`` (the former ``/lti/admin/`` redirects there).
"""

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
                                           "password": TEST_PASSWORD, "next": "/console/lti/"})
    assert response.status_code == 302


def test_admin_pages_register_remove_and_create_links(client, make_user, db):
    assert client.get("/console/lti/").status_code == 302  # to the sign-in page
    old = client.get("/lti/admin/")
    assert old.status_code == 301 and old.headers["Location"].endswith("/console/lti/")
    make_user("admin", "administrator")
    _sign_in(client, "admin")
    page = client.get("/console/lti/").get_data(as_text=True)
    assert "No platform registered" in page and "/lti/jwks" in page
    csrf = _csrf(page)
    form = {"csrf_token": csrf, "name": "Moodle", "issuer": "https://moodle.example",
            "client_id": "abc", "deployment_ids": "1, 2", "auth_login_url": "https://moodle.example/auth",
            "auth_token_url": "https://moodle.example/token", "keyset_url": "https://moodle.example/certs"}
    added = client.post("/console/lti/platforms", data=form, follow_redirects=True)
    assert added.status_code == 200 and "registered" in added.get_data(as_text=True)
    again = client.post("/console/lti/platforms", data=form, headers={"Referer": "http://localhost/console/lti/"},
                        follow_redirects=True)
    assert "already registered" in again.get_data(as_text=True)
    no_csrf = client.post("/console/lti/platforms", data={**form, "csrf_token": "forged"})
    assert no_csrf.status_code == 400
    link = client.post("/console/lti/registration-links", data={"csrf_token": csrf, "label": "Moodle",
                                                                "hours": "2"})
    assert link.headers["Cache-Control"] == "no-store"
    assert re.search(r"/lti/register\?gxp_token=gxpreg_[\w-]+", link.get_data(as_text=True))
    with db.read_sessions() as s:
        platform_id = s.scalar(select(LtiPlatform.id))
    deployment = client.post(f"/console/lti/platforms/{platform_id}/deployments",
                             data={"csrf_token": csrf, "deployment_id": "3"}, follow_redirects=True)
    text = deployment.get_data(as_text=True)
    assert deployment.status_code == 200 and "Deployment 3 added" in text
    assert all(f"<code>{d}</code>" in text for d in ("1", "2", "3"))
    no_reason = client.post(f"/console/lti/platforms/{platform_id}/remove",
                            data={"csrf_token": csrf, "reason": ""}, follow_redirects=True,
                            headers={"Referer": f"http://localhost/console/lti/platforms/{platform_id}"})
    assert "give the reason" in no_reason.get_data(as_text=True)
    with db.read_sessions() as s:
        assert s.get(LtiPlatform, platform_id).active
    removed = client.post(f"/console/lti/platforms/{platform_id}/remove",
                          data={"csrf_token": csrf, "reason": "replaced"}, follow_redirects=True)
    assert removed.status_code == 200 and "removed" in removed.get_data(as_text=True)
    with db.read_sessions() as s:
        assert not s.get(LtiPlatform, platform_id).active


def test_admin_pages_need_the_administrator_role(client, make_user):
    make_user("quinn", "qa_author")
    _sign_in(client, "quinn")
    assert client.get("/console/lti/").status_code == 403
    assert client.get("/console/lti/deliveries").status_code == 403
