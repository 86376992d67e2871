"""A real browser: Debian's Chromium driven by Playwright, the tool inside the LMS course page
in a cross-site iframe (LMS on 127.0.0.1, tool on localhost) with third-party cookies blocked.
The learner launches, sets a signing password, signs read-and-understood and gets the receipt;
the score reaches the LMS gradebook.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests

from bridge.core import outbox
from tests.lti.conftest import assign, launch_via_lms, make_sop, start_lms

CHROMIUM = Path(os.environ.get("GXP_CHROMIUM", "/usr/bin/chromium"))
SIGNING_PASSWORD = "Browser-Sign-2026!"


@pytest.mark.browser
def test_launch_and_sign_in_cross_site_iframe_without_third_party_cookies(app, runner, db, make_user,
                                                                         tmp_path):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium) "
                    "to run the browser tests")
    from playwright.sync_api import expect, sync_playwright

    with contextlib.contextmanager(start_lms)(app, runner, tool_host="localhost") as lms:
        platform = lms.platform
        assert lms.tool_base.startswith("http://localhost:")  # another site than the LMS (127.0.0.1)
        # The learner exists in the LMS and has SOP-014 assigned (QA did it in GxP Bridge).
        assert launch_via_lms(lms, "3").status_code == 303
        from bridge.core import people

        with db.read_sessions() as s:
            person_id = people.find_person_by_identity(s, "lti", platform.issuer, "3").id
        sop = make_sop(db, make_user)
        assign(db, person_id, sop.item_version_id)
        lineitem = platform.add_lineitem("sop14", "SOP-014 Gowning procedure", "link-sop14")
        start = platform.launch_start_url("3", link_id="link-sop14", lineitem=lineitem,
                                          custom={"gxp_training_item": str(sop.item_id)}, title="SOP-014")
        probe = f"http://localhost:{platform.port}/probe/set"  # the tool's site, framed by the LMS
        course = f"{platform.base}/course?{urlencode({'src': start, 'probe': probe})}"

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM),
                                         args=["--test-third-party-cookie-phaseout"])
            try:
                context = browser.new_context()
                # Generous waits: the CI machine is shared and argon2 hashing is deliberately slow.
                context.set_default_timeout(30_000)
                expect.set_options(timeout=30_000)
                page = context.new_page()
                page.goto(course)
                # Third-party cookies really are blocked in this browser.
                probe_frame = page.frame_locator("#probe")
                probe_frame.locator("#read").click()
                expect(probe_frame.locator("#seen")).to_have_text("blocked")

                tool = page.frame_locator("#tool")
                expect(tool.locator("h1")).to_contain_text("SOP-014 Gowning procedure")
                tool.locator("#set-signing-password").click()
                tool.locator("#password").fill(SIGNING_PASSWORD)
                tool.locator("#confirm").fill(SIGNING_PASSWORD)
                tool.get_by_role("button", name="Set signing password").click()
                # The learner opens the controlled document first (issue 14 #5: it must be presented).
                href = tool.locator("#content-file").get_attribute("href")
                assert context.request.get(lms.tool_base + href).status == 200
                tool.locator("input[name=confirm][type=checkbox]").check()
                tool.locator("input[type=password][name=password]").fill(SIGNING_PASSWORD)
                tool.get_by_role("button", name="Sign: read and understood").click()
                expect(tool.locator("#receipt")).to_contain_text("I have read and understood this document")
                expect(tool.locator("#version")).to_have_text("1.0")
                page.screenshot(path=str(tmp_path / "lti-receipt-in-iframe.png"), full_page=True)
                tool_cookies = [c for c in context.cookies() if c["domain"] == "localhost"]
                assert tool_cookies == [], tool_cookies  # nothing relied on cookies
            finally:
                browser.close()

        sent, failed = outbox.relay_once(db)
        assert failed == 0 and sent >= 1
        [score] = [s for s in platform.state.scores if s["lineitem"] == "sop14"]
        assert score["userId"] == "3" and score["scoreGiven"] == 100
        assert requests.get(lms.tool_base + "/healthz").status_code == 200
