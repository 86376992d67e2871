"""Security headers on every response, and serving user-supplied files safely.

Every response gets a Content-Security-Policy (unless its view set one), ``X-Content-Type-Options:
nosniff``, a ``Referrer-Policy`` and ``frame-ancestors 'none'`` (with ``X-Frame-Options: DENY``):
no page of GxP Bridge may be framed, except where a view or a registered path prefix allows the
origins of the LMS platforms (LTI launches open inside the LMS page).

Hooks for the packages:

- :func:`allow_framing` in a view: this response may be framed by ``'self'`` and the given origins.
- :func:`register_csp` at ``init_app``: HTML responses under a path prefix get the directives a
  provider returns (read at response time, so a newly registered platform may frame the tool at
  once); :func:`frame_and_post_to` builds the usual ones from a list of origins.
- :func:`csp_override` in a view: replace directives of this response's policy (``form-action``
  for a page that posts a form to the LMS).
- :func:`csp_nonce` in a template (``<script nonce="{{ csp_nonce() }}">``): the one way an inline
  script runs; without a nonce, only scripts served by this site do.

:func:`send_upload` serves a file a user uploaded: always as an attachment, with a content type
from a short allow list sniffed from the bytes (never the one the uploader claimed), ``nosniff``
and a sandboxing policy, and an RFC 6266 ``filename*`` so any name downloads.
"""

from __future__ import annotations

import io
import re
import secrets
import unicodedata
import zipfile
from collections.abc import Callable, Iterable
from urllib.parse import quote, urlsplit

from flask import Flask, Response, current_app, g, request

DEFAULT_DIRECTIVES: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    # The console's layout carries its styles inline (no script can use that).
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
REFERRER_POLICY = "same-origin"
# A user-supplied file is never run as a page: no script, no plugin, no same-origin access.
UPLOAD_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
CspProvider = Callable[[], dict[str, str]]


def _format(directives: dict[str, str]) -> str:
    return "; ".join(f"{name} {value}".strip() for name, value in directives.items() if value is not None)


_DEFAULT_POLICY = _format(DEFAULT_DIRECTIVES)


def csp_nonce() -> str:
    """This response's script nonce, made on first use; templates put it on inline scripts."""
    nonce = g.get("gxp_csp_nonce")
    if nonce is None:
        nonce = g.gxp_csp_nonce = secrets.token_urlsafe(18)
    return nonce


def csp_override(**directives: str) -> None:
    """Replace directives of this response's policy (``form_action="'self' https://lms"``)."""
    overrides = g.setdefault("gxp_csp_overrides", {})
    for name, value in directives.items():
        overrides[name.replace("_", "-")] = value


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL, or ``None``."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if any(c in parts.netloc for c in " ;,'\"") or "@" in parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc.lower()}"


def allow_framing(*origins: str) -> None:
    """Let this response be framed by this site and ``origins`` (URLs; only their origins count)."""
    found = sorted({o for o in (origin_of(url) for url in origins) if o})
    csp_override(frame_ancestors=" ".join(["'self'", *found]))


def frame_and_post_to(origins: Iterable[str]) -> dict[str, str]:
    """Directives letting ``origins`` (URLs; only their origins count) frame the page and
    receive its forms (an LTI deep-linking response posts back to the LMS).
    """
    found = sorted({o for o in (origin_of(url) for url in origins) if o})
    allowed = " ".join(["'self'", *found])
    return {"frame-ancestors": allowed, "form-action": allowed}


def register_csp(app: Flask, prefix: str, provider: CspProvider) -> None:
    """Give HTML responses under ``prefix`` the directives ``provider()`` returns (in a request
    context), unless their view set its own with :func:`csp_override` or :func:`allow_framing`.
    """
    app.extensions.setdefault("gxpbridge.csp_providers", {})[prefix] = provider


def _provider_for(app: Flask, path: str) -> CspProvider | None:
    for prefix, provider in app.extensions.get("gxpbridge.csp_providers", {}).items():
        if path.startswith(prefix):
            return provider
    return None


