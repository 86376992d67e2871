"""The notification sweep the worker runs: every notice that has come due, queued once."""

from __future__ import annotations

import logging
from typing import Any

from bridge.core.uow import UnitOfWork
from qms.notifications import notices, records

logger = logging.getLogger(__name__)


def notify(uow: UnitOfWork) -> dict[str, Any]:
    """Queue the notices due now: change approvals first (their assignments leave the digest),
    then approvals waiting, the digest, reminders, overdue notices and escalations.
    """
    site = notices.Site(uow)
    return {
        "change_approved": records.changes_approved(site),
        "approval_waiting": records.approvals_waiting(site),
        "assignment_digest": notices.digest(site),
        "reminder": notices.reminders(site),
        "overdue": notices.overdue(site),
        "escalation": notices.escalations(site),
    }
