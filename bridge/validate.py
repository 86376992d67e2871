"""``gxpbridge validate``: installation (IQ) and operational (OQ) qualification evidence.

IQ checks the installed copy where it runs: version and build hash (from the build-info file
written when the package was built, or the package metadata; never from a git checkout), the
installed files against the wheel's RECORD, every dependency and its version, the
configuration (secrets redacted), the database schema at the head of every migration branch,
the keys, and the audit chain.

OQ runs the tests that the user requirements (``docs/validation/requirements.yaml``) link to,
from a test tree named with ``--tests`` (the released source tree's ``tests/``; by default the
checkout's ``tests/`` beside the installed package when there is one). The tests run in a
separate pytest process on scratch databases of their own (SQLite files; PostgreSQL databases
they create and drop on the server named with ``--oq-database-url``), never on the configured
database. The outcome is a traceability matrix requirement → tests → result; a requirement
without a passing test is a gap and the command exits 1.

The evidence (IQ, OQ, environment, executor) is signed with the executor's electronic
signature (user name and password re-entered, §11.200) and stored as a ``validation_run``
record holding the SHA-256 of the evidence and of both reports (HTML and PDF) and the PDF
itself, with its audit trail.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import importlib
import importlib.metadata as metadata
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import ForeignKey, Integer, LargeBinary, String, inspect, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from bridge import migrate
from bridge.core import accounts, audit, signatures
from bridge.core.cli import command_errors, in_command_unit_of_work
from bridge.core.db import Base, UTCDateTime
from bridge.core.errors import ValidationFailed
from bridge.core.uow import UnitOfWork
from bridge.core.web import database, settings

DISTRIBUTION = "gxpbridge"
BUILD_INFO_FILE = Path(__file__).resolve().parent / "build_info.json"
# Where a development checkout keeps its tests and requirements, beside the installed package.
CHECKOUT_ROOT = Path(__file__).resolve().parent.parent
SIGNING_MEANINGS = ("approved", "reviewed", "authored")
EXECUTOR_ROLES = ("administrator", "qa_approver")
RECORD_TYPE = "validation_run"


class ValidationRun(Base):
    """One signed IQ/OQ execution and its evidence report. Never updated, never deleted."""

    __tablename__ = "validation_run"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    executed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    executor_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), nullable=False)
    software_version: Mapped[str] = mapped_column(String(64), nullable=False)
    build_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    result: Mapped[str] = mapped_column(String(16), nullable=False)
    iq_result: Mapped[str] = mapped_column(String(16), nullable=False)
    oq_result: Mapped[str] = mapped_column(String(16), nullable=False)
    requirements_total: Mapped[int] = mapped_column(Integer, nullable=False)
    requirements_gaps: Mapped[int] = mapped_column(Integer, nullable=False)
    evidence_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    report_html_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    report_pdf_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    report_pdf: Mapped[bytes] = mapped_column(LargeBinary, nullable=False, deferred=True)
    signature_id: Mapped[int] = mapped_column(ForeignKey("electronic_signature.id"), nullable=False,
                                              unique=True)


# -- IQ ---------------------------------------------------------------------------------------

@dataclass
class Check:
    """One IQ check: ``pass``, ``warn`` (recorded, not failing) or ``fail``."""

    name: str
    status: str
    detail: str
    items: list[list[str]] = field(default_factory=list)


def build_info(path: Path | None = None) -> dict[str, str]:
    """The installed version and build hash.

    Read from the build-info file ``bridge/build_info.json`` that ``deploy/write_build_info.py``
    writes into the source tree before the wheel is built (the container build does); without
    it, from the package metadata, with the build hash ``unrecorded``.
    """
    path = path or BUILD_INFO_FILE
    version = _installed_version()
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        return {"version": str(data.get("version") or version),
                "build_hash": str(data.get("source_sha256") or data.get("commit") or "unrecorded"),
                "commit": str(data.get("commit") or ""), "built_at": str(data.get("built_at") or ""),
                "source": f"build-info file {path.name}"}
    return {"version": version, "build_hash": "unrecorded", "commit": "", "built_at": "",
            "source": "package metadata (no build-info file: a development install)"}


def _installed_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "not installed"


def check_build(path: Path | None = None) -> Check:
    """Version and build hash; a copy without a build-info file is a development install."""
    info = build_info(path)
    items = [[key, value] for key, value in info.items() if value]
    status = "pass" if info["build_hash"] != "unrecorded" else "warn"
    return Check("software version and build", status,
                 f"gxpbridge {info['version']}, build {info['build_hash'][:16]} ({info['source']})", items)


def check_installed_files() -> Check:
    """Every file the wheel installed still has the SHA-256 its RECORD lists."""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return Check("installed files", "fail", "the gxpbridge distribution is not installed")
    checked, changed = 0, []
    for entry in dist.files or []:
        if entry.hash is None or entry.hash.mode != "sha256":
            continue
        located = Path(str(entry.locate()))
        try:
            digest = hashlib.sha256(located.read_bytes()).digest()
        except OSError:
            changed.append(f"{entry} (missing)")
            continue
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != entry.hash.value:
            changed.append(str(entry))
        checked += 1
    editable = any(str(f).endswith(".pth") for f in dist.files or []) and checked < 20
    if changed:
        return Check("installed files", "fail", f"{len(changed)} of {checked} installed files differ "
                     "from the wheel's RECORD", [[name, "changed"] for name in changed[:50]])
    detail = f"{checked} installed files match the SHA-256 in the wheel's RECORD"
    if editable:
        return Check("installed files", "warn", detail + " (editable development install: the "
                     "source files are not under RECORD)")
    return Check("installed files", "pass", detail)


def check_dependencies() -> Check:
    """Each runtime dependency is installed at a version the package accepts."""
    from packaging.requirements import Requirement

    try:
        requires = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return Check("dependencies", "fail", "the gxpbridge distribution is not installed")
    items, bad = [], 0
    for line in requires:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        try:
            installed = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            installed, ok = "missing", False
        else:
            ok = req.specifier.contains(installed, prereleases=True)
        bad += not ok
        items.append([req.name, installed, str(req.specifier) or "any", "ok" if ok else "NOT SATISFIED"])
    items.sort(key=lambda row: row[0].lower())
    if bad:
        return Check("dependencies", "fail", f"{bad} of {len(items)} dependencies missing or at a "
                     "version outside the accepted range", items)
    return Check("dependencies", "pass", f"{len(items)} dependencies installed at accepted versions", items)


def redacted_configuration() -> dict[str, str]:
    """The effective settings with the secret key and database password redacted."""
    from sqlalchemy.engine import make_url

    values = settings().model_dump()
    shown: dict[str, str] = {}
    for key, value in sorted(values.items()):
        if key == "secret_key":
            shown[key] = audit.REDACTED if value else "(not set)"
        elif key == "database_url":
            url = make_url(settings().resolved_database_url())
            shown[key] = url.render_as_string(hide_password=True)
        elif key == "database_replica_url" and value:
            shown[key] = make_url(value).render_as_string(hide_password=True)
        else:
            shown[key] = str(value)
    return shown


def check_configuration() -> Check:
    """The configuration, recorded with its secrets redacted."""
    config = redacted_configuration()
    status = "pass"
    detail = f"{len(config)} settings recorded (secrets redacted)"
    if config.get("testing") == "True":
        status, detail = "warn", detail + "; testing mode is on (not for production)"
    return Check("configuration", status, detail, [[key, value] for key, value in config.items()])


def check_schema() -> Check:
    """The database is at the head of every migration branch."""
    from alembic.script import ScriptDirectory

    engine = database().engine
    script = ScriptDirectory.from_config(migrate.alembic_config(engine))
    heads = set(script.get_heads())
    current = migrate.current(engine)
    unknown = {rev for rev in current if not _known(script, rev)}
    applied = _with_ancestors(script, current - unknown)
    items = [[head, "applied" if head in applied else "MISSING"] for head in sorted(heads)]
    items += [[rev, "unknown to this version"] for rev in sorted(unknown)]
    url = engine.url.render_as_string(hide_password=True)
    with engine.connect() as conn:
        server = conn.execute(text("select sqlite_version()" if engine.dialect.name == "sqlite"
                                   else "show server_version")).scalar_one()
    where = f"{engine.dialect.name} {server} at {url}"
    if heads <= applied and not unknown:
        return Check("database schema", "pass", f"at head ({len(heads)} branch heads) on {where}", items)
    return Check("database schema", "fail", f"not at head on {where}: run gxpbridge db upgrade", items)


def _known(script: Any, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except Exception:  # alembic raises several kinds for an unknown revision
        return False


def _with_ancestors(script: Any, revisions: set[str]) -> set[str]:
    """``revisions`` and every revision they follow or depend on (Alembic keeps only the tips)."""
    seen: set[str] = set()
    todo = list(revisions)
    while todo:
        rev = script.get_revision(todo.pop())
        if rev is None or rev.revision in seen:
            continue
        seen.add(rev.revision)
        for attr in (rev.down_revision, rev.dependencies):
            todo.extend([attr] if isinstance(attr, str) else list(attr or ()))
    return seen


def check_keys(session: Session) -> Check:
    """The session-signing key and the LTI tool's signing key."""
    items: list[list[str]] = []
    problems: list[str] = []
    warnings: list[str] = []
    secret = settings().resolved_secret_key()
    source = "environment" if os.environ.get("GXPBRIDGE_SECRET_KEY") else "instance file"
    if len(secret) < 32 or secret.startswith("change-me"):
        problems.append("the secret key is shorter than 32 characters or still the example value")
    items.append(["session signing key", f"present ({len(secret)} characters, from the {source})"])
    tables = set(inspect(session.get_bind()).get_table_names())
    if "lti_tool_key" in tables:
        active = session.execute(
            text("select count(*) from lti_tool_key where retired_at is null")).scalar_one()
        items.append(["LTI tool signing keys (active)", str(active)])
        if active == 0:
            warnings.append("no active LTI tool key yet (one is generated at the first LTI use, "
                            "or with gxpbridge lti keys rotate)")
    if problems:
        return Check("keys", "fail", "; ".join(problems), items)
    if warnings:
        return Check("keys", "warn", "; ".join(warnings), items)
    return Check("keys", "pass", "keys present", items)


