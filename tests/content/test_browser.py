"""A real browser (Debian's Chromium driven by Playwright) plays a SCORM 1.2 package, a SCORM 2004
4th edition package and a cmi5 AU authored in tests/content/builders.py, launched from the LTI
learner page: each passes, the learner's assignment reaches "content complete", the learner
signs and it is "completed"; the record store holds statements following the SCORM profile and
cmi5; and package script can neither fetch the application nor open a window.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import socket
import time
import typing as t
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from bridge.core import people
from bridge.core.db import utcnow
from bridge.core.uow import UnitOfWork
from qms.documents import approval
from qms.training.models import Assignment
from tests.conftest import TEST_PASSWORD
from tests.content import builders
from tests.lti.conftest import assign, launch_via_lms
from tests.lti.platform import INSTRUCTOR, LEARNER, ServerThread, TestPlatform
from xapi.store import StatementRow

CHROMIUM = Path(os.environ.get("GXP_CHROMIUM", "/usr/bin/chromium"))
SIGNING_PASSWORD = "Browser-Sign-2026!"
PORTS = range(8230, 8240)  # this package's ports
CODES = {"scorm12": "CRS-S12", "scorm2004_4": "CRS-S2004", "cmi5": "CRS-CMI5"}


class _Dispatch:
    def __init__(self) -> None:
        self.target: t.Any = None

    def __call__(self, environ: t.Any, start_response: t.Any) -> t.Any:
        return self.target(environ, start_response)


def _serve() -> tuple[ServerThread, _Dispatch]:
    dispatch = _Dispatch()
    for port in PORTS:
        probe = socket.socket()
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            probe.close()
        try:
            return ServerThread(make_server("127.0.0.1", port, dispatch, threaded=True)), dispatch
        except (OSError, SystemExit):
            continue
    raise RuntimeError("no free port in 127.0.0.1:8230-8239")


@contextlib.contextmanager
def tool_and_lms(app: t.Any, runner: t.Any) -> t.Iterator[t.Any]:
    from lti.tool import CachingServiceConnector

    CachingServiceConnector.clear_cache()
    tool_server, tool_dispatch = _serve()
    tool_base = f"http://127.0.0.1:{tool_server.port}"
    app.config["LTI_BASE_URL"] = tool_base
    tool_dispatch.target = app
    lms_server, lms_dispatch = _serve()
    platform = TestPlatform(port=lms_server.port, tool_base=tool_base)
    lms_dispatch.target = platform.app
    with tool_server, lms_server:
        tool_server.thread.start()
        lms_server.thread.start()
        result = runner.invoke(args=platform.cli_args())
        assert result.exit_code == 0, result.output
        platform.add_user("3", "Stu Dent", "student1@example.com", [LEARNER])
        platform.add_user("2", "Ian Structor", "instructor@example.com", [INSTRUCTOR])
        from tests.lti.conftest import Lms

        yield Lms(platform, tool_base, app, runner)


def _course(
    app: t.Any, db: t.Any, make_user: t.Any, api_token: t.Any, content: bytes, code: str, person_id: int
) -> int:
    client = app.test_client()
    response = client.post(
        "/api/v1/courses/import",
        headers=api_token("author"),
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(content), f"{code}.zip"), "code": code, "label": "1.0"},
    )
    assert response.status_code == 201, response.get_json()
    version_id = response.get_json()["item_version_id"]
    with UnitOfWork(db, make_user(f"approver.{code.lower()}", "qa_approver")) as uow:
        approval.approve_course_version(
            uow,
            version_id,
            username=f"approver.{code.lower()}",
            password=TEST_PASSWORD,
            effective_at=utcnow() + dt.timedelta(days=1),
            lockout_threshold=3,
        )
        uow.commit()
    assign(db, person_id, version_id)
    return version_id


def _status(db: t.Any, person_id: int, version_id: int) -> str:
    with db.read_sessions() as s:
        return s.scalars(
            select(Assignment.status).where(
                Assignment.person_id == person_id, Assignment.item_version_id == version_id
            )
        ).one()


def _wait_for(page: t.Any, check: t.Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(200)


def _statements(db: t.Any) -> list[dict[str, t.Any]]:
    with db.read_sessions() as s:
        return [json.loads(b) for b in s.scalars(select(StatementRow.body).order_by(StatementRow.seq))]


@pytest.mark.browser
def test_play_scorm12_scorm2004_and_cmi5_from_the_learner_page_then_sign(
    app, runner, db, make_user, api_token, tmp_path
):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's Chromium to run the browser tests")
    from playwright.sync_api import expect, sync_playwright

    make_user("author", "qa_author")
    with tool_and_lms(app, runner) as lms:
        launch = launch_via_lms(lms, "3")
        assert launch.status_code == 303
        with db.read_sessions() as s:
            person_id = people.find_person_by_identity(s, "lti", lms.platform.issuer, "3").id
        courses = {
            "scorm12": _course(
                app, db, make_user, api_token, builders.scorm12_package(), "CRS-S12", person_id
            ),
            "scorm2004_4": _course(
                app,
                db,
                make_user,
                api_token,
                builders.scorm2004_package("scorm2004_4"),
                "CRS-S2004",
                person_id,
            ),
            "cmi5": _course(app, db, make_user, api_token, builders.cmi5_package(), "CRS-CMI5", person_id),
        }
        learner_page = lms.tool_base + launch.headers["Location"]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM))
            try:
                context = browser.new_context()
                context.set_default_timeout(30_000)
                expect.set_options(timeout=30_000)
                page = context.new_page()
                page.goto(learner_page)
                for number, (standard, version_id) in enumerate(courses.items()):
                    page.goto(learner_page)
                    page.get_by_role("link", name=CODES[standard]).first.click()
                    with context.expect_page() as opened:
                        page.locator(".content-play").first.click()
                    player = opened.value
                    expect(player.locator("#course-title")).to_be_visible()
                    frame = player.frame_locator("#content-frame")
                    expect(frame.locator("#found")).to_contain_text("initialized")
                    if standard == "scorm12":
                        expect(frame.locator("#found")).to_contain_text("student=person-")
                        content = player.frames[1]
                        # Package script reaches nothing of the application: no fetch, no window.
                        assert (
                            content.evaluate(
                                "fetch('/api/v1/openapi.json').then(() => 'reached', () => 'blocked')"
                            )
                            == "blocked"
                        )
                        assert content.evaluate("window.open('/console/') === null")
                        assert content.evaluate("document.cookie") == ""
                    frame.locator("#pass").click()
                    expect(frame.locator("#found")).to_have_text("finished")
                    _wait_for(
                        player,
                        lambda v=version_id: _status(db, person_id, v) == "content_complete",
                        f"{standard}: content complete",
                    )
                    player.screenshot(path=str(tmp_path / f"{standard}-player.png"))
                    player.close()
                    # Sign on the learner page.
                    page.reload()
                    expect(page.locator(".assignment").first).to_contain_text("content complete")
                    if number == 0:
                        page.locator("#set-signing-password").click()
                        page.locator("#password").fill(SIGNING_PASSWORD)
                        page.locator("#confirm").fill(SIGNING_PASSWORD)
                        page.get_by_role("button", name="Set signing password").click()
                    page.locator("input[name=confirm][type=checkbox]").check()
                    page.locator("input[type=password][name=password]").fill(SIGNING_PASSWORD)
                    page.get_by_role("button", name="Sign: read and understood").click()
                    expect(page.locator("#receipt")).to_be_visible()
                    assert _status(db, person_id, version_id) == "completed"
            finally:
                browser.close()
    stored = _statements(db)
    by_version: dict[int, list[str]] = {}
    for statement in stored:
        for version_id in courses.values():
            if f"/content/versions/{version_id}" in statement["object"]["id"]:
                verb = statement["verb"]["id"].rsplit("/", 1)[1]
                whole = statement["object"]["id"].endswith(f"/content/versions/{version_id}")
                by_version.setdefault(version_id, []).append(f"course {verb}" if whole else verb)
    assert by_version[courses["scorm12"]] == [
        "initialized",
        "completed",
        "passed",
        "scored",
        "responded",
        "course completed",
        "course passed",
        "terminated",
    ]
    assert by_version[courses["scorm2004_4"]] == [
        "initialized",
        "completed",
        "passed",
        "scored",
        "responded",
        "course completed",
        "course passed",
        "terminated",
    ]
    assert by_version[courses["cmi5"]] == [
        "launched",
        "initialized",
        "completed",
        "passed",
        "course satisfied",
        "terminated",
    ]
    scorm = [
        s for s in stored if "/units/item1" in s["object"]["id"] and s["verb"]["id"].endswith("terminated")
    ]
    assert all(
        {"id": "https://w3id.org/xapi/scorm", "objectType": "Activity"}
        in s["context"]["contextActivities"]["category"]
        for s in scorm
    )
    assert {s["result"]["success"] for s in scorm} == {True} and all("duration" in s["result"] for s in scorm)
