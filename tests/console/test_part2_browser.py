"""Console part 2 in a real Chromium (Playwright, Debian's /usr/bin/chromium): an auditor answers
every canned question as of a past moment and downloads the PDF, and is refused any change; an
administrator issues and revokes an API token and unlocks an account; the audit viewer shows the
unlock's old and new values and the chain verifies. axe-core on every page visited.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading

import pytest
from werkzeug.serving import make_server

from bridge.demo import DEMO_PASSWORD
from tests.console import part2_plant
from tests.console.conftest import run_axe, sign_in

PORTS = range(8270, 8280)  # this module's own port range on a shared machine

history_plant = part2_plant.history_plant  # the fixture, for this module


@pytest.fixture
def part2_server(app):
    """The app over real HTTP on a free port of 8270-8279."""
    port = None
    for candidate in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            port = candidate
            break
    assert port is not None, "no free port in 8270-8279"
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(5)


def _sign_in(page, base: str, username: str, password: str = DEMO_PASSWORD) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/console/")


QUESTION_FORMS = [
    ("Who was trained on a document version before it became effective?", None),
    ("Was a person (or a department) qualified at the moment?", ("Person (name)", "Omar")),
    ("Was training adequate for a deviation?", None),
    ("Which assignments did a change control create, and their state?", None),
    ("Which CAPA training was open?", None),
    ("Which training was overdue, by department?", None),
]


@pytest.mark.browser
def test_auditor_answers_each_question_as_of_a_past_moment_and_changes_nothing(
        part2_server, browser, history_plant, tmp_path):
    from playwright.sync_api import expect

    base = part2_server
    context = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    _sign_in(page, base, "auditor")
    violations: dict[str, list] = {}
    moment = history_plant["loaded"] + dt.timedelta(days=25)
    stamp = f"{moment:%Y-%m-%d %H:%M}"
    page.get_by_role("link", name="Inspection questions").click()
    page.get_by_label("As of (UTC)").fill(moment.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Inspect as of").click()
    expect(page.locator(".inspection-banner")).to_contain_text(f"as of {stamp}")
    violations["inspection index"] = run_axe(page)
    for heading, field in QUESTION_FORMS:
        page.goto(f"{base}/console/inspection/")
        card = page.locator("section.card", has=page.get_by_role("heading", name=heading))
        if field:
            card.get_by_label(field[0]).fill(field[1])
        card.get_by_role("button", name="Answer").click()
        expect(page.locator(".as-of-note")).to_contain_text(f"{stamp}")
        expect(page.locator(".as-of-note")).to_contain_text("inspection mode")
        violations[heading] = run_axe(page)
        with page.expect_download() as download_info:
            page.get_by_role("link", name="Download PDF").click()
        download = download_info.value
        assert download.suggested_filename.endswith(".pdf")
        assert f"as-of-{moment:%Y%m%dT%H%M}" in download.suggested_filename
        target = tmp_path / download.suggested_filename
        download.save_as(target)
        assert target.read_bytes().startswith(b"%PDF")
    # The audit trail and its verification are open to the auditor, capped at the moment.
    page.get_by_role("link", name="Audit trail").click()
    expect(page.locator(".as-of-note")).to_contain_text(stamp)
    violations["audit trail"] = run_axe(page)
    page.get_by_role("link", name="Verify the chain").click()
    expect(page.locator("#chain-result")).to_contain_text("The chain verifies")
    violations["verify"] = run_axe(page)
    # Attempts to change anything are refused: the LMS admin form and a forged post.
    status = page.evaluate("""async () => {
        const token = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token'];
        const r = await fetch('/console/admin/users/1/unlock', {method: 'POST',
            headers: {'Content-Type': 'application/x-www-form-urlencoded'},
            body: 'csrf_token=' + encodeURIComponent(token) + '&reason=try'});
        return [r.status, await r.text()];
    }""")
    assert status[0] == 403 and ("changes nothing" in status[1]
                                 or "needs one of the roles" in status[1])
    assert [k for k, v in violations.items() if v] == [], violations
    assert [e for e in errors if "403" not in e] == [], errors  # only the refused post
    context.close()


@pytest.mark.browser
def test_administrator_issues_revokes_a_token_and_unlocks_an_account(part2_server, browser, app,
                                                                      make_user):
    from playwright.sync_api import expect

    from tests.conftest import TEST_PASSWORD

    make_user("root", "administrator", name="Rory Root")
    make_user("lena", "qa_author", name="Lena Locked")
    locker = app.test_client()
    for _ in range(3):
        sign_in(locker, "lena", "wrong-password-123")
    base = part2_server
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    _sign_in(page, base, "root", TEST_PASSWORD)
    violations = {}
    page.get_by_role("link", name="Users and roles").click()
    page.get_by_label("State").select_option("locked")
    page.get_by_role("button", name="Filter").click()
    violations["users"] = run_axe(page)
    page.get_by_role("link", name="lena").click()
    expect(page.locator("#state")).to_contain_text("locked")
    violations["user"] = run_axe(page)
    page.get_by_label("Reason (audited)").first.fill("identity checked by phone")
    page.get_by_role("button", name="Unlock account").click()
    expect(page.locator(".flash-ok")).to_contain_text("lena is unlocked")
    expect(page.locator("#state")).to_contain_text("active")
    page.get_by_label("What the token is for").fill("ERP sync")
    page.get_by_role("button", name="Issue token").click()
    secret = page.locator("#issued-token").inner_text().strip()
    violations["issued"] = run_axe(page)
    assert app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}
                                 ).status_code == 200
    page.goto(page.url.removesuffix("/tokens"))  # the user's page again: the secret is not shown
    expect(page.locator("#issued-token")).to_have_count(0)
    page.get_by_label("Reason").last.fill("no longer needed")
    page.get_by_role("button", name="Revoke token ERP sync").click()
    expect(page.locator(".flash-ok")).to_contain_text("revoked")
    assert app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}
                                 ).status_code == 401
    page.get_by_role("link", name="Audit history of this account").click()
    row = page.locator("tr", has=page.locator("code", has_text="failed_attempts")).last
    expect(row.locator(".diff-old")).to_have_text("3")
    expect(row.locator(".diff-new")).to_have_text("0")
    expect(page.locator("main")).to_contain_text("identity checked by phone")
    violations["history"] = run_axe(page)
    page.get_by_role("link", name="Verify the audit chain").click()
    expect(page.locator("#chain-result")).to_contain_text("The chain verifies")
    expect(page.locator("#checkpoint")).to_be_visible()
    page.get_by_role("link", name="Policy settings").click()
    violations["policy"] = run_axe(page)
    assert [k for k, v in violations.items() if v] == [], violations
    context.close()
