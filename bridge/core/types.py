"""Value types every package's request schemas share.

Database ids are 64-bit signed integers: a larger number in a path, a query string or a body
reaches the driver as an overflow (a 500) unless it is refused at the door. Schemas declare ids
with :data:`Id` (or :data:`OptionalId`); the REST registry refuses any integer outside
:data:`INT64_MIN`..:data:`INT64_MAX` in any request before a view sees it.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

Id = Annotated[int, Field(ge=1, le=INT64_MAX, json_schema_extra={"format": "int64"})]
"""A record id: 1 to 2^63 - 1."""

OptionalId = Annotated[int | None, Field(default=None, ge=1, le=INT64_MAX)]
"""An optional record id."""

Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX, json_schema_extra={"format": "int64"})]
"""Any integer a database column holds."""


def first_out_of_range(value: Any, path: str = "") -> str | None:
    """The dotted path of the first integer in ``value`` (JSON-like) outside 64 bits, or ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if INT64_MIN <= value <= INT64_MAX else (path or "value")
    if isinstance(value, dict):
        for key, item in value.items():
            found = first_out_of_range(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
    elif isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            found = first_out_of_range(item, f"{path}.{index}" if path else str(index))
            if found:
                return found
    return None
