"""Quality-event and matrix journeys in a real Chromium on the demo plant, each ending in a
screenshot under the test's output folder, axe-core on every page visited:

- close a CAPA: refused with the reason and the open assignments listed, allowed once the training
  is signed;
- import a matrix with a bad row (refused with the row, nothing saved), then a good one;
- record a deviation and sign its training adequacy assessment.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bridge.core import accounts
from bridge.demo import DEMO_PASSWORD
from qms.capa import services as capas
from qms.capa.models import Capa
from qms.documents import presentations
from qms.documents.models import DocumentVersion
from qms.training import completions
from qms.training.models import Assignment
from tests.console.conftest_capa import Visit, demo  # noqa: F401

pytestmark = pytest.mark.browser

GOOD = "scope,scope_code,item_code,retrain_interval_days,grace_days\njob_function,QC-ANALYST,SOP-001,365,30\n"
BAD = GOOD + "job_function,NO-SUCH-JF,SOP-001,,\n"


def _sign_capa_training(uow_factory, capa_number: str) -> int:
    """Each trainee signs their open assignment of the CAPA's training action (as they would
    in the learner's page)."""
    with uow_factory() as uow:
        capa = uow.session.scalar(select(Capa).where(Capa.number == capa_number))
        rows = capas.open_training(uow.session, capa)
    for row in rows:
        with uow_factory() as uow:
            user = uow.session.scalar(select(accounts.UserAccount)
                                      .where(accounts.UserAccount.person_id == row["person_id"]))
            uow.actor = user.actor()
            assignment = uow.session.get(Assignment, row["assignment_id"])
            shown = uow.session.scalar(select(DocumentVersion.id).where(
                DocumentVersion.item_version_id == assignment.item_version_id))
            if shown is not None:  # a document is opened before "read and understood" is signed
                presentations.present_file(uow, shown, channel="lti")
            completions.complete_with_signature(uow, row["assignment_id"], username=user.username,
                                                password=DEMO_PASSWORD)
            uow.commit()
    return len(rows)


def test_close_a_capa_refused_then_allowed(demo, live_server, browser, tmp_path, uow_factory):  # noqa: F811
    from playwright.sync_api import expect

    author = Visit(browser, live_server, tmp_path)
    page = author.page
    author.sign_in("qa.author")
    page.get_by_role("link", name="CAPA", exact=True).click()
    author.axe()
    page.get_by_label("Status").select_option("actions_in_progress")
    page.get_by_role("button", name="Filter").click()
    author.axe()
    page.locator("table tbody a").first.click()
    author.axe()
    number = page.locator("h1").inner_text().split(":")[0]
    page.get_by_label("What was done").fill("Badges configured")
    page.get_by_role("button", name="Record as done").click()
    expect(page.locator(".flash-ok")).to_contain_text("recorded as done")
    # Refused: the effectiveness check, and so the closing, waits for the training (issue 14 #6),
    # with the reason and the open assignments listed.
    page.get_by_role("button", name="Start the effectiveness check").click()
    expect(page.locator(".flash-error")).to_contain_text(f"{number}: ")
    expect(page.locator(".flash-error")).to_contain_text("starts once the training is done")
    expect(page.locator("tr.open-assignment").first).to_be_visible()
    author.axe()
    page.screenshot(path=str(tmp_path / "capa-refused.png"), full_page=True)

    assert _sign_capa_training(uow_factory, number) >= 1
    page.reload()
    expect(page.locator("tr.open-assignment")).to_have_count(0)
    page.get_by_role("button", name="Start the effectiveness check").click()
    expect(page.locator(".flash-ok")).to_contain_text("Effectiveness check started")
    author.axe()
    capa_url = page.url
    author.finish("capa-author")

    approver = Visit(browser, live_server, tmp_path)
    page = approver.page
    approver.sign_in("qa.approver")
    approver.goto(capa_url.removeprefix(live_server))
    page.locator("summary", has_text="Close the CAPA").click()
    page.get_by_label("How effectiveness was verified").fill("No repeat in 30 days")
    page.get_by_label("Password (re-enter to sign)").first.fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign: Close the CAPA").click()
    expect(page.locator(".flash-ok")).to_contain_text("CAPA closed and signed")
    expect(page.locator("tr.signature")).to_have_count(2)
    expect(page.locator(".badge-closed").first).to_be_visible()
    approver.axe()
    approver.finish("capa-closed")


