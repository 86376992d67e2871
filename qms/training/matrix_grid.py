"""The training matrix as the console shows it: a page of job functions × the items they require,
one cell's requirement, and previews of what a change would assign (the real change run in a
savepoint that is rolled back: the preview is exactly what the change would create).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge.core.errors import DomainError, NotFound
from bridge.core.people import Person
from bridge.core.uow import UnitOfWork
from qms.documents.models import TrainingItem, TrainingItemVersion
from qms.org.models import Department, JobFunction, PersonDepartment, PersonJobFunction
from qms.training import matrix, matrix_files
from qms.training import scope as in_scope
from qms.training.models import Assignment, Requirement

logger = logging.getLogger(__name__)

PREVIEW_ROWS = 50


@dataclass
class Grid:
    """One page of the matrix: rows (job functions), columns (items), cells keyed (jf id, item id)."""

    rows: list[JobFunction]
    columns: list[Any]
    cells: dict[tuple[int, int], Any]
    total_rows: int
    page: int
    pages: int
    total_columns: int
    column_page: int
    column_pages: int


def departments(session: Session) -> list[Any]:
    """Departments for the filter (id, code, name)."""
    return list(
        session.execute(
            select(Department.id, Department.code, Department.name)
            .where(Department.active.is_(True))
            .order_by(Department.code)
        ).all()
    )


def grid(
    session: Session,
    now: dt.datetime,
    *,
    department_id: int | None = None,
    search: str | None = None,
    item_search: str | None = None,
    page: int = 1,
    per_page: int = 20,
    column_page: int = 1,
    columns_per_page: int = 20,
) -> Grid:
    """A page of job functions (optionally those with a current member in ``department_id``) and
    the items their requirements in force name, themselves paged as columns.
    """
    rows_query = select(JobFunction).where(JobFunction.active.is_(True))
    if search and search.strip():
        like = f"%{search.strip().lower()}%"
        rows_query = rows_query.where(
            func.lower(JobFunction.code).like(like) | func.lower(JobFunction.name).like(like)
        )
    if department_id:
        members = (
            select(PersonJobFunction.job_function_id)
            .join(PersonDepartment, PersonDepartment.person_id == PersonJobFunction.person_id)
            .where(
                PersonDepartment.department_id == department_id,
                in_scope.active_at(PersonDepartment, now),
                in_scope.active_at(PersonJobFunction, now),
            )
        )
        rows_query = rows_query.where(JobFunction.id.in_(members))
    total = session.scalar(select(func.count()).select_from(rows_query.subquery())) or 0
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    rows = list(
        session.scalars(
            rows_query.order_by(JobFunction.code, JobFunction.id)
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    ids = [r.id for r in rows] or [0]
    requirements = list(
        session.execute(
            select(
                Requirement.job_function_id, Requirement.training_item_id, Requirement.retrain_interval_days
            ).where(
                Requirement.scope == "job_function",
                Requirement.job_function_id.in_(ids),
                in_scope.active_at(Requirement, now),
            )
        )
    )
    item_query = select(TrainingItem.id, TrainingItem.code, TrainingItem.title).where(
        TrainingItem.id.in_({r.training_item_id for r in requirements} or {0})
    )
    if item_search and item_search.strip():
        item_query = item_query.where(func.lower(TrainingItem.code).like(f"%{item_search.strip().lower()}%"))
    items = list(session.execute(item_query.order_by(TrainingItem.code)).all())
    column_pages = max(1, math.ceil(len(items) / columns_per_page))
    column_page = min(max(1, column_page), column_pages)
    shown = items[(column_page - 1) * columns_per_page : column_page * columns_per_page]
    cells = {(r.job_function_id, r.training_item_id): r for r in requirements}
    return Grid(rows, shown, cells, total, page, pages, len(items), column_page, column_pages)  # type: ignore[arg-type]


def cell(session: Session, now: dt.datetime, job_function_id: int, item_id: int | None) -> dict[str, Any]:
    """One cell: the job function, the item (None: to be named) and the requirement in force."""
    function = session.get(JobFunction, job_function_id)
    item = session.get(TrainingItem, item_id) if item_id is not None else None
    if function is None or (item_id is not None and item is None):
        raise NotFound("no such job function or training item")
    return {
        "job_function": function,
        "item": item,
        "requirement": matrix.duplicate_of(session, "job_function", job_function_id, item_id)
        if item
        else None,
        "members": len(
            in_scope.people_in_scope(
                session,
                Requirement(scope="job_function", job_function_id=job_function_id, training_item_id=item_id),
                now,
            )
        ),
    }


def describe_assignments(session: Session, assignment_ids: list[int], limit: int = PREVIEW_ROWS) -> list[Any]:
    """Who gets which version, due when (the first ``limit`` by name)."""
    if not assignment_ids:
        return []
    return list(
        session.execute(
            select(
                Person.display_name,
                Person.employee_no,
                TrainingItem.code,
                TrainingItemVersion.label,
                Assignment.due_at,
            )
            .join(Person, Person.id == Assignment.person_id)
            .join(TrainingItemVersion, TrainingItemVersion.id == Assignment.item_version_id)
            .join(TrainingItem, TrainingItem.id == Assignment.training_item_id)
            .where(Assignment.id.in_(assignment_ids[:5000]))
            .order_by(Person.display_name, TrainingItem.code)
            .limit(limit)
        ).all()
    )


class _Undo(Exception):
    """Raised inside a preview's savepoint so that everything it wrote is rolled back."""


