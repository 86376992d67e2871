"""Every console page renders for the demo plant's roles, and each role sees only its menu."""

from __future__ import annotations

import re

import pytest

from bridge.demo import DEMO_PASSWORD
from tests.console.conftest import sign_in

READER_MENU = {"Dashboard", "Document register", "Change controls", "Assignments", "My training",
               "People"}
READERS = ("admin", "qa.author", "qa.approver", "trainer", "supervisor", "auditor")
MENUS = {name: READER_MENU for name in READERS}
MENUS["operator1"] = {"Dashboard", "My training"}


@pytest.fixture
def demo(app, runner, clock):
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    return app


def demo_client(app, username):
    client = app.test_client()
    assert sign_in(client, username, DEMO_PASSWORD).status_code == 302
    return client


def menu_of(html: str) -> set[str]:
    nav = html.split('<nav class="sidenav"', 1)[1].split("</nav>", 1)[0]
    return set(re.findall(r'<a href="[^"]+"(?: aria-current="page")?>([^<]+)</a>', nav))


@pytest.mark.parametrize("username", sorted(MENUS))
def test_each_role_sees_its_menu_and_its_pages_render(demo, username):
    client = demo_client(demo, username)
    html = client.get("/console/").get_data(as_text=True)
    assert menu_of(html) >= MENUS[username]
    if username == "operator1":  # a learner sees only their own training
        assert menu_of(html) == MENUS[username]
    nav = html.split('<nav class="sidenav"', 1)[1].split("</nav>", 1)[0]
    for link in re.findall(r'<a href="([^"]+)"', nav):
        page = client.get(link)
        assert page.status_code == 200, (link, page.status_code)
