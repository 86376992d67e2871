"""Fixtures of the LTI tests: the tool served over real HTTP (werkzeug in a thread) and a
test LMS built on ``lti1p3platform`` on another port, both on 127.0.0.1:8200-8249.
"""

from __future__ import annotations

import html
import json
import re
import socket
import time
import typing as t
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from jwcrypto.jwk import JWK
from werkzeug.serving import make_server

from tests.lti.platform import INSTRUCTOR, LEARNER, ServerThread, TestPlatform

PORTS = range(8200, 8250)
CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"


class _Dispatch:
    """A WSGI app whose target is set after the server has its port."""

    def __init__(self) -> None:
        self.target: t.Any = None

    def __call__(self, environ: t.Any, start_response: t.Any) -> t.Any:
        return self.target(environ, start_response)


def serve(host: str = "127.0.0.1") -> tuple[ServerThread, _Dispatch]:
    """Bind a free port of our range; returns the (not yet started) server and its dispatcher."""
    dispatch = _Dispatch()
    for port in PORTS:
        probe = socket.socket()
        try:
            probe.bind((host, port))
        except OSError:
            continue
        finally:
            probe.close()
        try:
            server = make_server(host, port, dispatch, threaded=True)
        except (OSError, SystemExit):  # werkzeug exits when the port is taken
            continue
        return ServerThread(server), dispatch
    raise RuntimeError("no free port in 127.0.0.1:8200-8249")


@dataclass
class Lms:
    platform: TestPlatform
    tool_base: str
    app: t.Any
    runner: t.Any

    @property
    def state(self) -> t.Any:
        return self.platform.state


def start_lms(app: t.Any, runner: t.Any, tool_host: str = "127.0.0.1") -> t.Iterator[Lms]:
    from lti.tool import CachingServiceConnector

    # Each test's LMS is new but may reuse an earlier one's port (same token URL): start with
    # no cached access tokens.
    CachingServiceConnector.clear_cache()
    tool_server, tool_dispatch = serve()
    tool_base = f"http://{tool_host}:{tool_server.port}"
    app.config["LTI_BASE_URL"] = tool_base
    tool_dispatch.target = app
    lms_server, lms_dispatch = serve()
    platform = TestPlatform(port=lms_server.port, tool_base=tool_base)
    lms_dispatch.target = platform.app
    with tool_server, lms_server:
        tool_server.thread.start()
        lms_server.thread.start()
        result = runner.invoke(args=platform.cli_args())
        assert result.exit_code == 0, result.output
        platform.add_user("3", "Stu Dent", "student1@example.com", [LEARNER])
        platform.add_user("2", "Ian Structor", "instructor@example.com", [INSTRUCTOR])
        yield Lms(platform, tool_base, app, runner)


@pytest.fixture
def lms(app, runner) -> t.Iterator[Lms]:
    """The tool on 127.0.0.1 and a registered test LMS, both over real HTTP."""
    from lti.tool import CachingServiceConnector

    CachingServiceConnector.clear_cache()
    yield from start_lms(app, runner)


