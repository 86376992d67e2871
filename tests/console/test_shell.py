"""The console shell: sign-in lands on the dashboard, the navigation follows the roles, CSRF on
every form post, user text escaped, htmx served from this site with its licence, strict CSP.
"""

from __future__ import annotations

import pytest
from flask import render_template_string

from bridge.core.console import console_page, register_menu
from tests.console.conftest import csrf_of, sign_in


def test_sign_in_lands_on_the_console_and_home_redirects(client, make_user):
    make_user("quinn", "qa_author")
    response = sign_in(client, "quinn")
    assert response.status_code == 302 and response.headers["Location"] == "/console/"
    assert client.get("/").headers["Location"] == "/console/"
    page = client.get("/console/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Quinn" in html and "qa_author" in html and "Sign out" in html
    assert 'aria-current="page"' in html  # the dashboard entry is the current page


def test_signed_out_is_sent_to_sign_in(client):
    response = client.get("/console/?x=1")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/console/")
    assert client.get("/").status_code == 200  # the landing page for visitors


def test_menu_follows_the_roles(app, console_client):
    register_menu(app, "Documents", "Secret QA page", "console.dashboard", roles=("qa_author",),
                  probe="1")
    learner = console_client("lee", "learner").get("/console/").get_data(as_text=True)
    author = console_client("ada", "qa_author").get("/console/").get_data(as_text=True)
    admin = console_client("root", "administrator").get("/console/").get_data(as_text=True)
    assert "Secret QA page" not in learner
    assert "Secret QA page" in author and "Secret QA page" in admin


def test_page_needs_its_role(app, console_client):
    @console_page("qa_approver")
    def approvers_only(uow):
        return "ok"

    app.add_url_rule("/console/test/approvers", "approvers_only", approvers_only)
    assert console_client("ada", "qa_author").get("/console/test/approvers").status_code == 403
    assert console_client("abe", "qa_approver").get("/console/test/approvers").status_code == 200


def test_form_post_without_csrf_is_refused(app, console_client):
    calls = []

    @console_page()
    def write(uow):
        calls.append(uow.actor.username)
        return "written"

    app.add_url_rule("/console/test/write", "write", write, methods=["POST"])
    client = console_client("ada", "qa_author")
    assert client.post("/console/test/write", data={}).status_code == 400
    assert client.post("/console/test/write", data={"csrf_token": "forged"}).status_code == 400
    assert calls == []
    token = csrf_of(client.get("/console/").get_data(as_text=True))
    assert client.post("/console/test/write", data={"csrf_token": token}).status_code == 200
    # htmx sends the token as a header
    assert client.post("/console/test/write", headers={"X-CSRF-Token": token}).status_code == 200
    assert calls == ["ada", "ada"]
    # signing out is a form post too
    assert client.post("/logout", data={}).status_code == 400


def test_refusal_is_flashed_and_rolled_back(app, console_client):
    from bridge.core.errors import Conflict

    @console_page()
    def refuse(uow):
        raise Conflict("this record is not in review")

    app.add_url_rule("/console/test/refuse", "refuse", refuse, methods=["POST"])
    client = console_client("ada", "qa_author")
    token = csrf_of(client.get("/console/").get_data(as_text=True))
    response = client.post("/console/test/refuse", data={"csrf_token": token},
                           headers={"Referer": "http://localhost/console/"})
    assert response.status_code == 303 and response.headers["Location"] == "/console/"
    html = client.get("/console/").get_data(as_text=True)
    assert "this record is not in review" in html and 'role="alert"' in html


def test_user_text_is_escaped_in_the_layout(app, make_user):
    make_user("xss", "qa_author", name="<script>alert(1)</script>")
    client = app.test_client()
    sign_in(client, "xss")
    html = client.get("/console/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_htmx_is_vendored_and_the_csp_stays_strict(client, console_client):
    client = console_client("ada", "qa_author")
    page = client.get("/console/")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "unsafe-eval" not in csp
    html = page.get_data(as_text=True)
    assert "/console/static/console/vendor/htmx-2.0.11/htmx.min.js" in html
    assert "<script>" not in html  # no inline script without a nonce
    js = client.get("/console/static/console/vendor/htmx-2.0.11/htmx.min.js")
    assert js.status_code == 200 and b"htmx" in js.data
    assert client.get("/console/static/console/console.css").status_code == 200


def test_table_helpers_page_and_sort(app):
    from bridge.core.console.tables import Column, page_of, table_request, url_with

    columns = [Column("name", "Name", sort=object()), Column("n", "N")]
    with app.test_request_context("/console/x?q=a&page=3&per_page=2&sort=zzz&dir=desc"):
        table = table_request(columns, default_sort="name")
        assert (table.page, table.per_page, table.sort, table.descending) == (3, 2, "name", True)
        page = page_of(list(range(5)), table)
        assert page.items == [4] and page.pages == 3 and not page.has_next and page.has_prev
        assert url_with(page=2) == "/console/x?q=a&page=2&per_page=2&sort=zzz&dir=desc"
    with app.test_request_context("/console/x?page=-4&per_page=100000"):
        table = table_request(columns)
        assert table.page == 1 and table.per_page == 200


@pytest.mark.parametrize("meaning", ["approved"])
def test_esign_dialog_shows_the_meaning_and_posts_with_csrf(app, console_client, meaning):
    client = console_client("abe", "qa_approver")
    client.get("/console/")
    with client.application.test_request_context("/console/"):
        from flask import session

        with client.session_transaction() as stored:
            session.update(stored)
        html = render_template_string(
            '{% from "console/esign.html" import esign_dialog %}'
            '{{ esign_dialog("/console/x", meaning, "Approve", "SOP-1 <b>v2</b>") }}',
            meaning=meaning)
    assert "I approve this record" in html
    assert 'name="csrf_token"' in html and 'name="signer_password"' in html
    assert "SOP-1 &lt;b&gt;v2&lt;/b&gt;" in html
