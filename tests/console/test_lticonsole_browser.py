"""The LTI console and the policy settings in a real Chromium (Playwright, Debian's
/usr/bin/chromium): an administrator finds the LMS registration, its deployments with their last
launch and the course roster's status, retries an AGS score the platform's token URL refused,
changes the idle sign-out, and finds both changes in the audit viewer. axe-core on every page
visited: no serious or critical violation.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bridge.core.outbox import OutboxMessage
from tests.conftest import TEST_PASSWORD
from tests.console import lticonsole_plant
from tests.console.conftest import run_axe

failed_delivery = lticonsole_plant.failed_delivery  # the fixture, for this module


def _sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/console/")


@pytest.mark.browser
def test_administrator_retries_a_refused_score_and_changes_the_idle_timeout(
        live_server, browser, failed_delivery, make_user, db):
    from playwright.sync_api import expect

    make_user("root", "administrator", name="Rory Root")
    base = live_server
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    _sign_in(page, base, "root")
    violations: dict[str, list] = {}

    # The registrations, from the navigation; the old address lands on the same page.
    page.get_by_role("link", name="LMS platforms (LTI)").click()
    expect(page.locator("#platforms")).to_contain_text("Refusing Moodle")
    expect(page.locator("#platforms")).to_contain_text("by hand")
    violations["platforms"] = run_axe(page)
    page.goto(f"{base}/lti/admin/")
    expect(page).to_have_url(f"{base}/console/lti/")
    page.get_by_role("link", name="Refusing Moodle").click()
    deployments = page.locator("#deployments")
    expect(deployments.locator("tr", has_text="dep-1")).to_contain_text("UTC")  # its last launch
    expect(deployments.locator("tr", has_text="dep-2")).to_contain_text("never")
    roster = page.locator("#rosters tr", has_text="GMP basics")
    expect(roster).to_contain_text("offered")
    expect(roster.locator("td.num").first).to_have_text("2")  # members: one active, one removed
    expect(roster).to_contain_text("failed")  # the roster sync the token URL refused
    violations["platform"] = run_axe(page)

    # The failed score: retried with a reason.
    page.get_by_role("link", name="Deliveries to the LMS").click()
    page.get_by_label("What").select_option("lti.ags_score")
    page.get_by_label("State").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    row = page.locator(f"#delivery-{failed_delivery.ags_id}")
    expect(row).to_contain_text("Connection refused")
    expect(page.locator("#deliveries tbody tr")).to_have_count(1)
    violations["deliveries"] = run_axe(page)
    row.get_by_label("Reason (audited)").fill("Moodle token endpoint is back")
    row.get_by_role("button", name=f"Retry delivery {failed_delivery.ags_id}").click()
    expect(page.locator(".flash-ok")).to_contain_text(f"Delivery {failed_delivery.ags_id} queued again")
    violations["retried"] = run_axe(page)
    with db.read_sessions() as session:
        message = session.scalar(select(OutboxMessage).where(OutboxMessage.id == failed_delivery.ags_id))
        assert (message.status, message.attempts, message.last_error) == ("pending", 0, None)

    # The idle sign-out: 15 minutes from the environment, 30 from now on.
    page.get_by_role("link", name="Policy settings").click()
    idle = page.locator("#policy-editable tr", has_text="Idle sign-out")
    expect(idle).to_contain_text("environment")
    violations["policy"] = run_axe(page)
    page.get_by_label("Idle sign-out (minutes)").fill("30")
    page.get_by_label("Reason (audited)").fill("CC-2026-031: packaging line terminals")
    page.get_by_role("button", name="Save policy").click()
    expect(page.locator(".flash-ok")).to_contain_text("Policy changed: idle sign-out (minutes)")
    expect(idle).to_contain_text("console (root")
    expect(idle.locator("td.num").first).to_have_text("30")
    violations["policy changed"] = run_axe(page)
    idle.get_by_role("link", name="History of idle sign-out (minutes)").click()
    change = page.locator("tr", has=page.locator("code", has_text="value")).last
    expect(change.locator(".diff-old")).to_have_text("15")
    expect(change.locator(".diff-new")).to_have_text("30")
    expect(page.locator("main")).to_contain_text("CC-2026-031")
    violations["policy history"] = run_axe(page)

    # The retry is in the audit trail too, with the reason.
    page.get_by_role("link", name="Audit trail").click()
    page.goto(f"{base}/console/audit/?action=outbox_message.retry")
    expect(page.locator("main")).to_contain_text("Moodle token endpoint is back")
    violations["audit trail"] = run_axe(page)
    assert [k for k, v in violations.items() if v] == [], violations
    assert errors == [], errors
    context.close()
