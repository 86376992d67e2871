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
:func:`qms.training.completions.record_completion` (so it publishes ``TrainingCompleted`` like any other).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select

from bridge.core import audit
from bridge.core.uow import UnitOfWork
from qms.documents.models import TrainingItemVersion
from qms.training import completions
from qms.training.evidence_lookup import (
    Listed,
    ListedVersion,
    OpenAssignment,
    chunks,
    listed_versions,
    people_of_identities,
    scaled_score,
    timestamp_of,
)
from qms.training.evidence_models import Evidence, EvidenceInbox, iri_key
from qms.training.evidence_withdraw import withdraw
from qms.training.models import OPEN_ASSIGNMENT_STATUSES, Assignment

logger = logging.getLogger(__name__)

ADL = "http://adlnet.gov/expapi/verbs/"
COMPLETED, PASSED, FAILED = ADL + "completed", ADL + "passed", ADL + "failed"
# cmi5's LMS-issued verb: the course's moveOn criteria are met, i.e. the course is done.
SATISFIED = "https://w3id.org/xapi/adl/verbs/satisfied"
# Outcome verbs: evidence, and listed in the inbox when their actor or activity is unknown.
OUTCOME_VERBS = frozenset({COMPLETED, PASSED, FAILED, SATISFIED})
# Kept as evidence when both actor and activity map; they move nothing and wait for no one.
PRESENTED_VERBS = frozenset({"http://id.tincanapi.com/verb/viewed", ADL + "experienced"})
NOTED_VERBS = frozenset({"https://xapi.edlm/profiles/edlm-lms/concepts/verbs/uncompleted"})
EVIDENCE_VERBS = OUTCOME_VERBS | PRESENTED_VERBS | NOTED_VERBS
USABLE_VERSION_STATUSES = ("approved", "effective")
# Evidence rows are append-only (database triggers) and name their statement, itself immutable in
# the record store, like the statements. The ones that change a regulated record are audited with
# that change; chaining every row would put nearly every batch of the record store behind the
# audit trail's lock (PostgreSQL serialises appenders until commit): bench/bridge.py measured
# batched ingest at 64-70 % of the rules-off rate that way. Withdrawals are always audited.
AUDITED_DECISIONS = frozenset({"completed", "content_complete"})


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
    holders: dict[tuple[str, str, str], tuple[int, bool]] | None = None,
) -> list[int]:
    """Turn a batch of observations into evidence; ``voids`` are (voiding id, voided id) pairs.

    Observations whose actor or activity maps to nobody (or to several) wait in the inbox;
    ``waiting`` holds the inbox rows being applied by a mapping (updated, never duplicated);
    ``holders`` the people holding the observations' identity keys, when the caller has read them.

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
        for chunk in chunks(ids):
            done.update(
                session.scalars(select(Evidence.statement_id).where(Evidence.statement_id.in_(chunk)))
            )
        observations = [o for o in observations if o["statement_id"] not in done]
    if observations:
        if holders is None:
            holders = people_of_identities(session, (tuple(k) for o in observations for k in o["actor_keys"]))
        people = {holders[tuple(k)][0] for o in observations for k in o["actor_keys"] if tuple(k) in holders}
        listed = listed_versions(
            session,
            (iri for o in observations for iri in o["activity_iris"]),
            people,
            OPEN_ASSIGNMENT_STATUSES,
        )
        resolved = [(o, *_resolve(o, holders, listed.by_key)) for o in observations]
        _wait(uow, [(o, p) for o, person, version, p in resolved if p], waiting)
        ready = [(o, person, version) for o, person, version, p in resolved if not p]
        if ready:
            active = dict(holders.values())
            added = _apply(uow, ready, listed, active, source, waiting)
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
    listed: Listed,
    active: dict[int, bool],
    source: str,
    waiting: dict[str, EvidenceInbox],
) -> list[int]:
    session = uow.session
    now = uow.clock.now()
    versions, open_by_pair = listed.versions, listed.open
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
            occurred_at=timestamp_of(observation.get("timestamp")),
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
            chosen, move = effect
            row["assignment_id"] = chosen.id
            assignment = session.get(
                Assignment, chosen.id
            )  # the one row to change: through the ORM (audited)
            assert assignment is not None
            if move == "content_complete":
                if assignment.status in ("open", "overdue"):
                    assignment.status = chosen.status = "content_complete"
            else:
                completion = completions.record_completion(
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
                still_open = []
                for found in open_by_pair.get((person_id, version.training_item_id), []):
                    current = session.get(Assignment, found.id)
                    if current is not None and current.status in OPEN_ASSIGNMENT_STATUSES:
                        still_open.append(found)
                open_by_pair[(person_id, version.training_item_id)] = still_open
        rows.append(row)
    # One insert for the batch. Audited: evidence that changes a regulated record (its assignment,
    # a completion) and evidence applied by a person's mapping; see AUDITED_DECISIONS.
    table = Evidence.__table__
    rows = [
        {column.key: row.get(column.key) for column in table.columns if column.key != "id"} for row in rows
    ]
    ids = list(
        session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows).scalars()
    )
    for evidence_id, row in zip(ids, rows, strict=True):
        if row["decision"] in AUDITED_DECISIONS or source != "statement":
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
    open_assignments: list[OpenAssignment],
    seqs: dict[int, tuple[int, int]],
) -> tuple[str, str | None, tuple[OpenAssignment, str] | None]:
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
    version: ListedVersion, open_assignments: list[OpenAssignment], seqs: dict[int, tuple[int, int]]
) -> OpenAssignment | None:
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
