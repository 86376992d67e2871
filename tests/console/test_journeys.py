"""The console journeys in a real Chromium on the demo plant, each ending in a screenshot under
the test's output folder, axe-core on every page visited (no serious or critical violation):

- each demo role signs in and sees only its menu;
- QA opens a change control for a major revision, previews the assignments, approves it with an
  e-signature and sees the assignments it created and the signature manifest;
- a supervisor transfers a person and sees the new assignments.
"""

from __future__ import annotations

import pytest

from bridge.demo import DEMO_PASSWORD
from tests.console.conftest import run_axe
from tests.console.test_pages import MENUS

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(app, runner, clock):
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    return app


class Visit:
    """A signed-in browser page that checks every page it visits with axe-core."""

    def __init__(self, browser, base: str, shots, width: int = 1366, height: int = 860) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.context.set_default_timeout(30_000)
        self.page = self.context.new_page()
        self.base = base
        self.shots = shots
        self.errors: list[str] = []
        self.checked: dict[str, list] = {}
        self.page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)

    def axe(self) -> None:
        path = self.page.url.removeprefix(self.base)
        self.checked[path] = run_axe(self.page)

    def sign_in(self, username: str) -> None:
        from playwright.sync_api import expect

        self.page.goto(f"{self.base}/login")
        self.axe()
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(DEMO_PASSWORD)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page).to_have_url(f"{self.base}/console/")
        self.axe()

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)
        self.axe()

    def finish(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)
        self.context.close()
        serious = {path: found for path, found in self.checked.items() if found}
        assert serious == {}, {p: [(v["id"], v["impact"], v["help"]) for v in f] for p, f in serious.items()}
        assert self.errors == [], self.errors


def test_each_role_signs_in_and_sees_only_its_menu(demo, live_server, browser, tmp_path):
    for username, expected in MENUS.items():
        visit = Visit(browser, live_server, tmp_path)
        visit.sign_in(username)
        links = set(visit.page.locator("nav.sidenav a").all_inner_texts())
        assert links >= expected, (username, links)
        if username == "operator1":
            assert links == expected
        else:  # every page of the menu renders and passes axe
            hrefs = visit.page.locator("nav.sidenav a").evaluate_all(
                "els => els.map(e => e.getAttribute('href'))")
            for href in hrefs:
                visit.goto(href)
        visit.finish(f"menu-{username}")


def test_change_control_preview_approve_with_esignature(demo, live_server, browser, tmp_path):
    from playwright.sync_api import expect

    visit = Visit(browser, live_server, tmp_path)
    page = visit.page
    visit.sign_in("qa.approver")
    page.get_by_role("link", name="change controls to approve").click()  # the dashboard figure
    visit.axe()
    page.locator("tbody").get_by_role("link", name="CC-", exact=False).first.click()
    visit.axe()
    preview = page.locator("#preview")
    expect(preview).to_contain_text("SOP-014 2.0 (major): 2 people")
    expect(preview).to_contain_text("Olivia Operator")
    expect(preview).to_contain_text("Omar Operator")
    page.get_by_text("Approve change", exact=True).click()
    dialog = page.locator("details.esign[open]")
    expect(dialog).to_contain_text("I approve this record")
    visit.axe()  # with the signature dialog open
    dialog.get_by_label("Password (re-enter to sign)").fill(DEMO_PASSWORD)
    dialog.get_by_role("button", name="Sign: Approve change").click()
    expect(page.locator(".flash-ok")).to_contain_text("approved and signed; 2 assignments created")
    created = page.locator("#created")
    expect(created).to_contain_text("Olivia Operator")
    expect(created).to_contain_text("SOP-014 2.0")
    expect(page.locator(".manifest")).to_contain_text("Robin Approver")
    expect(page.locator(".manifest")).to_contain_text("I approve this record")
    expect(page.locator(".manifest")).to_contain_text("UTC")
    visit.axe()
    page.get_by_role("link", name="Open them in the assignment list").click()
    expect(page.locator("tbody")).to_contain_text("Omar Operator")
    visit.axe()
    page.go_back()
    page.get_by_role("link", name="SOP-014").first.click()  # the document, who is trained on what
    expect(page.locator("h1")).to_contain_text("SOP-014")
    visit.axe()
    page.locator("main table").first.get_by_role("link", name="2.0").click()  # the version
    expect(page.locator(".manifest")).to_contain_text("Robin Approver")
    visit.axe()
    visit.finish("change-control-approved")


def test_supervisor_transfers_a_person_and_sees_the_new_assignments(demo, live_server, browser, tmp_path):
    from playwright.sync_api import expect

    from bridge.core import accounts
    from bridge.core.uow import UnitOfWork
    from qms.org import services as org

    db = demo.extensions["gxpbridge.db"]
    with db.write_sessions() as session:
        author = accounts.get_user(session, "qa.author").actor()
    with UnitOfWork(db, author) as uow:  # a QC analyst, who has never needed SOP-001
        qc = org.unit_by_code(uow.session, "department", "QC")
        analyst = org.unit_by_code(uow.session, "job_function", "QC-ANALYST")
        org.hire(uow, display_name="Petra <i>Analyst</i>", employee_no="E-0042", department_id=qc.id,
                 job_function_ids=[analyst.id])
        uow.commit()
    visit = Visit(browser, live_server, tmp_path, width=820, height=1180)  # a tablet
    page = visit.page
    visit.sign_in("supervisor")
    page.locator("nav.sidenav").get_by_role("link", name="People").click()
    visit.axe()
    page.get_by_label("Name or employee no.").fill("E-0042")
    page.get_by_role("button", name="Filter").click()
    visit.axe()
    page.get_by_role("link", name="Petra <i>Analyst</i>").click()
    visit.axe()
    page.locator("#transfer summary").click()
    page.get_by_label("New department").select_option(label="PROD · Production")
    page.locator("#t-reason").fill("moved to the granulation suite")
    visit.axe()
    page.get_by_role("button", name="Transfer").click()
    expect(page.locator(".flash-ok")).to_contain_text("Transferred; 1 assignments created")
    expect(page.locator("dl.facts")).to_contain_text("PROD · Production")
    table = page.locator("#open-assignments + .table-wrap")
    expect(table).to_contain_text("SOP-001")
    expect(table).to_contain_text("transfer")
    visit.axe()
    visit.goto("/console/training/assignments?status=open_any")  # the supervisor's bulk actions
    page.get_by_label("Select all on this page").check()  # console.js, served under the strict CSP
    expect(page.locator('input[name="assignment_ids"]:not(:checked)')).to_have_count(0)
    visit.finish("supervisor-transfer")
