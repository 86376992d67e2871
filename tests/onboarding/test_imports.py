"""Document register and legacy training imports: good and bad rows, all or none, the preview,
migrated completions (never e-signed) in every as-of question, and the signed day-0 cut-over.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from bridge.core.audit import AuditEvent
from bridge.core.signatures import ElectronicSignature
from qms.documents.models import Document, DocumentVersion, TrainingItemVersion
from qms.onboarding.models import ImportBatch
from qms.training import asof
from qms.training.models import Assignment, Completion
from tests.conftest import TEST_PASSWORD

REGISTER = (
    "document_code,title,doc_type,version_label,revision,effective_from,retrain,change_summary,file_name\n"
    """SOP-100,Gowning,SOP,1.0,major,2019-01-07,,,
SOP-100,Gowning,SOP,2.0,major,2022-03-01,,new gowns,
SOP-100,,SOP,2.1,minor,2023-06-01T08:00:00Z,,typo,sop-100-2.1.pdf
SOP-200,Line clearance,SOP,A,major,2020-05-04,,,
"""
)
PDF = b"%PDF-1.4\n% SOP-100 2.1\n%%EOF\n"


def upload(plant, path: str, user: str, content: bytes, *, files=None, form=None, expect=None):
    data = {"file": (io.BytesIO(content), "register.csv"), **(form or {})}
    if files:
        data["files"] = [(io.BytesIO(body), name) for name, body in files.items()]
    return plant.call("POST", path, user, data=data, content_type="multipart/form-data", expect=expect)


def xlsx(rows: list[list]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_document_register_with_history(plant, db):
    result = upload(
        plant, "/documents/import", "author", REGISTER.encode(), files={"sop-100-2.1.pdf": PDF}, expect=201
    ).json
    assert (result["documents"], result["versions"], result["files"]) == (2, 4, 1)
    with db.read_sessions() as session:
        versions = session.scalars(
            select(TrainingItemVersion)
            .join(DocumentVersion, DocumentVersion.item_version_id == TrainingItemVersion.id)
            .join(Document)
            .where(Document.code == "SOP-100")
            .order_by(TrainingItemVersion.seq)
        ).all()
        assert [(v.label, v.status, v.baseline_seq) for v in versions] == [
            ("1.0", "superseded", 1),
            ("2.0", "superseded", 2),
            ("2.1", "effective", 2),
        ]
        assert versions[0].ended_at == versions[1].effective_since == dt.datetime(2022, 3, 1, tzinfo=dt.UTC)
        assert versions[2].effective_since == dt.datetime(2023, 6, 1, 8, tzinfo=dt.UTC)
        assert versions[2].ended_at is None
        batch = session.scalar(select(ImportBatch))
        assert batch.sha256 == hashlib.sha256(REGISTER.encode()).hexdigest()
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "documents.register_imported")
            )
            == 1
        )
    document = plant.get("/documents?limit=10")
    assert {d["code"] for d in document} >= {"SOP-100", "SOP-200"}
    assert (
        plant.call(
            "GET",
            f"/document-versions/{result['batch_id'] and _version_id(db, 'SOP-100', '2.1')}/file",
            "author",
            expect=200,
        ).data
        == PDF
    )


def _version_id(db, code: str, label: str) -> int:
    with db.read_sessions() as session:
        return session.scalar(
            select(DocumentVersion.id)
            .join(Document)
            .where(Document.code == code, DocumentVersion.label == label)
        )


def test_document_register_bad_rows_refuse_the_file(plant, db, clock):
    plant.document("SOP-EXISTS")
    future = (clock.now() + dt.timedelta(days=3)).date().isoformat()
    bad = (
        "document_code,title,version_label,revision,effective_from,file_name\n"
        "SOP-1,Good,1.0,major,2020-01-01,\n"
        f"SOP-2,Future,1.0,major,{future},\n"
        "SOP-3,Bad revision,1.0,huge,2020-01-01,\n"
        "SOP-1,Good,1.0,major,2021-01-01,\n"
        "SOP-EXISTS,Clash,1.0,major,2020-01-01,\n"
        "SOP-4,No file,1.0,major,2020-01-01,missing.pdf\n"
        "SOP-5,Not a date,1.0,major,last year,\n"
    )
    refused = upload(plant, "/documents/import", "author", bad.encode(), expect=400).json
    assert refused["error"] == "bad_import_rows"
    assert [(e["row"], e["field"]) for e in refused["details"]["errors"]] == [
        (3, "effective_from"),
        (4, "revision"),
        (5, "version_label"),
        (6, "document_code"),
        (7, "file_name"),
        (8, "effective_from"),
    ]
    with db.read_sessions() as session:
        assert session.scalar(select(func.count()).select_from(Document)) == 1
        assert session.scalar(select(func.count()).select_from(ImportBatch)) == 0
    missing = upload(plant, "/documents/import", "author", b"document_code,title\nX,Y\n", expect=400).json
    assert missing["error"] == "bad_header"
    upload(plant, "/documents/import", "approver", REGISTER.encode(), expect=403)
    # The same register as XLSX.
    book = xlsx(
        [
            ["document_code", "title", "version_label", "revision", "effective_from"],
            ["SOP-X", "From Excel", "1", "major", dt.datetime(2021, 2, 3)],
            ["SOP-X", "From Excel", "2", "minor", "2024-01-01"],
        ]
    )
    done = plant.call(
        "POST",
        "/documents/import?format=xlsx",
        "author",
        data=book,
        content_type="application/octet-stream",
        expect=201,
    ).json
    assert (done["documents"], done["versions"]) == (1, 2)


@pytest.fixture
def site(plant, clock):
    """A register, a job function needing SOP-100, three people hired into it."""
    upload(
        plant, "/documents/import", "author", REGISTER.encode(), files={"sop-100-2.1.pdf": PDF}, expect=201
    )
    with plant.client.application.extensions["gxpbridge.db"].read_sessions() as session:
        items = dict(session.execute(select(Document.code, Document.id)).all())
    ids = plant.ids
    ids["dept"] = plant.unit("departments", "PACK")
    ids["op"] = plant.unit("job-functions", "PACKER")
    item = plant.get(f"/documents/{items['SOP-100']}")["training_item_id"]
    ids["item"] = item
    plant.post(
        "/requirements",
        "author",
        {"scope": "job_function", "scope_id": ids["op"], "training_item_id": item},
        expect=201,
    )
    for name, number in (("Ann Packer", "E-1"), ("Bob Packer", "E-2"), ("Cy Packer", "E-3")):
        person = plant.post(
            "/people/hire",
            "supervisor",
            {
                "display_name": name,
                "employee_no": number,
                "email": f"{number.lower()}@plant.example",
                "department_id": ids["dept"],
                "job_function_ids": [ids["op"]],
            },
            expect=201,
        ).json
        ids[number] = person["person"]["id"]
    return plant


HISTORY = """person,item_code,version_label,completed_at,source_system,trainer,evidence_ref
E-1,SOP-100,1.0,2019-02-01,OldLMS,T. Rainer,LMS-1
E-1,SOP-100,2.0,2022-04-01,OldLMS,T. Rainer,LMS-2
e-2@plant.example,SOP-100,1.0,2019-03-01,Spreadsheet,,paper binder 3
E-9,SOP-100,2.0,2022-04-01,OldLMS,,
E-3,SOP-100,9.9,2022-04-01,OldLMS,,
E-3,SOP-100,2.0,2021-04-01,OldLMS,,
E-1,SOP-100,2.0,2022-04-01,OldLMS,,
E-3,SOP-100,2.0,{future},OldLMS,,
E-3,SOP-999,1.0,2022-04-01,OldLMS,,
"""


def test_legacy_training_preview_import_and_as_of(site, db, clock):
    ids = site.ids
    content = HISTORY.format(future=(clock.now() + dt.timedelta(days=2)).date().isoformat()).encode()
    preview = upload(site, "/training/legacy-import?preview=true", "author", content, expect=200).json
    assert preview["preview"] is True and preview["would_create"] == 3
    assert {(r["row"], r["field"]) for r in preview["refused"]} == {
        (5, "person"),
        (6, "version_label"),
        (7, "completed_at"),
        (8, "completed_at"),
        (9, "completed_at"),
        (10, "item_code"),
    }
    reasons = {r["row"]: r["message"] for r in preview["refused"]}
    assert "unknown person" in reasons[5] and "before SOP-100 2.0 existed" in reasons[7]
    assert "duplicate of row 3" in reasons[8] and "future" in reasons[9]
    # Ann is trained on 2.0 (2.1 is minor): qualified after; Bob's 1.0 predates the major 2.0.
    assert preview["compliance"]["before"]["qualified"] == 0
    assert preview["compliance"]["after"]["qualified"] == 1
    assert preview["compliance"]["after"]["people"] == 3
    with db.read_sessions() as session:
        assert session.scalar(select(func.count()).select_from(Completion)) == 0
        assert session.scalar(select(func.count()).select_from(ImportBatch)) == 1  # the register's only

    # All rows or none by default; the refused rows are named.
    sign = {"username": "author", "password": TEST_PASSWORD}
    refused = upload(site, "/training/legacy-import", "author", content, form=sign, expect=400).json
    assert refused["error"] == "bad_import_rows" and len(refused["details"]["errors"]) == 6
    # Without the signature nothing is imported either.
    upload(site, "/training/legacy-import?skip_refused=true", "author", content, expect=400)
    done = upload(
        site, "/training/legacy-import?skip_refused=true", "author", content, form=sign, expect=200
    ).json
    assert (done["completions"], done["refused_count"], done["assignments_closed"]) == (3, 6, 1)
    assert done["compliance"]["after"]["qualified"] == 1
    with db.read_sessions() as session:
        completions = session.scalars(select(Completion).order_by(Completion.completed_at)).all()
        assert {c.method for c in completions} == {"migrated"}
        assert all(c.signature_id is None and c.evidence["migrated"] for c in completions)
        assert completions[-1].recorded_at == completions[-1].completed_at
        assert completions[-1].evidence["evidence_ref"] == "LMS-2"
        batch = session.get(ImportBatch, done["batch_id"])
        signature = session.get(ElectronicSignature, batch.signature_id)
        assert signature.username == "author" and batch.sha256 in signature.comment
        assert batch.sha256 == hashlib.sha256(content).hexdigest()
        audited = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "training.legacy_imported")
        ).all()
        assert len(audited) == 1 and audited[0].new_values["completions"] == 3
        closed = session.scalar(select(Assignment).where(Assignment.person_id == ids["E-1"]))
        assert closed.status == "completed" and closed.completion_id == completions[-1].id

        # As-of questions answered from the imported history (the trained-rule):
        def trained(person: str, day: str) -> bool:
            at = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)
            return asof.trained_on_document_as_of(session, ids[person], ids["item"], at)["trained"]

        assert trained("E-1", "2020-06-01")  # 1.0 in force, completed 1.0 in 2019
        assert not trained("E-1", "2022-03-15")  # 2.0 (major) in force, not yet trained on it
        assert trained("E-1", "2022-05-01") and trained("E-1", "2024-01-01")  # 2.0, then minor 2.1
        assert trained("E-2", "2021-01-01") and not trained("E-2", "2023-01-01")
    # The transcript shows the migrated completion, unsigned.
    transcript = site.get(f"/people/{ids['E-1']}/transcript")
    assert {r["status"] for r in transcript["requirements"]} == {"compliant"}
    now = site.get(f"/people/{ids['E-1']}/compliance?at={clock.now().isoformat().replace('+00:00', 'Z')}")
    assert now["qualified"] is True
    # Importing the same file again: every row is now a duplicate or refused.
    again = upload(site, "/training/legacy-import?preview=true", "author", content, expect=200).json
    assert again["would_create"] == 0

    # The day-0 cut-over: signed by QA, not by the importer (separation of duties).
    site.post("/cutovers", "author", {"username": "author", "password": TEST_PASSWORD}, expect=403)
    site.users_extra = None
    cut = site.post("/cutovers", "approver", site.sign("approver"), expect=201).json
    report = site.get(f"/reports/cutover/{cut['id']}?format=json")
    assert report["data"]["summary"]["qualified"] == 1 and report["data"]["summary"]["people"] == 3
    assert report["data"]["cutover"]["intact"] is True
    sources = {(r["person"], r["source"]) for r in report["data"]["rows"]}
    assert ("Ann Packer", "migrated") in sources
    assert report["signatures"] and "I approve this record" in report["signatures"][0]
    csv = site.call("GET", f"/reports/cutover/{cut['id']}?format=csv", "auditor", expect=200)
    assert b"Ann Packer" in csv.data
    pdf = site.call("GET", f"/reports/cutover/{cut['id']}?format=pdf", "auditor", expect=200)
    assert pdf.data.startswith(b"%PDF")


def test_legacy_training_xlsx_all_good(site, db):
    book = xlsx(
        [
            [
                "person",
                "item_code",
                "version_label",
                "completed_at",
                "source_system",
                "trainer",
                "evidence_ref",
            ],
            ["E-3", "SOP-100", "2.1", dt.datetime(2023, 7, 1), "OldLMS", "", "x"],
            ["E-2", "SOP-100", "2.0", "2022-05-05T10:00:00+02:00", "OldLMS", "", ""],
        ]
    )
    done = site.call(
        "POST",
        "/training/legacy-import?format=xlsx",
        "author",
        data={"file": (io.BytesIO(book), "history.xlsx"), "username": "author", "password": TEST_PASSWORD},
        content_type="multipart/form-data",
        expect=200,
    ).json
    assert (done["completions"], done["refused_count"]) == (2, 0)
    assert done["compliance"]["after"]["qualified"] == 2
    with db.read_sessions() as session:
        moments = sorted(session.scalars(select(Completion.completed_at)))
        assert moments[0] == dt.datetime(2022, 5, 5, 8, tzinfo=dt.UTC)
    book = xlsx(
        [["person", "item_code", "version_label", "completed_at"], ["E-1", "SOP-100", "2.1", "2023-08-01"]]
    )
    wrong = site.call(
        "POST",
        "/training/legacy-import?format=xlsx",
        "author",
        data={"file": (io.BytesIO(book), "history.xlsx"), "username": "author", "password": "wrong-password"},
        content_type="multipart/form-data",
        expect=401,
    ).json
    assert wrong["error"] == "wrong_password"


def test_console_imports(plant, runner, tmp_path, db):
    register = tmp_path / "register.csv"
    register.write_text(REGISTER)
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "sop-100-2.1.pdf").write_bytes(PDF)
    result = runner.invoke(
        args=["qms", "import-documents", str(register), "--files", str(tmp_path / "files")]
    )
    assert result.exit_code == 0, result.output
    assert '"versions": 4' in result.output
    plant.post(
        "/people/hire",
        "supervisor",
        {
            "display_name": "Dee",
            "employee_no": "E-4",
            "department_id": plant.unit("departments", "D"),
            "job_function_ids": [plant.unit("job-functions", "J")],
        },
        expect=201,
    )
    history = tmp_path / "history.csv"
    history.write_text(
        "person,item_code,version_label,completed_at\nE-4,SOP-200,A,2021-01-01\nE-5,SOP-200,A,2021-01-01\n"
    )
    preview = runner.invoke(args=["qms", "import-training", str(history), "--as", "author", "--preview"])
    assert preview.exit_code == 0 and '"would_create": 1' in preview.output
    refused = runner.invoke(
        args=["qms", "import-training", str(history), "--as", "author"], input=TEST_PASSWORD + "\n"
    )
    assert refused.exit_code == 1 and "unknown person 'E-5'" in refused.output
    done = runner.invoke(
        args=["qms", "import-training", str(history), "--as", "author", "--skip-refused"],
        input=TEST_PASSWORD + "\n",
    )
    assert done.exit_code == 0, done.output
    assert "1 / 1 completions written" in done.output and '"completions": 1' in done.output
    with db.read_sessions() as session:
        batch = session.scalar(select(ImportBatch).where(ImportBatch.kind == "legacy_training"))
        assert batch.imported_by == "author" and batch.signature_id is not None


def test_imported_moments_are_stored_as_recorded_ones(site, db):
    """The set-based write (COPY on PostgreSQL, pre-formatted values on SQLite) stores moments
    that compare like any completion's: equal to the moment, and counted as of that moment."""
    content = (
        b"person,item_code,version_label,completed_at,trainer,evidence_ref\n"
        b"E-1,SOP-100,2.0,2022-04-01T10:00:00Z,T. Rainer,LMS-1\n"
        b"E-2,SOP-100,2.0,2022-04-02T10:00:00.250000+02:00,,\n"
    )
    sign = {"username": "author", "password": TEST_PASSWORD}
    done = upload(site, "/training/legacy-import?source_system=Old", "author", content, form=sign, expect=200)
    assert done.json["completions"] == 2
    moments = {
        "E-1": dt.datetime(2022, 4, 1, 10, tzinfo=dt.UTC),
        "E-2": dt.datetime(2022, 4, 2, 8, 0, 0, 250000, tzinfo=dt.UTC),
    }
    with db.read_sessions() as session:
        for number, moment in moments.items():
            found = session.scalars(select(Completion).where(Completion.completed_at == moment)).all()
            assert [c.person_id for c in found] == [site.ids[number]]
            assert found[0].recorded_at == found[0].completed_at == moment
            assert session.scalar(
                select(func.count()).select_from(Completion).where(Completion.recorded_at >= moment)
            ) == (2 if number == "E-1" else 1)
            evidence = found[0].evidence
            assert evidence["migrated"] is True and evidence["batch"] == done.json["batch_id"]
            assert evidence["source_system"] == "Old" and evidence["row"] == (2 if number == "E-1" else 3)
        # Counted as of the very moment it was completed (2.0 in force since 2022-03-01).
        assert asof.trained_on_document_as_of(session, site.ids["E-1"], site.ids["item"], moments["E-1"])[
            "trained"
        ]
        assert not asof.trained_on_document_as_of(
            session, site.ids["E-1"], site.ids["item"], moments["E-1"] - dt.timedelta(microseconds=1)
        )["trained"]


