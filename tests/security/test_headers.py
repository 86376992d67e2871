"""Security headers on every response, per-response framing, and serving uploaded files."""

from __future__ import annotations

import io
import zipfile
from urllib.parse import unquote

import pytest
from flask import Flask, render_template_string

from bridge.core import headers


def test_every_response_has_the_default_headers(client):
    for path in ("/", "/login", "/healthz", "/api/v1/openapi.json", "/api/v1/me", "/nowhere",
                 "/xapi/about"):
        response = client.get(path)
        csp = response.headers.get("Content-Security-Policy", "")
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "object-src 'none'" in csp and "base-uri 'self'" in csp
        assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";")[0]
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert response.headers["Referrer-Policy"], path
        assert response.headers["X-Frame-Options"] == "DENY", path


def test_https_responses_ask_for_strict_transport(client):
    response = client.get("/login", base_url="https://gxp.example")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Strict-Transport-Security" not in client.get("/login").headers


def _tiny_app() -> Flask:
    app = Flask("headers-test")
    headers.init_app(app)

    @app.get("/framed")
    def framed():
        headers.allow_framing("https://lms.example/course/view.php?id=3", "javascript:alert(1)",
                              "https://evil example")
        return "<p>in the LMS</p>"

    @app.get("/script")
    def script():
        return render_template_string('<script nonce="{{ csp_nonce() }}">go()</script>')

    @app.get("/lms/page")
    def by_prefix():
        return "<p>provider</p>"

    @app.get("/upload/<name>")
    def upload(name):
        return headers.send_upload(b"%PDF-1.7\n...", unquote(name), headers={"ETag": '"x"'})

    headers.register_csp(app, "/lms/", lambda: headers.frame_and_post_to(
        ["https://moodle.example/mod/lti/auth.php", "https://canvas.example"]))
    return app


def test_a_view_lets_the_registered_platforms_frame_it():
    client = _tiny_app().test_client()
    csp = client.get("/framed").headers["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://lms.example;" in csp + ";"
    assert "evil" not in csp and "javascript" not in csp
    assert "X-Frame-Options" not in client.get("/framed").headers
    csp = client.get("/lms/page").headers["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://canvas.example https://moodle.example" in csp
    assert "form-action 'self' https://canvas.example https://moodle.example" in csp


def test_inline_scripts_run_only_with_the_response_nonce():
    client = _tiny_app().test_client()
    response = client.get("/script")
    nonce = response.get_data(as_text=True).split('nonce="')[1].split('"')[0]
    assert f"script-src 'self' 'nonce-{nonce}'" in response.headers["Content-Security-Policy"]
    assert client.get("/script").headers["Content-Security-Policy"] != response.headers[
        "Content-Security-Policy"]


def test_lti_launch_pages_may_be_framed_by_active_platforms_only(client, app, db):
    from bridge.core.actor import SYSTEM
    from bridge.core.uow import UnitOfWork
    from lti.models import LtiPlatform

    with UnitOfWork(db, SYSTEM) as uow:
        uow.session.add(LtiPlatform(name="Moodle", issuer="https://moodle.example", client_id="c",
                                    auth_login_url="https://moodle.example/mod/lti/auth.php",
                                    auth_token_url="https://moodle.example/token"))
        uow.session.add(LtiPlatform(name="Old", issuer="https://old.example", client_id="c",
                                    auth_login_url="https://old.example/auth",
                                    auth_token_url="https://old.example/token", active=False))
        uow.commit()
    csp = client.get("/lti/s/nothing/").headers["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://moodle.example;" in csp + ";"
    assert "old.example" not in csp
    assert "frame-ancestors 'none'" in client.get("/console/lti/").headers["Content-Security-Policy"]


def _zip(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "x")
    return buffer.getvalue()


@pytest.mark.parametrize(("content", "expected"), [
    (b"%PDF-1.7\n%...", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
    (b"Gowning steps\n1. Hands\n", "text/plain; charset=utf-8"),
    ("Ä accentué\n".encode(), "text/plain; charset=utf-8"),
    (b"<html><script>alert(1)</script></html>", "text/plain; charset=utf-8"),
    (_zip("word/document.xml", "[Content_Types].xml"), headers.DOCX),
    (_zip("xl/workbook.xml"), headers.XLSX),
    (_zip("readme.txt"), "application/zip"),
    (b"PK\x03\x04 not really a zip", "application/octet-stream"),
    (b"\x00\x01\x02binary", "application/octet-stream"),
    (b"\xff\xfe<\x00s\x00v\x00g\x00", "application/octet-stream"),
    (b"", "text/plain; charset=utf-8"),
])
def test_the_media_type_comes_from_the_bytes(content, expected):
    assert headers.sniff_media_type(content) == expected


def test_an_upload_is_served_as_a_sandboxed_attachment():
    client = _tiny_app().test_client()
    response = client.get("/upload/report.pdf")
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == 'attachment; filename="report.pdf"'
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    csp = response.headers["Content-Security-Policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp
    assert response.headers["ETag"] == '"x"'


@pytest.mark.parametrize("name", ["Безопасность.pdf", "手順書 SOP-014.pdf", "Œuvre “v2”.pdf",
                                  'a"b\\c\r\nX-Evil: 1.pdf', "../../etc/passwd"])
def test_any_file_name_downloads(name):
    from urllib.parse import quote

    client = _tiny_app().test_client()
    response = client.get("/upload/" + quote(quote(name, safe=""), safe=""))
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="')
    disposition.encode("latin-1")  # a header value every server can send
    assert "\r" not in disposition and "\n" not in disposition and "X-Evil" not in response.headers
    fallback = disposition.split('filename="', 1)[1].split('"', 1)[0]
    assert "/" not in fallback and "\\" not in fallback and '"' not in fallback
    if "filename*=" in disposition:
        encoded = disposition.split("filename*=UTF-8''", 1)[1]
        decoded = unquote(encoded)
        assert "/" not in decoded and "\n" not in decoded
        if name.isprintable():
            assert decoded == name.replace("/", "_")
