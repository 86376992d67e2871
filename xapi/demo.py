"""The LRS part of the demo plant: a published demo credential and a few statements."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app

from bridge.core.uow import UnitOfWork
from bridge.core.web import settings
from xapi import auth
from xapi.statements import store_statements

logger = logging.getLogger(__name__)

# Published demo credential (documented in docs/xapi.md); never use it outside the demo.
DEMO_CREDENTIAL = "demo-lrs"
DEMO_KEY = "demo-lrs-key"
DEMO_SECRET = "demo-lrs-secret-2026"  # noqa: S105 - published demo credential
DEMO_LMS = "https://moodle.demo.example"
DEMO_REGISTRATION = "6d1b7e0e-3c55-4d47-9f0a-2b8f7a51c0de"


def _statement(
    when: str, email: str, name: str, verb: str, activity: str, title: str, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "actor": {"objectType": "Agent", "name": name, "mbox": f"mailto:{email}"},
        "verb": {"id": f"http://adlnet.gov/expapi/verbs/{verb}", "display": {"en-US": verb}},
        "object": {"objectType": "Activity", "id": f"{DEMO_LMS}/mod/scorm/view.php?id={activity}",
                   "definition": {"name": {"en-US": title},
                                  "type": "http://adlnet.gov/expapi/activities/course"}},
        "context": {"registration": DEMO_REGISTRATION, "platform": "Moodle", "language": "en",
                    "contextActivities": {"parent": [{"objectType": "Activity",
                                                      "id": f"{DEMO_LMS}/course/view.php?id=2"}]}},
        "timestamp": when,
    }
    body.update(extra)
    return body


def demo_statements(when: str) -> list[dict[str, Any]]:
    """Statements a Moodle course with a SCORM package would have sent for two operators at ``when``."""
    olivia = (when, "olivia.operator@demo.example", "Olivia Operator")
    omar = (when, "omar.operator@demo.example", "Omar Operator")
    return [
        _statement(*olivia, "launched", "14", "SOP-014 Line clearance (e-learning)"),
        _statement(*olivia, "completed", "14", "SOP-014 Line clearance (e-learning)",
                   result={"completion": True, "duration": "PT18M30S"}),
        _statement(*olivia, "passed", "14", "SOP-014 Line clearance (e-learning)",
                   result={"success": True, "score": {"scaled": 0.9, "raw": 9, "min": 0, "max": 10}}),
        _statement(*omar, "launched", "14", "SOP-014 Line clearance (e-learning)"),
        _statement(*omar, "failed", "14", "SOP-014 Line clearance (e-learning)",
                   result={"success": False, "score": {"scaled": 0.5, "raw": 5, "min": 0, "max": 10}}),
    ]


def load_demo(uow: UnitOfWork) -> None:
    """Create the ``demo-lrs`` credential (key ``demo-lrs-key``) and store a few statements."""
    issued = auth.create_credential(uow, DEMO_CREDENTIAL, scopes=["all"],
                                    pepper=current_app.config["SECRET_KEY"], home_page=settings().base_url,
                                    key=DEMO_KEY, secret=DEMO_SECRET)
    row = uow.session.get(auth.LrsCredential, issued.id)
    assert row is not None
    principal = auth.Principal(row.id, row.name, frozenset(row.scopes), row.authority)
    ids = store_statements(uow, principal, demo_statements(uow.clock.now().isoformat()), v2=False)
    logger.info("demo LRS: credential %s and %d statements", DEMO_CREDENTIAL, len(ids))
