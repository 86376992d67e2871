"""Training evidence: observations of what a person did on a training item version (made from
stored xAPI statements by ``bridge/rules``) become evidence rows, and move assignments.

An *observation* is a plain dict (this package knows nothing of xAPI)::

    {"statement_id", "verb", "actor_keys": [[kind, namespace, value], ...], "actor_key",
     "actor_name", "activity_iris": [candidate IRIs, most specific first], "activity_iri",
     "object_iri", "success", "completion", "score": {"raw", "min", "max", "scaled"},
     "duration", "registration", "timestamp"}

:func:`record_observations` handles a whole batch with a constant number of queries: the
identities, the IRIs, the versions, the people and the open assignments are each read once.
Only what evidence *does* costs more: a completion goes through
:func:`qms.assignments.record_completion` (so it publishes ``TrainingCompleted`` like any other).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bridge.core import audit
from bridge.core.uow import UnitOfWork
from qms import assignments
from qms.evidence_models import Evidence, EvidenceInbox, iri_key
from qms.evidence_withdraw import withdraw
from qms.models import OPEN_ASSIGNMENT_STATUSES, Assignment, TrainingItemVersion

logger = logging.getLogger(__name__)

ADL = "http://adlnet.gov/expapi/verbs/"
COMPLETED, PASSED, FAILED = ADL + "completed", ADL + "passed", ADL + "failed"
# Outcome verbs: evidence, and listed in the inbox when their actor or activity is unknown.
OUTCOME_VERBS = frozenset({COMPLETED, PASSED, FAILED})
# Kept as evidence when both actor and activity map; they move nothing and wait for no one.
PRESENTED_VERBS = frozenset({"http://id.tincanapi.com/verb/viewed", ADL + "experienced"})
NOTED_VERBS = frozenset({"https://xapi.edlm/profiles/edlm-lms/concepts/verbs/uncompleted"})
EVIDENCE_VERBS = OUTCOME_VERBS | PRESENTED_VERBS | NOTED_VERBS
USABLE_VERSION_STATUSES = ("approved", "effective")


def _chunks(values: Sequence[Any], size: int = 400) -> Iterable[Sequence[Any]]:
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


def _timestamp(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _driver_rows(session: Session, sql: str, *lists: Sequence[Any]) -> list[Any]:
    """Rows of ``sql`` whose ``{0}``, ``{1}``... are IN-lists of ``lists``, run on the driver.

    The handler reads a few rows a batch; SQLAlchemy's statement and result machinery would cost
    more than the database does (as for the record store's own writes).
    """
    conn = session.connection()
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    params: list[Any] = []
    for values in lists:
        params.extend(values)
    text = sql.format(*(",".join([mark] * len(values)) for values in lists))
    return list(conn.exec_driver_sql(text, tuple(params)))


_IDENTITIES = (
    "SELECT i.kind, i.namespace, i.value, i.person_id, p.active FROM person_identity i "
    "JOIN person p ON p.id = i.person_id WHERE i.kind IN ({0}) AND i.namespace IN ({1}) AND i.value IN ({2})"
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
    for chunk in _chunks(values):
        for kind, namespace, value, person_id, active in _driver_rows(
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


_LISTED = (
    "SELECT a.iri_key, v.id, v.training_item_id, v.seq, v.baseline_seq, v.label, v.status, t.code, t.kind, "
    "t.pass_score, t.requires_signature, t.requires_trainer FROM qms_activity_iri a "
    "JOIN qms_training_item_version v ON v.id = a.item_version_id "
    "JOIN qms_training_item t ON t.id = v.training_item_id WHERE a.iri_key IN ({0})"
)


def listed_versions(
    session: Session, iris: Iterable[str]
) -> tuple[dict[str, set[int]], dict[int, ListedVersion]]:
    """The training item versions listing each IRI (by IRI key), and those versions: one query."""
    keys = sorted({iri_key(iri) for iri in iris})
    found: dict[str, set[int]] = {}
    versions: dict[int, ListedVersion] = {}
    for chunk in _chunks(keys):
        for key, *row in _driver_rows(session, _LISTED, chunk):
            found.setdefault(key, set()).add(row[0])
            versions[row[0]] = ListedVersion(
                *row[:-2], requires_signature=bool(row[-2]), requires_trainer=bool(row[-1])
            )
    return found, versions


def versions_of_iris(session: Session, iris: Iterable[str]) -> dict[str, set[int]]:
    """The training item versions listing each IRI (by IRI key)."""
    return listed_versions(session, iris)[0]


def _resolve(
    observation: dict[str, Any],
    holders: dict[tuple[str, str, str], tuple[int, bool]],
    listed: dict[str, set[int]],
) -> tuple[int | None, int | None, list[str]]:
    people = {holders[k][0] for k in map(tuple, observation["actor_keys"]) if k in holders}
    problems = []
    person_id = next(iter(people)) if len(people) == 1 else None
    if not people:
        problems.append("unknown actor")
    elif len(people) > 1:
        problems.append(f"actor matches {len(people)} people ({', '.join(map(str, sorted(people)))})")
    version_id = None
    for iri in observation["activity_iris"]:
        versions = listed.get(iri_key(iri))
        if versions:
            if len(versions) > 1:
                problems.append(f"activity {iri} is listed by {len(versions)} versions")
            else:
                version_id = next(iter(versions))
            break
    else:
        problems.append("unknown activity")
    return person_id, version_id, problems


def record_observations(
    uow: UnitOfWork,
    observations: Sequence[dict[str, Any]],
    voids: Sequence[tuple[str, str]] = (),
    *,
    source: str = "statement",
    waiting: dict[str, EvidenceInbox] | None = None,
) -> list[int]:
    """Turn a batch of observations into evidence; ``voids`` are (voiding id, voided id) pairs.

    Observations whose actor or activity maps to nobody (or to several) wait in the inbox;
    ``waiting`` holds the inbox rows being applied by a mapping (updated, never duplicated).

    Returns:
        The ids of the evidence rows added, in order.
    """
    session = uow.session
    waiting = waiting or {}
    added: list[int] = []
    if observations and source != "statement":
        # Fresh statements have no evidence yet (the record store publishes only new ids).
        ids = [o["statement_id"] for o in observations]
        done: set[str] = set()
        for chunk in _chunks(ids):
            done.update(
                session.scalars(select(Evidence.statement_id).where(Evidence.statement_id.in_(chunk)))
            )
        observations = [o for o in observations if o["statement_id"] not in done]
    if observations:
        holders = people_of_identities(session, (tuple(k) for o in observations for k in o["actor_keys"]))
        listed, versions = listed_versions(session, (iri for o in observations for iri in o["activity_iris"]))
        resolved = [(o, *_resolve(o, holders, listed)) for o in observations]
        _wait(uow, [(o, p) for o, person, version, p in resolved if p], waiting)
        ready = [(o, person, version) for o, person, version, p in resolved if not p]
        if ready:
            active = dict(holders.values())
            added = _apply(uow, ready, versions, active, source, waiting)
    if voids:
        added.extend(row.id for row in withdraw(uow, voids))
    return added


def _wait(
    uow: UnitOfWork, unresolved: list[tuple[dict[str, Any], list[str]]], waiting: dict[str, EvidenceInbox]
) -> None:
    rows = []
    for observation, problems in unresolved:
        if observation["verb"] not in OUTCOME_VERBS:
            continue  # a page view nobody is mapped to is an ordinary statement
        reason = "; ".join(problems)
        actor_ok = not any(p.startswith(("unknown actor", "actor matches")) for p in problems)
        activity_ok = not any("activity" in p for p in problems)
        row = waiting.get(observation["statement_id"])
        if row is not None:
            row.reason, row.actor_mapped, row.activity_mapped = reason, actor_ok, activity_ok
            continue
        rows.append(
            {
                "statement_id": observation["statement_id"],
                "reason": reason,
                "actor_mapped": actor_ok,
                "activity_mapped": activity_ok,
                "actor_key": observation["actor_key"],
                "actor_name": (observation.get("actor_name") or "")[:500] or None,
                "activity_key": iri_key(observation["activity_iri"]),
                "activity_iri": observation["activity_iri"],
                "verb": observation["verb"],
                "observation": observation,
                "received_at": uow.clock.now(),
                "voided": False,
            }
        )
    if rows:  # a work queue, not a regulated record: written in bulk, not audited
        uow.session.execute(insert(EvidenceInbox.__table__), rows)


def _apply(
    uow: UnitOfWork,
    ready: list[tuple[dict[str, Any], int, int]],
    versions: dict[int, ListedVersion],
    active: dict[int, bool],
    source: str,
    waiting: dict[str, EvidenceInbox],
) -> list[int]:
    session = uow.session
    now = uow.clock.now()
    # Only outcomes move assignments: page views and the like need no assignment read.
    outcomes = [(p, versions[v].training_item_id) for o, p, v in ready if o["verb"] in OUTCOME_VERBS]
    open_by_pair: dict[tuple[int, int], list[Assignment]] = {}
    if outcomes:
        for assignment in session.scalars(
            select(Assignment)
            .where(
                Assignment.person_id.in_(sorted({p for p, _ in outcomes})),
                Assignment.training_item_id.in_(sorted({i for _, i in outcomes})),
                Assignment.status.in_(OPEN_ASSIGNMENT_STATUSES),
            )
            .order_by(Assignment.id)
        ):
            open_by_pair.setdefault((assignment.person_id, assignment.training_item_id), []).append(
                assignment
            )
    seqs: dict[int, tuple[int, int]] = {}
    other = sorted(
        {
            a.training_item_id
            for found in open_by_pair.values()
            for a in found
            if a.item_version_id not in versions
        }
    )
    if other:  # an open assignment on another version: the trained-rule needs the versions' order
        seqs = {
            row.id: (row.seq, row.baseline_seq)
            for row in session.execute(
                select(
                    TrainingItemVersion.id, TrainingItemVersion.seq, TrainingItemVersion.baseline_seq
                ).where(TrainingItemVersion.training_item_id.in_(other))
            )
        }
    rows: list[dict[str, Any]] = []
    for observation, person_id, version_id in ready:
        version = versions[version_id]
        scaled, note = scaled_score(observation.get("score"))
        score = observation.get("score") or {}
        row: dict[str, Any] = dict(
            statement_id=observation["statement_id"],
            person_id=person_id,
            training_item_id=version.training_item_id,
            item_version_id=version.id,
            verb=observation["verb"],
            activity_iri=observation["object_iri"],
            success=observation.get("success"),
            completion=observation.get("completion"),
            score_raw=score.get("raw"),
            score_min=score.get("min"),
            score_max=score.get("max"),
            score_scaled=scaled,
            duration=observation.get("duration"),
            registration=observation.get("registration"),
            occurred_at=_timestamp(observation.get("timestamp")),
            source=source,
            recorded_at=now,
        )
        row["decision"], row["reason"], effect = _decide(
            observation,
            version,
            scaled,
            note,
            active.get(person_id, False),
            open_by_pair.get((person_id, version.training_item_id), []),
            seqs,
        )
        if effect is not None:
            assignment, move = effect
            row["assignment_id"] = assignment.id
            if move == "content_complete":
                if assignment.status in ("open", "overdue"):
                    assignment.status = "content_complete"
            else:
                completion = assignments.record_completion(
                    uow,
                    person_id=person_id,
                    version=session.get(TrainingItemVersion, version.id),
                    method="course",
                    assignment_id=assignment.id,
                    score_scaled=scaled,
                    passed=True,
                    evidence={
                        "statement_ids": [observation["statement_id"]],
                        "verb": observation["verb"],
                        "score": score or None,
                        "registration": observation.get("registration"),
                    },
                )
                if assignment.status in OPEN_ASSIGNMENT_STATUSES:  # an older version a minor revision away
                    assignment.status, assignment.closed_at = "completed", now
                    assignment.completion_id = completion.id
                row["completion_id"] = completion.id
                open_by_pair[(person_id, version.training_item_id)] = [
                    a
                    for a in open_by_pair.get((person_id, version.training_item_id), [])
                    if a.status in OPEN_ASSIGNMENT_STATUSES
                ]
        rows.append(row)
    # One insert for the batch; its audit rows are the ones a flush would have captured.
    table = Evidence.__table__
    rows = [
        {column.key: row.get(column.key) for column in table.columns if column.key != "id"} for row in rows
    ]
    ids = list(
        session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows).scalars()
    )
    for evidence_id, row in zip(ids, rows, strict=True):
        audit.record(uow, "create", "qms_evidence", evidence_id, new={"id": evidence_id, **row})
        held = waiting.get(row["statement_id"])
        if held is not None:
            held.applied_at, held.evidence_id = now, evidence_id
            held.actor_mapped = held.activity_mapped = True
    return ids


def _decide(
    observation: dict[str, Any],
    version: ListedVersion,
    scaled: float | None,
    note: str | None,
    person_active: bool,
    open_assignments: list[Assignment],
    seqs: dict[int, tuple[int, int]],
) -> tuple[str, str | None, tuple[Assignment, str] | None]:
    """The decision on one observation: (decision, reason, (assignment, move) or None)."""
    item, verb = version, observation["verb"]
    notes = [note] if note else []

    def why(text: str) -> str:
        return "; ".join([text, *notes])

    if not person_active:
        return "refused", why("the person is inactive (left the company): kept, counts for nothing"), None
    if version.status not in USABLE_VERSION_STATUSES:
        return (
            "refused",
            why(f"version {version.label} of {item.code} is {version.status}: kept, counts for nothing"),
            None,
        )
    if verb in PRESENTED_VERBS:
        return "presented", why("content presented"), None
    if verb in NOTED_VERBS or (verb == COMPLETED and observation.get("completion") is False):
        return "recorded", why("the LMS reports the content not complete"), None
    if verb == FAILED or observation.get("success") is False:
        return "failed", why("failed"), None
    if item.pass_score is not None:
        if scaled is None:
            return "recorded", why(f"no scaled score to compare with the pass mark {item.pass_score}"), None
        if scaled < item.pass_score:
            return (
                "below_pass_mark",
                why(f"scaled score {scaled} is below the pass mark {item.pass_score}"),
                None,
            )
    if not open_assignments:
        return "recorded", why("no open assignment on this item"), None
    chosen = _counting_assignment(version, open_assignments, seqs)
    if chosen is None:
        labels = ", ".join(str(a.item_version_id) for a in open_assignments)
        return (
            "other_version",
            why(
                f"the open assignment is on version id {labels}; a major revision lies between it and "
                f"version {version.label}: kept, does not count"
            ),
            None,
        )
    needs_signoff = item.requires_signature or item.requires_trainer or item.kind != "course"
    if needs_signoff:
        return (
            "content_complete",
            why("content complete: the learner's signature or the trainer's sign-off follows"),
            (chosen, "content_complete"),
        )
    return "completed", why("completed by the LMS's result"), (chosen, "completed")


def _counting_assignment(
    version: ListedVersion, open_assignments: list[Assignment], seqs: dict[int, tuple[int, int]]
) -> Assignment | None:
    # The assigned version itself first, then one the trained-rule lets this version satisfy:
    # an older obligation (a newer version satisfies it) or a newer one a minor revision away.
    for assignment in open_assignments:
        if assignment.item_version_id == version.id:
            return assignment
    for assignment in open_assignments:
        seq, baseline = seqs.get(assignment.item_version_id, (None, None))
        if seq is not None and (seq <= version.seq or baseline <= version.seq):
            return assignment
    return None