def test_two_legacy_imports_at_once_run_one_after_the_other(site, db, uow_factory):
    """The second import waits for the first to commit, then finds its rows already recorded
    (without the wait both would write the same completions)."""
    import threading

    from bridge.core.accounts import UserAccount
    from bridge.core.errors import ValidationFailed
    from qms.onboarding import training_history

    content = b"person,item_code,version_label,completed_at\nE-1,SOP-100,2.0,2022-04-01\n"
    with db.read_sessions() as session:
        author = session.scalar(select(UserAccount).where(UserAccount.username == "author")).actor()

    def run(uow):
        return training_history.import_history(
            uow, content, file_format="csv", username="author", password=TEST_PASSWORD)

    first = uow_factory(author)
    assert run(first)["completions"] == 1  # written, not committed yet
    outcome: dict[str, object] = {}

    def second() -> None:
        with uow_factory(author) as uow:
            try:
                outcome["done"] = run(uow)
                uow.commit()
            except ValidationFailed as exc:
                outcome["refused"] = exc

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(timeout=2)  # a real wait on the other transaction: it is still blocked
    assert thread.is_alive() and not outcome
    first.commit()
    first.close()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert "refused" in outcome, outcome  # the row is now a duplicate of the first import's
    with db.read_sessions() as session:
        assert session.scalar(select(func.count()).select_from(Completion)) == 1