def test_import_a_matrix_bad_row_then_good(demo, live_server, browser, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    (tmp_path / "bad.csv").write_text(BAD)
    (tmp_path / "good.csv").write_text(GOOD)
    visit = Visit(browser, live_server, tmp_path)
    page = visit.page
    visit.sign_in("qa.author")
    page.get_by_role("link", name="Training matrix").click()
    visit.axe()
    page.get_by_role("link", name="Import a file").click()
    visit.axe()
    page.get_by_label("Matrix file (CSV or XLSX)").set_input_files(str(tmp_path / "bad.csv"))
    page.get_by_role("button", name="Check the file").click()
    expect(page.locator(".import-refused")).to_contain_text("nothing was saved")
    expect(page.locator("tr.import-error")).to_have_count(1)
    expect(page.locator("tr.import-error td").first).to_have_text("3")
    expect(page.locator("tr.import-error")).to_contain_text("NO-SUCH-JF")
    visit.axe()
    page.screenshot(path=str(tmp_path / "matrix-refused.png"), full_page=True)
    page.get_by_label("Matrix file (CSV or XLSX)").set_input_files(str(tmp_path / "good.csv"))
    page.get_by_role("button", name="Check the file").click()
    expect(page.locator(".import-checked")).to_contain_text("every row is valid")
    expect(page.locator(".preview-count")).to_contain_text("assignment(s) would be created")
    visit.axe()
    page.get_by_role("button", name="Import good.csv").click()
    expect(page.locator(".flash-ok")).to_contain_text("Matrix imported: 1 row(s), 1 created")
    visit.axe()
    page.get_by_label("Job function", exact=True).fill("QC")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.matrix-grid thead")).to_contain_text("SOP-001")
    page.locator("table.matrix-grid tbody button", has_text="365").first.click()  # edit in place
    expect(page.locator(".cell-editor")).to_contain_text("retrained every 365 days")
    visit.axe()
    visit.finish("matrix-imported")


def test_record_a_deviation_and_sign_its_assessment(demo, live_server, browser, tmp_path, clock):  # noqa: F811
    from playwright.sync_api import expect

    visit = Visit(browser, live_server, tmp_path)
    page = visit.page
    visit.sign_in("qa.author")
    page.get_by_role("link", name="Deviations").click()
    visit.axe()
    page.get_by_role("link", name="Record a deviation").click()
    visit.axe()
    page.get_by_label("Title").fill("Sampling done with the <old> sampler")
    page.get_by_label("Classification").select_option("major")
    page.get_by_label("Occurred (UTC)").fill(clock.now().strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("People involved (employee numbers or user names)").fill("operator1, operator2")
    page.get_by_label("Documents involved (codes)").fill("SOP-001")
    page.get_by_role("button", name="Record the deviation").click()
    expect(page.locator(".flash-ok")).to_contain_text("recorded")
    expect(page.locator("h1")).to_contain_text("Sampling done with the <old> sampler")
    expect(page.locator(".adequacy-summary")).to_contain_text("of 2 person × document pair(s)")
    visit.axe()
    url = page.url
    visit.finish("deviation-recorded")

    approver = Visit(browser, live_server, tmp_path)
    page = approver.page
    approver.sign_in("qa.approver")
    approver.goto(url.removeprefix(live_server))
    page.locator("summary", has_text="Conclude and sign the assessment").click()
    page.get_by_label("Conclusion", exact=True).select_option("inadequate")
    page.get_by_label("Rationale").fill("Operator 2 had not signed SOP-001")
    page.get_by_label("Password (re-enter to sign)").first.fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign: Conclude and sign the assessment").click()
    expect(page.locator(".flash-ok")).to_contain_text("assessment recorded and signed")
    expect(page.locator("tr.assessment")).to_have_count(1)
    expect(page.locator("tr.signature")).to_have_count(1)
    approver.axe()
    approver.finish("deviation-assessed")
