"""Tables for console pages: server-side paging, sortable columns and GET filter forms.

A list page reads its paging and sort from the query string with :func:`table_request`, applies
them to a ``select`` with :func:`paginate`, and renders ``macros.table_head`` /
``macros.pagination`` from ``console/macros.html``. Filters are plain GET forms, so every list is a
bookmarkable URL and paging keeps the filters (see docs/console.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import request
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200


@dataclass(frozen=True)
class Column:
    """A table column: ``key`` names it in the query string (``?sort=key``); ``sort`` is the SQL
    expression it sorts by (none: not sortable).
    """

    key: str
    label: str
    sort: Any = None
    numeric: bool = False


@dataclass(frozen=True)
class TableRequest:
    """What the query string asked of a table: page, page size and sort."""

    page: int
    per_page: int
    sort: str | None
    descending: bool
    columns: tuple[Column, ...]

    @property
    def offset(self) -> int:
        """Rows to skip."""
        return (self.page - 1) * self.per_page

    def order_by(self) -> list[Any]:
        """ORDER BY clauses for the requested sort (empty when none or not sortable)."""
        for column in self.columns:
            if column.key == self.sort and column.sort is not None:
                return [column.sort.desc() if self.descending else column.sort.asc()]
        return []


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(request.args.get(name, default))
    except (TypeError, ValueError):
        return default
    return max(low, min(high, value))


def table_request(columns: Sequence[Column], *, default_sort: str | None = None,
                  default_descending: bool = False, per_page: int = DEFAULT_PER_PAGE) -> TableRequest:
    """Read ``page``, ``per_page``, ``sort`` and ``dir`` from the query string.

    Unknown sort keys fall back to ``default_sort``; page sizes are clamped to 1..200, so a
    crafted URL never asks the database for everything.
    """
    keys = {c.key for c in columns if c.sort is not None}
    sort = request.args.get("sort") or default_sort
    if sort not in keys:
        sort = default_sort
    direction = request.args.get("dir")
    descending = default_descending if direction not in ("asc", "desc") else direction == "desc"
    return TableRequest(
        page=_int_arg("page", 1, 1, 10**6),
        per_page=_int_arg("per_page", per_page, 1, MAX_PER_PAGE),
        sort=sort, descending=descending, columns=tuple(columns),
    )


@dataclass
class Page:
    """One page of rows and what the pager needs."""

    items: list[Any]
    total: int
    page: int
    per_page: int
    table: TableRequest | None = None

    @property
    def pages(self) -> int:
        """How many pages there are (at least one)."""
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        """Whether a previous page exists."""
        return self.page > 1

    @property
    def has_next(self) -> bool:
        """Whether a next page exists."""
        return self.page < self.pages

    @property
    def first_row(self) -> int:
        """1-based number of the first row shown (0 when empty)."""
        return 0 if not self.items else (self.page - 1) * self.per_page + 1

    @property
    def last_row(self) -> int:
        """1-based number of the last row shown."""
        return self.first_row + len(self.items) - 1 if self.items else 0


def paginate(session: Session, statement: Select[Any], table: TableRequest, *,
             scalars: bool = True, tiebreak: Sequence[Any] = ()) -> Page:
    """Run one page of ``statement`` sorted as ``table`` asks (then by ``tiebreak``), with the
    total count from a ``COUNT(*)`` over the same filtered statement.
    """
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0
    ordered = statement.order_by(None).order_by(*table.order_by(), *tiebreak) \
        if (table.order_by() or tiebreak) else statement
    page_no = min(table.page, max(1, math.ceil(total / table.per_page)))
    limited = ordered.limit(table.per_page).offset((page_no - 1) * table.per_page)
    rows = list(session.scalars(limited)) if scalars else list(session.execute(limited).all())
    return Page(rows, int(total), page_no, table.per_page, table)


def page_of(items: Sequence[Any], table: TableRequest) -> Page:
    """A page of an already computed list (a service that returns everything)."""
    total = len(items)
    page_no = min(table.page, max(1, math.ceil(total / table.per_page)))
    start = (page_no - 1) * table.per_page
    return Page(list(items[start:start + table.per_page]), total, page_no, table.per_page, table)


def url_with(args: Mapping[str, Any] | None = None, **changes: Any) -> str:
    """This page's URL with query ``changes`` applied (``None`` removes a key); for pager and
    sort links, so they keep the filters.
    """
    current = dict((args if args is not None else request.args).items())
    for key, value in changes.items():
        if value is None or value == "":
            current.pop(key, None)
        else:
            current[key] = value
    query = urlencode([(k, v) for k, v in current.items() if v not in (None, "")])
    return request.path + (f"?{query}" if query else "")


def sort_link(column: Column, table: TableRequest) -> tuple[str, str | None]:
    """(URL, aria-sort) of a sortable header: clicking the sorted column flips the direction."""
    if table.sort == column.key:
        flip = "asc" if table.descending else "desc"
        return url_with(sort=column.key, dir=flip, page=None), (
            "descending" if table.descending else "ascending")
    return url_with(sort=column.key, dir="asc", page=None), None
