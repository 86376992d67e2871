"""Identity reconciliation: LMS accounts (people known only from LTI launches), xAPI actors
waiting in the evidence inbox, and HR people (employed or with an employee number), matched with
the evidence of each match (same e-mail, same employee id, same name) and a human decision.

Nothing is merged silently: a candidate is only proposed. Accepting an xAPI actor links its
identity to the HR person (and applies the statements waiting for it, through the evidence
inbox); accepting an LMS account moves its LTI (and xAPI) identities to the HR person and
deactivates the duplicate person (its past records stay where they are, named in the decision).
Rejecting records the decision so the pair is not proposed again. Every decision is audited.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.core import audit
from bridge.core.errors import NotFound, ValidationFailed
from bridge.core.people import Person, PersonIdentity, link_identity, mbox_sha1sum
from bridge.core.uow import UnitOfWork
from qms.onboarding.models import IdentityDecision
from qms.org.models import Employment
from qms.roles import ORG_MANAGERS
from qms.training import evidence_inbox

logger = logging.getLogger(__name__)

SOURCES = ("lti", "xapi")


def _hr_people(session: Session) -> list[Person]:
    employed = select(Employment.person_id)
    return list(
        session.scalars(
            select(Person)
            .where((Person.employee_no.is_not(None)) | (Person.id.in_(employed)))
            .order_by(Person.id)
        )
    )


def _norm(value: str | None) -> str:
    return " ".join((value or "").casefold().split())


def _evidence(
    person: Person,
    *,
    email: str | None = None,
    email_sha1: str | None = None,
    employee_id: str | None = None,
    name: str | None = None,
) -> list[str]:
    found = []
    mail = _norm(person.email)
    if mail and (
        (email and _norm(email) == mail) or (email_sha1 and mbox_sha1sum(f"mailto:{mail}") == email_sha1)
    ):
        found.append("same_email")
    if person.employee_no and employee_id and _norm(employee_id) == _norm(person.employee_no):
        found.append("same_employee_id")
    if name and _norm(name) == _norm(person.display_name):
        found.append("same_name")
    return found


def _xapi_sources(session: Session) -> list[dict[str, Any]]:
    found = []
    for actor in evidence_inbox.unmapped(session, limit=5000)["actors"]:
        kind, value = actor["kind"], actor["value"]
        facts: dict[str, Any] = {"name": actor.get("name")}
        if kind == "mbox":
            facts["email"] = value.removeprefix("mailto:")
        elif kind == "mbox_sha1sum":
            facts["email_sha1"] = value
        elif kind == "xapi_account":
            facts["employee_id"] = value
            if "@" in value:
                facts["email"] = value
        found.append(
            {
                "source": "xapi",
                "source_key": actor["actor_key"],
                "facts": facts,
                "label": f"xAPI actor {actor.get('name') or value} ({kind})",
                "detail": {
                    "statements": actor["statements"],
                    "kind": kind,
                    "namespace": actor["namespace"],
                    "value": value,
                },
            }
        )
    return found


def _lti_sources(session: Session) -> list[dict[str, Any]]:
    employed = select(Employment.person_id)
    found = []
    accounts = session.scalars(
        select(Person)
        .where(
            Person.id.in_(select(PersonIdentity.person_id).where(PersonIdentity.kind == "lti")),
            Person.id.not_in(employed),
            Person.employee_no.is_(None),
            Person.active.is_(True),
        )
        .order_by(Person.id)
    )
    for person in accounts:
        lti = [i for i in person.identities if i.kind == "lti"]
        found.append(
            {
                "source": "lti",
                "source_key": f"person:{person.id}",
                "facts": {"email": person.email, "name": person.display_name},
                "label": f"LMS account {person.display_name} ({lti[0].namespace} {lti[0].value})",
                "detail": {
                    "person_id": person.id,
                    "identities": [{"issuer": i.namespace, "sub": i.value} for i in lti],
                },
            }
        )
    return found


def candidates(session: Session) -> list[dict[str, Any]]:
    """Every undecided candidate match, strongest evidence first."""
    decided = set(
        session.execute(
            select(IdentityDecision.source, IdentityDecision.source_key, IdentityDecision.person_id)
        ).all()
    )
    accepted = set(
        session.execute(
            select(IdentityDecision.source, IdentityDecision.source_key).where(
                IdentityDecision.decision == "accepted"
            )
        ).all()
    )
    people = _hr_people(session)
    found = []
    for source in _xapi_sources(session) + _lti_sources(session):
        if (source["source"], source["source_key"]) in accepted:
            continue
        for person in people:
            if source["source"] == "lti" and source["detail"]["person_id"] == person.id:
                continue
            evidence = _evidence(person, **source["facts"])
            if not evidence or (source["source"], source["source_key"], person.id) in decided:
                continue
            found.append(
                {
                    "source": source["source"],
                    "source_key": source["source_key"],
                    "source_label": source["label"],
                    "source_detail": source["detail"],
                    "person": {
                        "id": person.id,
                        "display_name": person.display_name,
                        "email": person.email,
                        "employee_no": person.employee_no,
                    },
                    "evidence": evidence,
                }
            )
    found.sort(key=lambda c: (-len(c["evidence"]), c["source"], c["source_key"], c["person"]["id"]))
    return found


def decide(
    uow: UnitOfWork, *, source: str, source_key: str, person_id: int, decision: str, reason: str
) -> dict[str, Any]:
    """Accept or reject one proposed match (audited); accepting links the identities."""
    uow.actor.require(*ORG_MANAGERS, action="deciding an identity match")
    if decision not in ("accepted", "rejected"):
        raise ValidationFailed("decision is 'accepted' or 'rejected'", field="decision")
    session = uow.session
    match = next(
        (
            c
            for c in candidates(session)
            if (c["source"], c["source_key"], c["person"]["id"]) == (source, source_key, person_id)
        ),
        None,
    )
    if match is None:
        raise NotFound(
            f"no open candidate match of {source} {source_key} with person {person_id}",
            field="source_key",
            code="no_candidate",
        )
    outcome: dict[str, Any] = {}
    with uow.because(reason):
        if decision == "accepted" and source == "xapi":
            detail = match["source_detail"]
            outcome = evidence_inbox.map_actor(
                uow,
                kind=detail["kind"],
                namespace=detail["namespace"],
                value=detail["value"],
                person_id=person_id,
                reason=reason,
            )
        elif decision == "accepted":
            outcome = _merge_lms_account(uow, int(source_key.removeprefix("person:")), person_id, reason)
        row = IdentityDecision(
            source=source,
            source_key=source_key,
            person_id=person_id,
            decision=decision,
            evidence=match["evidence"],
            reason=reason,
            decided_by=uow.actor.username[:64],
            decided_at=uow.clock.now(),
        )
        session.add(row)
    audit.record(
        uow,
        f"identity.match_{decision}",
        "person",
        person_id,
        new={"source": source, "source_key": source_key, "evidence": match["evidence"], **outcome},
    )
    return {"decision_id": row.id, "decision": decision, "evidence": match["evidence"], **outcome}


def _merge_lms_account(uow: UnitOfWork, from_id: int, to_id: int, reason: str) -> dict[str, Any]:
    session = uow.session
    source = session.get(Person, from_id)
    target = session.get(Person, to_id)
    assert source is not None and target is not None
    moved = []
    for identity in list(source.identities):
        if identity.kind in ("lti", "xapi_account"):
            key = (identity.kind, identity.namespace, identity.value)
            source.identities.remove(identity)
            session.flush()
            link_identity(session, target, *key)
            moved.append({"kind": key[0], "namespace": key[1], "value": key[2]})
    source.active = False
    session.flush()
    logger.info("LMS account person %s linked to HR person %s (%s)", from_id, to_id, reason)
    return {"identities_moved": moved, "deactivated_person_id": from_id}


def decisions(session: Session, *, limit: int = 500) -> list[IdentityDecision]:
    """The decisions taken, newest first."""
    return list(session.scalars(select(IdentityDecision).order_by(IdentityDecision.id.desc()).limit(limit)))
