"""Deviation, matrix and report console workflows through the test client on the demo plant."""

from __future__ import annotations

import re

from tests.console.conftest_capa import demo, demo_client, flashed, post, signed  # noqa: F401

GOOD = (b"scope,scope_code,item_code,retrain_interval_days,grace_days\n"
        b"job_function,QC-ANALYST,SOP-001,365,30\n")
BAD = GOOD + b"job_function,NO-SUCH-JF,SOP-001,,\njob_function,OPERATOR,SOP-001,soon,\n"


def test_record_deviation_and_sign_the_adequacy_assessment(demo, clock):  # noqa: F811
    occurred = clock.now().strftime("%Y-%m-%dT%H:%M")
    author = demo_client(demo, "qa.author")
    response = post(author, "/console/deviations/new", {
        "title": "Wrong <i>gloves</i>", "classification": "minor", "occurred_at": "2020-01-01T08:00",
        "people": "operator1 nobody-such", "documents": "SOP-001"})
    assert response.status_code == 303
    assert "nobody-such" in flashed(author)
    response = post(author, "/console/deviations/new", {
        "title": "Wrong <i>gloves</i>", "classification": "minor", "occurred_at": "",
        "people": "operator1", "documents": "SOP-001"})
    assert "occurred at is required" in flashed(author)
    response = post(author, "/console/deviations/new", {
        "title": "Wrong <i>gloves</i>", "classification": "minor", "occurred_at": occurred,
        "people": "operator1", "documents": "SOP-001"})
    assert response.status_code == 303, flashed(author)
    html = author.get("/console/deviations/").get_data(as_text=True)
    assert "Wrong &lt;i&gt;gloves&lt;/i&gt;" in html
    url = re.search(r'href="(/console/deviations/\d+)"', html).group(1)
    page = author.get(url).get_data(as_text=True)
    assert "Training adequacy at" in page and "person × document pair(s)" in page
    approver = demo_client(demo, "qa.approver")
    response = post(approver, url + "/assessment",
                    signed({"conclusion": "inadequate", "rationale": "Not trained"}))
    assert response.status_code == 303, flashed(approver)
    page = approver.get(url).get_data(as_text=True)
    assert 'class="assessment"' in page and 'class="signature"' in page


def test_matrix_import_shows_every_bad_row_then_imports_a_good_file(demo):  # noqa: F811
    author = demo_client(demo, "qa.author")
    html = post(author, "/console/matrix/import/check", {"file": (__import__("io").BytesIO(BAD), "m.csv")},
                content_type="multipart/form-data").get_data(as_text=True)
    assert "nothing was saved" in html
    rows = re.findall(r'<tr class="import-error"><td>(\d+)</td>', html)
    assert rows == ["3", "4"]
    assert "NO-SUCH-JF" in html
    html = post(author, "/console/matrix/import/check", {"file": (__import__("io").BytesIO(GOOD), "m.csv")},
                content_type="multipart/form-data", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "every row is valid" in html and "1 new" in html
    assert "<html" not in html  # an htmx fragment
    content = re.search(r'name="content" value="([^"]+)"', html).group(1)
    grid = author.get("/console/matrix/?q=QC").get_data(as_text=True)
    assert "SOP-001" not in grid.split("<thead>")[1].split("</thead>")[0]  # nothing saved by the check
    response = post(author, "/console/matrix/import", {"content": content, "filename": "m.csv"})
    assert response.status_code == 303
    assert "Matrix imported: 1 row(s), 1 created" in flashed(author)
    grid = author.get("/console/matrix/?q=QC").get_data(as_text=True)
    assert "SOP-001" in grid.split("<thead>")[1].split("</thead>")[0]
    export = author.get("/console/matrix/export.csv")
    assert export.mimetype == "text/csv" and b"QC-ANALYST,SOP-001,365,30" in export.data
    assert author.get("/console/matrix/export.xlsx").data[:2] == b"PK"


def test_matrix_cell_edit_in_place_with_preview(demo):  # noqa: F811
    author = demo_client(demo, "qa.author")
    grid = author.get("/console/matrix/").get_data(as_text=True)
    row = grid.split("QC-ANALYST", 1)[1].split("</tr>", 1)[0]
    add_url = re.search(r'hx-get="(/console/matrix/job-functions/(\d+)/add)"', row)
    fragment = author.get(add_url.group(1), headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and "Preview the assignments" in fragment
    jf = add_url.group(2)
    preview = post(author, f"/console/matrix/job-functions/{jf}/requirements/preview",
                   {"item": "SOP-014", "retrain_interval_days": "", "grace_days": "0"},
                   headers={"HX-Request": "true"}).get_data(as_text=True)
    count = int(re.search(r"<strong>(\d+)</strong> assignment", preview).group(1))
    assert count >= 1
    again = post(author, f"/console/matrix/job-functions/{jf}/requirements/preview",
                 {"item": "SOP-014", "grace_days": "0"},
                 headers={"HX-Request": "true"}).get_data(as_text=True)
    assert f"<strong>{count}</strong>" in again  # the preview saved nothing
    response = post(author, f"/console/matrix/job-functions/{jf}/requirements",
                    {"item": "SOP-014", "grace_days": "0", "back": "/console/matrix/"},
                    headers={"HX-Request": "true"})
    assert response.headers["HX-Redirect"] == "/console/matrix/"
    assert f"{count} assignment(s) created" in flashed(author)
    reader = demo_client(demo, "auditor")
    url = f"/console/matrix/job-functions/{jf}/requirements"
    assert post(reader, url, {"item": "SOP-020"}).status_code == 403


def test_every_report_as_page_csv_and_pdf(demo):  # noqa: F811
    client = demo_client(demo, "auditor")
    index = client.get("/console/reports/").get_data(as_text=True)
    keys = re.findall(r'href="/console/reports/([a-z-]+)"', index)
    assert len(keys) == 7
    params = {"transcript": "person=operator1", "document-training": "document=SOP-001",
              "deviation-adequacy": "deviation_id=1", "capa-training": "capa_id=1"}
    for key in keys:
        query = f"/console/reports/{key}?run=1&as_of=2099-01-01&{params.get(key, '')}"
        page = client.get(query)
        assert page.status_code == 200, (key, page.get_data(as_text=True)[:500])
        assert "Download CSV" in page.get_data(as_text=True), key
        csv = client.get(query + "&format=csv")
        assert csv.mimetype == "text/csv" and csv.headers["Content-Disposition"].startswith("attachment")
        pdf = client.get(query + "&format=pdf")
        assert pdf.data[:4] == b"%PDF", key
    missing = client.get("/console/reports/transcript?run=1&person=nobody")
    assert missing.status_code == 400 and "nobody" in missing.get_data(as_text=True)
