"""HTTP surface of content packages.

* ``POST /api/v1/courses/import`` (the REST registry: same authentication, CSRF and errors as
  the rest of ``/api/v1``, in the OpenAPI document): a multipart zip, streamed to disk and hashed.
* ``GET /content/start/<version>`` (console session) and ``/content/start/<version>/lti/<handle>``
  (an LTI launch): open an attempt and send the learner to its play link.
* ``/play/<token>/…``: the player, the package's files, the runtime commit, and for cmi5 the
  fetch URL and the AU's xAPI endpoint. Cookie-less (the console session is never opened there),
  authorised by the attempt's unguessable token, under a strict per-attempt CSP (see
  :mod:`bridge.content.security`).
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, redirect, render_template, request
from sqlalchemy import select

from bridge.content import cmi5, packages, rollup, runtime, security, services
from bridge.content.models import ContentPackage, ContentRegistration
from bridge.content.packages import ContentLimits, PackageTooLarge
from bridge.core.actor import Actor
from bridge.core.errors import Forbidden, NotFound, ValidationFailed
from bridge.core.uow import UnitOfWork
from bridge.core.web import in_unit_of_work, settings, transactional
from lti import services as lti_services
from qms.api import api
from qms.roles import AUTHORS

logger = logging.getLogger(__name__)

bp = Blueprint(
    "content", __name__, template_folder="templates", static_folder="static", static_url_path="/play/static"
)
PLAYER = Actor(kind="lrs", username="content-player", display_name="GxP Bridge content player")
MAX_COMMIT_BYTES = 4 * 1024 * 1024
_FORM_FLAGS = ("true", "1", "yes", "on")


def _limits() -> ContentLimits:
    return current_app.extensions["gxpbridge.policies"].get(ContentLimits) or ContentLimits()


@api.route(
    "POST",
    "/courses/import",
    summary="Import a SCORM 1.2 / 2004 or cmi5 package as a course version",
    tags=["training"],
    roles=AUTHORS,
    status=201,
    request_content={
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file", "code", "label"],
                "properties": {
                    "file": {"type": "string", "format": "binary", "description": "the package (zip)"},
                    "code": {"type": "string", "description": "the course's training item code"},
                    "label": {"type": "string", "description": "the new version's label"},
                    "revision": {
                        "type": "string",
                        "enum": ["major", "minor"],
                        "description": "major retrains",
                    },
                    "title": {"type": "string"},
                    "requires_signature": {"type": "boolean", "description": "new course: the learner signs"},
                    "pass_score": {"type": "number", "description": "new course: scaled pass mark 0..1"},
                },
            }
        }
    },
)
def import_course() -> Any:
    """The zip is streamed to disk and hashed, checked (zip-slip, links, bomb, XXE, manifest,
    launch files), kept under its SHA-256 and registered as a draft version of the course.
    """
    form = request.form
    stored = request.files.get("file")
    if stored is None:
        raise ValidationFailed("send the package in the multipart field 'file'", field="file")
    for name in ("code", "label"):
        if not form.get(name):
            raise ValidationFailed(f"the form field {name!r} is required", field=name)
    try:
        pass_score = float(form["pass_score"]) if form.get("pass_score") else None
    except ValueError:
        raise ValidationFailed("pass_score is a number between 0 and 1", field="pass_score") from None
    limits = _limits()
    folder = packages.package_folder(settings().instance_path)
    upload = packages.stream_to_disk(
        stored.stream, folder, stored.filename or "package.zip", limits.max_package_bytes
    )
    wanted = services.ImportRequest(
        code=form["code"],
        label=form["label"],
        revision=form.get("revision", "major"),
        title=form.get("title") or None,
        requires_signature=form.get("requires_signature", "true").lower() in _FORM_FLAGS,
        pass_score=pass_score,
    )
    try:
        result = in_unit_of_work(
            lambda uow: services.package_dict(services.import_package(uow, upload, wanted))
        )
    finally:
        upload.path.unlink(missing_ok=True)  # kept under its hash when imported
    return Response(json.dumps(result), status=201, mimetype="application/json")


@api.route(
    "GET",
    "/courses/versions/{version_id}/package",
    summary="The package of a course version",
    tags=["training"],
    roles=None,
)
def get_package(version_id: int, uow: UnitOfWork) -> dict[str, Any]:
    """Its standard, SHA-256, units with launch paths, mastery and activity IRIs."""
    return services.package_dict(services.package_of_version(uow.session, version_id))


@bp.get("/content/")
@transactional(readonly=True)
def packages_page(uow: UnitOfWork) -> Any:
    """The console's list of imported packages, each with a link to play it as oneself."""
    rows = [
        {
            "item_version_id": p.item_version_id,
            "code": v.item.code,
            "title": p.title,
            "label": v.label,
            "status": v.status,
            "standard": p.standard,
            "sha256": p.sha256,
        }
        for p, v in services.list_packages(uow.session)
    ]
    return render_template("content/packages.html", rows=rows, can_play=uow.actor.person_id is not None)


def _start(uow: UnitOfWork, version_id: int, person_id: int | None, unit: str | None) -> Any:
    if person_id is None:
        raise Forbidden("this account is not a person's: it cannot play a course", code="no_person")
    package = services.package_of_version(uow.session, version_id)
    if unit is None and len(package.units) > 1:
        return _course_menu(uow, package, person_id)
    token, _attempt = runtime.start_attempt(uow, package, person_id, unit)
    if package.standard == "cmi5":
        play = runtime.play_of(uow.session, token, uow.clock.now(), uow.settings.base_url)
        cmi5.prepare_launch(uow, play)
    return redirect(f"/play/{token}/", code=303)