def check_audit_chain(session: Session) -> Check:
    """The audit trail's hash chain verifies end to end."""
    report = audit.verify_chain(session)
    if report.ok:
        return Check("audit trail", "pass", f"hash chain intact: {report.count} rows verified")
    return Check("audit trail", "fail", f"chain broken at row {report.first_bad_seq}: {report.problem}")


def installation_qualification(build_info_path: Path | None = None) -> list[Check]:
    """Run every IQ check against this installed copy and its configured database."""
    checks = [check_build(build_info_path), check_installed_files(), check_dependencies(),
              check_configuration(), check_schema()]
    with database().read_sessions() as session:
        checks.append(check_keys(session))
        checks.append(check_audit_chain(session))
    return checks


def overall(statuses: list[str]) -> str:
    """``fail`` if any failed, else ``pass``."""
    return "fail" if "fail" in statuses else "pass"


# -- OQ ---------------------------------------------------------------------------------------

@dataclass
class Requirement:
    """A user requirement and the tests (pytest node ids) that verify it."""

    id: str
    title: str
    clauses: list[str]
    tests: list[str]
    procedural: str = ""


@dataclass
class RequirementSet:
    """A requirements file: the clauses it must cover and its requirements."""

    title: str
    version: str
    clauses_in_scope: list[str]
    requirements: list[Requirement]


