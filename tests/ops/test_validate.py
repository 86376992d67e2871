"""``gxpbridge validate``: IQ on both databases; OQ on a small requirement file and test tree,
with a deliberate gap; the signed record, its audit rows and the PDF."""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from bridge import migrate
from bridge.core import audit, signatures
from bridge.validate import ValidationRun, build_info, load_requirements, trace
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.requirement("URS-VAL-01", "URS-VAL-02")

SAMPLE_TESTS = '''
import pytest


def test_signature_meaning_is_recorded():
    assert 1 + 1 == 2


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_audit_row_is_chained(backend):
    assert backend


def test_known_failure():
    assert False, "deliberately failing"
'''


def sample_tree(tmp_path: Path, *, with_gap: bool) -> tuple[Path, Path]:
    """A released-style source tree: tests/ and docs/validation/requirements.yaml."""
    root = tmp_path / "oq-source"
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "__init__.py").write_text("")
    (root / "tests" / "test_sample.py").write_text(SAMPLE_TESTS)
    reqs = {
        "title": "Sample requirements", "version": "1",
        "clauses_in_scope": ["21 CFR 11.50", "21 CFR 11.10(e)"],
        "requirements": [
            {"id": "URS-1", "title": "Signatures show their meaning", "clauses": ["21 CFR 11.50"],
             "tests": ["tests/test_sample.py::test_signature_meaning_is_recorded"]},
            {"id": "URS-2", "title": "Audit rows are chained", "clauses": ["21 CFR 11.10(e)"],
             "tests": ["tests/test_sample.py::test_audit_row_is_chained"]},
            {"id": "URS-3", "title": "Personnel are trained", "clauses": ["EU Annex 11 §2"],
             "procedural": "site training SOP, verified in PQ"},
        ],
    }
    if with_gap:
        reqs["requirements"].append(
            {"id": "URS-4", "title": "A requirement whose test was never written",
             "clauses": ["21 CFR 11.50"],
             "tests": ["tests/test_sample.py::test_does_not_exist"]})
        reqs["requirements"].append(
            {"id": "URS-5", "title": "A requirement whose test fails", "clauses": ["21 CFR 11.10(e)"],
             "tests": ["tests/test_sample.py::test_known_failure"]})
    docs = root / "docs" / "validation"
    docs.mkdir(parents=True)
    import yaml

    (docs / "requirements.yaml").write_text(yaml.safe_dump(reqs, sort_keys=False))
    return root / "tests", docs / "requirements.yaml"


def test_iq_passes_on_a_migrated_database(runner, make_user):
    make_user("qa.lead", "qa_approver")  # a few audit rows to verify
    result = runner.invoke(args=["validate", "iq", "--verbose"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "[PASS] database schema: at head" in out
    assert "[PASS] audit trail: hash chain intact" in out
    assert "[PASS] dependencies" in out
    assert "secret_key  <redacted>" in out
    assert "ops-test-secret-key" not in out  # the secret itself never appears
    assert "IQ PASS" in out


def test_iq_fails_when_the_schema_is_not_at_head(runner, db):
    migrate.downgrade(db.engine, "validate@base")
    result = runner.invoke(args=["validate", "iq"])
    assert result.exit_code == 1
    assert "[FAIL] database schema: not at head" in result.output
    assert "IQ FAIL" in result.output
    migrate.upgrade(db.engine)


def test_build_info_file_gives_version_and_build_hash(tmp_path):
    info_file = tmp_path / "build_info.json"
    assert build_info(info_file)["build_hash"] == "unrecorded"
    info_file.write_text(json.dumps({"version": "9.9.9", "commit": "abc123",
                                     "built_at": "2026-12-03T10:00:00+00:00", "source_sha256": "f" * 64}))
    info = build_info(info_file)
    assert info["version"] == "9.9.9" and info["build_hash"] == "f" * 64 and info["commit"] == "abc123"


def test_oq_gap_and_failure_exit_nonzero_and_the_signed_record_is_stored(runner, make_user, db, tmp_path,
                                                                          monkeypatch):
    monkeypatch.delenv("TEST_DATABASE_URL", raising=False)
    make_user("qa.lead", "qa_approver", name="Quinn Lead")
    tests_dir, _ = sample_tree(tmp_path, with_gap=True)
    out_dir = tmp_path / "evidence"
    result = runner.invoke(args=["validate", "run", "--username", "qa.lead", "--password-stdin",
                                 "--meaning", "reviewed", "--tests", str(tests_dir),
                                 "--output", str(out_dir)], input=TEST_PASSWORD + "\n")
    assert result.exit_code == 1, result.output
    out = result.output
    assert "[ok  ] URS-1" in out and "[ok  ] URS-2" in out and "[PQ  ] URS-3" in out
    assert "[GAP ] URS-4" in out and "test_does_not_exist: not found" in out
    assert "[FAILED] URS-5" in out
    assert "RESULT FAIL" in out and "2 gaps" in out

    with db.read_sessions() as session:
        run = session.scalars(select(ValidationRun)).one()
        signature = session.get(signatures.ElectronicSignature, run.signature_id)
        assert (run.result, run.oq_result) == ("fail", "fail")
        assert (run.requirements_total, run.requirements_gaps) == (5, 2)
        assert signature.username == "qa.lead" and signature.meaning == "reviewed"
        assert signature.record_type == "validation_run" and signature.record_id == run.evidence_sha256
        assert [e.action for e in audit.history(session, "validation_run", run.id)] == [
            "create", "validation_run.signed"]
        assert audit.verify_chain(session).ok
        pdf_bytes = run.report_pdf

    pdfs = list(out_dir.glob("validation-run-*.pdf"))
    htmls = list(out_dir.glob("validation-run-*.html"))
    assert len(pdfs) == 1 and len(htmls) == 1
    assert pdfs[0].read_bytes() == pdf_bytes
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf_bytes)).pages)
    for expected in ("URS-4", "not found", "Quinn Lead", "I have reviewed this record", "IQ"):
        assert expected in text
    page = htmls[0].read_text()
    assert 'class="gap"' in page and "test_known_failure — failed" in page

    listed = runner.invoke(args=["validate", "list"])
    assert listed.exit_code == 0 and "fail\t2 gaps\tQuinn Lead" in listed.output
    copy = tmp_path / "copy.pdf"
    report = runner.invoke(args=["validate", "report", str(run.id), str(copy)])
    assert report.exit_code == 0, report.output
    assert copy.read_bytes() == pdf_bytes


