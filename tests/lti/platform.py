"""A small LMS for the tests, built on the ``lti1p3platform`` toolkit and served over real HTTP.

It plays the platform side of LTI 1.3 Advantage: third-party initiated login, the OIDC
authorisation endpoint that signs id_tokens, its JWKS, the OAuth2 client-credentials token
endpoint, Assignment and Grade Services (line items, scores), Names and Role Provisioning
(memberships) and the deep-linking return endpoint. Its gradebook is kept in memory so the
tests can look at what the tool posted.
"""

from __future__ import annotations

import html
import json
import threading
import typing as t
from dataclasses import dataclass, field
from urllib.parse import urlencode

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, Response, jsonify, redirect, request
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request

LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"


def new_rsa_pem() -> tuple[str, str]:
    """A fresh RSA key pair as (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


class ServerThread:
    """A WSGI app served by werkzeug on 127.0.0.1 in a daemon thread."""

    def __init__(self, server: t.Any) -> None:
        self.server = server
        self.port = server.server_port
        # A short poll interval: shutdown() waits for it, in every test's teardown.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)

    def __enter__(self) -> ServerThread:
        return self

    def __exit__(self, *exc: t.Any) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class LmsUser:
    sub: str
    name: str
    email: str
    roles: list[str]
    given_name: str = ""
    family_name: str = ""


@dataclass
class LmsState:
    """What the LMS knows and what the tool sent it."""

    users: dict[str, LmsUser] = field(default_factory=dict)
    lineitems: dict[str, dict[str, t.Any]] = field(default_factory=dict)
    scores: list[dict[str, t.Any]] = field(default_factory=list)
    deep_link_items: list[dict[str, t.Any]] = field(default_factory=list)
    token_requests: int = 0
    fail_next_scores: int = 0
    registrations: list[dict[str, t.Any]] = field(default_factory=list)
    registration_token: str = "platform-registration-token"
    registration_deployment: str | None = "7"
    id_token_lifetime: int = 60


class _FlaskRequest(Request):
    def build_metadata(self, req: t.Any) -> dict[str, t.Any]:
        return {"method": req.method, "form_data": req.form.to_dict(), "get_data": req.args.to_dict(),
                "headers": dict(req.headers), "content_type": req.content_type, "path": req.path,
                "json": req.get_json(silent=True)}


class TestPlatform:
    """The LMS: its keys, its registration of the tool, its Flask app."""

    __test__ = False

    def __init__(self, *, port: int, tool_base: str, client_id: str = "gxp-tool-client",
                 deployment_id: str = "1", course_id: str = "2", course_title: str = "GMP Basics") -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.issuer = self.base
        self.tool_base = tool_base.rstrip("/")
        self.client_id = client_id
        self.deployment_id = deployment_id
        self.course_id = course_id
        self.course_title = course_title
        self.private_pem, self.public_pem = new_rsa_pem()
        self.state = LmsState()
        self.app = self._build_app()

    # -- registration ---------------------------------------------------------------------------
    def registration(self) -> Registration:
        return (Registration().set_iss(self.issuer).set_client_id(self.client_id)
                .set_deployment_id(self.deployment_id)
                .set_oidc_login_url(self.tool_base + "/lti/login")
                .set_launch_url(self.tool_base + "/lti/launch")
                .set_deeplink_launch_url(self.tool_base + "/lti/launch")
                .set_tool_key_set_url(self.tool_base + "/lti/jwks")
                .set_platform_public_key(self.public_pem).set_platform_private_key(self.private_pem))

    def conf(self) -> LTI1P3PlatformConfAbstract:
        platform = self

        class Conf(LTI1P3PlatformConfAbstract):
            def init_platform_config(self, **kwargs: t.Any) -> None:
                self._registration = platform.registration()

            def get_registration_by_params(self, **kwargs: t.Any) -> Registration:
                return platform.registration()

        return Conf()

    def cli_args(self) -> list[str]:
        return ["lti", "platform", "add", "--issuer", self.issuer, "--client-id", self.client_id,
                "--deployment-id", self.deployment_id, "--auth-login-url", self.base + "/auth",
                "--auth-token-url", self.base + "/token", "--keyset-url", self.base + "/jwks",
                "--name", "Test LMS"]

    def add_user(self, sub: str, name: str, email: str, roles: list[str]) -> LmsUser:
        given, _, family = name.partition(" ")
        user = LmsUser(sub, name, email, roles, given, family)
        self.state.users[sub] = user
        return user

    def lineitem_url(self, key: str) -> str:
        # Moodle's shape: a query string after the path.
        return f"{self.base}/ags/{self.course_id}/lineitems/{key}/lineitem?type_id=1"

    def add_lineitem(self, key: str, label: str, resource_link_id: str = "", resource_id: str = "") -> str:
        url = self.lineitem_url(key)
        self.state.lineitems[key] = {"id": url, "label": label, "scoreMaximum": 100,
                                     "resourceLinkId": resource_link_id, "resourceId": resource_id}
        return url

    # -- launch URLs ---------------------------------------------------------------------------------
    def launch_start_url(self, sub: str, *, kind: str = "resource", link_id: str = "1",
                         custom: dict[str, str] | None = None, lineitem: str | None = None,
                         title: str = "Training", return_url: str | None = None) -> str:
        hint = {"kind": kind, "link": link_id, "custom": custom or {}, "lineitem": lineitem, "title": title,
                "return_url": return_url}
        return f"{self.base}/start?{urlencode({'user': sub, 'hint': json.dumps(hint)})}"

    # -- the app ----------------------------------------------------------------------------------------
    def _check_token(self, scope: str) -> Response | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return Response("no token", status=401)
        conf = self.conf()
        try:
            ok = conf.validate_token(header[7:], allowed_scopes=[scope])
        except Exception as exc:
            return Response(f"bad token: {exc}", status=401)
        return None if ok else Response("scope not granted", status=403)

    def _build_app(self) -> Flask:
        app = Flask("test-lms")
        platform = self

        class Login(OIDCLoginAbstract):
            def set_lti_message_hint(self, **kwargs: t.Any) -> None:
                self._lti_message_hint = kwargs["hint"]

            def get_redirect(self, url: str) -> t.Any:
                return redirect(url)

        class Launch(LTIAdvantageMessageLaunchAbstract):
            def render_launch_form(self, launch_data: dict[str, t.Any], **kwargs: t.Any) -> str:
                return ('<!doctype html><html><body>'
                        f'<form id="lti" method="post" action="{launch_data["launch_url"]}">'
                        f'<input type="hidden" name="id_token" value="{launch_data["id_token"]}">'
                        f'<input type="hidden" name="state" value="{launch_data["state"]}"></form>'
                        '<script>document.getElementById("lti").submit();</script></body></html>')

        @app.get("/jwks")
        def jwks() -> t.Any:
            return jsonify({"keys": platform.registration().get_jwks()})

        @app.get("/start")
        def start() -> t.Any:
            """The learner clicks the activity: third-party initiated login."""
            login = Login(request, platform.conf())
            hint = request.args["hint"]
            if json.loads(hint).get("kind") == "deeplink":
                login.set_deeplinking_launch_url()
            login.set_lti_message_hint(hint=hint)
            return login.initiate_login(request.args["user"])

        @app.route("/auth", methods=["GET", "POST"])
        def auth() -> t.Any:
            """The OIDC authorisation endpoint: sign the id_token, post it to the tool."""
            params = request.values
            if params.get("redirect_uri") != platform.tool_base + "/lti/launch":
                return Response("redirect_uri not registered", status=400)
            user = platform.state.users.get(params.get("login_hint", ""))
            if user is None:
                return Response("unknown user", status=403)
            hint = json.loads(params.get("lti_message_hint") or "{}")
            launch = Launch(_FlaskRequest(request), platform.conf())
            launch.set_id_token_expiration(platform.state.id_token_lifetime)
            launch.set_user_data(user.sub, user.roles, user.name, user.email)
            launch.set_extra_claims({"given_name": user.given_name, "family_name": user.family_name})
            launch.set_launch_context_claim(platform.course_id, ["CourseSection"], platform.course_title,
                                            "GMP101")
            launch.set_nrps(f"{platform.base}/nrps/{platform.course_id}")
            if hint.get("kind") == "deeplink":
                return_url = hint.get("return_url") or f"{platform.base}/deep-link-return"
                launch.set_dl(return_url, title="Add training", accept_types={"ltiResourceLink"})
            else:
                launch.set_resource_link_claim(hint.get("link", "1"), title=hint.get("title"))
                if hint.get("custom"):
                    launch.set_custom_parameters_claim(hint["custom"])
                launch.set_ags(f"{platform.base}/ags/{platform.course_id}/lineitems?type_id=1",
                               hint.get("lineitem"), allow_creating_lineitems=True)
            return launch.lti_launch()

        @app.post("/token")
        def token() -> t.Any:
            platform.state.token_requests += 1
            try:
                return jsonify(platform.conf().get_access_token(request.form.to_dict()))
            except Exception as exc:
                return jsonify({"error": "invalid_client", "error_description": str(exc)}), 400

        @app.route(f"/ags/{platform.course_id}/lineitems", methods=["GET", "POST"])
        def lineitems() -> t.Any:
            refusal = platform._check_token("https://purl.imsglobal.org/spec/lti-ags/scope/lineitem")
            if refusal:
                return refusal
            if request.method == "POST":
                body = request.get_json(force=True)
                key = f"new{len(platform.state.lineitems) + 1}"
                url = platform.add_lineitem(key, body.get("label", ""), body.get("resourceLinkId", ""),
                                            body.get("resourceId", ""))
                return jsonify(platform.state.lineitems[key] | {"id": url}), 201
            return jsonify(list(platform.state.lineitems.values()))

        @app.post(f"/ags/{platform.course_id}/lineitems/<key>/lineitem/scores")
        def scores(key: str) -> t.Any:
            refusal = platform._check_token(SCORE_SCOPE)
            if refusal:
                return refusal
            if request.args.get("type_id") != "1":
                return Response("the query string of the line item URL was lost", status=400)
            if key not in platform.state.lineitems:
                return Response("no such line item", status=404)
            if request.content_type != "application/vnd.ims.lis.v1.score+json":
                return Response("wrong media type", status=415)
            if platform.state.fail_next_scores > 0:
                platform.state.fail_next_scores -= 1
                return Response("temporarily unavailable", status=503)
            platform.state.scores.append({"lineitem": key, **request.get_json(force=True)})
            return Response(status=204)

        @app.get(f"/nrps/{platform.course_id}")
        def memberships() -> t.Any:
            refusal = platform._check_token(NRPS_SCOPE)
            if refusal:
                return refusal
            members = [{"status": "Active", "name": u.name, "given_name": u.given_name,
                        "family_name": u.family_name, "email": u.email, "user_id": u.sub,
                        "roles": u.roles} for u in platform.state.users.values()]
            body = {"id": request.url, "context": {"id": platform.course_id, "title": platform.course_title},
                    "members": members}
            return Response(json.dumps(body),
                            content_type="application/vnd.ims.lti-nrps.v2.membershipcontainer+json")

        @app.post("/deep-link-return")
        def deep_link_return() -> t.Any:
            try:
                items = platform.conf().validate_deeplinking_resp(request.form.to_dict())
            except Exception as exc:
                return Response(f"refused deep link response: {exc}", status=400)
            for item in items:
                link_id = f"dl{len(platform.state.deep_link_items) + 1}"
                lineitem_url = None
                if item.get("lineItem"):
                    label = item["lineItem"].get("label", item.get("title"))
                    lineitem_url = platform.add_lineitem(link_id, label,
                                                         link_id, item["lineItem"].get("resourceId", ""))
                platform.state.deep_link_items.append(
                    {**item, "link_id": link_id, "lineitem_url": lineitem_url})
            titles = ", ".join(i.get("title", "") for i in items)
            return f"<!doctype html><p id='added'>Added to the course: {titles}</p>"

        @app.get("/.well-known/openid-configuration")
        def openid_configuration() -> t.Any:
            return jsonify({
                "issuer": platform.issuer, "authorization_endpoint": platform.base + "/auth",
                "token_endpoint": platform.base + "/token", "jwks_uri": platform.base + "/jwks",
                "registration_endpoint": platform.base + "/register",
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                "scopes_supported": ["openid", SCORE_SCOPE, NRPS_SCOPE],
                "response_types_supported": ["id_token"], "id_token_signing_alg_values_supported": ["RS256"],
                "https://purl.imsglobal.org/spec/lti-platform-configuration": {
                    "product_family_code": "moodle", "version": "4.5",
                    "messages_supported": [{"type": "LtiResourceLinkRequest"},
                                           {"type": "LtiDeepLinkingRequest"}]},
            })

        @app.post("/register")
        def register() -> t.Any:
            if request.headers.get("Authorization") != f"Bearer {platform.state.registration_token}":
                return jsonify({"error": "invalid registration token"}), 401
            body = request.get_json(force=True)
            tool_conf = body.get("https://purl.imsglobal.org/spec/lti-tool-configuration") or {}
            required = ("initiate_login_uri", "jwks_uri", "redirect_uris", "client_name")
            if any(not body.get(k) for k in required) or not tool_conf.get("target_link_uri"):
                return jsonify({"error": "invalid_client_metadata"}), 400
            platform.state.registrations.append(body)
            answer = dict(body)
            answer["client_id"] = f"dyn-client-{len(platform.state.registrations)}"
            tool_answer = dict(tool_conf)
            if platform.state.registration_deployment:
                tool_answer["deployment_id"] = platform.state.registration_deployment
            answer["https://purl.imsglobal.org/spec/lti-tool-configuration"] = tool_answer
            return jsonify(answer)

        @app.get("/probe/set")
        def probe_set() -> t.Any:
            """Open cross-site in the course frame: try to set a third-party cookie."""
            response = Response('<a id="read" href="/probe/read">read</a>')
            response.set_cookie("third_party_probe", "1", samesite="None", secure=True)
            return response

        @app.get("/probe/read")
        def probe_read() -> t.Any:
            return f"<p id='seen'>{'sent' if 'third_party_probe' in request.cookies else 'blocked'}</p>"

        @app.get("/course")
        def course() -> t.Any:
            """The LMS course page: the tool inside an iframe."""
            src = html.escape(request.args["src"])
            probe = html.escape(request.args.get("probe", ""))
            probe_frame = f'<iframe id="probe" src="{probe}"></iframe>' if probe else ""
            return (f"<!doctype html><html><body><h1>{platform.course_title}</h1>"
                    f'<iframe id="tool" src="{src}" style="width:100%;height:800px"></iframe>'
                    f"{probe_frame}</body></html>")

        return app
