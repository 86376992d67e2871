"""The training matrix in the console: the grid of job functions × requirements (filtered by
department, paged both ways) edited in place with htmx, a preview of the assignments a change
would create, CSV/XLSX export, and an import that shows every bad row before anything is saved.
"""

from __future__ import annotations

import base64
from typing import Any

from flask import Blueprint, Flask, Response, flash, redirect, render_template, request, url_for

from bridge.core.console import console_page, register_menu
from bridge.core.errors import ValidationFailed
from bridge.core.uow import UnitOfWork
from qms import console_forms as forms
from qms.roles import AUTHORS, READERS
from qms.training import matrix, matrix_files, matrix_grid

pages = Blueprint(
    "matrix_console",
    __name__,
    url_prefix="/console/matrix",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

MAX_UPLOAD = 20 * 1024 * 1024


def _numbers(form: Any) -> tuple[int | None, int]:
    interval_text = (form.get("retrain_interval_days") or "").strip()
    grace_text = (form.get("grace_days") or "0").strip() or "0"
    if interval_text and not interval_text.isdigit():
        raise ValidationFailed(
            "the retraining interval is a whole number of days", field="retrain_interval_days"
        )
    if not grace_text.isdigit():
        raise ValidationFailed("the grace period is a whole number of days", field="grace_days")
    return (int(interval_text) if interval_text else None), int(grace_text)


@pages.get("/")
@console_page(*READERS)
def index(uow: UnitOfWork) -> Any:
    """The grid: job functions (rows) × the items they require (columns)."""
    args = request.args
    grid = matrix_grid.grid(
        uow.session,
        uow.clock.now(),
        department_id=forms.int_arg(args.get("department")),
        search=args.get("q"),
        item_search=args.get("item"),
        page=forms.int_arg(args.get("page")) or 1,
        column_page=forms.int_arg(args.get("cols")) or 1,
    )
    return render_template(
        "matrix/console/index.html",
        grid=grid,
        departments=matrix_grid.departments(uow.session),
        page_title="Training matrix",
    )


@pages.get("/cell/<int:job_function_id>/<int:item_id>")
@console_page(*READERS)
def cell(job_function_id: int, item_id: int, uow: UnitOfWork) -> Any:
    """The in-place editor of one cell (an htmx fragment; a page without htmx)."""
    data = matrix_grid.cell(uow.session, uow.clock.now(), job_function_id, item_id)
    template = (
        "matrix/console/cell_editor.html"
        if request.headers.get("HX-Request")
        else "matrix/console/cell_page.html"
    )
    return render_template(template, **data, page_title="Matrix cell")


@pages.get("/job-functions/<int:job_function_id>/add")
@console_page(*AUTHORS)
def add_item_form(job_function_id: int, uow: UnitOfWork) -> Any:
    """The in-place editor to require another item of a job function (by its code)."""
    data = matrix_grid.cell(uow.session, uow.clock.now(), job_function_id, None)
    template = (
        "matrix/console/cell_editor.html"
        if request.headers.get("HX-Request")
        else "matrix/console/cell_page.html"
    )
    return render_template(template, **data, page_title="Require an item")


def _item(uow: UnitOfWork) -> int:
    found = forms.items(uow.session, request.form.get("item"), "item")
    if len(found) != 1:
        raise ValidationFailed("name one training item by its code", field="item")
    return found[0]


@pages.post("/job-functions/<int:job_function_id>/requirements/preview")
@console_page(*AUTHORS)
def preview_cell(job_function_id: int, uow: UnitOfWork) -> Any:
    """The assignments adding this requirement would create; nothing is saved."""
    interval, grace = _numbers(request.form)
    try:
        item_id = _item(uow)
    except ValidationFailed as exc:
        return render_template("matrix/console/preview.html", preview={"error": exc})
    preview = matrix_grid.preview_add(uow, job_function_id, item_id, interval, grace)
    return render_template("matrix/console/preview.html", preview=preview)


def _grid_back() -> Any:
    target = forms.safe_back(request.form.get("back"), url_for(".index"))
    if request.headers.get("HX-Request"):
        response = Response(status=204)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, code=303)