def test_oq_without_gaps_passes(runner, make_user, db, tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_DATABASE_URL", raising=False)
    make_user("qa.lead", "qa_approver")
    tests_dir, requirements = sample_tree(tmp_path, with_gap=False)
    result = runner.invoke(args=["validate", "run", "--username", "qa.lead", "--password-stdin",
                                 "--tests", str(tests_dir), "--requirements", str(requirements),
                                 "--output", str(tmp_path / "out")], input=TEST_PASSWORD + "\n")
    assert "RESULT" in result.output, result.output
    # The IQ of a development checkout warns (no build-info file) but does not fail.
    assert "RESULT PASS" in result.output and result.exit_code == 0, result.output


def test_wrong_password_or_role_signs_nothing(runner, make_user, db, tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_DATABASE_URL", raising=False)
    make_user("op", "learner")
    make_user("qa.lead", "qa_approver")
    tests_dir, _ = sample_tree(tmp_path, with_gap=False)
    refused = runner.invoke(args=["validate", "run", "--username", "op", "--password-stdin",
                                  "--tests", str(tests_dir)], input=TEST_PASSWORD + "\n")
    assert refused.exit_code == 1 and "role" in refused.output
    wrong = runner.invoke(args=["validate", "run", "--username", "qa.lead", "--password-stdin",
                                "--tests", str(tests_dir), "--output", str(tmp_path / "o")],
                          input="not-the-password\n")
    assert wrong.exit_code == 1
    with db.read_sessions() as session:
        assert session.scalars(select(ValidationRun)).all() == []


def test_trace_counts_parametrised_variants_and_skips():
    reqs_file = Path(__file__).resolve().parents[2] / "docs" / "validation" / "requirements.yaml"
    reqs = load_requirements(reqs_file)
    assert reqs.requirements, "the shipped requirements file lists requirements"
    one = reqs.requirements[0]
    outcomes = {f"{one.tests[0]}[sqlite]": {"outcome": "passed"},
                f"{one.tests[0]}[postgresql]": {"outcome": "skipped"}}
    reqs.requirements = [one.__class__(id=one.id, title=one.title, clauses=one.clauses, tests=one.tests[:1])]
    rows = trace(reqs, outcomes)
    assert rows[0]["status"] == "verified"
    assert rows[0]["tests"][0]["variants"] == "[postgresql] skipped, [sqlite] passed"
    outcomes[f"{one.tests[0]}[sqlite]"] = {"outcome": "skipped"}
    assert trace(reqs, outcomes)[0]["status"] == "gap"


def test_shipped_requirements_cover_every_part11_and_annex11_clause():
    reqs_file = Path(__file__).resolve().parents[2] / "docs" / "validation" / "requirements.yaml"
    reqs = load_requirements(reqs_file)
    covered = {c for r in reqs.requirements for c in r.clauses}
    part11 = [f"21 CFR 11.10({x})" for x in "abcdefghijk"] + [
        "21 CFR 11.50", "21 CFR 11.70", "21 CFR 11.100", "21 CFR 11.200", "21 CFR 11.300"]
    for clause in part11:
        assert clause in reqs.clauses_in_scope and clause in covered, clause
    assert sum(c.startswith("EU Annex 11") for c in reqs.clauses_in_scope) >= 17
    assert set(reqs.clauses_in_scope) <= covered
    root = reqs_file.parents[2]
    for req in reqs.requirements:
        assert req.tests or req.procedural, req.id
        for ref in req.tests:
            path, _, name = ref.partition("::")
            assert (root / path).is_file(), ref
            assert f"def {name.split('[')[0]}(" in (root / path).read_text(), ref


def test_requirement_marker_is_registered(pytestconfig):
    assert any(m.startswith("requirement") for m in pytestconfig.getini("markers"))


def test_sample_tree_is_valid_yaml(tmp_path):
    _, requirements = sample_tree(tmp_path, with_gap=True)
    assert len(load_requirements(requirements).requirements) == 5
    assert textwrap.dedent(SAMPLE_TESTS).count("def test_") == 3


def test_oq_fails_when_the_tests_exercise_a_source_tree_instead_of_the_installed_copy(
        runner, make_user, db, tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_DATABASE_URL", raising=False)
    make_user("qa.lead", "qa_approver")
    tests_dir, _ = sample_tree(tmp_path, with_gap=False)
    # A full source tree beside the tests: its qms package would shadow the installed one.
    (tests_dir.parent / "qms").mkdir()
    (tests_dir.parent / "qms" / "__init__.py").write_text("")
    sample = tests_dir / "test_sample.py"
    sample.write_text("import qms  # noqa: F401\n" + sample.read_text())
    result = runner.invoke(args=["validate", "run", "--username", "qa.lead", "--password-stdin",
                                 "--tests", str(tests_dir), "--output", str(tmp_path / "out")],
                           input=TEST_PASSWORD + "\n")
    assert result.exit_code == 1, result.output
    assert "the OQ tests imported qms from" in result.output
    assert "RESULT FAIL: IQ pass, OQ fail" in result.output
