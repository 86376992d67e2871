"""The console cookie alone never writes through the REST API: a cross-site form or script
carrying it is refused; the session's CSRF token or a same-origin request passes; bearer tokens
are unaffected."""

from __future__ import annotations

import io
import re

from tests.conftest import TEST_PASSWORD

CSV = b"job_function,department,equipment,training_item\n"


def _csrf(client, path="/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _import(client, **headers):
    return client.post("/api/v1/matrix/import", headers=headers, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(CSV), "matrix.csv")})


def _refused_as_csrf(response) -> bool:
    return response.status_code == 403 and (response.get_json() or {}).get("error") == "csrf_failed"


def test_cookie_writes_need_the_csrf_token_or_the_same_origin(client, make_user, api_token):
    make_user("robin", "qa_author")
    client.post("/login", data={"csrf_token": _csrf(client), "username": "robin",
                                "password": TEST_PASSWORD})
    assert client.get("/api/v1/me").status_code == 200  # reads need nothing more
    assert _refused_as_csrf(_import(client))
    assert _refused_as_csrf(_import(client, Origin="https://evil.example"))
    assert _refused_as_csrf(_import(client, Origin="null"))
    assert _refused_as_csrf(_import(client, **{"X-CSRF-Token": "guessed"}))
    token = _csrf(client, "/console/")  # the signed-in home (/ redirects there)
    assert not _refused_as_csrf(_import(client, **{"X-CSRF-Token": token}))
    assert not _refused_as_csrf(_import(client, Origin="http://localhost"))
    # A bearer token is not sent by browsers on their own: no CSRF check.
    bearer = client.application.test_client()
    assert not _refused_as_csrf(_import(bearer, **api_token("robin")))
