"""HTTP side of the LTI tool: JWKS, OIDC login, launch, learner and instructor pages inside
the LMS frame, deep linking and Dynamic Registration (the administrators' pages are console pages,
lti/console.py; the former /lti/admin/ URLs redirect there).

Pages of a launch live under ``/lti/s/<handle>/``: the handle is an unguessable, expiring
capability recorded server-side at launch, so no cookie is needed inside the LMS iframe
(third-party cookies blocked). Forms posted to those URLs cannot be forged from another
site (the handle is secret); signatures still need the signing password.
"""

from __future__ import annotations

import logging
import re
import typing as t
from functools import wraps

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from bridge.core import accounts, signatures
from bridge.core.actor import Actor
from bridge.core.errors import DomainError, Forbidden, NotFound, Unauthorized
from bridge.core.headers import frame_and_post_to, send_upload
from bridge.core.uow import UnitOfWork
from bridge.core.web import database, in_unit_of_work, settings, transactional
from lti import keys, services
from lti.launch_policy import LaunchPolicy, LaunchRefused, fetch_keyset
from lti.models import LtiLaunch, LtiPlatform
from qms.documents import presentations as qms_presentations
from qms.documents import services as qms_documents
from qms.training import services as qms_training

logger = logging.getLogger(__name__)

bp = Blueprint("lti", __name__, url_prefix="/lti", template_folder="templates")
OPEN_STATUSES = ("open", "content_complete", "overdue")
FILE_URL_RE = re.compile(r"/document-versions/(\d+)/file")
SYSTEM_LTI = Actor(kind="system", username="lti", display_name="LTI tool")


def page_policy() -> dict[str, str]:
    """What the LTI pages need from the Content-Security-Policy (``bridge.core.headers``): launch
    pages open inside the LMS page, so the active platforms' origins may frame them and receive
    their forms (the deep-linking return); the Dynamic Registration page is framed by the platform
    registering. Inline scripts carry the request's nonce (``csp_nonce()``); the administrators'
    pages keep the console's policy.
    """
    if request.path.startswith("/lti/admin/"):
        return {}
    with database().read_sessions() as session:
        rows = session.execute(
            select(LtiPlatform.issuer, LtiPlatform.auth_login_url).where(LtiPlatform.active)
        ).all()
    origins = [url for row in rows for url in row]
    if request.path.startswith("/lti/register"):
        origins.append(request.values.get("openid_configuration", ""))
    return frame_and_post_to(origins)


def tool_base_url() -> str:
    """The public base URL of this tool (``LTI_BASE_URL`` in the app config, else the site's)."""
    return (current_app.config.get("LTI_BASE_URL") or settings().base_url).rstrip("/")


def _base_url() -> str:
    return tool_base_url()


def _learner() -> Actor:
    return t.cast(Actor, g.lti_actor)


def _policy() -> LaunchPolicy:
    return LaunchPolicy(base_url=_base_url(),
                        max_token_age=int(current_app.config.get("LTI_MAX_TOKEN_AGE", 300)),
                        clock_skew=int(current_app.config.get("LTI_CLOCK_SKEW", 60)))


def _refused_page(exc: DomainError, stage: str) -> tuple[str, int]:
    """Audit the refusal and show a clear page.

    The request's own unit of work has rolled back (nothing of a refused launch is kept): the
    audit row gets a unit of work of its own, opened and committed by the core.
    """
    try:
        in_unit_of_work(lambda uow: services.record_refusal(uow, exc, stage=stage), actor=SYSTEM_LTI)
    except Exception:
        logger.exception("could not audit the refused %s", stage)
    logger.warning("LTI %s refused: %s (%s)", stage, exc.message, getattr(exc, "check", exc.code))
    return render_template("lti/refused.html", stage=stage, message=exc.message,
                           check=getattr(exc, "check", exc.code)), exc.status


@bp.after_request
def _frame_headers(response: Response) -> Response:
    # Launch pages carry their handle in the URL: never leak it through Referer.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


