"""The filter rows of a statement: one fixed-width key per value a query can filter on (agents,
verb, activities, registration), with its relation (DIRECT for the actor/object, verb and
registration; RELATED for everything ``related_agents`` / ``related_activities`` reach).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from xapi.store import DIRECT, RELATED, index_key


def agent_identity(agent: dict[str, Any]) -> str | None:
    """The identity string of an agent or identified group (objectType + IFI), or ``None``."""
    kind = agent.get("objectType", "Agent")
    if "mbox" in agent:
        ifi = "mbox|" + agent["mbox"]
    elif "mbox_sha1sum" in agent:
        ifi = "mbox_sha1sum|" + agent["mbox_sha1sum"].lower()
    elif "openid" in agent:
        ifi = "openid|" + agent["openid"]
    elif "account" in agent:
        ifi = f"account|{agent['account']['homePage']}|{agent['account']['name']}"
    else:
        return None
    return f"{kind}|{ifi}"


def agent_key(agent: dict[str, Any]) -> str | None:
    """The filter key of an agent, or ``None`` for an anonymous group."""
    identity = agent_identity(agent)
    return index_key("a", identity) if identity else None


def activity_key(activity_id: str) -> str:
    """The filter key of an activity id."""
    return index_key("o", activity_id)


def verb_key(verb_id: str) -> str:
    """The filter key of a verb id."""
    return index_key("v", verb_id)


def registration_key(registration: str) -> str:
    """The filter key of a registration (compared case-insensitively, as UUIDs are)."""
    return index_key("r", registration.lower())


def context_activities(context: dict[str, Any] | None) -> Iterable[dict[str, Any]]:
    """Every activity of ``context.contextActivities`` (parent, grouping, category, other)."""
    if not context:
        return ()
    found: list[dict[str, Any]] = []
    for kind in ("parent", "grouping", "category", "other"):
        found.extend((context.get("contextActivities") or {}).get(kind) or [])
    return found


_CONTEXT_KINDS = ("parent", "grouping", "category", "other")


def _agent_rows(rows: dict[str, int], agent: dict[str, Any] | None, relation: int) -> None:
    # An agent (or identified group) with ``relation``; a group's members are always RELATED.
    if not agent:
        return
    key = agent_key(agent)
    if key is not None and rows.get(key, RELATED + 1) > relation:
        rows[key] = relation
    for member in agent.get("member") or ():
        key = agent_key(member)
        if key is not None and key not in rows:
            rows[key] = RELATED


def _context_rows(rows: dict[str, int], context: dict[str, Any] | None) -> None:
    if not context:
        return
    _agent_rows(rows, context.get("instructor"), RELATED)
    _agent_rows(rows, context.get("team"), RELATED)
    for item in context.get("contextAgents") or ():
        _agent_rows(rows, item.get("agent"), RELATED)
    for item in context.get("contextGroups") or ():
        _agent_rows(rows, item.get("group"), RELATED)
    activities = context.get("contextActivities")
    if activities:
        for kind in _CONTEXT_KINDS:
            for activity in activities.get(kind) or ():
                key = activity_key(activity["id"])
                if key not in rows:
                    rows[key] = RELATED


def filter_rows(statement: dict[str, Any]) -> dict[str, int]:
    """Every filter key a statement matches, with its relation (DIRECT or RELATED).

    A key met both ways keeps DIRECT (the smaller relation): DIRECT rows are written over
    whatever is there, RELATED rows only where nothing is.
    """
    rows: dict[str, int] = {}
    _agent_rows(rows, statement["actor"], DIRECT)
    rows[verb_key(statement["verb"]["id"])] = DIRECT
    obj = statement["object"]
    kind = obj.get("objectType", "Activity")
    if kind == "Activity":
        rows[activity_key(obj["id"])] = DIRECT
    elif kind in ("Agent", "Group"):
        _agent_rows(rows, obj, DIRECT)
    elif kind == "SubStatement":
        _agent_rows(rows, obj["actor"], RELATED)
        sub_object = obj["object"]
        sub_kind = sub_object.get("objectType", "Activity")
        if sub_kind == "Activity":
            key = activity_key(sub_object["id"])
            if key not in rows:
                rows[key] = RELATED
        elif sub_kind in ("Agent", "Group"):
            _agent_rows(rows, sub_object, RELATED)
        _context_rows(rows, obj.get("context"))
    context = statement.get("context")
    if context and context.get("registration"):
        rows[registration_key(context["registration"])] = DIRECT
    _context_rows(rows, context)
    _agent_rows(rows, statement.get("authority"), RELATED)
    return rows
