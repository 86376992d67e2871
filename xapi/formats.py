"""The formats a statement is returned in (``exact``, ``ids``, ``canonical``) and the removal of
xAPI 2.0 properties for 1.0.x clients.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from xapi import models
from xapi.filters import activity_key
from xapi.store import ActivityRow

V2_ONLY_CONTEXT = ("contextAgents", "contextGroups")


def strip_v2_only(statement: dict[str, Any]) -> dict[str, Any]:
    """Remove the properties a 1.0.x client must never receive."""
    for holder in (statement, statement.get("object") or {}):
        context = holder.get("context")
        if isinstance(context, dict):
            for name in V2_ONLY_CONTEXT:
                context.pop(name, None)
    return statement


def _ids_agent(agent: dict[str, Any]) -> dict[str, Any]:
    reduced: dict[str, Any] = {}
    if "objectType" in agent:
        reduced["objectType"] = agent["objectType"]
    for name in models.IFI_NAMES:
        if name in agent:
            reduced[name] = agent[name]
            return reduced
    if "member" in agent:
        reduced["member"] = [_ids_agent(m) for m in agent["member"]]
    return reduced


def _ids_context(context: dict[str, Any]) -> None:
    for name in ("instructor", "team"):
        if name in context:
            context[name] = _ids_agent(context[name])
    for kind, items in (context.get("contextActivities") or {}).items():
        context["contextActivities"][kind] = [{"id": a["id"]} for a in items]
    for item in context.get("contextAgents") or []:
        item["agent"] = _ids_agent(item["agent"])
    for item in context.get("contextGroups") or []:
        item["group"] = _ids_agent(item["group"])


def _ids_object(obj: dict[str, Any]) -> dict[str, Any]:
    kind = obj.get("objectType", "Activity")
    if kind == "Activity":
        return {"id": obj["id"]}
    if kind in ("Agent", "Group"):
        return _ids_agent(obj)
    if kind == "SubStatement":
        obj["actor"] = _ids_agent(obj["actor"])
        obj["verb"] = {"id": obj["verb"]["id"]}
        obj["object"] = _ids_object(obj["object"])
        if "context" in obj:
            _ids_context(obj["context"])
    return obj


def to_ids(statement: dict[str, Any]) -> dict[str, Any]:
    """The ``ids`` format: agents, groups, activities and verbs reduced to what identifies them."""
    statement["actor"] = _ids_agent(statement["actor"])
    statement["verb"] = {"id": statement["verb"]["id"]}
    statement["object"] = _ids_object(statement["object"])
    if "authority" in statement:
        statement["authority"] = _ids_agent(statement["authority"])
    if "context" in statement:
        _ids_context(statement["context"])
    return statement


def pick_language(value: dict[str, str], languages: list[str]) -> dict[str, str]:
    """One entry of a language map: the first acceptable language, else the first entry."""
    if not value:
        return value
    for language in languages:
        if language == "*":
            break
        for tag in value:
            if tag.lower() == language.lower() or tag.lower().split("-")[0] == language.lower():
                return {tag: value[tag]}
    first = next(iter(value))
    return {first: value[first]}


def _canonical_definition(definition: dict[str, Any], languages: list[str]) -> dict[str, Any]:
    out = dict(definition)
    for name in ("name", "description"):
        if isinstance(out.get(name), dict):
            out[name] = pick_language(out[name], languages)
    for name in ("choices", "scale", "source", "target", "steps"):
        if isinstance(out.get(name), list):
            out[name] = [
                {**c, "description": pick_language(c["description"], languages)}
                if isinstance(c.get("description"), dict)
                else c
                for c in out[name]
            ]
    return out


def to_canonical(
    statement: dict[str, Any], definitions: dict[str, dict[str, Any] | None], languages: list[str]
) -> dict[str, Any]:
    """The ``canonical`` format: canonical activity definitions, one language per language map."""

    def activity(item: dict[str, Any]) -> dict[str, Any]:
        canonical = definitions.get(item["id"])
        out = {"objectType": "Activity", "id": item["id"]}
        definition = canonical if canonical is not None else item.get("definition")
        if definition:
            out["definition"] = _canonical_definition(definition, languages)
        return out

    def verb(item: dict[str, Any]) -> dict[str, Any]:
        if isinstance(item.get("display"), dict):
            return {**item, "display": pick_language(item["display"], languages)}
        return item

    def context(ctx: dict[str, Any]) -> None:
        for kind, items in (ctx.get("contextActivities") or {}).items():
            ctx["contextActivities"][kind] = [activity(a) for a in items]

    def body(holder: dict[str, Any]) -> None:
        holder["verb"] = verb(holder["verb"])
        obj = holder["object"]
        kind = obj.get("objectType", "Activity")
        if kind == "Activity":
            holder["object"] = activity(obj)
        elif kind == "SubStatement":
            body(obj)
        if "context" in holder:
            context(holder["context"])

    body(statement)
    return statement


def activity_ids_of(statement: dict[str, Any]) -> set[str]:
    """Every activity id a statement names (for loading canonical definitions)."""
    found: set[str] = set()

    def walk(holder: dict[str, Any]) -> None:
        obj = holder["object"]
        kind = obj.get("objectType", "Activity")
        if kind == "Activity":
            found.add(obj["id"])
        elif kind == "SubStatement":
            walk(obj)
        for items in ((holder.get("context") or {}).get("contextActivities") or {}).values():
            found.update(a["id"] for a in items)

    walk(statement)
    return found


def canonical_definitions(session: Session, activity_ids: set[str]) -> dict[str, dict[str, Any] | None]:
    """Canonical definitions of ``activity_ids`` by id."""
    if not activity_ids:
        return {}
    keys = {activity_key(a): a for a in activity_ids}
    rows = session.execute(select(ActivityRow.key, ActivityRow.definition).where(ActivityRow.key.in_(keys)))
    return {keys[row.key]: row.definition for row in rows}


def render(bodies: list[str], *, fmt: str, v2: bool, session: Session, languages: list[str]) -> list[str]:
    """Statement JSON texts in the asked format, for the asking version."""
    if fmt == "exact" and (v2 or not any('"context' in b for b in bodies)):
        return bodies
    statements = [orjson.loads(b) for b in bodies]
    if fmt == "ids":
        statements = [to_ids(s) for s in statements]
    elif fmt == "canonical":
        wanted: set[str] = set()
        for statement in statements:
            wanted |= activity_ids_of(statement)
        definitions = canonical_definitions(session, wanted)
        statements = [to_canonical(s, definitions, languages) for s in statements]
    if not v2:
        statements = [strip_v2_only(s) for s in statements]
    return [orjson.dumps(s).decode() for s in statements]
