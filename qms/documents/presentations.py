"""Presenting controlled files: each time a person is served the file of a document version (REST
or the LTI learner page) is recorded, audited, so that a "read and understood" signature can be
refused unless the document was presented to the signer before (issue 14 #5).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.core.uow import UnitOfWork
from qms.documents import services as documents
from qms.documents.models import ControlledFile, DocumentPresentation, DocumentVersion

logger = logging.getLogger(__name__)

CHANNELS = ("rest", "lti")


def present_file(uow: UnitOfWork, version_id: int, *, channel: str) -> tuple[DocumentVersion, ControlledFile]:
    """Serve the controlled file of a version to the actor and record that it was presented.

    Raises:
        NotFound: No such version, or it has no controlled file.
        Forbidden: The actor may not read it (:func:`documents.read_file`).
    """
    version, stored = documents.read_file(uow.session, uow.actor, version_id)
    person_id = uow.actor.person_id
    if person_id is not None:
        with uow.because(f"controlled file of {version.document.code} {version.label} presented ({channel})"):
            uow.session.add(
                DocumentPresentation(
                    person_id=person_id,
                    document_version_id=version.id,
                    item_version_id=version.item_version_id,
                    file_sha256=stored.sha256,
                    channel=channel,
                    presented_at=uow.clock.now(),
                )
            )
            uow.session.flush()
        logger.info("file of %s %s presented to person %s", version.document.code, version.label, person_id)
    return version, stored


def last_presentation(
    session: Session, person_id: int, item_version_id: int, at: dt.datetime
) -> DocumentPresentation | None:
    """The latest presentation of a version's controlled file to a person at or before ``at``."""
    return session.scalar(
        select(DocumentPresentation)
        .where(
            DocumentPresentation.person_id == person_id,
            DocumentPresentation.item_version_id == item_version_id,
            DocumentPresentation.presented_at <= at,
        )
        .order_by(DocumentPresentation.presented_at.desc(), DocumentPresentation.id.desc())
        .limit(1)
    )


def as_evidence(presentation: DocumentPresentation) -> dict[str, Any]:
    """How a presentation appears in a completion's evidence."""
    return {
        "presentation_id": presentation.id,
        "document_version_id": presentation.document_version_id,
        "presented_at": presentation.presented_at.isoformat(),
        "channel": presentation.channel,
        "file_sha256": presentation.file_sha256,
    }
