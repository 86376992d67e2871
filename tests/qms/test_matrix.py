"""The training matrix: cells, periodic retraining, CSV/XLSX import and export (all or nothing)."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from bridge.core import audit
from qms.training.models import Assignment, Requirement

HEADER = "scope,scope_code,item_code,retrain_interval_days,grace_days\n"


@pytest.fixture
def matrix_site(plant):
    ids = plant.ids
    ids["prod"] = plant.unit("departments", "PROD")
    ids["op"] = plant.unit("job-functions", "OP")
    ids["gran"] = plant.unit("equipment", "GRAN-01")
    docs = {code: plant.document(code) for code in ("SOP-1", "SOP-2")}
    plant.publish_many([d["id"] for d in docs.values()])
    ids.update({f"item:{c}": d["training_item_id"] for c, d in docs.items()})
    ids["ann"] = plant.hire("Ann", ids["prod"], [ids["op"]], [ids["gran"]], person_id=plant.people["ann"])[
        "person"
    ]["id"]
    return plant


def import_csv(plant, text, user="author", replace=False, expect=None):
    return plant.call(
        "POST",
        f"/matrix/import?format=csv&replace={'true' if replace else 'false'}",
        user,
        data=text.encode(),
        content_type="text/csv",
        expect=expect,
    )


def count_requirements(db):
    with db.read_sessions() as session:
        return session.scalar(
            select(func.count()).select_from(Requirement).where(Requirement.valid_to.is_(None))
        )


def test_add_update_retire_requirement(matrix_site, db):
    ids = matrix_site.ids
    added = matrix_site.post(
        "/requirements",
        "author",
        {
            "scope": "equipment",
            "scope_id": ids["gran"],
            "training_item_id": ids["item:SOP-1"],
            "retrain_interval_days": 365,
            "grace_days": 30,
        },
        expect=201,
    ).json
    assert added["assignments_created"] == 1
    dup = matrix_site.post(
        "/requirements",
        "author",
        {"scope": "equipment", "scope_id": ids["gran"], "training_item_id": ids["item:SOP-1"]},
        expect=409,
    ).json
    assert dup["error"] == "duplicate_requirement"
    grace = matrix_site.post(
        "/requirements",
        "author",
        {
            "scope": "department",
            "scope_id": ids["prod"],
            "training_item_id": ids["item:SOP-2"],
            "grace_days": 5,
        },
        expect=400,
    ).json
    assert grace["field"] == "grace_days"
    assert (
        matrix_site.post(
            "/requirements", "author", {"scope": "team", "scope_id": 1, "training_item_id": 1}
        ).status_code
        == 400
    )
    assert (
        matrix_site.post(
            "/requirements",
            "supervisor",
            {"scope": "department", "scope_id": ids["prod"], "training_item_id": ids["item:SOP-2"]},
        ).status_code
        == 403
    )
    updated = matrix_site.call(
        "PATCH",
        f"/requirements/{added['id']}",
        "author",
        json={"retrain_interval_days": 180, "grace_days": 0, "reason": "CAPA-12"},
        expect=200,
    ).json
    assert updated["retrain_interval_days"] == 180
    retired = matrix_site.post(
        f"/requirements/{added['id']}/retire", "author", {"reason": "equipment gone"}, expect=200
    ).json
    assert retired["valid_to"] is not None
    matrix_site.post(f"/requirements/{added['id']}/retire", "author", {"reason": "again"}, expect=409)
    with db.read_sessions() as session:
        assignment = session.scalar(select(Assignment).where(Assignment.person_id == ids["ann"]))
        assert assignment.status == "cancelled"
        rows = audit.history(session, "qms_requirement", added["id"])
    assert [r.action for r in rows] == ["create", "update", "update"]
    assert rows[1].reason == "CAPA-12" and rows[1].new_values == {
        "retrain_interval_days": 180,
        "grace_days": 0,
    }


def test_csv_import_export_round_trip(matrix_site, db):
    ids = matrix_site.ids
    text = HEADER + "job_function,OP,SOP-1,365,30\nequipment,GRAN-01,SOP-2,,\n"
    outcome = import_csv(matrix_site, text, expect=200).json
    assert outcome["created"] == 2 and outcome["assignments_created"] == 2
    exported = matrix_site.get("/matrix/export?format=csv")
    assert exported.mimetype == "text/csv"
    assert (
        exported.get_data(as_text=True)
        == HEADER + "equipment,GRAN-01,SOP-2,,0\njob_function,OP,SOP-1,365,30\n"
    )
    again = import_csv(matrix_site, exported.get_data(as_text=True), expect=200).json
    assert again["unchanged"] == 2 and again["created"] == 0
    with db.read_sessions() as session:
        rows = [
            r
            for r in session.scalars(
                select(audit.AuditEvent).where(audit.AuditEvent.action == "matrix.imported")
            )
        ]
    assert len(rows) == 2 and rows[0].new_values["created"] == 2 and rows[0].actor_username == "author"
    replaced = import_csv(
        matrix_site, HEADER + "job_function,OP,SOP-1,365,30\n", replace=True, expect=200
    ).json
    assert replaced["retired"] == 1 and count_requirements(db) == 1
    assert ids["ann"]


def test_bad_rows_are_reported_with_row_numbers_and_nothing_is_imported(matrix_site, db):
    text = (
        HEADER + "job_function,OP,SOP-1,365,30\n"
        "job_function,NOPE,SOP-1,,\n"
        "team,OP,SOP-1,,\n"
        "job_function,OP,SOP-404,abc,\n"
        "equipment,GRAN-01,SOP-2,,5\n"
        "job_function,OP,SOP-1,,\n"
    )
    refused = import_csv(matrix_site, text, expect=400).json
    assert refused["error"] == "bad_matrix_rows" and refused["field"] == "rows[3].scope_code"
    errors = refused["details"]["errors"]
    assert [(e["row"], e["field"]) for e in errors] == [
        (3, "scope_code"),
        (4, "scope"),
        (5, "item_code"),
        (5, "retrain_interval_days"),
        (6, "grace_days"),
        (7, "item_code"),
    ]
    assert "nothing was imported" in refused["message"]
    assert count_requirements(db) == 0
    bad_header = import_csv(matrix_site, "scope,code\nx,y\n", expect=400).json
    assert bad_header["error"] == "bad_header"
    assert import_csv(matrix_site, HEADER, expect=400).json["error"] == "empty_matrix"
    assert import_csv(matrix_site, HEADER + "job_function,OP,SOP-1,,\n", user="auditor").status_code == 403
    binary = matrix_site.call(
        "POST",
        "/matrix/import?format=csv",
        "author",
        data=b"\xff\xfe\x00bad",
        content_type="text/csv",
        expect=400,
    ).json
    assert binary["field"] == "file"
    wrong_format = matrix_site.call(
        "POST", "/matrix/import?format=ods", "author", data=b"x", content_type="text/csv", expect=400
    ).json
    assert wrong_format["field"] == "format"


def test_xlsx_import_and_export(matrix_site, db):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["scope", "scope_code", "item_code", "retrain_interval_days", "grace_days"])
    sheet.append(["department", "PROD", "SOP-1", 730, 0])
    sheet.append(["job_function", "OP", "SOP-2", None, None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    outcome = matrix_site.call(
        "POST",
        "/matrix/import?format=xlsx",
        "author",
        data=buffer.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        expect=200,
    ).json
    assert outcome["created"] == 2
    exported = matrix_site.get("/matrix/export?format=xlsx")
    rows = list(load_workbook(io.BytesIO(exported.data)).active.iter_rows(values_only=True))
    assert rows[1:] == [("department", "PROD", "SOP-1", 730, 0), ("job_function", "OP", "SOP-2", None, 0)]
    sheet.append(["equipment", "GRAN-01", "SOP-1", -3, 0])
    buffer = io.BytesIO()
    workbook.save(buffer)
    refused = matrix_site.call(
        "POST",
        "/matrix/import?format=xlsx",
        "author",
        data=buffer.getvalue(),
        content_type="application/octet-stream",
        expect=400,
    ).json
    assert refused["details"]["errors"] == [
        {
            "row": 4,
            "field": "retrain_interval_days",
            "message": "the retraining interval is a positive number of days",
        }
    ]
    junk = matrix_site.call(
        "POST",
        "/matrix/import?format=xlsx",
        "author",
        data=b"not a workbook",
        content_type="application/octet-stream",
        expect=400,
    ).json
    assert junk["field"] == "file"
