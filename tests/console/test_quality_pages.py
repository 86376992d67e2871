"""Console pages of CAPA, deviations, the training matrix and reports, through the test client on
the demo plant: each renders for the readers, its steps work through services, refusals are shown
with the reason, user text is escaped, CSRF is required.
"""

from __future__ import annotations

import re

import pytest

from tests.console.conftest_capa import demo, demo_client, flashed, post, signed  # noqa: F401

PAGES = ["/console/capa/", "/console/deviations/", "/console/matrix/", "/console/reports/",
         "/console/capa/?status=actions_in_progress", "/console/matrix/?department=1&q=OP"]


@pytest.mark.parametrize("username", ["qa.author", "qa.approver", "auditor", "supervisor", "trainer"])
def test_pages_render_for_readers_and_menu_lists_them(demo, username):  # noqa: F811
    client = demo_client(demo, username)
    html = client.get("/console/").get_data(as_text=True)
    for label in ("CAPA", "Deviations", "Training matrix", "All reports"):
        assert f">{label}</a>" in html
    for url in PAGES:
        assert client.get(url).status_code == 200, url


def test_learner_is_refused(demo):  # noqa: F811
    client = demo_client(demo, "operator1")
    assert client.get("/console/capa/").status_code == 403
    assert ">CAPA</a>" not in client.get("/console/").get_data(as_text=True)


def test_capa_page_steps_and_escaping(demo):  # noqa: F811
    author = demo_client(demo, "qa.author")
    response = post(author, "/console/capa/new", {"title": "<script>x</script> gloves", "source": "audit",
                                                  "owner": "supervisor", "due_at": "2099-01-01"})
    assert response.status_code == 303, flashed(author)
    url = response.headers["Location"]
    html = author.get(url).get_data(as_text=True)
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt; gloves" in html
    assert post(author, url + "/investigation").status_code == 303
    post(author, url + "/root-cause", {"root_cause": "No refresher"})
    post(author, url + "/actions", {"kind": "training", "description": "Retrain", "due_at": "2099-01-01",
                                               "items": "SOP-001", "people": "operator1 operator2"})
    assert "assignment(s) created" in flashed(author)
    # the author cannot approve (role), the approver signs; a wrong password is refused
    approver = demo_client(demo, "qa.approver")
    post(approver, url + "/approve", {**signed(), "signer_password": "wrong"}, headers={"Referer": url})
    assert "password" in flashed(approver).lower()
    assert post(approver, url + "/approve", signed()).status_code == 303
    html = approver.get(url).get_data(as_text=True)
    assert "Approve" in html and 'class="signature"' in html
    # without the CSRF token: 400
    assert approver.post(url + "/close", data=signed()).status_code == 400


def test_demo_capa_closure_refused_lists_open_assignments(demo):  # noqa: F811
    author, approver = demo_client(demo, "qa.author"), demo_client(demo, "qa.approver")
    index = author.get("/console/capa/?status=actions_in_progress").get_data(as_text=True)
    url = re.search(r'href="(/console/capa/\d+)"', index).group(1)
    # the preventive action first, then the effectiveness check
    html = author.get(url).get_data(as_text=True)
    action = re.search(r'action="(/console/capa/\d+/actions/\d+/complete)"', html).group(1)
    post(author, action, {"note": "Badges configured"})
    # The effectiveness check, and so the closing, waits for the CAPA's training (issue 14 #6).
    response = post(author, url + "/effectiveness-check", headers={"Referer": "http://localhost" + url})
    assert response.status_code == 303
    message = flashed(author)
    assert "the effectiveness check starts once the training is done" in message
    html = approver.get(url).get_data(as_text=True)
    assert html.count('class="open-assignment"') >= 1
