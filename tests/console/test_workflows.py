"""The console's pages driven through the test client on the demo plant: document lifecycle with
e-signatures, change control from opening to signed approval, bulk actions on assignments (each
audited with its reason), people's organisation events, user text escaped, CSRF on every post,
read-only roles refused.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from bridge.core.audit import AuditEvent
from bridge.demo import DEMO_PASSWORD
from qms.training.models import Assignment
from tests.console.conftest import csrf_of
from tests.console.test_pages import demo, demo_client  # noqa: F401  (fixture)

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def post(client, url, data=None, **kwargs):
    """A form post with the session's CSRF token (read from the dashboard)."""
    token = csrf_of(client.get("/console/").get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **(data or {})}, **kwargs)


def flashed(client) -> str:
    html = client.get("/console/").get_data(as_text=True)
    return " ".join(re.findall(r'class="flash[^"]*"[^>]*>([^<]*)<', html))


def test_document_lifecycle_with_esignature_and_escaped_title(demo):  # noqa: F811
    author = demo_client(demo, "qa.author")
    response = post(author, "/console/documents/", {"code": "SOP-099",
                                                     "title": "<script>alert(1)</script>"})
    assert response.status_code == 303
    doc_url = response.headers["Location"]
    for url in (doc_url, "/console/documents/?q=SOP-099"):
        html = author.get(url).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    response = post(author, doc_url + "/versions", {"label": "1.0", "revision": "major",
                                                    "change_summary": "first <b>issue</b>"})
    version_url = response.headers["Location"]
    assert "first &lt;b&gt;issue&lt;/b&gt;" in author.get(version_url).get_data(as_text=True)
    # submitting without the controlled file is refused with the reason, nothing changes
    assert post(author, version_url + "/submit", headers={"Referer": "http://localhost" + version_url}
                ).headers["Location"] == version_url
    assert "controlled file attached" in flashed(author)
    import io

    assert post(author, version_url + "/file", {"file": (io.BytesIO(PDF), "sop-099.pdf")},
                content_type="multipart/form-data").status_code == 303
    assert post(author, version_url + "/submit").status_code == 303
    approver = demo_client(demo, "qa.approver")
    page = approver.get(version_url).get_data(as_text=True)
    assert "I approve this record" in page and 'name="signer_password"' in page
    # a wrong password: refused, flashed, the version still in review
    post(approver, version_url + "/approve", {"meaning": "approved", "signer_username": "qa.approver",
                                              "signer_password": "wrong", "effective_at": "2099-01-01"})
    assert "in review" in approver.get(version_url).get_data(as_text=True)
    response = post(approver, version_url + "/approve", {
        "meaning": "approved", "signer_username": "qa.approver", "signer_password": DEMO_PASSWORD,
        "effective_at": "2099-01-01"})
    assert response.status_code == 303
    html = approver.get(version_url).get_data(as_text=True)
    assert "badge-approved" in html
    manifest = html.split('class="manifest"', 1)[1]
    assert "Robin Approver" in manifest and "I approve this record" in manifest and "UTC" in manifest


def test_change_control_open_submit_preview_approve(demo):  # noqa: F811
    import io

    author = demo_client(demo, "qa.author")
    doc = post(author, "/console/documents/", {"code": "SOP-001X", "title": "Line clearance"})
    version = post(author, doc.headers["Location"] + "/versions", {"label": "1.0", "revision": "major"})
    version_id = int(version.headers["Location"].rsplit("/", 1)[1])
    post(author, f"/console/documents/versions/{version_id}/file",
         {"file": (io.BytesIO(PDF), "x.pdf")}, content_type="multipart/form-data")
    new_form = author.get("/console/changes/new").get_data(as_text=True)
    assert f'value="{version_id}"' in new_form
    response = post(author, "/console/changes/new", {"title": "Line clearance SOP",
                                                     "effective_at": "2099-02-01",
                                                     "document_version_ids": str(version_id)})
    assert response.status_code == 303
    change_url = response.headers["Location"]
    assert post(author, change_url + "/submit").status_code == 303
    approver = demo_client(demo, "qa.approver")
    html = approver.get(change_url).get_data(as_text=True)
    assert 'id="preview"' in html and "Assignments approval will create" in html
    # rejection needs a reason
    post(approver, change_url + "/reject", {"meaning": "rejected", "signer_username": "qa.approver",
                                           "signer_password": DEMO_PASSWORD})
    assert "give the reason" in flashed(approver)
    response = post(approver, change_url + "/approve", {"meaning": "approved",
                                                        "signer_username": "qa.approver",
                                                        "signer_password": DEMO_PASSWORD})
    assert response.status_code == 303
    html = approver.get(change_url).get_data(as_text=True)
    assert "badge-approved" in html and 'id="created"' in html and "Robin Approver" in html