def _course_menu(uow: UnitOfWork, package: ContentPackage, person_id: int) -> Any:
    """A course of several units: the learner picks one, seeing where each stands."""
    registration_id = uow.session.scalar(
        select(ContentRegistration.id).where(
            ContentRegistration.person_id == person_id, ContentRegistration.package_id == package.id
        )
    )
    standing = rollup.unit_standing(uow.session, package, registration_id)
    units = [
        {
            "title": u.get("title") or u["identifier"],
            "standing": standing[u["identifier"]],
            "href": f"{request.path}?{urlencode({'unit': u['identifier']})}",
        }
        for u in package.units
    ]
    satisfied = (
        uow.session.scalar(
            select(ContentRegistration.satisfied_at).where(ContentRegistration.id == registration_id)
        )
        if registration_id is not None
        else None
    )
    return render_template("content/course.html", package=package, units=units, satisfied=satisfied)


@bp.get("/content/start/<id:version_id>")
@transactional
def start(version_id: int, uow: UnitOfWork) -> Any:
    """Play a course version as the signed-in person (from the console)."""
    return _start(uow, version_id, uow.actor.person_id, request.args.get("unit"))


@bp.get("/content/start/<id:version_id>/lti/<handle>")
@transactional(actor=lambda: PLAYER)
def start_from_lti(version_id: int, handle: str, uow: UnitOfWork) -> Any:
    """Play a course version as the learner of an LTI launch (linked from the learner page)."""
    launch = lti_services.get_launch(uow, handle)
    uow.act_as(lti_services.launch_user_actor(uow.session, launch))
    return _start(uow, version_id, launch.person_id, request.args.get("unit"))


def _play(uow: UnitOfWork, token: str) -> runtime.Play:
    play = runtime.play_of(uow.session, token, uow.clock.now(), uow.settings.base_url)
    uow.act_as(
        Actor(
            kind="lrs",
            username=f"content-player:person-{play.attempt.registration.person_id}",
            display_name=str(play.actor.get("name") or ""),
            person_id=play.attempt.registration.person_id,
        )
    )
    return play


@bp.get("/play/<token>/")
@transactional(readonly=True, actor=lambda: PLAYER)
def player(token: str, uow: UnitOfWork) -> Any:
    """The player: the runtime API (scorm-again) and the package in a frame."""
    play = _play(uow, token)
    origin = request.host_url.rstrip("/")
    resume = runtime.resume_data(uow.session, play)
    if play.package.standard == "cmi5":
        launch = cmi5.launch_url(play, origin, token)
    else:
        launch = f"{origin}/play/{token}/pkg/{play.unit['launch']}"
    data = {
        "standard": play.package.standard,
        "commit_url": f"/play/{token}/commit",
        "launch_url": launch,
        "learner_id": play.actor["account"]["name"],
        "learner_name": play.actor.get("name") or "",
        "resume": resume,
        "mastery_score": play.unit.get("mastery_score"),
        "launch_data": play.unit.get("data_from_lms") or "",
        "attempt": play.attempt.id,
        "completion_threshold": play.unit.get("completion_threshold"),
        "next_sequence": play.attempt.last_sequence + 1,
    }
    body = render_template("content/player.html", play=play, data=data)
    response = Response(body, mimetype="text/html")
    response.headers["Content-Security-Policy"] = security.player_csp(origin, token)
    return security.no_store(response)


@bp.get("/play/<token>/pkg/<path:name>")
@transactional(readonly=True, actor=lambda: PLAYER)
def package_file(token: str, name: str, uow: UnitOfWork) -> Any:
    """A file of the attempt's package, straight from the kept zip."""
    play = _play(uow, token)
    path = services.package_path(settings().instance_path, play.package)
    if not path.exists():
        raise NotFound("the package file is missing from the content store")
    size, chunks = packages.open_member(path, name)
    media_type = security.media_type(name)
    response = Response(chunks, mimetype=media_type, direct_passthrough=True)
    response.headers["Content-Length"] = str(size)
    response.headers["Content-Security-Policy"] = security.package_csp(request.host_url.rstrip("/"), token)
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return security.no_store(response)


def _json_body() -> Any:
    if (request.content_length or 0) > MAX_COMMIT_BYTES:
        raise PackageTooLarge(f"a commit is limited to {MAX_COMMIT_BYTES} bytes", code="commit_too_large")
    raw = request.get_data(cache=False)
    if len(raw) > MAX_COMMIT_BYTES:
        raise PackageTooLarge(f"a commit is limited to {MAX_COMMIT_BYTES} bytes", code="commit_too_large")
    try:
        return json.loads(raw or b"null")
    except ValueError as exc:
        raise ValidationFailed(f"the body is not JSON ({exc})", field="body") from exc


@bp.post("/play/<token>/commit")
@transactional(actor=lambda: PLAYER)
def runtime_commit(token: str, uow: UnitOfWork) -> Any:
    """A runtime commit: ``{"sequence", "terminate", "cmi"}`` as JSON, or as ``text/plain`` from
    a page-unload beacon. Idempotent by sequence.
    """
    security.check_same_origin()
    play = _play(uow, token)
    payload = _json_body()
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("sequence"), int)
        or isinstance(payload.get("sequence"), bool)
    ):
        raise ValidationFailed('send {"sequence": <int>, "terminate": <bool>, "cmi": {...}}', field="body")
    result = runtime.apply_commit(
        uow, play, payload["sequence"], payload.get("cmi") or {}, terminate=bool(payload.get("terminate"))
    )
    return security.no_store(Response(json.dumps(result), mimetype="application/json"))