def apply_security_headers(response: Response) -> Response:
    """``after_request``: the default headers, with this request's overrides (never replacing a
    Content-Security-Policy the view set itself, as :func:`send_upload` does).
    """
    headers = response.headers
    # One pass over what the view set (werkzeug scans the whole list per name otherwise: this
    # runs for every response, the record store's statement POSTs included).
    present = {name.lower() for name, _value in headers.to_wsgi_list()}
    if "x-content-type-options" in present:
        headers["X-Content-Type-Options"] = "nosniff"
    else:
        headers.add("X-Content-Type-Options", "nosniff")
    if "referrer-policy" not in present:
        headers.add("Referrer-Policy", REFERRER_POLICY)
    if request.is_secure and "strict-transport-security" not in present:
        headers.add("Strict-Transport-Security", "max-age=31536000")
    if "content-security-policy" in present:
        return response
    context = g.__dict__
    overrides = context.get("gxp_csp_overrides")
    nonce = context.get("gxp_csp_nonce")
    if overrides is None and response.mimetype == "text/html":
        provider = _provider_for(current_app, request.path)
        if provider is not None:
            overrides = {name.replace("_", "-"): value for name, value in provider().items()}
    if overrides is None and nonce is None:
        headers.add("Content-Security-Policy", _DEFAULT_POLICY)
        if "x-frame-options" not in present:
            headers.add("X-Frame-Options", "DENY")
        return response
    directives = {**DEFAULT_DIRECTIVES, **(overrides or {})}
    if nonce is not None:
        directives["script-src"] = f"{directives['script-src']} 'nonce-{nonce}'"
    headers["Content-Security-Policy"] = _format(directives)
    ancestors = directives.get("frame-ancestors", "")
    if ancestors == "'none'":
        headers.setdefault("X-Frame-Options", "DENY")
    elif ancestors == "'self'":
        headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    return response


# -- user-supplied files -----------------------------------------------------------------------

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
OCTET_STREAM = "application/octet-stream"
_OOXML = (("word/document.xml", DOCX), ("xl/workbook.xml", XLSX), ("ppt/presentation.xml", PPTX))


def sniff_media_type(content: bytes) -> str:
    """The media type of ``content`` from its bytes, from an allow list: PDF, PNG, JPEG, GIF,
    Word/Excel/PowerPoint (OOXML), ZIP, plain UTF-8 text; anything else is
    ``application/octet-stream``. What the uploader claimed is never used.
    """
    head = content[:16]
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, ValueError, OSError):
            return OCTET_STREAM
        for marker, media_type in _OOXML:
            if marker in names:
                return media_type
        return "application/zip"
    if b"\x00" not in content:
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            return OCTET_STREAM
        return "text/plain; charset=utf-8"
    return OCTET_STREAM


_UNSAFE_FALLBACK = re.compile(r'[^A-Za-z0-9 !#$&+,.;=@\[\]^_`{}~()-]')


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """An RFC 6266 ``Content-Disposition``: an ASCII ``filename`` fallback and ``filename*`` in
    UTF-8 (RFC 8187), so any name, in any script, downloads under its own name.
    """
    name = "".join(c for c in (filename or "") if unicodedata.category(c)[0] != "C").strip()
    name = name.replace("/", "_").replace("\\", "_") or "download"
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    ascii_name = _UNSAFE_FALLBACK.sub("_", ascii_name).strip() or "download"
    if ascii_name.startswith("."):
        ascii_name = "download" + ascii_name
    header = f'{disposition}; filename="{ascii_name}"'
    if ascii_name != name:
        header += f"; filename*=UTF-8''{quote(name, safe='')}"
    return header


def send_upload(content: bytes, filename: str, *, headers: dict[str, str] | None = None) -> Response:
    """Serve user-supplied ``content`` safely, as a download named ``filename``.

    Always an attachment; the content type sniffed from the bytes (:func:`sniff_media_type`);
    ``nosniff``; a sandboxing Content-Security-Policy (a file opened anyway runs no script and
    has no access to the site); never cached by shared caches. ``headers`` adds to them (an ETag,
    the file's SHA-256) without replacing them.
    """
    response = Response(content, status=200)
    response.headers["Content-Type"] = sniff_media_type(content)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    response.headers["Content-Disposition"] = content_disposition(filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = UPLOAD_CSP
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "private, no-store")
    return response


def init_app(app: Flask) -> None:
    """Add the headers to every response and ``csp_nonce`` to the templates."""
    app.after_request(apply_security_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce

