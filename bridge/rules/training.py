"""Rules about training: completions reach the LMS gradebook, CAPA training follows new versions."""

from __future__ import annotations

import logging

from bridge.core.uow import UnitOfWork
from lti import services as lti_services
from qms.capa import handlers as capa_handlers
from qms.events import TrainingCompleted, VersionBecameEffective

logger = logging.getLogger(__name__)


def send_score_to_the_lms(uow: UnitOfWork, event: TrainingCompleted) -> None:
    """A completion sends its score to every LMS gradebook line item it was launched from.

    The scores go into the outbox in this transaction and leave after the commit, so a
    completion is never reported that did not happen, and none is lost if the LMS is down.
    """
    lti_services.enqueue_scores(uow, event)


def carry_capa_training_to_the_new_version(uow: UnitOfWork, event: VersionBecameEffective) -> None:
    """When a new version comes into force, open CAPA training moves to it with its due date.

    The superseded version can no longer be signed, so a CAPA whose trainees are outside the
    matrix could otherwise never close.
    """
    capa_handlers.carry_training_to_new_version(uow, event)