def auto_form(response: requests.Response) -> tuple[str, dict[str, str]]:
    """The action and fields of the auto-submitting form of a page (what a browser's JS does)."""
    body = response.text
    action = re.search(r'<form[^>]*action="([^"]+)"', body)
    assert action, f"no form in {response.url}: {body[:300]}"
    fields = {html.unescape(n): html.unescape(v)
              for n, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', body)}
    return html.unescape(action.group(1)), fields


def launch_via_lms(lms: Lms, sub: str, browser: requests.Session | None = None, **hint: t.Any
                   ) -> requests.Response:
    """Click an activity in the LMS: login initiation, authorisation, auto-posted id_token.

    Returns the tool's answer to the launch POST (not followed).
    """
    browser = browser or requests.Session()
    page = browser.get(lms.platform.launch_start_url(sub, **hint), timeout=30)
    assert page.status_code == 200, page.text
    action, fields = auto_form(page)
    return browser.post(action, data=fields, allow_redirects=False, timeout=30)


def follow(lms: Lms, response: requests.Response,
           browser: requests.Session | None = None) -> requests.Response:
    assert response.status_code in (302, 303), (response.status_code, response.text[:500])
    location = response.headers["Location"]
    if location.startswith("/"):
        location = lms.tool_base + location
    return (browser or requests).get(location, timeout=30)


def platform_kid(platform: TestPlatform) -> str:
    return JWK.from_pem(platform.private_pem.encode()).thumbprint()


@dataclass
class Login:
    """The state and nonce the tool issued at login initiation."""

    state: str
    nonce: str
    redirect: str


def initiate(lms_base: str, tool_base: str, params: dict[str, str], method: str = "post") -> Login:
    """Post a login initiation to the tool; return the state and nonce it issued."""
    response = requests.request(method, tool_base + "/lti/login",
                                **({"data": params} if method == "post" else {"params": params}),
                                allow_redirects=False, timeout=30)
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    return Login(query["state"][0], query["nonce"][0], response.headers["Location"])


def sign(claims: dict[str, t.Any], private_pem: str, kid: str, alg: str = "RS256") -> str:
    return jwt.encode(claims, private_pem, algorithm=alg, headers={"kid": kid})


def base_claims(lms: Lms, login: Login, **overrides: t.Any) -> dict[str, t.Any]:
    """A valid resource-link launch for learner 3."""
    now = int(time.time())
    p = lms.platform
    claims = {
        "iss": p.issuer, "aud": p.client_id, "azp": p.client_id, "sub": "3", "nonce": login.nonce,
        "iat": now, "exp": now + 60, "name": "Stu Dent", "email": "student1@example.com",
        CLAIM + "deployment_id": p.deployment_id, CLAIM + "message_type": "LtiResourceLinkRequest",
        CLAIM + "version": "1.3.0", CLAIM + "target_link_uri": lms.tool_base + "/lti/launch",
        CLAIM + "resource_link": {"id": "rl-1", "title": "SOP"},
        CLAIM + "roles": [LEARNER],
        CLAIM + "context": {"id": p.course_id, "title": p.course_title, "type": ["CourseSection"]},
    }
    for key, value in overrides.items():
        if value is None:
            claims.pop(key, None)
        else:
            claims[key] = value
    return claims


def login_params(lms: Lms, **overrides: str) -> dict[str, str]:
    p = lms.platform
    params = {"iss": p.issuer, "login_hint": "3", "target_link_uri": lms.tool_base + "/lti/launch",
              "client_id": p.client_id, "lti_deployment_id": p.deployment_id,
              "lti_message_hint": json.dumps({"x": str(uuid.uuid4())})}
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def post_launch(lms: Lms, id_token: str, state: str) -> requests.Response:
    return requests.post(lms.tool_base + "/lti/launch", data={"id_token": id_token, "state": state},
                         allow_redirects=False, timeout=30)


PDF = b"%PDF-1.4\n% SOP-014 controlled copy\n%%EOF\n"


@dataclass
class Sop:
    document_id: int
    item_id: int
    item_version_id: int
    version_id: int


def make_sop(db: t.Any, make_user: t.Any, code: str = "SOP-014", title: str = "Gowning procedure") -> Sop:
    """A document with an approved version 1.0 and its controlled file, through the qms services."""
    import datetime as dt

    from bridge.core.db import utcnow
    from bridge.core.uow import UnitOfWork
    from qms.documents import approval
    from qms.documents import services as documents
    from tests.conftest import TEST_PASSWORD

    author = make_user(f"author.{code.lower()}", "qa_author")
    approver = make_user(f"approver.{code.lower()}", "qa_approver")
    with UnitOfWork(db, author) as uow:
        document = documents.create_document(uow, code=code, title=title)
        version = documents.create_version(uow, document.id, label="1.0", revision="major")
        documents.attach_file(uow, version.id, content=PDF, file_name=f"{code}.pdf",
                              media_type="application/pdf")
        approval.submit_version(uow, version.id)
        ids = (document.id, version.id, version.item_version_id)
        uow.commit()
    with UnitOfWork(db, approver) as uow:
        approval.approve_version(uow, ids[1], username=approver.username, password=TEST_PASSWORD,
                                 effective_at=utcnow() + dt.timedelta(days=1), lockout_threshold=3)
        item_id = documents.item_of_document(uow.session, ids[0]).id
        uow.commit()
    return Sop(document_id=ids[0], item_id=item_id, item_version_id=ids[2], version_id=ids[1])


def assign(db: t.Any, person_id: int, item_version_id: int, days: float = 10) -> list[int]:
    import datetime as dt

    from bridge.core.actor import SYSTEM
    from bridge.core.db import utcnow
    from bridge.core.uow import UnitOfWork
    from qms.training import assignments

    with UnitOfWork(db, SYSTEM) as uow:
        created = assignments.assign(uow, person_ids=[person_id], item_version_id=item_version_id,
                                     due_at=utcnow() + dt.timedelta(days=days))
        uow.commit()
    return created
