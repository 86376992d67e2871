"""``/api/v1`` routes shared by the quality system: the OpenAPI document and the sweeps; and
the helpers every feature's routes use.
"""

from __future__ import annotations

from typing import Any

from flask import request
from sqlalchemy import inspect

from bridge import __version__
from bridge.core.errors import NotFound, ValidationFailed
from bridge.core.uow import UnitOfWork
from bridge.core.web import settings
from qms import sweeps
from qms.api import api

FILE_CONTENT = {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    "multipart/form-data": {
        "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
    },
}


def as_dict(obj: Any, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every column of a model instance."""
    return {
        attr.key: getattr(obj, attr.key)
        for attr in inspect(obj).mapper.column_attrs
        if attr.key not in exclude
    }


def lockout() -> int:
    """The signing lockout threshold of this site."""
    return settings().lockout_threshold


def upload() -> tuple[bytes, str, str]:
    """The uploaded file: multipart ``file`` field or the raw body."""
    if request.files:
        stored = request.files.get("file")
        if stored is None:
            raise ValidationFailed("send the file in the multipart field 'file'", field="file")
        return stored.read(), stored.filename or "upload", stored.mimetype or "application/octet-stream"
    content = request.get_data()
    name = request.headers.get("X-File-Name", "upload")
    return content, name, request.mimetype or "application/octet-stream"


@api.route("GET", "/openapi.json", summary="This API's OpenAPI 3.1 document", tags=["meta"], public=True)
def openapi_document() -> dict[str, Any]:
    """Generated from the route registry and its pydantic models."""
    return api.openapi(title="GxP Bridge API", version=__version__)


@api.route(
    "POST",
    "/sweeps/{name}",
    summary="Run a scheduled sweep now",
    tags=["meta"],
    roles=("administrator",),
    path_types={"name": str},
)
def run_sweep(name: str, uow: UnitOfWork) -> dict[str, Any]:
    """``effective`` (effective-date gating), ``overdue`` or ``periodic`` retraining."""
    if name not in sweeps.SWEEPS:
        raise NotFound(f"no sweep {name!r}; one of {', '.join(sweeps.SWEEPS)}", field="name")
    outcome = sweeps.SWEEPS[name](uow)
    return {"sweep": name, "outcome": outcome}
