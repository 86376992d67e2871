"""Onboarding in the console: the document register refused with its bad rows then imported, a
legacy training file checked (what it would create, the refused row and its reason, the compliance
picture; nothing saved) then imported under the importer's e-signature, and the day-0 cut-over
refused to the importer and signed by another approver. Real CSRF, real sign-in.
"""

from __future__ import annotations

import io
import re
from html import unescape

import pytest
from sqlalchemy import func, select

from bridge.core.signatures import ElectronicSignature
from qms.documents.models import Document
from qms.onboarding.models import Cutover, ImportBatch
from qms.training.models import Completion
from tests.conftest import TEST_PASSWORD
from tests.console.conftest import csrf_of, run_axe

BAD_REGISTER = b"document_code,title,version_label,revision,effective_from\nSOP-100,,1.0,major,2019-01-07\n"
REGISTER = (
    b"document_code,title,version_label,revision,effective_from\n"
    b"SOP-100,Gowning,1.0,major,2019-01-07\nSOP-100,Gowning,2.0,major,2022-03-01\n"
)
HISTORY = (
    b"person,item_code,version_label,completed_at,source_system\n"
    b"op1,SOP-100,2.0,2022-04-01,\nnobody,SOP-100,2.0,2022-04-02,\n"
)


def count(db, model) -> int:
    with db.read_sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def post_file(client, path: str, content: bytes, name: str, **form: str):
    page = client.get(path.rsplit("/check", 1)[0]).get_data(as_text=True)
    data = {"csrf_token": csrf_of(page), "file": (io.BytesIO(content), name), **form}
    return client.post(path, data=data, content_type="multipart/form-data")


def test_a_site_is_onboarded_in_the_console(app, db, console_client, make_user):
    author = console_client("qa.author", "qa_author")
    approver = console_client("qa.boss", "qa_approver")
    make_user("op1", "learner", name="Olga Operator")

    # The register: one bad row refuses the file, the row shown; nothing saved.
    refused = post_file(author, "/console/onboarding/documents", BAD_REGISTER, "register.csv")
    html = refused.get_data(as_text=True)
    assert refused.status_code == 200 and "nothing was saved" in html
    assert re.search(r'<tr class="import-error"><td>2</td><td>title</td>', html)
    assert count(db, Document) == 0 and count(db, ImportBatch) == 0
    done = post_file(author, "/console/onboarding/documents", REGISTER, "register.csv")
    assert done.status_code == 303 and count(db, Document) == 1
    index = author.get("/console/onboarding/").get_data(as_text=True)
    assert "register.csv" in index and "document register" in index

    # Legacy records: checked and simulated, nothing saved; the unknown person refused with why.
    checked = post_file(author, "/console/onboarding/training/check", HISTORY, "history.csv")
    html = unescape(checked.get_data(as_text=True))
    assert checked.status_code == 200
    assert re.search(r'id="preview-create">1<', html) and re.search(r'id="preview-refused">1<', html)
    assert "unknown person 'nobody'" in html and "Compliance picture" in html
    assert count(db, Completion) == 0 and count(db, ImportBatch) == 1
    content = re.search(r'name="content" value="([^"]+)"', html).group(1)
    form = {
        "csrf_token": csrf_of(html),
        "content": content,
        "filename": "history.csv",
        "source_system": "",
        "meaning": "authored",
        "signer_username": "qa.author",
        "skip_refused": "1",
    }
    wrong = author.post("/console/onboarding/training", data={**form, "signer_password": "not-it"})
    assert wrong.status_code == 303 and count(db, Completion) == 0
    signed = author.post("/console/onboarding/training", data={**form, "signer_password": TEST_PASSWORD})
    assert signed.status_code == 303 and count(db, Completion) == 1
    with db.read_sessions() as session:
        batch = session.scalar(select(ImportBatch).where(ImportBatch.kind == "legacy_training"))
        assert batch.signature_id is not None and batch.counts["completions"] == 1
        assert session.get(ElectronicSignature, batch.signature_id).username == "qa.author"

    # The cut-over, signed by QA (the importer may not: tests/onboarding covers that refusal).
    page = approver.get("/console/onboarding/cutover").get_data(as_text=True)
    sign = {"csrf_token": csrf_of(page), "meaning": "approved", "at": ""}
    credentials = {"signer_username": "qa.boss", "signer_password": TEST_PASSWORD}
    assert approver.post("/console/onboarding/cutover", data={**sign, **credentials}).status_code == 303
    with db.read_sessions() as session:
        cut = session.scalar(select(Cutover))
        assert cut.signature_id is not None and cut.qualified <= cut.people
    assert "?format=pdf" in approver.get("/console/onboarding/cutover").get_data(as_text=True)


def test_roles_and_csrf_on_onboarding_pages(app, db, console_client):
    auditor = console_client("aud", "auditor")
    assert auditor.get("/console/onboarding/").status_code == 200
    assert auditor.get("/console/onboarding/documents").status_code == 403
    author = console_client("qa.author", "qa_author")
    no_token = author.post(
        "/console/onboarding/documents",
        data={"file": (io.BytesIO(REGISTER), "register.csv")},
        content_type="multipart/form-data",
    )
    assert no_token.status_code == 400 and count(db, Document) == 0


@pytest.mark.browser
def test_onboarding_pages_in_chromium_refusal_shown_and_accessible(live_server, browser, make_user, tmp_path):
    """The register refused with its bad row, then a legacy file's preview, in a real browser;
    axe-core finds no serious or critical violation on any of the onboarding pages.
    """
    from playwright.sync_api import expect

    make_user("qa.author", "qa_author", "qa_approver", name="Quinn Author")
    make_user("op1", "learner")
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(f"{live_server}/login")
    page.get_by_label("Username").fill("qa.author")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Onboarding").click()
    assert run_axe(page) == []
    bad, good, history = (tmp_path / n for n in ("bad.csv", "register.csv", "history.csv"))
    bad.write_bytes(BAD_REGISTER)
    good.write_bytes(REGISTER)
    history.write_bytes(HISTORY)
    page.get_by_role("link", name="Import the document register").click()
    page.get_by_label("Register (CSV or XLSX)").set_input_files(str(bad))
    page.get_by_role("button", name="Check and import").click()
    expect(page.locator(".import-error")).to_have_count(1)
    assert run_axe(page) == []
    page.get_by_label("Register (CSV or XLSX)").set_input_files(str(good))
    page.get_by_role("button", name="Check and import").click()
    expect(page.locator("#batches .batch")).to_have_count(1)
    page.get_by_role("link", name="Import legacy training records").click()
    page.get_by_label("Training records (CSV or XLSX)").set_input_files(str(history))
    page.get_by_role("button", name="Check the file").click()
    expect(page.locator("#preview-create")).to_have_text("1")
    expect(page.locator("#refused-rows .import-error")).to_have_count(1)
    page.get_by_text("Import and sign", exact=True).click()
    assert run_axe(page) == []
    page.screenshot(path=str(tmp_path / "legacy-preview.png"), full_page=True)
    for path in ("/console/onboarding/identities", "/console/onboarding/cutover"):
        page.goto(f"{live_server}{path}")
        assert run_axe(page) == [], path
    context.close()
