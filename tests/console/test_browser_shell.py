"""The console shell in a real Chromium: sign in, the dashboard, axe-core finds no serious or
critical accessibility violation, at laptop and tablet widths.
"""

from __future__ import annotations

import pytest

from tests.conftest import TEST_PASSWORD
from tests.console.conftest import run_axe


@pytest.mark.browser
def test_sign_in_to_the_dashboard_accessible_at_laptop_and_tablet(live_server, browser, make_user,
                                                                  tmp_path):
    from playwright.sync_api import expect

    make_user("quinn", "qa_author", name="Quinn <b>Author</b>")
    for width, height in ((1366, 800), (820, 1180)):
        context = browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(30_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda msg, seen=errors: seen.append(msg.text) if msg.type == "error" else None)
        page.goto(f"{live_server}/login")
        page.get_by_label("Username").fill("quinn")
        page.get_by_label("Password").fill(TEST_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{live_server}/console/")
        expect(page.locator("h1")).to_have_text("Dashboard")
        expect(page.locator(".who-name")).to_have_text("Quinn <b>Author</b>")
        assert page.evaluate("() => typeof window.htmx") == "object"  # htmx loaded under the CSP
        assert run_axe(page) == []
        page.screenshot(path=str(tmp_path / f"dashboard-{width}.png"), full_page=True)
        assert errors == [], errors  # no CSP violation, no script error
        context.close()