# -- keys, login, launch -----------------------------------------------------------------------

def _jwks(uow: UnitOfWork) -> dict[str, t.Any] | None:
    if uow.readonly and keys.active_key(uow.session) is None:
        return None
    if not uow.readonly:
        keys.ensure_key(uow)
    return keys.jwks(uow.session, uow.clock.now())


@bp.get("/jwks")
def jwks() -> t.Any:
    """The tool's public keys (JWKS); the first key is generated on first use."""
    # Read-only unless the first key must be made: platforms read this while our outbox relay
    # holds the write transaction for the call it makes to them (SQLite has a single writer).
    keyset = (in_unit_of_work(_jwks, readonly=True, actor=SYSTEM_LTI)
              or in_unit_of_work(_jwks, actor=SYSTEM_LTI))
    response = jsonify(keyset)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.route("/login", methods=["GET", "POST"])
def login() -> t.Any:
    """OIDC third-party initiated login: check the platform, redirect to its authorisation."""
    # The LTI protocol stack (pylti1p3) loads with the first login or launch, not with the app.
    from lti.tool import initiate_login

    params = request.form if request.method == "POST" else request.args
    try:
        result = in_unit_of_work(
            lambda uow: initiate_login(uow, keys.ensure_key(uow), params, base_url=_base_url(),
                                       secure=request.is_secure), actor=SYSTEM_LTI)
    except LaunchRefused as exc:
        return _refused_page(exc, "login")
    return redirect(result.redirect_url, code=302)


def _prefetch_keyset(params: t.Mapping[str, str]) -> None:
    """Read the launching platform's key set before the launch's unit of work is opened.

    On SQLite the launch transaction holds the write lock, so the HTTP call is made outside
    it. The key set is then cached in a unit of work of its own (opened and committed by the
    core), not the launch's: a refused launch rolls its own unit of work back, and a cache
    written there would be lost with it, so forged tokens would make us read the platform's
    key set again and again.
    """
    try:
        url = in_unit_of_work(lambda uow: _keyset_to_prefetch(uow, params), readonly=True,
                              actor=SYSTEM_LTI)
        keyset = fetch_keyset(url) if url else None
        if url and keyset is not None:
            in_unit_of_work(lambda uow: _cache_keyset(uow, url, keyset), actor=SYSTEM_LTI)
    except Exception:  # the launch reads the key set itself and refuses clearly if it must
        logger.exception("could not prefetch the platform key set")


def _keyset_to_prefetch(uow: UnitOfWork, params: t.Mapping[str, str]) -> str | None:
    from lti.tool import keyset_to_prefetch  # the protocol stack, loaded with the first launch

    return keyset_to_prefetch(uow, params)


def _cache_keyset(uow: UnitOfWork, url: str, keyset: dict[str, t.Any]) -> None:
    from lti.tool import cache_keyset  # the protocol stack, loaded with the first launch

    cache_keyset(uow, url, keyset)


@bp.route("/launch", methods=["GET", "POST"])
def launch() -> t.Any:
    """The launch: verify the id_token, provision the person, open their pages."""
    if request.method == "GET":
        return _refused_page(LaunchRefused("method", "a launch is a form POST from the LMS; open the "
                                           "activity from your course", status=405), "launch")
    from lti.tool import validate_launch  # the protocol stack, loaded with the first launch

    _prefetch_keyset(request.form)

    def accept(uow: UnitOfWork) -> str:
        verified = validate_launch(uow, keys.ensure_key(uow), request.form, policy=_policy(),
                                   secure=request.is_secure)
        uow.act_as(services.launch_actor(verified.platform))
        recorded = services.record_launch(uow, verified)
        return _landing(recorded)

    try:
        target = in_unit_of_work(accept, actor=SYSTEM_LTI)
    except DomainError as exc:
        return _refused_page(exc, "launch")
    except Exception:
        # A token no check foresaw must still get a clear refusal, never a server error.
        logger.exception("unexpected error while processing an LTI launch")
        return _refused_page(LaunchRefused("unprocessable", "this launch could not be processed; the "
                                           "error was logged for the administrator"), "launch")
    return redirect(target, code=303)


