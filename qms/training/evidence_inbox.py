"""The evidence inbox (statements waiting for their actor or activity to be mapped), mapping them,
and the evidence shown on assignments, completions and transcripts.

Mapping an actor links an identity to a person (audited); mapping an activity adds the IRI to a
training item version's list, a change to a regulated record, so it is e-signed. Either applies
the statements already waiting, once: an applied inbox row records the evidence it became, and a
statement adds evidence once (``qms_evidence.statement_id`` is unique).
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bridge.core import audit, signatures
from bridge.core.errors import Conflict, ValidationFailed
from bridge.core.people import find_person_by_identity, get_person, link_identity, normalise_identity
from bridge.core.uow import UnitOfWork
from qms.documents import catalog
from qms.documents.models import TrainingItemVersion
from qms.training.evidence import record_observations
from qms.training.evidence_lookup import versions_of_iris
from qms.training.evidence_models import Evidence, EvidenceInbox, iri_key
from qms.training.models import Assignment, Completion

logger = logging.getLogger(__name__)

_PENDING = (EvidenceInbox.applied_at.is_(None), EvidenceInbox.voided.is_(False))


def unmapped(session: Session, *, limit: int = 200) -> dict[str, Any]:
    """The actors and activities statements wait for, with how many statements wait for each."""
    actors = session.execute(
        select(
            EvidenceInbox.actor_key,
            func.max(EvidenceInbox.actor_name),
            func.count(),
            func.min(EvidenceInbox.received_at),
            func.max(EvidenceInbox.received_at),
            func.max(EvidenceInbox.reason),
        )
        .where(*_PENDING, EvidenceInbox.actor_mapped.is_(False))
        .group_by(EvidenceInbox.actor_key)
        .order_by(func.count().desc(), EvidenceInbox.actor_key)
        .limit(limit)
    ).all()
    activities = session.execute(
        select(
            EvidenceInbox.activity_iri,
            func.count(),
            func.min(EvidenceInbox.received_at),
            func.max(EvidenceInbox.received_at),
            func.max(EvidenceInbox.reason),
        )
        .where(*_PENDING, EvidenceInbox.activity_mapped.is_(False))
        .group_by(EvidenceInbox.activity_iri)
        .order_by(func.count().desc(), EvidenceInbox.activity_iri)
        .limit(limit)
    ).all()

    def identity(key: str) -> dict[str, str]:
        kind, namespace, value = key.split("|", 2)
        return {"kind": kind, "namespace": namespace, "value": value}

    return {
        "actors": [
            {
                "actor_key": key,
                **identity(key),
                "name": name,
                "statements": count,
                "first_received_at": first,
                "last_received_at": last,
                "reason": reason,
            }
            for key, name, count, first, last, reason in actors
        ],
        "activities": [
            {
                "activity_iri": iri,
                "statements": count,
                "first_received_at": first,
                "last_received_at": last,
                "reason": reason,
            }
            for iri, count, first, last, reason in activities
        ],
    }


def apply_waiting(
    uow: UnitOfWork,
    rows: list[EvidenceInbox],
    *,
    observations: list[dict[str, Any]] | None = None,
    holders: dict[tuple[str, str, str], tuple[int, bool]] | None = None,
) -> list[int]:
    """Apply waiting inbox rows again (after a mapping): those that now resolve become evidence.

    ``observations`` (the rows' observations, in the rows' order, possibly with identity keys a
    caller added) and ``holders`` (who holds those keys) let a caller resolve the actors itself.
    """
    if not rows:
        return []
    order = sorted(range(len(rows)), key=lambda i: rows[i].id)
    found = observations or [row.observation for row in rows]
    waiting = {rows[i].statement_id: rows[i] for i in order}
    return record_observations(
        uow, [found[i] for i in order], source="mapping", waiting=waiting, holders=holders
    )


def waiting_for_actor(session: Session, kind: str, namespace: str, value: str) -> list[EvidenceInbox]:
    """The inbox rows an actor with this identity may be behind, oldest first.

    An xAPI account waits under its own key; an LTI identity (issuer, user id) may also be the
    account an LMS names the same user by in its statements (home page + the same user id), which
    the caller resolves against the registered platforms.
    """
    kind, namespace, value = normalise_identity(kind, namespace, value)
    keys = [EvidenceInbox.actor_key == f"{kind}|{namespace}|{value}"]
    if kind in ("lti", "xapi_account"):
        keys.append(
            EvidenceInbox.actor_key.like("xapi_account|%", escape="\\")
            & EvidenceInbox.actor_key.endswith(f"|{value}", autoescape=True)
        )
    query = select(EvidenceInbox).where(*_PENDING, or_(*keys)).order_by(EvidenceInbox.id)
    return list(session.scalars(query))


def map_actor(
    uow: UnitOfWork, *, kind: str, namespace: str, value: str, person_id: int, reason: str
) -> dict[str, Any]:
    """Link the identity to the person (audited) and apply the statements waiting for it."""
    session = uow.session
    kind, namespace, value = normalise_identity(kind, namespace, value)
    person = get_person(session, person_id)
    holder = find_person_by_identity(session, kind, namespace, value)
    if holder is None or holder.id != person.id:  # someone else's: link_identity refuses it
        with uow.because(reason):
            link_identity(session, person, kind, namespace, value)
            audit.record(
                uow,
                "evidence.actor_mapped",
                "person",
                person.id,
                new={"kind": kind, "namespace": namespace, "value": value},
            )
    key = f"{kind}|{namespace}|{value}"
    rows = list(session.scalars(select(EvidenceInbox).where(*_PENDING, EvidenceInbox.actor_key == key)))
    added = apply_waiting(uow, rows)
    return {"person_id": person.id, "waiting": len(rows), "evidence_ids": added}


def map_activity(
    uow: UnitOfWork,
    *,
    activity_iri: str,
    item_version_id: int,
    username: str,
    password: str,
    reason: str,
    lockout_threshold: int,
) -> dict[str, Any]:
    """Add the IRI to the version's activity IRIs (e-signed, audited) and apply what waits for it."""
    session = uow.session
    activity_iri = (activity_iri or "").strip()
    if ":" not in activity_iri:
        raise ValidationFailed("an activity IRI needs a scheme", field="activity_iri")
    version = catalog.get_item_version(session, item_version_id, lock=True)
    listed = versions_of_iris(session, [activity_iri]).get(iri_key(activity_iri), set())
    if listed - {version.id}:
        raise Conflict(
            f"{activity_iri} is already listed by training item version {sorted(listed - {version.id})[0]}",
            field="activity_iri",
            code="activity_already_mapped",
        )
    if version.status in ("superseded", "obsolete"):
        raise ValidationFailed(
            f"version {version.label} is {version.status}", field="item_version_id", code="version_retired"
        )
    new_iris = sorted({*(version.activity_iris or []), activity_iri})
    signature = signatures.sign(
        uow,
        username=username,
        password=password,
        meaning="approved",
        record_type="qms_training_item_version",
        record_id=version.id,
        content={
            "item": version.item.code,
            "version": version.label,
            "activity_iris": new_iris,
            "added": activity_iri,
        },
        lockout_threshold=lockout_threshold,
        comment=reason,
    )
    with uow.because(reason):
        version.activity_iris = new_iris
        session.flush()
        audit.record(
            uow,
            "evidence.activity_mapped",
            "qms_training_item_version",
            version.id,
            new={"activity_iri": activity_iri, "signature_id": signature.id},
        )
    rows = list(
        session.scalars(
            select(EvidenceInbox).where(
                *_PENDING,
                or_(
                    EvidenceInbox.activity_key == iri_key(activity_iri),
                    EvidenceInbox.activity_iri == activity_iri,
                ),
            )
        )
    )
    rows += [
        r
        for r in session.scalars(
            select(EvidenceInbox).where(*_PENDING, EvidenceInbox.activity_mapped.is_(False))
        )
        if activity_iri in r.observation.get("activity_iris", []) and r not in rows
    ]
    added = apply_waiting(uow, rows)
    return {
        "item_version_id": version.id,
        "signature_id": signature.id,
        "waiting": len(rows),
        "evidence_ids": added,
    }


