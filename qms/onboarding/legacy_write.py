"""Writing a legacy batch's completions set-based, in the request's transaction.

Half a million rows through the ORM (or even SQLAlchemy's compiled ``executemany``, which
processes every bound value of every row in Python) cost most of an import. Here the values are
made once per row, in the form the driver takes as is:

- PostgreSQL: one ``COPY qms_completion (...) FROM STDIN`` on the session's own psycopg
  connection (same transaction, same savepoint for a preview);
- SQLite: the DBAPI ``executemany`` with the timestamps already in SQLAlchemy's SQLite storage
  format (the column type's own bind processor's text, so queries compare them as they compare
  every other completion).

Then the open assignments the history satisfies are closed (``close_satisfied``). The rows are
the same ordinary immutable completions either way (``method = 'migrated'``,
``recorded_at = completed_at``, evidence naming the batch and the row); nothing here commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.orm import Session

from bridge.core import audit
from bridge.core.uow import UnitOfWork
from qms.documents.models import TrainingItemVersion
from qms.onboarding.models import MIGRATED_METHOD
from qms.training import scope as in_scope
from qms.training.models import OPEN_ASSIGNMENT_STATUSES, Assignment, Completion

logger = logging.getLogger(__name__)

CHUNK = 10_000
# The columns each row gives, in this order (the id comes from the table's sequence).
COLUMNS = "person_id, training_item_id, item_version_id, method, completed_at, recorded_at, evidence"
COPY = f"COPY qms_completion ({COLUMNS}) FROM STDIN"
INSERT = f"INSERT INTO qms_completion ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"  # noqa: S608 (constants)

# ``progress(done, total, what)``: how far a step of the import is ("completions written").
Progress = Callable[[int, int, str], None]


def _evidence(batch_id: int, row: dict[str, Any]) -> str:
    return orjson.dumps(
        {
            "migrated": True,
            "batch": batch_id,
            "row": row["row"],
            "source_system": row["source_system"],
            "trainer": row["trainer"],
            "evidence_ref": row["evidence_ref"],
        }
    ).decode()


def _report(batch_id: int, done: int, total: int, progress: Progress | None) -> None:
    logger.info("legacy batch %s: %s of %s completions written", batch_id, done, total)
    if progress is not None:
        progress(done, total, "completions written")


def _copy_postgresql(
    session: Session, batch_id: int, good: Sequence[dict[str, Any]], progress: Progress | None
) -> None:
    # The session's own driver connection: the COPY is part of the request's transaction.
    driver = session.connection().connection.driver_connection
    assert driver is not None
    total = len(good)
    with driver.cursor() as cursor, cursor.copy(COPY) as copy:
        for done, r in enumerate(good, start=1):
            at = r["completed_at"]
            copy.write_row(
                (
                    r["person_id"],
                    r["training_item_id"],
                    r["item_version_id"],
                    MIGRATED_METHOD,
                    at,
                    at,
                    _evidence(batch_id, r),
                )
            )
            if done % CHUNK == 0 and done < total:
                _report(batch_id, done, total, progress)
    _report(batch_id, total, total, progress)


def _sqlite_stamp(dialect: Any) -> Callable[[dt.datetime], str]:
    """Aware UTC moment → the text SQLAlchemy stores for a completion's timestamp on SQLite.

    The column type's own processor makes it (``dialect_impl``: the decorator's
    ``bind_processor`` alone would skip the SQLite type's formatting); ``isoformat`` makes the
    same text in C, used when it agrees with the processor (checked here, once per import).
    """
    column_type = Completion.__table__.c.completed_at.type
    processor = column_type.dialect_impl(dialect).bind_processor(dialect)
    assert processor is not None

    def fast(at: dt.datetime) -> str:
        return at.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    samples = (dt.datetime(2019, 2, 1, tzinfo=dt.UTC), dt.datetime(2023, 7, 1, 10, 4, 5, 12, tzinfo=dt.UTC))
    if all(fast(at) == processor(at) for at in samples):
        return fast
    return processor  # type: ignore[no-any-return]


def _executemany_sqlite(
    session: Session, batch_id: int, good: Sequence[dict[str, Any]], progress: Progress | None
) -> None:
    connection = session.connection()
    stamp = _sqlite_stamp(connection.dialect)
    cursor = connection.connection.driver_connection.cursor()
    total = len(good)
    try:
        for start in range(0, total, CHUNK):
            values = []
            for r in good[start : start + CHUNK]:
                at = stamp(r["completed_at"])
                values.append(
                    (
                        r["person_id"],
                        r["training_item_id"],
                        r["item_version_id"],
                        MIGRATED_METHOD,
                        at,
                        at,
                        _evidence(batch_id, r),
                    )
                )
            cursor.executemany(INSERT, values)
            _report(batch_id, min(start + CHUNK, total), total, progress)
    finally:
        cursor.close()


# PostgreSQL advisory lock key of legacy training imports (a signed 64-bit integer).
_IMPORT_LOCK = int.from_bytes(hashlib.sha256(b"gxpbridge.legacy-training-import").digest()[:8], "big",
                              signed=True)


def one_import_at_a_time(session: Session) -> None:
    """Wait until no other legacy training import is under way, then hold that until commit.

    Two imports at once would each check their rows against completions the other has not
    committed (both writing the same record twice), and the later one would close assignments
    with the other's completions (ids above its own mark). On SQLite the write lock, which a
    writing unit of work takes with its first statement, already orders them; on PostgreSQL a
    transaction-level advisory lock does.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_IMPORT_LOCK)))


def write_completions(
    session: Session, batch_id: int, good: Sequence[dict[str, Any]], progress: Progress | None = None
) -> int:
    """Insert the checked rows as migrated completions; returns the highest completion id before them.

    Every completion this call writes has a larger id than the one returned (ids only grow).
    """
    session.flush()
    before = session.scalar(select(func.coalesce(func.max(Completion.id), 0))) or 0
    if not good:
        return before
    if session.get_bind().dialect.name == "postgresql":
        _copy_postgresql(session, batch_id, good, progress)
    else:
        _executemany_sqlite(session, batch_id, good, progress)
    return before


def close_satisfied(uow: UnitOfWork, good: list[dict[str, Any]], first_id: int, batch_id: int) -> int:
    """Close the open assignments the imported history satisfies (audited, like a completion)."""
    session = uow.session
    now = uow.clock.now()
    people = sorted({r["person_id"] for r in good})
    seqs: dict[int, int] = {}
    baselines: dict[int, int] = {}
    for vid, seq, baseline in session.execute(
        select(TrainingItemVersion.id, TrainingItemVersion.seq, TrainingItemVersion.baseline_seq)
    ):
        seqs[vid], baselines[vid] = seq, baseline
    closed = 0
    for chunk in in_scope.chunks(people):
        latest: dict[tuple[int, int], tuple[int, int]] = {}
        # Only the completions of a pair with an open assignment can close one (most of a history
        # is not): joined from those pairs, each is one lookup in the completions' index.
        pairs = (
            select(Assignment.person_id, Assignment.training_item_id)
            .where(Assignment.person_id.in_(chunk), Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES))
            .distinct()
            .subquery()
        )
        for cid, pid, iid, vid in session.execute(
            select(
                Completion.id, Completion.person_id, Completion.training_item_id, Completion.item_version_id
            )
            .join(
                pairs,
                and_(
                    pairs.c.person_id == Completion.person_id,
                    pairs.c.training_item_id == Completion.training_item_id,
                ),
            )
            .where(Completion.id > first_id, Completion.method == MIGRATED_METHOD)
        ):
            if (pid, iid) not in latest or seqs[vid] > latest[(pid, iid)][1]:
                latest[(pid, iid)] = (cid, seqs[vid])
        changes = []
        for aid, pid, iid, vid in session.execute(
            select(
                Assignment.id, Assignment.person_id, Assignment.training_item_id, Assignment.item_version_id
            ).where(Assignment.person_id.in_(chunk), Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES))
        ):
            found = latest.get((pid, iid))
            # The trained-rule: a completion on the assigned version, on an equivalent earlier one
            # (no retraining revision between) or on a later one satisfies the assignment.
            if found is not None and baselines.get(vid, 0) <= found[1]:
                changes.append(
                    {"b_id": aid, "status": "completed", "closed_at": now, "completion_id": found[0]}
                )
        if changes:
            # One UPDATE for the chunk; the audit trail gets one row per chunk naming every
            # assignment closed and the completion that closed it (the batch's per-row record).
            session.execute(
                update(Assignment.__table__).where(Assignment.__table__.c.id == bindparam("b_id")), changes
            )
            audit.record(
                uow,
                "training.assignments_closed_by_import",
                "qms_import_batch",
                batch_id,
                new={"closed": [[c["b_id"], c["completion_id"]] for c in changes], "status": "completed"},
            )
            closed += len(changes)
    session.flush()
    return closed