@pages.post("/job-functions/<int:job_function_id>/requirements")
@console_page(*AUTHORS)
def add(job_function_id: int, uow: UnitOfWork) -> Any:
    """Add the requirement; everyone in the job function not trained gets an assignment."""
    interval, grace = _numbers(request.form)
    item_id = _item(uow)
    _requirement, created = matrix.add_requirement(
        uow,
        scope="job_function",
        scope_id=job_function_id,
        training_item_id=item_id,
        retrain_interval_days=interval,
        grace_days=grace,
    )
    flash(f"Requirement added; {len(created)} assignment(s) created.")
    return _grid_back()


@pages.post("/requirements/<int:requirement_id>")
@console_page(*AUTHORS)
def update(requirement_id: int, uow: UnitOfWork) -> Any:
    """Change a requirement's periodic retraining (with the reason)."""
    interval, grace = _numbers(request.form)
    matrix.update_requirement(
        uow,
        requirement_id,
        retrain_interval_days=interval,
        grace_days=grace,
        reason=request.form.get("reason", ""),
    )
    flash("Requirement changed.")
    return _grid_back()


@pages.post("/requirements/<int:requirement_id>/retire")
@console_page(*AUTHORS)
def retire(requirement_id: int, uow: UnitOfWork) -> Any:
    """Retire a requirement (with the reason)."""
    matrix.retire_requirement(uow, requirement_id, reason=request.form.get("reason", ""))
    flash("Requirement retired.")
    return _grid_back()


@pages.get("/export.<any(csv, xlsx):file_format>")
@console_page(*READERS)
def export(file_format: str, uow: UnitOfWork) -> Any:
    """The matrix in force as CSV or XLSX."""
    now = uow.clock.now()
    if file_format == "xlsx":
        body, mimetype = matrix_files.export_xlsx(uow.session, now), matrix_files.XLSX_TYPE
    else:
        body, mimetype = matrix_files.export_csv(uow.session, now).encode("utf-8"), "text/csv; charset=utf-8"
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="training-matrix.{file_format}"'
    return response


def _upload() -> tuple[bytes, str]:
    return forms.checked_upload(
        request.files, request.form, max_bytes=MAX_UPLOAD, too_large="the file is larger than 20 MB"
    )


@pages.get("/import")
@console_page(*AUTHORS)
def import_form(uow: UnitOfWork) -> Any:
    """Choose a matrix file to check."""
    return render_template("matrix/console/import.html", page_title="Import the training matrix")


@pages.post("/import/check")
@console_page(*AUTHORS)
def import_check(uow: UnitOfWork) -> Any:
    """Check every row and show what the import would create; nothing is saved."""
    content, name = _upload()
    replace = request.form.get("replace") == "1"
    preview = matrix_grid.preview_import(uow, content, name, replace=replace)
    context = {
        "preview": preview,
        "filename": name,
        "replace": replace,
        "content": base64.b64encode(content).decode("ascii") if "error" not in preview else "",
    }
    if request.headers.get("HX-Request"):
        return render_template("matrix/console/import_result.html", **context)
    return render_template("matrix/console/import.html", **context, page_title="Import the training matrix")


@pages.post("/import")
@console_page(*AUTHORS)
def import_apply(uow: UnitOfWork) -> Any:
    """Import the checked file (all rows or none)."""
    content, name = _upload()
    outcome = matrix_grid.apply_import(uow, content, name, replace=request.form.get("replace") == "1")
    flash(
        f"Matrix imported: {outcome.rows} row(s), {outcome.created} created, {outcome.updated} changed, "
        f"{outcome.retired} retired, {outcome.assignments_created} assignment(s) created."
    )
    return redirect(url_for(".index"), code=303)


def init_app(app: Flask) -> None:
    """Serve the matrix pages and list them under "Training"."""
    app.register_blueprint(pages)
    register_menu(app, "Training", "Training matrix", "matrix_console.index", roles=READERS, order=20)
    register_menu(app, "Training", "Import the matrix", "matrix_console.import_form", roles=AUTHORS, order=21)
