"""Console part 2 through the test client: inspection mode and the canned questions as of a past
moment, the auditor changes nothing, the audit trail viewer, administration.
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import func, select

from bridge.core.audit import AuditEvent
from qms.capa.models import CapaActionAssignment
from qms.training.models import Assignment
from tests.conftest import TEST_PASSWORD
from tests.console import part2_plant
from tests.console.conftest import csrf_of, sign_in

QUESTIONS = ("trained-before-effective", "qualified-at", "deviation-adequacy",
             "change-control-assignments", "open-capa-training", "overdue-by-department")

demo_client = part2_plant.demo_client  # the fixture, for this module
history_plant = part2_plant.history_plant  # the fixture, for this module


def _set_as_of(client, moment: dt.datetime) -> None:
    token = csrf_of(client.get("/console/inspection/").get_data(as_text=True))
    response = client.post("/console/as-of", data={"csrf_token": token,
                                                  "as_of": moment.strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 303


def _question_urls(client) -> dict[str, str]:
    html = client.get("/console/inspection/").get_data(as_text=True)

    def first(select_id: str) -> str:
        return re.search(rf'id="{select_id}"[^>]*>\s*(?:<option value="">[^<]*</option>\s*)?'
                         r'<option value="(\d+)"', html).group(1)

    return {
        "trained-before-effective": f"?version_id={first('tbe-version')}",
        "qualified-at": "?person=Omar",
        "deviation-adequacy": f"?deviation_id={first('dev-id')}",
        "change-control-assignments": f"?change_id={first('cc-id')}",
        "open-capa-training": "?",
        "overdue-by-department": "?",
    }


def test_auditor_answers_every_question_as_of_a_past_moment(app, history_plant, demo_client):
    auditor = demo_client("auditor")
    moment = history_plant["loaded"] + dt.timedelta(days=25)
    _set_as_of(auditor, moment)
    stamp = f"{moment:%Y-%m-%d %H:%M}"
    page = auditor.get("/console/inspection/").get_data(as_text=True)
    assert "Inspection mode" in page and f"as of {stamp}" in page
    urls = _question_urls(auditor)
    for question in QUESTIONS:
        base = f"/console/inspection/{question}{urls[question]}"
        html = auditor.get(base + "&format=html")
        assert html.status_code == 200, html.get_data(as_text=True)
        text = html.get_data(as_text=True)
        assert f"as of {stamp}" in text and "(inspection mode)" in text
        csv = auditor.get(base + "&format=csv")
        assert csv.status_code == 200 and csv.mimetype == "text/csv"
        assert f"as of {stamp}" in csv.get_data(as_text=True).splitlines()[1]
        pdf = auditor.get(base + "&format=pdf")
        assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
        assert "as-of-" in pdf.headers["Content-Disposition"]
    # The answers are the records as they stood: the demo CAPA's training (which operator2 never
    # completes) is open and not yet due just after it was assigned, and overdue the day after it fell due.
    with app.extensions["gxpbridge.db"].read_sessions() as session:
        training = session.execute(
            select(Assignment.assigned_at, Assignment.due_at)
            .join(CapaActionAssignment, CapaActionAssignment.assignment_id == Assignment.id)).all()
    assert training
    assigned, due = max(t.assigned_at for t in training), min(t.due_at for t in training)
    _set_as_of(auditor, due + dt.timedelta(days=1))
    capa = auditor.get("/console/inspection/open-capa-training").get_data(as_text=True)
    overdue = int(re.search(r"<dt>Overdue</dt><dd>(\d+)</dd>", capa).group(1))
    assert overdue >= 1, capa
    _set_as_of(auditor, assigned + dt.timedelta(minutes=1))
    capa = auditor.get("/console/inspection/open-capa-training").get_data(as_text=True)
    assert int(re.search(r"<dt>Open assignments</dt><dd>(\d+)</dd>", capa).group(1)) >= 1
    assert re.search(r"<dt>Overdue</dt><dd>0</dd>", capa)
    overdue = auditor.get("/console/inspection/overdue-by-department").get_data(as_text=True)
    shown = int(re.search(r"<dt>Overdue assignments</dt><dd>(\d+)</dd>", overdue).group(1))
    at = (assigned + dt.timedelta(minutes=1)).isoformat()
    report = auditor.get("/api/v1/reports/overdue", query_string={"at": at, "format": "json"})
    assert report.status_code == 200, report.get_data(as_text=True)
    # The inspection answer agrees with the REST overdue report as of the same moment (its own code).
    assert shown == report.get_json()["summary"][0]["value"] >= 1
    # Omar had not signed SOP-001: not qualified at any moment of the history.
    omar = auditor.get("/console/inspection/qualified-at?person=Omar").get_data(as_text=True)
    assert re.search(r"<dt>Qualified</dt><dd>no</dd>", omar)
    # Back to now.
    token = csrf_of(auditor.get("/console/inspection/").get_data(as_text=True))
    auditor.post("/console/as-of", data={"csrf_token": token, "clear": "1"})
    assert "(now)" in auditor.get("/console/inspection/").get_data(as_text=True)


def test_a_future_or_malformed_moment_is_refused(history_plant, demo_client):
    auditor = demo_client("auditor")
    token = csrf_of(auditor.get("/console/inspection/").get_data(as_text=True))
    for value in ("2999-01-01T00:00", "yesterday"):
        response = auditor.post("/console/as-of", data={"csrf_token": token, "as_of": value},
                                headers={"Referer": "http://localhost/console/inspection/"},
                                follow_redirects=True)
        assert "Inspection mode</strong>" not in response.get_data(as_text=True)
        assert "flash-error" in response.get_data(as_text=True)


def test_every_console_write_as_auditor_is_refused(app, db, history_plant, demo_client):
    auditor = demo_client("auditor")
    token = csrf_of(auditor.get("/console/").get_data(as_text=True))
    with db.read_sessions() as session:
        before = session.scalar(select(func.count()).select_from(AuditEvent))
    posts = []
    for rule in app.url_map.iter_rules():
        # Only the inspection moment and queuing one's own export (no record) are open to auditors.
        if "POST" not in rule.methods or rule.endpoint in ("console.set_as_of",
                                                            "exports_console.queue"):
            continue
        if not (rule.rule.startswith("/console/") or rule.rule.startswith("/lti/admin")):
            continue
        path = re.sub(r"<(?:[^:>]+:)?[^>]+>", "1", rule.rule)
        posts.append(path)
        response = auditor.post(path, data={"csrf_token": token, "reason": "try", "label": "x",
                                            "roles": ["administrator"], "signer_username": "auditor",
                                            "signer_password": "Demo-Password-2026"})
        assert response.status_code == 403, (path, response.status_code)
    assert len(posts) >= 5, posts
    with db.read_sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_audit_viewer_shows_old_and_new_values_and_the_chain_verifies(app, make_user,
                                                                       console_client):
    admin = console_client("root", "administrator")
    make_user("lena", "qa_author", name="Lena <i>Locked</i>")
    locker = app.test_client()
    for _ in range(3):  # the test app locks after three failures
        sign_in(locker, "lena", "wrong-password-123")
    users = admin.get("/console/admin/users?state=locked").get_data(as_text=True)
    user_id = re.search(r'/console/admin/users/(\d+)">lena<', users).group(1)
    page = admin.get(f"/console/admin/users/{user_id}").get_data(as_text=True)
    assert "Lena &lt;i&gt;Locked&lt;/i&gt;" in page and "Unlock account" in page
    response = admin.post(f"/console/admin/users/{user_id}/unlock",
                          data={"csrf_token": csrf_of(page), "reason": "called the help desk"},
                          follow_redirects=True)
    assert "lena is unlocked" in response.get_data(as_text=True)
    assert sign_in(app.test_client(), "lena", TEST_PASSWORD).status_code == 302
    history = admin.get(f"/console/audit/record/user_account/{user_id}").get_data(as_text=True)
    assert "called the help desk" in history
    rows = re.findall(r"<code>failed_attempts</code></th><td class=\"diff-old\">(\d+)</td>"
                      r"<td class=\"diff-new\">(\d+)</td>", history)
    assert ("3", "0") in rows, rows  # the unlock: old value 3, new value 0
    trail = admin.get("/console/audit/?entity_type=user_account&person=root").get_data(as_text=True)
    assert f"user_account {user_id}" in trail
    verify = admin.get("/console/audit/verify").get_data(as_text=True)
    assert "The chain verifies" in verify and 'id="checkpoint"' in verify
    csv = admin.get(f"/console/audit/export.csv?entity_type=user_account&entity_id={user_id}")
    assert csv.status_code == 200 and "called the help desk" in csv.get_data(as_text=True)
    assert "# as of" in csv.get_data(as_text=True)
    assert admin.get("/console/audit/export.pdf").data.startswith(b"%PDF")


def test_administrator_issues_and_revokes_an_api_token(app, console_client, make_user):
    admin = console_client("root", "administrator")
    make_user("svc", "qa_author")
    users = admin.get("/console/admin/users?q=svc").get_data(as_text=True)
    user_id = re.search(r'/console/admin/users/(\d+)">svc<', users).group(1)
    page = admin.get(f"/console/admin/users/{user_id}").get_data(as_text=True)
    issued = admin.post(f"/console/admin/users/{user_id}/tokens",
                        data={"csrf_token": csrf_of(page), "label": "ERP <sync>"})
    assert issued.headers["Cache-Control"] == "no-store"
    html = issued.get_data(as_text=True)
    secret = re.search(r'id="issued-token">([^<]+)<', html).group(1)
    assert "ERP &lt;sync&gt;" in html
    bearer = {"Authorization": f"Bearer {secret}"}
    assert app.test_client().get("/api/v1/me", headers=bearer).status_code == 200
    again = admin.get(f"/console/admin/users/{user_id}").get_data(as_text=True)
    assert secret not in again  # shown once
    token_id = re.search(r'/console/admin/tokens/(\d+)/revoke', again).group(1)
    admin.post(f"/console/admin/tokens/{token_id}/revoke",
               data={"csrf_token": csrf_of(again), "reason": "leaver"})
    assert app.test_client().get("/api/v1/me", headers=bearer).status_code == 401
    assert "revoked" in admin.get(f"/console/admin/users/{user_id}").get_data(as_text=True)
    policy = admin.get("/console/admin/policy").get_data(as_text=True)
    assert "GXPBRIDGE_LOCKOUT_THRESHOLD" in policy and "Effective-date gate" in policy


def test_a_large_export_runs_in_the_worker_with_progress(app, db, history_plant, demo_client):
    from bridge.core.jobs import sweeps_of

    auditor = demo_client("auditor")
    moment = history_plant["loaded"] + dt.timedelta(days=25)
    _set_as_of(auditor, moment)
    page = auditor.get("/console/inspection/overdue-by-department").get_data(as_text=True)
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"',
                           page.split('action="/console/exports/"')[1].split("</form>")[0]))
    queued = auditor.post("/console/exports/", data=form)
    assert queued.status_code == 303
    status_url = queued.headers["Location"]
    fragment = auditor.get(status_url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "queued" in fragment and 'hx-trigger="every 1s"' in fragment  # polls, page not blocked
    sweep = next(s for s in sweeps_of(app) if s.name == "console.exports")
    assert sweep.run(db) == 1
    fragment = auditor.get(status_url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "done" in fragment and "hx-trigger" not in fragment and 'value="100"' in fragment
    download = re.search(r'href="([^"]+/download)"', fragment).group(1)
    pdf = auditor.get(download)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert f"as-of-{moment:%Y%m%dT%H%M}" in pdf.headers["Content-Disposition"]
    # Someone else's export is not theirs to read.
    other = demo_client("qa.author")
    assert other.get(download).status_code == 403
