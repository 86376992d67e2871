"""Who may do what in the quality system (Part 11 §11.10(g))."""

from __future__ import annotations

# Administrators hold every role but auditor (bridge.core.actor.Actor.has_role).
READERS = ("qa_author", "qa_approver", "trainer", "supervisor", "auditor")
AUTHORS = ("qa_author",)
APPROVERS = ("qa_approver",)
ORG_MANAGERS = ("qa_author", "supervisor")
TRAINERS = ("trainer",)
ASSIGNERS = ("qa_author", "supervisor", "trainer")