def _landing(recorded: services.RecordedLaunch) -> str:
    """The first page of an accepted launch."""
    row = recorded.launch
    if row.message_type == "LtiDeepLinkingRequest":
        return url_for("lti.deep_link", handle=recorded.handle)
    if services.is_instructor(row.lti_roles) and row.context_id:
        return url_for("lti.course", handle=recorded.handle)
    if row.training_item_id is not None:
        return url_for("lti.item", handle=recorded.handle, item_id=row.training_item_id)
    return url_for("lti.my_training", handle=recorded.handle)


# -- pages of a launch ---------------------------------------------------------------------------

F = t.TypeVar("F", bound=t.Callable[..., t.Any])


def with_launch(view: F) -> F:
    """Load the launch named by the URL's handle and its learner (or show the expiry page)."""

    def load(uow: UnitOfWork) -> tuple[LtiLaunch, Actor]:
        launch_row = services.get_launch(uow, g.lti_handle)
        actor = services.launch_user_actor(uow.session, launch_row)
        g.lti_pending_link = services.pending_match(uow.session, launch_row) is not None
        uow.session.expunge(launch_row)
        return launch_row, actor

    @wraps(view)
    def wrapper(handle: str, *args: t.Any, **kwargs: t.Any) -> t.Any:
        g.lti_handle = handle
        try:
            launch_row, actor = in_unit_of_work(load, readonly=True, actor=SYSTEM_LTI)
        except DomainError as exc:
            return render_template("lti/refused.html", stage="session", message=exc.message,
                                   check=exc.code), exc.status
        g.lti_launch = launch_row
        g.lti_actor = actor
        return view(handle, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _launch() -> LtiLaunch:
    return t.cast(LtiLaunch, g.lti_launch)


def _page(template: str, status: int = 200, **context: t.Any) -> tuple[str, int]:
    launch_row = _launch()
    return render_template(template, launch=launch_row, handle=g.lti_handle, learner=g.lti_actor,
                           instructor=services.is_instructor(launch_row.lti_roles),
                           pending_link=g.get("lti_pending_link", False), **context), status


def _assignments(session: t.Any, person_id: int) -> list[dict[str, t.Any]]:
    return qms_training.learner_assignments(session, person_id)


@bp.get("/s/<handle>/")
@with_launch
@transactional(readonly=True, actor=_learner)
def my_training(handle: str, uow: UnitOfWork) -> t.Any:
    """The learner's training: overdue, open, completed, with versions."""
    rows = _assignments(uow.session, _launch().person_id)
    groups = {
        "overdue": [a for a in rows if a["status"] == "overdue"],
        "open": [a for a in rows if a["status"] in ("open", "content_complete")],
        "completed": [a for a in rows if a["status"] == "completed"],
        "closed": [a for a in rows if a["status"] in ("superseded", "cancelled")],
    }
    return _page("lti/my_training.html", groups=groups)


def _user(session: t.Any) -> accounts.UserAccount:
    user = session.get(accounts.UserAccount, _launch().user_id)
    if user is None:
        raise Unauthorized("the account of this launch no longer exists")
    return user


def _item_page(handle: str, item_id: int, error: str | None = None, status: int = 200) -> t.Any:
    def build(uow: UnitOfWork) -> t.Any:
        session = uow.session
        try:
            item = qms_documents.get_training_item(session, item_id)
        except NotFound as exc:
            return _page("lti/refused.html", exc.status, stage="item", message=exc.message, check=exc.code)
        rows = [a for a in _assignments(session, _launch().person_id) if a["training_item"]["id"] == item.id]
        for row in rows:
            # The controlled file is served inside the launch (the learner has no API credentials).
            found = FILE_URL_RE.search(row["content"].get("file_url") or "")
            row["content"]["lti_file_url"] = (url_for("lti.controlled_file", handle=handle,
                                                      version_id=int(found.group(1))) if found else None)
        user = _user(session)
        has_signing_password = services.has_own_signing_password(user)
        console_account = user.password_hash is not None
        item_view = {"id": item.id, "kind": item.kind, "title": item.title, "code": item.code}
        return _page("lti/item.html", status, item=item_view, assignments=rows, error=error,
                     open_statuses=OPEN_STATUSES, has_signing_password=has_signing_password,
                     console_account=console_account)

    return in_unit_of_work(build, readonly=True, actor=_learner)


@bp.get("/s/<handle>/items/<int:item_id>")
@with_launch
def item(handle: str, item_id: int) -> t.Any:
    """A training item: its content, the learner's assignment and the signature form."""
    return _item_page(handle, item_id)


@bp.get("/s/<handle>/document-versions/<int:version_id>/file")
@with_launch
def controlled_file(handle: str, version_id: int) -> t.Any:
    """The controlled file of a document version the learner must read; serving it records (audited)
    that the document was presented to them, which "read and understood" requires first.
    """
    def build(uow: UnitOfWork) -> t.Any:
        version, stored = qms_presentations.present_file(uow, version_id, channel="lti")
        name = (version.file_name or f"{version.document.code}-{version.label}").replace('"', "")
        return send_upload(stored.content, name, headers={"X-Content-SHA256": stored.sha256})

    try:
        return in_unit_of_work(build, actor=_learner)
    except DomainError as exc:
        return _page("lti/refused.html", exc.status, stage="document", message=exc.message, check=exc.code)


@bp.route("/s/<handle>/signing-password", methods=["GET", "POST"])
@with_launch
def signing_password(handle: str) -> t.Any:
    """Set the signing password on first use (the second component of a signature)."""
    next_item = request.values.get("item", type=int)

    def state(uow: UnitOfWork) -> tuple[bool, bool]:
        user = _user(uow.session)
        return user.signing_password_hash is not None, user.password_hash is not None

    already, console = in_unit_of_work(state, readonly=True, actor=_learner)
    if console:
        return _page("lti/signing_password.html", 409, already=True, console=True, next_item=next_item,
                     error=None)
    if already:
        return _page("lti/signing_password.html", 409, already=True, next_item=next_item, error=None)
    if request.method == "GET":
        return _page("lti/signing_password.html", already=False, next_item=next_item, error=None)
    password = request.form.get("password", "")
    if password != request.form.get("confirm", ""):
        return _page("lti/signing_password.html", 400, already=False, next_item=next_item,
                     error="the two passwords differ")

    def set_signing_password(uow: UnitOfWork) -> None:
        user = _user(uow.session)
        if user.signing_password_hash is not None:
            raise Forbidden("the signing password is already set", code="already_set")
        accounts.set_password(uow, user, password, min_length=uow.settings.password_min_length,
                              signing=True)

    try:
        in_unit_of_work(set_signing_password, actor=_learner)
    except DomainError as exc:
        return _page("lti/signing_password.html", exc.status, already=False, next_item=next_item,
                     error=exc.message)
    if next_item:
        return redirect(url_for("lti.item", handle=handle, item_id=next_item), code=303)
    return redirect(url_for("lti.my_training", handle=handle), code=303)


@bp.post("/s/<handle>/assignments/<int:assignment_id>/sign")
@with_launch
def sign(handle: str, assignment_id: int) -> t.Any:
    """Read and understood: the learner signs with their signing password."""
    item_id = request.form.get("item", type=int)

    def state(uow: UnitOfWork) -> tuple[dict[int, t.Any], str, bool]:
        rows = {a["id"]: a for a in _assignments(uow.session, _launch().person_id)}
        user = _user(uow.session)
        return rows, user.username, services.has_own_signing_password(user)

    rows, username, has_password = in_unit_of_work(state, readonly=True, actor=_learner)
    if assignment_id not in rows:
        abort(404, description="this assignment is not yours")
    item_id = item_id or rows[assignment_id]["training_item"]["id"]
    if not has_password:
        return redirect(url_for("lti.signing_password", handle=handle, item=item_id), code=303)
    if request.form.get("confirm") != "yes":
        return _item_page(handle, item_id, "tick the statement to confirm you read and understood it", 400)
    try:
        def complete(uow: UnitOfWork) -> int:
            completion = qms_training.complete_read_and_understood(
                uow, assignment_id, username=username, password=request.form.get("password", ""),
                lockout_threshold=settings().lockout_threshold)
            return completion.id

        # Refused (wrong password): rolled back, the failure count kept (refusal writes).
        completion_id = in_unit_of_work(complete, actor=_learner)
    except DomainError as exc:
        return _item_page(handle, item_id, exc.message, exc.status)
    return redirect(url_for("lti.receipt", handle=handle, completion_id=completion_id), code=303)


@bp.route("/s/<handle>/link", methods=["GET", "POST"])
@with_launch
def link_identity(handle: str) -> t.Any:
    """Link this LMS account to the person its e-mail matched: they sign in once with their own
    GxP Bridge password (the e-mail alone is never proof).
    """
    if not g.lti_pending_link:
        return redirect(url_for("lti.my_training", handle=handle), code=303)
    if request.method == "GET":
        return _page("lti/link.html", error=None)
    username, password = request.form.get("username", ""), request.form.get("password", "")
    try:
        in_unit_of_work(lambda uow: services.link_by_password(
            uow, _launch().id, username, password, threshold=uow.settings.lockout_threshold),
            actor=_learner)
    except DomainError as exc:
        return _page("lti/link.html", exc.status, error=exc.message)
    return redirect(url_for("lti.my_training", handle=handle), code=303)


@bp.get("/s/<handle>/completions/<int:completion_id>")
@with_launch
@transactional(readonly=True, actor=_learner)
def receipt(handle: str, completion_id: int, uow: UnitOfWork) -> t.Any:
    """The completion receipt: what was signed, which version, when, with which meaning."""
    session = uow.session
    rows = [a for a in _assignments(session, _launch().person_id)
            if a.get("completion_id") == completion_id]
    if not rows:
        abort(404, description="no completion of yours with this number")
    signed = [{"manifestation": s.manifestation(), "meaning": s.meaning, "hash": s.content_hash,
               "id": s.id} for s in signatures.signatures_of(session, "qms_assignment", rows[0]["id"])]
    return _page("lti/receipt.html", assignment=rows[0], completion_id=completion_id, signed=signed)


@bp.get("/s/<handle>/course")
@with_launch
@transactional(readonly=True, actor=_learner)
def course(handle: str, uow: UnitOfWork) -> t.Any:
    """Course staff: training compliance of the course roster."""
    try:
        rows = services.course_compliance(uow.session, _launch(), uow.clock.now())
    except DomainError as exc:
        return _page("lti/refused.html", exc.status, stage="course", message=exc.message, check=exc.code)
    return _page("lti/course.html", rows=rows)


@bp.route("/s/<handle>/deep-link", methods=["GET", "POST"])
@with_launch
def deep_link(handle: str) -> t.Any:
    """Course staff pick training items to place in the course (Deep Linking)."""
    launch_row = _launch()
    try:
        # A write unit of work: a refused return URL is audited by the refusal's own writes.
        settings_claim = in_unit_of_work(
            lambda uow: services.deep_link_settings(uow, uow.session.get(LtiLaunch, launch_row.id)),
            actor=_learner)
    except DomainError as exc:
        return _page("lti/refused.html", exc.status, stage="deep linking", message=exc.message,
                     check=exc.code)
    if request.method == "POST":
        chosen = [int(v) for v in request.form.getlist("items") if v.isdigit()]
        try:
            return_url, token = in_unit_of_work(
                lambda uow: services.deep_link_response(uow, uow.session.get(LtiLaunch, launch_row.id),
                                                        chosen, base_url=_base_url()),
                actor=_learner)
        except DomainError as exc:
            error = exc.message
        else:
            return render_template("lti/deep_link_return.html", return_url=return_url, token=token)
    else:
        error = None

    def picker(uow: UnitOfWork) -> list[dict[str, t.Any]]:
        session = uow.session
        return [{"id": i.id, "kind": i.kind, "title": i.title, "code": i.code}
                 for i in qms_documents.list_training_items(session)]

    items = in_unit_of_work(picker, readonly=True, actor=_learner)
    return _page("lti/deep_link.html", 400 if error else 200, items=items, error=error,
                 multiple=str(settings_claim.get("accept_multiple", True)).lower() != "false")


# -- Dynamic Registration --------------------------------------------------------------------------

@bp.route("/register", methods=["GET", "POST"])
def register() -> t.Any:
    """LTI Dynamic Registration, gated by a one-time token an administrator created."""
    gxp_token = request.values.get("gxp_token", "")
    openid_configuration = request.values.get("openid_configuration", "")
    registration_token = request.values.get("registration_token") or None
    if not gxp_token:
        return render_template("lti/register.html", step="no_token", base_url=_base_url()), 403
    try:
        in_unit_of_work(lambda uow: services.check_registration_token(uow, gxp_token), readonly=True,
                        actor=SYSTEM_LTI)
    except DomainError as exc:
        return _refused_page(exc, "registration")
    if not openid_configuration:
        return render_template("lti/register.html", step="instructions", base_url=_base_url(),
                               gxp_token=gxp_token)
    if request.method == "GET":
        return render_template("lti/register.html", step="confirm", gxp_token=gxp_token,
                               openid_configuration=openid_configuration,
                               registration_token=registration_token or "")
    actor = Actor(kind="system", username="lti-dynamic-registration",
                  display_name="LTI Dynamic Registration (one-time token)")
    # The platform may read our JWKS while we wait for its answer (our write transaction open):
    # the first key, if there is none yet, is committed beforehand in a unit of work of its own.
    in_unit_of_work(keys.ensure_key, actor=SYSTEM_LTI)

    from lti import dynamic  # pylti1p3's registration flow, loaded when an LMS registers

    def register_platform(uow: UnitOfWork) -> dict[str, t.Any]:
        platform = dynamic.register_platform(
            uow, gxp_token=gxp_token, openid_configuration=openid_configuration,
            registration_token=registration_token, base_url=_base_url(),
            site_name=settings().site_name)
        return {"issuer": platform.issuer, "client_id": platform.client_id,
                "deployments": platform.deployment_ids, "id": platform.id}

    try:
        summary = in_unit_of_work(register_platform, actor=actor)
    except DomainError as exc:
        return _refused_page(exc, "registration")
    return render_template("lti/register.html", step="done", platform=summary)


# -- the former administrators' pages ----------------------------------------------------------------

@bp.get("/admin/")
def admin() -> t.Any:
    """Moved into the quality console (``lti.console``): bookmarks and old links land there."""
    return redirect(url_for("lti_console.platforms"), code=301)


@bp.get("/admin/identities")
def identities() -> t.Any:
    """Moved into the quality console (``lti.console``)."""
    return redirect(url_for("lti_console.identities"), code=301)


def platform_summary(platform: LtiPlatform) -> dict[str, t.Any]:
    """A platform as shown by the CLI and pages."""
    return {"id": platform.id, "name": platform.name, "issuer": platform.issuer,
            "client_id": platform.client_id, "deployments": platform.deployment_ids,
            "keys": platform.keyset_url or "public key file", "registered_by": platform.registered_by,
            "active": platform.active}