def test_bulk_extend_and_cancel_are_audited_with_their_reason(demo, db):  # noqa: F811
    supervisor = demo_client(demo, "supervisor")
    with db.read_sessions() as session:
        open_ids = list(session.scalars(select(Assignment.id).where(Assignment.status == "open")
                                        .order_by(Assignment.id)))
    first, second = open_ids[:2]
    listing = supervisor.get("/console/training/assignments?status=open").get_data(as_text=True)
    assert f'value="{first}"' in listing
    # no reason: refused, nothing changed
    post(supervisor, "/console/training/assignments", {"action": "extend", "assignment_ids": [first],
                                                      "due_at": "2099-03-01"})
    assert "give the reason" in flashed(supervisor)
    post(supervisor, "/console/training/assignments", {"action": "extend", "assignment_ids": [first],
                                                      "due_at": "2099-03-01", "reason": "plant shutdown"})
    post(supervisor, "/console/training/assignments", {"action": "cancel", "assignment_ids": [second],
                                                      "reason": "duplicate"})
    with db.read_sessions() as session:
        a, b = session.get(Assignment, first), session.get(Assignment, second)
        assert a.due_at.year == 2099 and b.status == "cancelled"
        reasons = {(e.entity_id, e.reason) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.entity_type == "qms_assignment"))}
    assert (str(first), "plant shutdown") in reasons and (str(second), "duplicate") in reasons


def test_people_events_and_qualified_as_of(demo, db):  # noqa: F811
    supervisor = demo_client(demo, "supervisor")
    html = supervisor.get("/console/people/?q=Olivia").get_data(as_text=True)
    person_url = re.search(r'href="(/console/people/\d+)">Olivia Operator', html).group(1)
    page = supervisor.get(person_url + "?at=2020-01-01").get_data(as_text=True)
    assert "Not qualified" in page and "not employed" in page  # before the plant existed
    assert post(supervisor, person_url + "/leave", {"action": "start", "reason": "parental leave"}
                ).status_code == 303
    assert "on leave" in supervisor.get(person_url).get_data(as_text=True)
    post(supervisor, person_url + "/leave", {"action": "end", "reason": "back"})
    post(supervisor, person_url + "/terminate", {"reason": "left the company"})
    assert "not employed" in supervisor.get(person_url).get_data(as_text=True)


def test_every_console_form_post_needs_the_csrf_token(demo):  # noqa: F811
    admin = demo_client(demo, "admin")
    posts = sorted({rule.rule for rule in demo.url_map.iter_rules()
                    if rule.rule.startswith("/console/") and "POST" in (rule.methods or ())})
    assert len(posts) >= 15
    for rule in posts:
        url = re.sub(r"<[^>]+>", "1", rule)
        assert admin.post(url, data={"reason": "x"}).status_code == 400, url


def test_read_only_roles_cannot_write(demo):  # noqa: F811
    auditor = demo_client(demo, "auditor")
    html = auditor.get("/console/changes/1").get_data(as_text=True)
    assert "Approve change" not in html and "signer_password" not in html
    for url in ("/console/changes/1/approve", "/console/documents/", "/console/training/assignments",
                "/console/people/1/transfer"):
        assert post(auditor, url, {"reason": "x"}).status_code == 403, url
    learner = demo_client(demo, "operator1")
    assert learner.get("/console/documents/").status_code == 403
    assert learner.get("/console/training/mine").status_code == 200


def test_dashboard_figures_link_to_their_lists(demo):  # noqa: F811
    html = demo_client(demo, "admin").get("/console/").get_data(as_text=True)
    for target in ("/console/training/assignments?status=overdue",
                   "/console/training/assignments?status=due_soon",
                   "/console/changes/?status=submitted", "/console/training/mine"):
        assert f'href="{target}"' in html, target
    assert "Compliance by department and job function" in html and 'class="bar"' in html
    assert "Versions approaching their effective date" in html
    assert "Open CAPAs waiting on training" in html


def test_trainer_signs_off_on_the_job_assessments_from_the_assignment_list(demo, db, clock):  # noqa: F811
    import datetime as dt

    from bridge.core import accounts
    from bridge.core.uow import UnitOfWork
    from qms.documents import approval, catalog
    from qms.org import services as org
    from qms.training import matrix

    def actor(username):
        with db.read_sessions() as session:
            return accounts.get_user(session, username).actor()

    with UnitOfWork(db, actor("qa.author")) as uow:
        item = catalog.create_training_item(uow, code="OJT-GRAN", kind="ojt", title="Granulator set-up",
                                            requires_trainer=True)
        version = catalog.create_item_version(uow, item.id, label="1")
        item_id, version_id = item.id, version.id
        uow.commit()
    with UnitOfWork(db, actor("qa.approver")) as uow:
        approval.approve_course_version(uow, version_id, username="qa.approver", password=DEMO_PASSWORD,
                                        effective_at=clock.now() + dt.timedelta(days=1), lockout_threshold=5)
        uow.commit()
    with UnitOfWork(db, actor("qa.author")) as uow:
        operator = org.unit_by_code(uow.session, "job_function", "OPERATOR")
        matrix.add_requirement(uow, scope="job_function", scope_id=operator.id, training_item_id=item_id)
        uow.commit()
    trainer = demo_client(demo, "trainer")
    url = "/console/training/assignments?item=OJT-GRAN&status=open_any"
    html = trainer.get(url).get_data(as_text=True)
    ids = re.findall(r'name="assignment_ids" value="(\d+)"', html)
    assert len(ids) == 2 and "I verify the trainee performed this task competently" in html
    response = post(trainer, url, {"action": "ojt", "assignment_ids": ids, "signer_username": "trainer",
                                   "signer_password": DEMO_PASSWORD, "signer_comment": "competent"})
    assert response.status_code == 303 and response.headers["Location"] == url
    assert "signed off for 2 people" in flashed(trainer)
    with db.read_sessions() as session:
        statuses = set(session.scalars(
            select(Assignment.status).where(Assignment.id.in_([int(i) for i in ids]))))
    assert statuses == {"completed"}