def dry_run(uow: UnitOfWork, change: Callable[[], Any]) -> dict[str, Any]:
    """Run ``change`` (returning ``(outcome, assignment ids)``) and roll it back; what it would do.

    A refusal comes back as ``{"error": DomainError}``: nothing was written either way.
    """
    preview: dict[str, Any] = {}
    try:
        with uow.savepoint():
            outcome, created = change()
            preview = {
                "outcome": outcome,
                "count": len(created),
                "assignments": describe_assignments(uow.session, list(created)),
            }
            raise _Undo
    except _Undo:
        pass
    except DomainError as exc:
        preview = {"error": exc}
    return preview


def preview_add(
    uow: UnitOfWork, job_function_id: int, item_id: int, interval: int | None, grace: int
) -> dict[str, Any]:
    """The assignments adding this cell would create (nothing is saved)."""
    return dry_run(
        uow,
        lambda: matrix.add_requirement(
            uow,
            scope="job_function",
            scope_id=job_function_id,
            training_item_id=item_id,
            retrain_interval_days=interval,
            grace_days=grace,
        ),
    )


def read_file(content: bytes, filename: str) -> tuple[list[dict[str, Any]], str]:
    """Rows of an uploaded matrix file and its format (by extension: .xlsx, else CSV)."""
    if filename.lower().endswith(".xlsx"):
        return matrix_files.parse_xlsx(content), "xlsx"
    return matrix_files.parse_csv(content), "csv"


def preview_import(uow: UnitOfWork, content: bytes, filename: str, *, replace: bool) -> dict[str, Any]:
    """Check every row of a matrix file and what importing it would create; nothing is saved.

    A refused file gives ``errors`` (each row, field and message) and the refusal's message.
    """

    def change() -> tuple[Any, list[int]]:
        rows, file_format = read_file(content, filename)
        mark = uow.session.scalar(select(func.max(Assignment.id))) or 0
        outcome = matrix_files.import_matrix(
            uow, rows, content=content, file_format=file_format, replace=replace
        )
        created = list(uow.session.scalars(select(Assignment.id).where(Assignment.id > mark)))
        return outcome, created

    preview = dry_run(uow, change)
    if "error" in preview:
        exc = preview["error"]
        preview["errors"] = (exc.details or {}).get("errors") or [
            {"row": None, "field": exc.field, "message": exc.message}
        ]
    return preview


def apply_import(
    uow: UnitOfWork, content: bytes, filename: str, *, replace: bool
) -> matrix_files.ImportOutcome:
    """Import a matrix file (all rows or none)."""
    rows, file_format = read_file(content, filename)
    return matrix_files.import_matrix(uow, rows, content=content, file_format=file_format, replace=replace)