# -- showing evidence ------------------------------------------------------------------------------


def _dicts(
    session: Session, rows: list[Evidence], counted_version: int | None = None
) -> list[dict[str, Any]]:
    ids = [r.id for r in rows]
    withdrawn: dict[int, tuple[str, int]] = {}
    if ids:
        for target, decision, row_id in session.execute(
            select(Evidence.withdraws_id, Evidence.decision, Evidence.id).where(
                Evidence.withdraws_id.in_(ids)
            )
        ):
            withdrawn[target] = (decision, row_id)
    labels = (
        dict(
            session.execute(
                select(TrainingItemVersion.id, TrainingItemVersion.label).where(
                    TrainingItemVersion.id.in_({r.item_version_id for r in rows})
                )
            ).all()
        )
        if rows
        else {}
    )
    result = []
    for r in rows:
        state = withdrawn.get(r.id)
        result.append(
            {
                "id": r.id,
                "statement_id": r.statement_id,
                "verb": r.verb,
                "activity_iri": r.activity_iri,
                "item_version_id": r.item_version_id,
                "version_label": labels.get(r.item_version_id),
                "assigned_version": counted_version is None or r.item_version_id == counted_version,
                "result": {
                    "success": r.success,
                    "completion": r.completion,
                    "score": {
                        "raw": r.score_raw,
                        "min": r.score_min,
                        "max": r.score_max,
                        "scaled": r.score_scaled,
                    },
                    "duration": r.duration,
                    "registration": r.registration,
                },
                "decision": r.decision,
                "reason": r.reason,
                "assignment_id": r.assignment_id,
                "completion_id": r.completion_id,
                "withdraws_id": r.withdraws_id,
                "source": r.source,
                "occurred_at": r.occurred_at,
                "recorded_at": r.recorded_at,
                "withdrawn": state is not None and state[0] == "withdrawn",
                "under_review": state is not None and state[0] == "review_required",
            }
        )
    return result