def load_requirements(path: Path) -> RequirementSet:
    """Read and check a requirements file (see ``docs/validation/requirements.yaml``)."""
    import yaml  # only when validating

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("requirements"), list):
        raise ValidationFailed(f"{path}: expected a mapping with a 'requirements' list", field="requirements")
    seen: set[str] = set()
    reqs = []
    for raw in data["requirements"]:
        req = Requirement(id=str(raw["id"]), title=str(raw.get("title", "")),
                          clauses=[str(c) for c in raw.get("clauses", [])],
                          tests=[str(t) for t in raw.get("tests", []) or []],
                          procedural=str(raw.get("procedural", "") or ""))
        if req.id in seen:
            raise ValidationFailed(f"{path}: requirement {req.id} is listed twice", field="requirements")
        seen.add(req.id)
        reqs.append(req)
    return RequirementSet(title=str(data.get("title", "User requirements")),
                          version=str(data.get("version", "")),
                          clauses_in_scope=[str(c) for c in data.get("clauses_in_scope", [])],
                          requirements=reqs)


def run_linked_tests(tests_dir: Path, node_ids: list[str], *, oq_database_url: str | None,
                     workers: int = 1, timeout: int = 3600) -> dict[str, Any]:
    """Run the linked tests in a pytest process of their own; return its outcomes.

    ``node_ids`` are relative to the parent of ``tests_dir`` (``tests/core/test_audit.py::…``).
    Test files that do not exist are left out (their tests then show as not found).
    """
    root = tests_dir.resolve().parent
    files = sorted({nid.split("::", 1)[0] for nid in node_ids})
    present = [f for f in files if (root / f).is_file()]
    if not present:
        return {"exitstatus": None, "tests": {}, "command": "", "output": "no linked test file exists"}
    with tempfile.TemporaryDirectory(prefix="gxpbridge-oq-") as scratch:
        select_file = Path(scratch) / "select.json"
        results_file = Path(scratch) / "results.json"
        select_file.write_text(json.dumps(sorted(node_ids)), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("GXPBRIDGE_")}
        env.update(GXPBRIDGE_OQ_SELECT=str(select_file), GXPBRIDGE_OQ_RESULTS=str(results_file))
        if oq_database_url:
            env["TEST_DATABASE_URL"] = oq_database_url
        # -P: the working directory (the test tree's root) must not shadow the installed packages.
        command = [sys.executable, "-P", "-m", "pytest", "-p", "bridge.validate_pytest",
                   "-p", "no:cacheprovider", "-o", "addopts=", "--rootdir", str(root), "-q", "--tb=line",
                   "--basetemp", str(Path(scratch) / "tmp")]
        if workers > 1:
            command += ["-n", str(workers)]
        command += present
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True,  # noqa: S603
                              timeout=timeout, check=False)
        results = (json.loads(results_file.read_text(encoding="utf-8")) if results_file.exists()
                   else {"exitstatus": done.returncode, "tests": {}})
        # Where each pytest process (parallel workers too) imported the application from.
        tested: dict[str, list[str]] = {}
        for found in sorted(Path(scratch).glob("results.json.packages-*")):
            for name, where in json.loads(found.read_text(encoding="utf-8")).items():
                if where and where not in tested.setdefault(name, []):
                    tested[name].append(where)
        results["tested_packages"] = tested
    results["command"] = " ".join(["pytest", *command[4:]])
    results["output"] = (done.stdout + done.stderr)[-4000:]
    return results


