"""How package content is kept away from the application (the design is in docs/content.md).

The SCORM runtime API must be reachable from the package's frame by plain JavaScript
(``window.parent.API``), which a sandbox without ``allow-same-origin`` forbids. So the player
and the package share one origin with the application, and the isolation comes from elsewhere:

* everything of a play lives under ``/play/<token>/``, where the console session is never opened
  (no cookie is read or set there) and the unguessable attempt token is the only authority;
* the console's session cookie is ``HttpOnly`` (script cannot read it);
* every response under ``/play/<token>/`` carries a CSP whose sources are *that path* only
  (``connect-src``, ``frame-src``, ``form-action``, images, media, styles), so package script can
  neither fetch, post to, nor frame the API, the console or another attempt or package, and a
  ``sandbox`` without ``allow-popups`` / ``allow-top-navigation`` (no new window to script, no
  leaving the frame); the application's own pages send ``frame-ancestors 'none'``, so a package
  navigating its frame to one gets nothing rendered to read;
* ``nosniff``, types from the extension (never sniffed), ``Cross-Origin-Resource-Policy``.
"""

from __future__ import annotations

import mimetypes

from flask import Response, request

from bridge.core.errors import Forbidden
from bridge.core.web import same_origin

SANDBOX = "sandbox allow-scripts allow-forms allow-same-origin"
_TYPES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".xml": "application/xml",
    ".xsd": "application/xml",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".ogg": "audio/ogg",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".vtt": "text/vtt",
    ".swf": "application/octet-stream",
}


def media_type(name: str) -> str:
    """The type a package file is served as, from its extension only."""
    dot = name.rfind(".")
    extension = name[dot:].lower() if dot >= 0 else ""
    return _TYPES.get(extension) or mimetypes.types_map.get(extension) or "application/octet-stream"


def package_csp(origin: str, token: str) -> str:
    """The CSP of a package file: scripts may run (inline and eval: SCORM content relies on both),
    but reach nothing beyond this attempt's path.
    """
    own = f"{origin}/play/{token}/"
    return "; ".join(
        [
            f"default-src {own}",
            f"script-src {own} 'unsafe-inline' 'unsafe-eval'",
            f"style-src {own} 'unsafe-inline'",
            f"img-src {own} data: blob:",
            f"media-src {own} data: blob:",
            f"font-src {own} data:",
            f"connect-src {own}",
            f"frame-src {own}",
            f"form-action {own}",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'self'",
            SANDBOX,
        ]
    )


def player_csp(origin: str, token: str) -> str:
    """The CSP of the player page: only the vendored runtime and the player's own script."""
    own = f"{origin}/play/{token}/"
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {origin}/play/static/",
            f"style-src {origin}/play/static/",
            f"connect-src {own}",
            f"frame-src {own}",
            "img-src 'self' data:",
            "form-action 'none'",
            "base-uri 'none'",
            "frame-ancestors 'self'",
            SANDBOX,
        ]
    )


def no_store(response: Response) -> Response:
    """Never cached by shared caches (an attempt's pages are the learner's)."""
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def check_same_origin() -> None:
    """Refuse a write sent by a page of another site (the token is the authority; this is depth)."""
    origin = request.headers.get("Origin")
    if origin and origin != "null" and not same_origin(origin):
        raise Forbidden("a runtime write must come from the player's own origin", code="cross_origin")