def for_assignment(session: Session, assignment: Assignment) -> list[dict[str, Any]]:
    """Evidence of the assignee on the item, every version (flagged when not the assigned one)."""
    rows = list(
        session.scalars(
            select(Evidence)
            .where(
                or_(
                    Evidence.assignment_id == assignment.id,
                    (Evidence.person_id == assignment.person_id)
                    & (Evidence.training_item_id == assignment.training_item_id),
                )
            )
            .order_by(Evidence.id)
        )
    )
    return _dicts(session, rows, assignment.item_version_id)


def for_completion(session: Session, completion: Completion) -> list[dict[str, Any]]:
    """The evidence a completion rests on (and the content-complete evidence of its assignment)."""
    clause = Evidence.completion_id == completion.id
    if completion.assignment_id is not None:
        clause = or_(clause, Evidence.assignment_id == completion.assignment_id)
    return _dicts(session, list(session.scalars(select(Evidence).where(clause).order_by(Evidence.id))))


def for_person(session: Session, person_id: int, *, limit: int = 500) -> list[dict[str, Any]]:
    """A person's evidence, newest first (the transcript's evidence section)."""
    rows = list(
        session.scalars(
            select(Evidence).where(Evidence.person_id == person_id).order_by(Evidence.id.desc()).limit(limit)
        )
    )
    return _dicts(session, rows)


def review_queue(session: Session, *, limit: int = 200) -> list[dict[str, Any]]:
    """Evidence whose statement was voided while a completion or signature rests on it."""
    flags = list(
        session.scalars(
            select(Evidence)
            .where(Evidence.decision == "review_required")
            .order_by(Evidence.id.desc())
            .limit(limit)
        )
    )
    return _dicts(session, flags)