def trace(reqs: RequirementSet, outcomes: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The traceability matrix: each requirement, its tests and their results, its status.

    A linked test id without parameters covers all its parametrised variants: it passed
    only if each ran and passed. A requirement is ``verified`` when every linked test
    passed, ``failed`` when one failed, ``procedural`` when it is verified by the site's
    procedures (PQ) rather than by a test, and otherwise a ``gap``.
    """
    rows = []
    for req in reqs.requirements:
        tests = []
        for ref in req.tests:
            matched = {nid: o for nid, o in outcomes.items() if nid == ref or nid.split("[", 1)[0] == ref}
            kinds = {o["outcome"] for o in matched.values()}
            if not matched:
                result = "not found"
            elif "failed" in kinds:
                result = "failed"
            elif kinds == {"passed"}:
                result = "passed"
            elif "passed" in kinds:
                result = "passed"  # some variants skipped (e.g. PostgreSQL not configured)
            else:
                result = "skipped"
            variants = ", ".join(f"{nid[len(ref):] or 'run'} {o['outcome']}"
                                 for nid, o in sorted(matched.items()))
            tests.append({"test": ref, "result": result, "variants": variants})
        results = {t["result"] for t in tests}
        if not req.tests and req.procedural:
            status = "procedural"
        elif "failed" in results:
            status = "failed"
        elif tests and results == {"passed"}:
            status = "verified"
        else:
            status = "gap"
        rows.append({"id": req.id, "title": req.title, "clauses": req.clauses, "tests": tests,
                     "procedural": req.procedural, "status": status})
    return rows


def clause_coverage(reqs: RequirementSet, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each clause in scope with the requirements that cover it; an uncovered clause is a gap."""
    status_of = {row["id"]: row["status"] for row in rows}
    coverage = []
    for clause in reqs.clauses_in_scope:
        ids = [r.id for r in reqs.requirements if clause in r.clauses]
        statuses = {status_of[i] for i in ids}
        if not ids:
            status = "gap"
        elif statuses <= {"verified", "procedural"}:
            status = "covered"
        else:
            status = "gap"
        coverage.append({"clause": clause, "requirements": ids, "status": status})
    return coverage


# -- evidence and reports -----------------------------------------------------------------------

def environment() -> dict[str, str]:
    """Where the run executed."""
    return {
        "host": platform.node(),
        "operating system": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        "application package": str(Path(__file__).resolve().parent),
        "instance path": str(settings().instance_path),
        "working directory": str(Path.cwd()),
    }


def evidence_sha256(evidence: dict[str, Any]) -> str:
    """SHA-256 of the evidence's canonical JSON: what the executor's signature binds to."""
    return signatures.content_hash(evidence)


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;font-size:13px;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #999;padding:3px 6px;text-align:left;vertical-align:top}}
.pass,.verified,.passed,.covered{{color:#060}}.fail,.failed,.gap{{color:#a00;font-weight:bold}}
.warn,.procedural,.skipped{{color:#850}}</style></head><body>
<h1>{title}</h1>
<p><b>Result: <span class="{result}">{result_upper}</span></b> — IQ {iq}, OQ {oq};
{total} requirements, {gaps} gaps, {clause_gaps} clauses not covered.
Evidence SHA-256 <code>{evidence_hash}</code>.</p>
<h2>Executor and signature</h2>{signature}
<h2>Environment</h2>{environment}
<h2>Installation qualification (IQ)</h2>{iq_table}
<h2>Operational qualification (OQ): traceability matrix</h2>
<p>Requirements: {req_title} {req_version} ({req_file}); test tree: {tests_dir};
command: <code>{command}</code>; the tests exercised the package at {tested_package}.</p>{matrix}
<h2>Clauses in scope</h2>{clauses}
{details}
</body></html>
"""


def _table(head: list[str], rows: list[list[str]], status_col: int | None = None) -> str:
    out = ["<table><tr>", *(f"<th>{html.escape(h)}</th>" for h in head), "</tr>"]
    for row in rows:
        out.append("<tr>")
        for i, cell in enumerate(row):
            cls = f' class="{html.escape(str(cell))}"' if i == status_col else ""
            out.append(f"<td{cls}>{html.escape(str(cell)).replace(chr(10), '<br>')}</td>")
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def _matrix_rows(evidence: dict[str, Any]) -> list[list[str]]:
    rows = []
    for row in evidence["oq"]["matrix"]:
        tests = "\n".join(f"{t['test']} — {t['result']}" + (f" ({t['variants']})" if t["variants"] else "")
                          for t in row["tests"]) or (f"procedural: {row['procedural']}"
                                                      if row["procedural"] else "(no test linked)")
        rows.append([row["id"], row["title"], ", ".join(row["clauses"]), tests, row["status"]])
    return rows


def render_html(evidence: dict[str, Any], signature_lines: list[list[str]]) -> str:
    """The evidence report as one HTML page."""
    iq_rows = [[c["name"], c["status"], c["detail"]] for c in evidence["iq"]["checks"]]
    details = []
    for c in evidence["iq"]["checks"]:
        if c["items"]:
            details.append(f"<h3>IQ: {html.escape(c['name'])}</h3>"
                           + _table([""] * len(c["items"][0]), c["items"]))
    clauses = [[c["clause"], ", ".join(c["requirements"]) or "—", c["status"]]
               for c in evidence["oq"]["clauses"]]
    oq = evidence["oq"]
    return _HTML.format(
        title=html.escape(evidence["title"]), result=evidence["result"],
        result_upper=evidence["result"].upper(),
        iq=evidence["iq"]["result"], oq=oq["result"], total=oq["requirements_total"], gaps=oq["gaps"],
        clause_gaps=oq["clause_gaps"],
        evidence_hash=evidence_sha256(evidence),
        signature=_table(["", ""], signature_lines),
        environment=_table(["", ""], [[k, v] for k, v in evidence["environment"].items()]),
        iq_table=_table(["check", "status", "detail"], iq_rows, 1),
        req_title=html.escape(oq["requirements_title"]), req_version=html.escape(oq["requirements_version"]),
        req_file=html.escape(oq["requirements_file"]), tests_dir=html.escape(oq["tests_dir"]),
        command=html.escape(oq["command"]), tested_package=html.escape(oq.get("tested_package") or "?"),
        matrix=_table(["requirement", "title", "clauses", "tests → result", "status"],
                      _matrix_rows(evidence), 4),
        clauses=_table(["clause", "requirements", "status"], clauses, 2),
        details="".join(details),
    )


def render_pdf(evidence: dict[str, Any], signature_lines: list[list[str]]) -> bytes:
    """The evidence report as a PDF (reportlab): same content as the HTML, page n of m."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=7.5, leading=9)
    buffer = io.BytesIO()
    title = evidence["title"]

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.drawString(15 * mm, 8 * mm, f"{title} — evidence SHA-256 {evidence_sha256(evidence)}")
        canvas.drawRightString(landscape(A4)[0] - 15 * mm, 8 * mm, f"page {doc.page}")
        canvas.restoreState()

    def para(value: Any) -> Paragraph:
        return Paragraph(html.escape(str(value)).replace("\n", "<br/>"), small)

    def table(head: list[str], rows: list[list[Any]], widths: list[float]) -> Table:
        data = [[para(h) for h in head]] + [[para(c) for c in row] for row in rows]
        tbl = Table(data, colWidths=[w * mm for w in widths], repeatRows=1)
        tbl.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                                 ("BACKGROUND", (0, 0), (-1, 0), colors.lightgrey),
                                 ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        return tbl

    oq = evidence["oq"]
    story: list[Any] = [
        Paragraph(html.escape(title), styles["Title"]),
        Paragraph(f"<b>Result: {evidence['result'].upper()}</b> — IQ {evidence['iq']['result']}, "
                  f"OQ {oq['result']}; {oq['requirements_total']} requirements, {oq['gaps']} gaps, "
                  f"{oq['clause_gaps']} clauses not covered.",
                  styles["BodyText"]),
        Spacer(1, 4 * mm), Paragraph("Executor and electronic signature", styles["Heading2"]),
        table(["", ""], signature_lines, [60, 200]),
        Paragraph("Environment", styles["Heading2"]),
        table(["", ""], [[k, v] for k, v in evidence["environment"].items()], [60, 200]),
        Paragraph("Installation qualification (IQ)", styles["Heading2"]),
        table(["check", "status", "detail"],
              [[c["name"], c["status"], c["detail"]] for c in evidence["iq"]["checks"]], [50, 20, 190]),
        Paragraph("Operational qualification (OQ): traceability matrix", styles["Heading2"]),
        Paragraph(html.escape(f"Requirements: {oq['requirements_title']} {oq['requirements_version']} "
                              f"({oq['requirements_file']}); test tree {oq['tests_dir']}; the tests "
                              f"exercised the package at {oq.get('tested_package') or '?'}"), small),
        table(["requirement", "title", "clauses", "tests → result", "status"], _matrix_rows(evidence),
              [22, 55, 28, 135, 20]),
        Paragraph("Clauses in scope", styles["Heading2"]),
        table(["clause", "requirements", "status"],
              [[c["clause"], ", ".join(c["requirements"]) or "—", c["status"]] for c in oq["clauses"]],
              [60, 160, 40]),
    ]
    for c in evidence["iq"]["checks"]:
        if c["items"]:
            width = 260 / len(c["items"][0])
            story += [Paragraph(f"IQ detail: {html.escape(c['name'])}", styles["Heading3"]),
                      table([""] * len(c["items"][0]), c["items"], [width] * len(c["items"][0]))]
    doc = SimpleDocTemplate(buffer, pagesize=landscape(A4), title=title, author="GxP Bridge",
                            leftMargin=15 * mm, rightMargin=15 * mm, topMargin=12 * mm, bottomMargin=14 * mm)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


def signature_lines(signature: signatures.ElectronicSignature, evidence_hash: str) -> list[list[str]]:
    """The signature manifestation printed in the report (§11.50)."""
    return [
        ["executed and signed by", f"{signature.printed_name} ({signature.username})"],
        ["meaning", signature.meaning_text],
        ["signed at", signature.signed_at.strftime("%Y-%m-%d %H:%M:%S UTC")],
        ["manifestation", signature.manifestation()],
        ["signature id", f"electronic signature {signature.id} "
                         "(stored with this report as a validation_run record)"],
        ["signature binds to", f"evidence SHA-256 {evidence_hash}"],
    ]


# -- commands ----------------------------------------------------------------------------------

@click.group("validate")
def validate_group() -> None:
    """IQ/OQ validation evidence: installation checks, the linked test suite, a signed report."""


def _print_iq(checks: list[Check]) -> None:
    for check in checks:
        click.echo(f"  [{check.status.upper():4}] {check.name}: {check.detail}")


@validate_group.command("iq")
@click.option("--verbose", "-v", is_flag=True, help="also print each check's details")
@with_appcontext
@command_errors
def validate_iq(verbose: bool) -> None:
    """Print the installation qualification of this copy; exit 1 if a check fails."""
    checks = installation_qualification()
    click.echo("Installation qualification (IQ)")
    _print_iq(checks)
    if verbose:
        for check in checks:
            for item in check.items:
                click.echo(f"    {check.name}: " + "  ".join(item))
    result = overall([c.status for c in checks])
    click.echo(f"IQ {result.upper()}")
    if result != "pass":
        sys.exit(1)


def installed_packages() -> dict[str, str]:
    """Where this process imports each application package from."""
    found = {}
    for name in ("bridge", "qms", "xapi", "lti"):
        module = importlib.import_module(name)
        found[name] = str(Path(module.__file__ or "").resolve().parent)
    return found


def default_tests_dir() -> Path | None:
    """The checkout's ``tests/`` beside the installed package, when there is one."""
    candidate = CHECKOUT_ROOT / "tests"
    return candidate if (candidate / "conftest.py").is_file() else None


@validate_group.command("run")
@click.option("--username", required=True,
              help="the executor, who signs the evidence (re-enters the password)")
@click.option("--password-stdin", is_flag=True, help="read the executor's password from standard input")
@click.option("--meaning", type=click.Choice(SIGNING_MEANINGS), default="approved", show_default=True,
              help="the meaning of the executor's signature")
@click.option("--tests", "tests_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="the OQ test tree: the tests/ folder of the released source of this version "
                   "[default: the checkout's tests/ beside the package, when present]")
@click.option("--requirements", "requirements_file",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="user requirements [default: docs/validation/requirements.yaml beside the test tree]")
@click.option("--output", "output_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="folder the HTML and PDF reports are written to")
@click.option("--oq-database-url", help="PostgreSQL server on which the OQ tests create and drop scratch "
              "databases (TEST_DATABASE_URL); never the production database [default: SQLite only, "
              "or TEST_DATABASE_URL when set]")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="parallel pytest processes for the OQ (pytest-xdist)")
@with_appcontext
@command_errors
def validate_run(username: str, password_stdin: bool, meaning: str, tests_dir: Path | None,
                 requirements_file: Path | None, output_dir: Path, oq_database_url: str | None,
                 workers: int) -> None:
    """Run IQ and OQ, write the signed evidence report (HTML, PDF) and store it as a record.

    Exits 1 when an IQ check fails or a requirement has no passing test (a gap); the run is
    recorded and signed either way.
    """
    tests_dir = tests_dir or default_tests_dir()
    if tests_dir is None:
        raise click.UsageError("no OQ test suite here: pass --tests with the tests/ folder of the released "
                               f"source of gxpbridge {_installed_version()} (see docs/admin-guide.md)")
    requirements_file = (requirements_file
                         or tests_dir.resolve().parent / "docs" / "validation" / "requirements.yaml")
    if not requirements_file.is_file():
        raise click.UsageError(f"no requirements file at {requirements_file}: pass --requirements")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = click.prompt(f"Password of {username} (electronic signature)", hide_input=True)
    else:
        raise click.UsageError("no terminal to prompt on: pipe the password with --password-stdin")
    # Refuse an unknown or unauthorised executor before the (long) test run.
    with database().read_sessions() as session:
        executor = accounts.get_user(session, username.strip().lower()).actor()
    executor.require(*EXECUTOR_ROLES, action="signing validation evidence")

    started = current_app.clock.now()  # type: ignore[attr-defined]
    click.echo("Installation qualification (IQ)")
    checks = installation_qualification()
    _print_iq(checks)
    reqs = load_requirements(requirements_file)
    node_ids = sorted({t for r in reqs.requirements for t in r.tests})
    click.echo(f"Operational qualification (OQ): {len(reqs.requirements)} requirements, "
               f"{len(node_ids)} linked tests from {tests_dir}")
    results = run_linked_tests(tests_dir, node_ids, oq_database_url=oq_database_url, workers=workers)
    rows = trace(reqs, results["tests"])
    coverage = clause_coverage(reqs, rows)
    gaps = [r for r in rows if r["status"] in ("gap", "failed")]
    # The tests must have exercised this installed copy, not a source tree's packages beside them.
    installed = installed_packages()
    tested = results.get("tested_packages") or {}
    foreign = sorted(name for name, places in tested.items()
                     if any(Path(w).resolve() != Path(installed.get(name, "")).resolve() for w in places))
    for name in foreign:
        click.echo(f"  [FAIL] the OQ tests imported {name} from {', '.join(tested[name])}, not only from "
                   f"the installed copy {installed.get(name)}: use a test tree without the application's "
                   "packages", err=True)
    tested_package = "; ".join(f"{n}: {', '.join(w)}" for n, w in sorted(tested.items())) or "none imported"
    clause_gaps = [c for c in coverage if c["status"] == "gap"]
    for row in rows:
        mark = {"verified": "ok", "procedural": "PQ"}.get(row["status"], row["status"].upper())
        click.echo(f"  [{mark:4}] {row['id']} {row['title']}")
        if row["status"] in ("gap", "failed"):
            for t in row["tests"]:
                click.echo(f"           {t['test']}: {t['result']}")
            if not row["tests"]:
                click.echo("           no test linked")
    status_of = {row["id"]: row["status"] for row in rows}
    for c in clause_gaps:
        open_reqs = [r for r in c["requirements"] if status_of[r] not in ("verified", "procedural")]
        click.echo(f"  [GAP ] clause {c['clause']}: " + (f"not verified: {', '.join(open_reqs)}" if open_reqs
                                                          else "no requirement serves it"))
    if results.get("exitstatus") not in (0, 1, 5, None):
        click.echo(f"  pytest ended with status {results['exitstatus']}:\n{results['output'][-1500:]}",
                   err=True)
    iq_result = overall([c.status for c in checks])
    oq_result = "fail" if gaps or clause_gaps or foreign else "pass"
    info = build_info()
    evidence = {
        "title": f"GxP Bridge {info['version']} — IQ/OQ validation evidence",
        "started_at": started.isoformat(),
        "result": overall([iq_result, oq_result]),
        "software": info,
        "executor": {"username": executor.username, "printed_name": executor.display_name,
                     "meaning": meaning},
        "environment": environment(),
        "iq": {"result": iq_result, "checks": [asdict(c) for c in checks]},
        "oq": {"result": oq_result, "requirements_file": str(requirements_file.resolve()),
               "requirements_title": reqs.title, "requirements_version": reqs.version,
               "requirements_sha256": hashlib.sha256(requirements_file.read_bytes()).hexdigest(),
               "tests_dir": str(tests_dir.resolve()), "command": results.get("command", ""),
               "tested_package": tested_package, "foreign_packages": foreign,
               "pytest_exitstatus": results.get("exitstatus"),
               "requirements_total": len(rows), "gaps": len(gaps), "clause_gaps": len(clause_gaps),
               "matrix": rows, "clauses": coverage},
    }
    evidence_hash = evidence_sha256(evidence)

    def sign_and_store(uow: UnitOfWork) -> tuple[int, str, bytes, bytes, Any]:
        user = accounts.get_user(uow.session, executor.username)
        uow.act_as(user.actor())
        with uow.because(f"IQ/OQ validation evidence, result {evidence['result']}"):
            signature = signatures.sign(
                uow, username=username, password=password, meaning=meaning, record_type=RECORD_TYPE,
                record_id=evidence_hash, content=evidence, lockout_threshold=settings().lockout_threshold,
                comment=f"IQ/OQ validation evidence, result {evidence['result']}")
            lines = signature_lines(signature, evidence_hash)
            report_html = render_html(evidence, lines).encode("utf-8")
            report_pdf = render_pdf(evidence, lines)
            run = ValidationRun(executed_at=started, executor_user_id=user.id,
                                software_version=info["version"][:64], build_hash=info["build_hash"][:64],
                                result=evidence["result"], iq_result=iq_result, oq_result=oq_result,
                                requirements_total=len(rows), requirements_gaps=evidence["oq"]["gaps"],
                                evidence_sha256=evidence_hash,
                                report_html_sha256=hashlib.sha256(report_html).hexdigest(),
                                report_pdf_sha256=hashlib.sha256(report_pdf).hexdigest(),
                                report_pdf=report_pdf, signature_id=signature.id)
            uow.session.add(run)
            uow.session.flush()
        audit.record(uow, "validation_run.signed", RECORD_TYPE, run.id,
                     new={"result": run.result, "evidence_sha256": evidence_hash,
                          "report_pdf_sha256": run.report_pdf_sha256, "signature_id": signature.id})
        return run.id, run.report_pdf_sha256, report_html, report_pdf, signature

    run_id, pdf_hash, report_html, report_pdf, signature = in_command_unit_of_work(sign_and_store)
    output_dir.mkdir(parents=True, exist_ok=True)
    stem = f"validation-run-{run_id}-{started.strftime('%Y%m%dT%H%M%SZ')}"
    (output_dir / f"{stem}.html").write_bytes(report_html)
    (output_dir / f"{stem}.pdf").write_bytes(report_pdf)
    click.echo(f"Evidence signed by {signature.printed_name} ({meaning}) and stored as validation run "
               f"{run_id}; signature {signature.id}")
    click.echo(f"Reports: {output_dir / stem}.html, {output_dir / stem}.pdf (SHA-256 {pdf_hash})")
    click.echo(f"RESULT {evidence['result'].upper()}: IQ {iq_result}, OQ {oq_result}, "
               f"{len(rows)} requirements, {len(gaps)} gaps, {len(clause_gaps)} clauses not covered")
    if evidence["result"] != "pass":
        sys.exit(1)


@validate_group.command("list")
@with_appcontext
@command_errors
def validate_list() -> None:
    """List the stored validation runs with their signatures."""
    with database().read_sessions() as session:
        for run in session.scalars(select(ValidationRun).order_by(ValidationRun.id)):
            signature = session.get(signatures.ElectronicSignature, run.signature_id)
            click.echo(f"{run.id}\t{run.executed_at:%Y-%m-%d %H:%M:%SZ}\t{run.software_version}\t"
                       f"{run.result}\t{run.requirements_gaps} gaps\t"
                       f"{signature.manifestation() if signature else '?'}")


@validate_group.command("report")
@click.argument("run_id", type=int)
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
@command_errors
def validate_report(run_id: int, target: Path) -> None:
    """Write the stored PDF of validation run RUN_ID to TARGET, checking its SHA-256."""
    with database().read_sessions() as session:
        run = session.get(ValidationRun, run_id)
        if run is None:
            raise click.ClickException(f"no validation run {run_id}")
        pdf = run.report_pdf
        if hashlib.sha256(pdf).hexdigest() != run.report_pdf_sha256:
            raise click.ClickException(f"the stored report of run {run_id} no longer matches its SHA-256")
    target.write_bytes(pdf)
    click.echo(f"{target}: validation run {run_id}, SHA-256 {run.report_pdf_sha256} verified")

