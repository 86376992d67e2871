"""Look-ups of the evidence rule, one query each per batch: who holds the statements' identities,
which training item versions list their activities (with the item's completion rule), and which
assignments are open; plus the score and time conversions of a statement's result.

They run on the driver: the handler reads a few rows a batch, and SQLAlchemy's statement and
result machinery would cost more than the database does (as for the record store's own writes).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from qms.training.evidence_models import iri_key

logger = logging.getLogger(__name__)


def chunks(values: Sequence[Any], size: int = 400) -> Iterable[Sequence[Any]]:
    """``values`` in slices of ``size`` (bound parameters per query stay few)."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def scaled_score(score: dict[str, Any] | None) -> tuple[float | None, str | None]:
    """The scaled score of an xAPI score, recomputed from raw/min/max when all three are there.

    Moodle's log store sends a wrong ``scaled`` beside a right raw/min/max, so raw/min/max win.
    A raw score without min and max has no scaled score (a note says so).
    """
    if not score:
        return None, None
    raw, low, high = score.get("raw"), score.get("min"), score.get("max")
    if raw is not None and low is not None and high is not None and high > low:
        return round((raw - low) / (high - low), 6), None
    if score.get("scaled") is not None:
        return float(score["scaled"]), None
    if raw is not None:
        return None, "raw score without min and max: no scaled score"
    return None, None


def timestamp_of(value: str | None) -> dt.datetime | None:
    """An xAPI timestamp as an aware datetime (``None`` if absent or unreadable)."""
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def driver_rows(session: Session, sql: str, *lists: Sequence[Any]) -> list[Any]:
    """Rows of ``sql``, run on the driver, where ``{0}``, ``{1}``... test membership in ``lists``.

    ``column {0}`` becomes ``column = ANY(%s)`` with an array on PostgreSQL (one query text
    whatever the lengths, so psycopg prepares it and PostgreSQL plans it once: planning the
    versions' join took 4-8 ms a batch) and ``column IN (?, ...)`` on SQLite. The placeholders
    must appear in the text in the order of ``lists``.

    The handler reads a few rows a batch; SQLAlchemy's statement and result machinery would cost
    more than the database does (as for the record store's own writes).
    """
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        text = sql.format(*(["= ANY(%s)"] * len(lists)))
        params: list[Any] = [list(values) for values in lists]
    else:
        text = sql.format(*(f"IN ({','.join('?' * len(values))})" for values in lists))
        params = [value for values in lists for value in values]
    cursor = conn.connection.cursor()
    try:
        cursor.execute(text, tuple(params))
        return list(cursor.fetchall())
    finally:
        cursor.close()


_IDENTITIES = (
    "SELECT i.kind, i.namespace, i.value, i.person_id, p.active FROM person_identity i "
    "JOIN person p ON p.id = i.person_id WHERE i.kind {0} AND i.namespace {1} AND i.value {2}"
)


def people_of_identities(
    session: Session, keys: Iterable[tuple[str, str, str]]
) -> dict[tuple[str, str, str], tuple[int, bool]]:
    """Who holds each identity key (kind, namespace, value), and whether they are active.

    Each column of the unique index is matched with IN (an index lookup on SQLite and
    PostgreSQL, where SQLite scans the table for a row-value IN); the combinations are checked here.
    """
    wanted = set(keys)
    found: dict[tuple[str, str, str], tuple[int, bool]] = {}
    if not wanted:
        return found
    kinds = sorted({k for k, _, _ in wanted})
    namespaces = sorted({n for _, n, _ in wanted})
    values = sorted({v for _, _, v in wanted})
    for chunk in chunks(values):
        for kind, namespace, value, person_id, active in driver_rows(
            session, _IDENTITIES, kinds, namespaces, chunk
        ):
            if (kind, namespace, value) in wanted:
                found[(kind, namespace, value)] = (person_id, bool(active))
    return found


@dataclass(frozen=True)
class ListedVersion:
    """What the decision needs of a training item version and its item's completion rule."""

    id: int
    training_item_id: int
    seq: int
    baseline_seq: int
    label: str
    status: str
    code: str
    kind: str
    pass_score: float | None
    requires_signature: bool
    requires_trainer: bool


@dataclass
class OpenAssignment:
    """An open assignment as the decision reads it (the ORM row is loaded only to change it)."""

    id: int
    person_id: int
    training_item_id: int
    item_version_id: int
    status: str


_LISTED = (
    "SELECT a.iri_key, v.id, v.training_item_id, v.seq, v.baseline_seq, v.label, v.status, t.code, t.kind, "
    "t.pass_score, t.requires_signature, t.requires_trainer, s.id, s.person_id, s.item_version_id, s.status "
    "FROM qms_activity_iri a JOIN qms_training_item_version v ON v.id = a.item_version_id "
    "JOIN qms_training_item t ON t.id = v.training_item_id "
    "LEFT JOIN qms_assignment s ON s.training_item_id = v.training_item_id AND s.person_id {0} "
    "AND s.status {1} WHERE a.iri_key {2}"
)


@dataclass
class Listed:
    """What a batch's activities are: the versions listing each IRI key, those versions, and the
    open assignments of the batch's people on their items, by (person, item).
    """

    by_key: dict[str, set[int]]
    versions: dict[int, ListedVersion]
    open: dict[tuple[int, int], list[OpenAssignment]]


def listed_versions(
    session: Session, iris: Iterable[str], person_ids: Iterable[int] = (), open_statuses: Sequence[str] = ()
) -> Listed:
    """The versions listing the IRIs and the people's open assignments on their items: one query."""
    keys = sorted({iri_key(iri) for iri in iris})
    people = sorted(set(person_ids)) or [0]  # an IN list is never empty: person 0 does not exist
    statuses = list(open_statuses) or [""]
    listed = Listed({}, {}, {})
    seen: set[int] = set()
    for chunk in chunks(keys):
        for key, *row in driver_rows(session, _LISTED, people, statuses, chunk):
            version_row, assignment_row = row[:11], row[11:]
            listed.by_key.setdefault(key, set()).add(version_row[0])
            listed.versions[version_row[0]] = ListedVersion(
                *version_row[:-2],
                requires_signature=bool(version_row[-2]),
                requires_trainer=bool(version_row[-1]),
            )
            if assignment_row[0] is not None and assignment_row[0] not in seen:
                seen.add(assignment_row[0])
                found = OpenAssignment(
                    assignment_row[0], assignment_row[1], version_row[1], assignment_row[2], assignment_row[3]
                )
                listed.open.setdefault((found.person_id, found.training_item_id), []).append(found)
    for found_list in listed.open.values():
        found_list.sort(key=lambda found: found.id)
    return listed


def versions_of_iris(session: Session, iris: Iterable[str]) -> dict[str, set[int]]:
    """The training item versions listing each IRI (by IRI key)."""
    return listed_versions(session, iris).by_key
