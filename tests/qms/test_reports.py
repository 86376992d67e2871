"""Reports through the REST API: every report as JSON, CSV and PDF (the PDF parsed back), the
format chosen by ``?format=`` or Accept, who may read what, and the refusals.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from tests.qms.conftest import future, now
from tests.qms.test_capa import open_capa, small_plant, to_investigation


def quality_records(plant) -> dict[str, Any]:
    """A plant with a CAPA whose training is open and a deviation with a recorded assessment."""
    p = small_plant(plant)
    plant.post(
        "/requirements",
        "author",
        {"scope": "job_function", "scope_id": p["op"], "training_item_id": p["item"]},
        expect=201,
    )
    ann_assignment = plant.get("/me/assignments", "ann")[0]
    plant.post(f"/assignments/{ann_assignment['id']}/sign", "ann", plant.sign("ann"), expect=201)
    capa = open_capa(plant)
    to_investigation(plant, capa["id"])
    plant.post(
        f"/capas/{capa['id']}/actions",
        "author",
        {
            "kind": "training",
            "description": "Retrain Bob",
            "due_at": future(9),
            "training_item_ids": [p["item"]],
            "person_ids": [plant.people["bob"]],
        },
        expect=201,
    )
    plant.post(f"/capas/{capa['id']}/approve", "approver", plant.sign("approver"), expect=200)
    deviation = plant.post(
        "/deviations",
        "author",
        {
            "title": "Glove change skipped",
            "classification": "minor",
            "occurred_at": now().isoformat(),
            "person_ids": [plant.people["ann"], plant.people["bob"]],
            "document_ids": [p["doc"]["id"]],
        },
        expect=201,
    ).json
    plant.post(
        f"/deviations/{deviation['id']}/training-assessments",
        "approver",
        {**plant.sign("approver"), "conclusion": "inadequate", "rationale": "Bob not trained"},
        expect=201,
    )
    return {**p, "capa": capa, "deviation": deviation}


def pdf_text(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/pdf"
    content = response.get_data()
    assert content.startswith(b"%PDF-")
    assert "attachment" in response.headers["Content-Disposition"]
    reader = PdfReader(io.BytesIO(content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    if os.environ.get("GXP_DUMP_REPORTS"):  # keep the PDFs to look at them
        folder = Path(os.environ["GXP_DUMP_REPORTS"])
        (folder / f"report-{len(list(folder.iterdir())):02d}.pdf").write_bytes(content)
    # Table cells wrap: compare with whitespace collapsed.
    text = " ".join(text.split())
    assert f"Page 1 of {len(reader.pages)}" in text
    return text


def csv_rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    text = response.get_data().decode("utf-8-sig")
    # Report metadata lines ("# label,value") and a blank line come before the table.
    lines = text.split("\r\n")
    header = next(i for i, line in enumerate(lines) if line.startswith("section"))
    assert all(line.startswith("# ") for line in lines[: header - 1]) and lines[header - 1] == ""
    return list(csv.DictReader(io.StringIO("\r\n".join(lines[header:]))))


def fetch(plant, path: str, fmt: str, user: str = "auditor") -> Any:
    joiner = "&" if "?" in path else "?"
    return plant.call("GET", f"/reports/{path}{joiner}format={fmt}", user)


REPORTS = {
    "transcript": lambda r: f"transcript/{r['people']['ann']}",
    "document": lambda r: f"document-training/{r['doc']['id']}",
    "matrix": lambda r: "matrix-compliance",
    "overdue": lambda r: "overdue",
    "capa": lambda r: f"capa-training?capa_id={r['capa']['id']}",
    "deviation": lambda r: f"deviation-adequacy/{r['deviation']['id']}",
    "audit": lambda r: f"audit-trail?entity_type=qms_capa&entity_id={r['capa']['id']}",
}


def test_every_report_in_json_csv_and_pdf(plant):
    records = {**quality_records(plant), "people": plant.people}
    expected_pdf_text = {
        "transcript": ["Training transcript", "Ann", "SOP-CAPA", "I have read and understood this document"],
        "document": [
            "Document training status",
            "SOP-CAPA",
            "Versions",
            "SOP-CAPA 1.0: Approver — I approve this record",
        ],
        "matrix": ["Training matrix compliance", "PROD", "OP"],
        "overdue": ["Overdue training", "Overdue assignments (0)", "No rows."],
        "capa": ["CAPA training linkage", records["capa"]["number"], "Bob", "I approve this record"],
        "deviation": [
            "Training adequacy",
            "(training adequacy: inadequate)",
            records["deviation"]["number"],
            "Bob",
            "no completion on version 1.0",
            "I approve this record",
        ],
        "audit": ["Audit trail", "capa.actions_in_progress", "qms_capa"],
    }
    for name, path in REPORTS.items():
        report = fetch(plant, path(records), "json")
        assert report.status_code == 200, (name, report.get_data(as_text=True))
        body = report.json
        assert body["generated_by"] == "Auditor (auditor)" and body["generated_at"].endswith("+00:00")
        assert body["sections"] and body["title"]
        rows = csv_rows(fetch(plant, path(records), "csv"))
        assert len(rows) == sum(len(s["rows"]) for s in body["sections"]), name
        text = pdf_text(fetch(plant, path(records), "pdf"))
        for snippet in ["Generated at", "Generated by", "Auditor (auditor)", "UTC", *expected_pdf_text[name]]:
            assert snippet in text, (name, snippet)
    # Content of a few reports, as data.
    capa = fetch(plant, REPORTS["capa"](records), "json").json
    assert [(r["person"], r["status"], r["open"]) for r in capa["data"]["rows"]] == [("Bob", "open", True)]
    deviation = csv_rows(fetch(plant, REPORTS["deviation"](records), "csv"))
    adequacy = {r["person"]: r for r in deviation if r["section"].startswith("Was each person")}
    assert adequacy["Ann"]["trained"] == "yes" and adequacy["Bob"]["trained"] == "no"
    assert adequacy["Ann"]["completed_version"] == "1.0" and adequacy["Ann"]["completion_id"]
    recorded = [r for r in deviation if r["section"] == "Recorded assessments"]
    assert recorded[0]["conclusion"] == "inadequate" and recorded[0]["signature_valid"] == "yes"
    matrix = fetch(plant, "matrix-compliance", "json").json
    assert matrix["data"]["departments"][0]["department"] == "PROD"
    assert {(r["department"], r["job_function"]) for r in matrix["data"]["rows"]} == {("PROD", "OP")}
    audit = fetch(plant, REPORTS["audit"](records), "json").json
    assert {r["entity_type"] for r in audit["data"]["rows"]} == {"qms_capa"}
    assert "capa.investigation" in [r["action"] for r in audit["data"]["rows"]]


def test_overdue_report_lists_late_assignments(plant, db):
    from sqlalchemy import update

    from bridge.core.actor import SYSTEM
    from bridge.core.uow import UnitOfWork
    from qms.training.models import Assignment

    p = small_plant(plant)
    plant.post(
        "/requirements",
        "author",
        {"scope": "job_function", "scope_id": p["op"], "training_item_id": p["item"]},
        expect=201,
    )
    # Time passes: the due date of Ann's assignment is now behind us.
    with UnitOfWork(db, SYSTEM) as uow:
        uow.session.execute(update(Assignment).values(due_at=now().replace(year=2025)))
        uow.commit()
    report = fetch(plant, f"overdue?department_id={p['prod']}", "json").json
    assert [(r["person"], r["item"], r["version"], r["department"]) for r in report["data"]["rows"]] == [
        ("Ann", "SOP-CAPA", "1.0", "PROD")
    ]
    assert report["data"]["rows"][0]["days_overdue"] > 0
    assert fetch(plant, f"overdue?department_id={p['prod'] + 50}", "json").json["data"]["rows"] == []
    assert "Ann" in pdf_text(fetch(plant, "overdue", "pdf"))


def test_format_by_accept_header_and_refusals(plant):
    records = {**quality_records(plant), "people": plant.people}
    path = f"/api/v1/reports/{REPORTS['capa'](records)}"
    by_accept = plant.client.get(path, headers={**plant.headers["auditor"], "Accept": "application/pdf"})
    assert by_accept.get_data().startswith(b"%PDF-")
    as_csv = plant.client.get(path, headers={**plant.headers["auditor"], "Accept": "text/csv"})
    assert as_csv.mimetype == "text/csv"
    default = plant.client.get(path, headers=plant.headers["auditor"])
    assert default.is_json
    bad = fetch(plant, "matrix-compliance", "xlsx")
    assert bad.status_code == 400 and bad.json["field"] == "format"
    unknown = plant.call("GET", "/reports/matrix-compliance?colour=red", "auditor", expect=400).json
    assert unknown["field"] == "colour"
    orphan = plant.call("GET", "/reports/audit-trail?entity_id=1", "auditor", expect=400).json
    assert orphan["field"] == "entity_type"
    backwards = plant.call(
        "GET",
        "/reports/audit-trail?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z",
        "auditor",
        expect=400,
    ).json
    assert (backwards["error"], backwards["field"]) == ("empty_period", "until")
    plant.call("GET", "/reports/audit-trail?limit=0", "auditor", expect=400)
    plant.call("GET", "/reports/audit-trail?since=2026-01-01T00:00:00", "auditor", expect=400)
    assert plant.call("GET", "/reports/transcript/99999", "auditor", expect=404).json["field"] == "person_id"
    plant.call("GET", "/reports/deviation-adequacy/99999", "auditor", expect=404)
    plant.call("GET", "/reports/capa-training?capa_id=99999", "auditor", expect=404)
    plant.call("GET", "/reports/document-training/99999", "auditor", expect=404)
    assert plant.client.get("/api/v1/reports/overdue").status_code == 401


@pytest.mark.parametrize("fmt", ["json", "csv", "pdf"])
def test_learners_read_only_their_own_transcript(plant, fmt):
    records = {**quality_records(plant), "people": plant.people}
    own = fetch(plant, f"transcript/{plant.people['ann']}", fmt, user="ann")
    assert own.status_code == 200
    if fmt == "pdf":
        assert "Training transcript — Ann" in pdf_text(own)
    other = fetch(plant, f"transcript/{plant.people['bob']}", fmt, user="ann")
    assert other.status_code == 403 and other.json["error"] == "not_own_record"
    for name in ("document", "matrix", "overdue", "capa", "deviation", "audit"):
        refused = fetch(plant, REPORTS[name](records), fmt, user="ann")
        assert refused.status_code == 403 and refused.json["error"] == "role_required", name


def test_openapi_describes_every_report(plant):
    spec = plant.get("/openapi.json")
    for path in (
        "/reports/transcript/{person_id}",
        "/reports/document-training/{document_id}",
        "/reports/matrix-compliance",
        "/reports/overdue",
        "/reports/capa-training",
        "/reports/deviation-adequacy/{deviation_id}",
        "/reports/audit-trail",
    ):
        operation = spec["paths"][f"/api/v1{path}"]["get"]
        assert set(operation["responses"]["200"]["content"]) == {
            "application/json",
            "text/csv",
            "application/pdf",
        }
        assert "format" in [p["name"] for p in operation["parameters"]]


def test_audit_trail_filters_by_time_and_verifies_the_chain(plant):
    small_plant(plant)
    first = open_capa(plant)
    middle = now()
    second = open_capa(plant, title="Second")
    later = fetch(
        plant, f"audit-trail?entity_type=qms_capa&since={middle.isoformat().replace('+00:00', 'Z')}", "json"
    ).json
    assert {r["entity_id"] for r in later["data"]["rows"]} == {str(second["id"])}
    earlier = fetch(
        plant, f"audit-trail?entity_type=qms_capa&until={middle.isoformat().replace('+00:00', 'Z')}", "json"
    ).json
    assert {r["entity_id"] for r in earlier["data"]["rows"]} == {str(first["id"])}
    capped = fetch(plant, "audit-trail?limit=2", "json").json
    assert len(capped["data"]["rows"]) == 2 and capped["data"]["truncated"] is True
    verified = fetch(plant, "audit-trail?entity_type=qms_capa&verify=true", "json").json
    assert verified["data"]["chain"]["ok"] is True and verified["data"]["chain"]["rows"] > 10
    assert "Hash chain (whole trail) verified" in pdf_text(
        fetch(plant, "audit-trail?verify=true&limit=5", "pdf")
    )
