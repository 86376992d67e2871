"""Console page of the evidence inbox (``/console/evidence-mapping``): the xAPI actors and
activities the bridge could not map, mapped to people (audited) and to training item versions
(e-signed), after which the waiting statements become evidence; and a person's evidence.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from bridge.core.console import console_page, signature_input
from bridge.core.errors import NotFound, ValidationFailed
from bridge.core.people import Person, get_person
from bridge.core.uow import UnitOfWork
from qms.documents.models import TrainingItem, TrainingItemVersion
from qms.roles import READERS
from qms.training import evidence_inbox
from qms.training.evidence_views import ACTIVITY_MAPPERS, MAPPERS

logger = logging.getLogger(__name__)

pages = Blueprint("evidence_console", __name__, url_prefix="/console/evidence-mapping",
                  template_folder="templates")


def _reason() -> str:
    reason = request.form.get("reason", "").strip()
    if not reason:
        raise ValidationFailed("give the reason for this mapping (it goes into the audit trail)",
                               field="reason")
    return reason


def _person_id(uow: UnitOfWork) -> int:
    """The person a mapping form names: a number (person id) or a unique part of a name."""
    raw = request.form.get("person", "").strip()
    if raw.isdigit():
        return get_person(uow.session, int(raw)).id
    if not raw:
        raise ValidationFailed("name the person", field="person")
    found = list(uow.session.scalars(select(Person.id).where(Person.display_name.ilike(f"%{raw}%"))
                                     .limit(2)))
    if not found:
        raise NotFound(f"nobody is called {raw!r}", field="person")
    if len(found) > 1:
        raise ValidationFailed(f"more than one person matches {raw!r}: give more of the name",
                               field="person")
    return found[0]


@pages.get("/")
@console_page(*READERS)
def inbox(uow: UnitOfWork) -> Any:
    """Unmapped actors and activities, each with how many statements wait for it."""
    waiting = evidence_inbox.unmapped(uow.session)
    versions = uow.session.execute(
        select(TrainingItemVersion.id, TrainingItem.code, TrainingItemVersion.label,
               TrainingItemVersion.status)
        .join(TrainingItem, TrainingItem.id == TrainingItemVersion.training_item_id)
        .where(TrainingItemVersion.status.not_in(("superseded", "obsolete")))
        .order_by(TrainingItem.code, TrainingItemVersion.seq).limit(5000)).all()
    return render_template("training/console/evidence_mapping.html", waiting=waiting,
                           versions=versions, can_map=uow.actor.has_role(*MAPPERS),
                           can_map_activity=uow.actor.has_role(*ACTIVITY_MAPPERS),
                           page_title="Unmapped xAPI actors and activities")


@pages.post("/actors")
@console_page(*MAPPERS)
def map_actor(uow: UnitOfWork) -> Any:
    """Link the identity to a person (audited); the statements waiting for it become evidence."""
    kind, _, rest = request.form.get("actor_key", "").partition("|")
    namespace, _, value = rest.partition("|")
    if not kind or not value:
        raise ValidationFailed("choose an unmapped actor", field="actor_key")
    person_id = _person_id(uow)
    result = evidence_inbox.map_actor(uow, kind=kind, namespace=namespace, value=value,
                                      person_id=person_id, reason=_reason())
    flash(f"Mapped: {len(result['evidence_ids'])} statements became evidence of this person.")
    return redirect(url_for(".person_evidence", person_id=person_id), code=303)


@pages.post("/activities")
@console_page(*ACTIVITY_MAPPERS)
def map_activity(uow: UnitOfWork) -> Any:
    """Add the IRI to a training item version (e-signed, audited); waiting statements apply."""
    sig = signature_input(comment_required=True)
    version_id = request.form.get("item_version_id", "")
    if not version_id.isdigit():
        raise ValidationFailed("choose the training item version", field="item_version_id")
    result = evidence_inbox.map_activity(
        uow, activity_iri=request.form.get("activity_iri", ""), item_version_id=int(version_id),
        reason=sig.comment, **sig.credentials())
    flash(f"Activity mapped and signed: {len(result['evidence_ids'])} statements became evidence.")
    return redirect(url_for(".inbox"), code=303)


@pages.get("/people/<int:person_id>")
@console_page(*READERS)
def person_evidence(person_id: int, uow: UnitOfWork) -> Any:
    """A person's evidence from the record store, newest first."""
    person = get_person(uow.session, person_id)
    return render_template("training/console/person_evidence.html", person=person,
                           evidence=evidence_inbox.for_person(uow.session, person_id),
                           page_title=f"Evidence of {person.display_name}")
