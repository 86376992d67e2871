"""When two statements are the same statement: an id sent again, or a signed statement's JWS
payload, compare without the properties the LRS sets, with timestamps compared as instants and
durations to the hundredth of a second.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from xapi import models


def _normalise_context_activities(context: dict[str, Any] | None) -> None:
    # A single activity stands for a list of one; it is stored (and returned) as a list.
    if not context or not isinstance(context.get("contextActivities"), dict):
        return
    for kind, value in context["contextActivities"].items():
        if isinstance(value, dict):
            context["contextActivities"][kind] = [value]


def normalise(statement: dict[str, Any]) -> None:
    """Normalise a validated statement in place (context activities as lists)."""
    _normalise_context_activities(statement.get("context"))
    obj = statement.get("object") or {}
    if obj.get("objectType") == "SubStatement":
        _normalise_context_activities(obj.get("context"))


_LRS_SET = ("id", "stored", "authority", "version")


_SECONDS_RE = re.compile(r"(\d+)(\.\d+)?S$")


def _duration_key(duration: str) -> str:
    # Durations compare to the hundredth of a second (xAPI 2.0, 4.2.7).
    def cut(match: re.Match[str]) -> str:
        fraction = (match.group(2) or "")[:3].rstrip("0").rstrip(".")
        return f"{int(match.group(1))}{fraction}S"

    return _SECONDS_RE.sub(cut, duration)


def comparable(statement: dict[str, Any], *, keep_timestamp: bool = True) -> Any:
    """The statement as compared for "same statement" (properties the LRS sets left out)."""
    data = {k: v for k, v in statement.items() if k not in _LRS_SET}
    data = copy.deepcopy(data)
    normalise(data)
    for holder in (data, data.get("object") if isinstance(data.get("object"), dict) else {}):
        result = holder.get("result")
        if isinstance(result, dict) and isinstance(result.get("duration"), str):
            result["duration"] = _duration_key(result["duration"])
    if "timestamp" in data:
        if keep_timestamp:
            data["timestamp"] = models.parse_timestamp(data["timestamp"]).timestamp()
        else:
            del data["timestamp"]
    return _canonical(data)


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def same_statement(stored: dict[str, Any], incoming: dict[str, Any]) -> bool:
    """Whether ``incoming`` repeats ``stored`` (for an id already taken)."""
    keep = "timestamp" in incoming
    return comparable(stored, keep_timestamp=keep) == comparable(incoming, keep_timestamp=keep)
