"""Import of the document register (CSV/XLSX): documents with their current and past versions,
effective dates in the past (migrated history), major/minor revisions and, optionally, the
controlled file of each version. Every row is checked first; one bad row refuses the file.

Columns: ``document_code``, ``title``, ``version_label``, ``revision`` (major|minor),
``effective_from`` (date or RFC 3339 moment, not in the future); optional ``doc_type``,
``retrain`` (true/false, a minor revision that retrains), ``change_summary``, ``file_name`` (a
file sent with the register). The versions of a document take effect in the order of their dates:
the last is effective, the others superseded when the next took effect, so every as-of question
about the past finds the version then in force.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import mimetypes
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bridge.core import audit
from bridge.core.uow import UnitOfWork
from qms.documents.models import ControlledFile, Document, DocumentVersion, TrainingItem, TrainingItemVersion
from qms.onboarding import files
from qms.roles import AUTHORS

logger = logging.getLogger(__name__)

COLUMNS = ("document_code", "title", "version_label", "revision", "effective_from")
OPTIONAL = ("doc_type", "retrain", "change_summary", "file_name")
TRUE = {"true", "yes", "y", "1", "x"}
FALSE = {"false", "no", "n", "0", ""}


@dataclass
class _Row:
    number: int
    code: str
    title: str
    doc_type: str
    label: str
    revision: str
    retrain: bool | None
    effective: Any
    summary: str | None
    file_name: str | None


def _check(uow: UnitOfWork, rows: list[dict[str, Any]], uploaded: dict[str, bytes]) -> dict[str, list[_Row]]:
    session = uow.session
    now = uow.clock.now()
    errors: list[dict[str, Any]] = []
    existing_docs = set(session.scalars(select(Document.code)))
    existing_items = set(session.scalars(select(TrainingItem.code)))
    by_document: dict[str, list[_Row]] = defaultdict(list)
    seen: dict[tuple[str, str], int] = {}
    if not rows:
        errors.append({"row": 1, "field": "file", "message": "the file has no data rows"})
    for number, row in enumerate(rows, start=2):

        def fail(field: str, message: str, number: int = number) -> None:
            errors.append({"row": number, "field": field, "message": message})

        code = files.text(row, "document_code")
        label = files.text(row, "version_label")
        revision = files.text(row, "revision").lower()
        title = files.text(row, "title")
        retrain_text = files.text(row, "retrain").lower()
        file_name = files.text(row, "file_name") or None
        bad = len(errors)
        if not code or len(code) > 32:
            fail("document_code", "a document code of 1 to 32 characters is required")
        elif code in existing_docs or code in existing_items:
            fail("document_code", f"{code} already exists here: the register imports new documents only")
        if not label or len(label) > 32:
            fail("version_label", "a version label of 1 to 32 characters is required")
        if revision not in ("major", "minor"):
            fail("revision", "revision is 'major' or 'minor'")
        if retrain_text not in TRUE | FALSE:
            fail("retrain", "retrain is true or false (or empty)")
        if revision == "major" and retrain_text in FALSE - {""}:
            fail("retrain", "a major revision always needs retraining")
        try:
            effective = files.moment(row.get("effective_from"))
            if effective > now:
                fail(
                    "effective_from",
                    "the effective date is in the future: approve such a version "
                    "through change control instead",
                )
        except ValueError:
            fail("effective_from", f"{files.text(row, 'effective_from')!r} is not a date (YYYY-MM-DD)")
            effective = None
        if file_name and file_name not in uploaded:
            fail("file_name", f"the file {file_name!r} was not sent with the register")
        if code and label:
            key = (code, label)
            if key in seen:
                fail("version_label", f"{code} {label} is already on row {seen[key]}")
            seen.setdefault(key, number)
        if len(errors) > bad:
            continue
        by_document[code].append(
            _Row(
                number,
                code,
                title,
                files.text(row, "doc_type") or "SOP",
                label,
                revision,
                True if retrain_text in TRUE else None,
                effective,
                files.text(row, "change_summary") or None,
                file_name,
            )
        )
    for code, versions in by_document.items():
        versions.sort(key=lambda r: (r.effective, r.number))
        if not next((r.title for r in versions if r.title), ""):
            errors.append({"row": versions[0].number, "field": "title", "message": f"{code} needs a title"})
        for previous, current in itertools.pairwise(versions):
            if current.effective == previous.effective:
                errors.append(
                    {
                        "row": current.number,
                        "field": "effective_from",
                        "message": f"two versions of {code} take effect at the same moment "
                        f"(rows {previous.number} and {current.number})",
                    }
                )
    errors.sort(key=lambda e: e["row"])
    files.refuse(errors, "document")
    return by_document


def _stored_file(uow: UnitOfWork, name: str, content: bytes) -> ControlledFile:
    digest = hashlib.sha256(content).hexdigest()
    found = uow.session.scalar(select(ControlledFile).where(ControlledFile.sha256 == digest))
    if found is None:
        media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        found = ControlledFile(sha256=digest, size=len(content), media_type=media_type, content=content)
        uow.session.add(found)
        uow.session.flush()
    return found


def import_register(
    uow: UnitOfWork,
    content: bytes,
    *,
    file_format: str,
    file_name: str | None = None,
    uploaded: dict[str, bytes] | None = None,
) -> dict[str, Any]:
    """Import the register: all rows or none. Returns the batch and what it created."""
    uow.actor.require(*AUTHORS, action="importing the document register")
    uploaded = uploaded or {}
    rows = files.read_rows(content, file_format, COLUMNS)
    by_document = _check(uow, rows, uploaded)
    session = uow.session
    batch = files.new_batch(
        uow,
        kind="document_register",
        content=content,
        file_name=file_name,
        file_format=file_format,
        rows=len(rows),
    )
    documents = versions = attached = 0
    with uow.because(f"document register imported (batch {batch.id}, sha256 {batch.sha256[:12]})"):
        # Four flushes for the whole register (each a batched INSERT), not four per document.
        made = {}
        for code, entries in by_document.items():
            title = next(r.title for r in entries if r.title)
            made[code] = Document(
                code=code,
                title=title[:300],
                doc_type=entries[0].doc_type[:32],
                created_by_user_id=uow.actor.user_id,
            )
        session.add_all(made.values())
        session.flush()
        items = {
            code: TrainingItem(
                code=code,
                kind="read_and_understand",
                title=document.title,
                document_id=document.id,
                requires_signature=True,
            )
            for code, document in made.items()
        }
        session.add_all(items.values())
        session.flush()
        documents = len(made)
        pairs: list[tuple[TrainingItemVersion, DocumentVersion]] = []
        for code, entries in by_document.items():
            baseline = 1
            for seq, entry in enumerate(entries, start=1):
                last = seq == len(entries)
                retrain = True if seq == 1 else (entry.revision == "major" or bool(entry.retrain))
                baseline = seq if retrain else baseline
                status = "effective" if last else "superseded"
                item_version = TrainingItemVersion(
                    training_item_id=items[code].id,
                    seq=seq,
                    label=entry.label,
                    retrain=retrain,
                    baseline_seq=baseline,
                    status=status,
                    effective_at=entry.effective,
                    effective_since=entry.effective,
                    ended_at=None if last else entries[seq].effective,
                    approved_at=entry.effective,
                    activity_iris=[],
                )
                version = DocumentVersion(
                    document_id=made[code].id,
                    seq=seq,
                    label=entry.label,
                    revision=entry.revision,
                    retrain=retrain,
                    impact_rationale="migrated from the legacy register"
                    if retrain and entry.revision == "minor"
                    else None,
                    change_summary=entry.summary
                    or f"migrated from the legacy document register (batch {batch.id})",
                    status=status,
                    effective_at=entry.effective,
                    approved_at=entry.effective,
                )
                if entry.file_name:
                    stored = _stored_file(uow, entry.file_name, uploaded[entry.file_name])
                    version.file_id, version.file_name = stored.id, entry.file_name[:255]
                    attached += 1
                pairs.append((item_version, version))
        session.add_all([p[0] for p in pairs])
        session.flush()
        for item_version, version in pairs:
            version.item_version_id = item_version.id
        session.add_all([p[1] for p in pairs])
        session.flush()
        versions = len(pairs)
    batch.counts = {"documents": documents, "versions": versions, "files": attached}
    audit.record(
        uow,
        "documents.register_imported",
        "qms_import_batch",
        batch.id,
        new={"sha256": batch.sha256, "format": file_format, **batch.counts},
    )
    logger.info("document register batch %s: %s", batch.id, batch.counts)
    return {"batch_id": batch.id, "sha256": batch.sha256, "rows": len(rows), **batch.counts}
