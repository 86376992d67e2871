"""xAPI 1.0.x Alternate Request Syntax (Communication 1.3): a cross-origin client POSTs a form
``?method=PUT`` carrying the headers and the content as form fields. This WSGI middleware turns
such a request back into the ordinary one before routing. xAPI 2.0 removed the syntax: a 2.0
request using it is refused by the blueprint (``xapi.alternate`` marks it).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

logger = logging.getLogger(__name__)

HEADER_FIELDS = {
    "Authorization": "HTTP_AUTHORIZATION",
    "X-Experience-API-Version": "HTTP_X_EXPERIENCE_API_VERSION",
    "Content-Type": "CONTENT_TYPE",
    "Content-Length": None,
    "If-Match": "HTTP_IF_MATCH",
    "If-None-Match": "HTTP_IF_NONE_MATCH",
}
METHODS = ("GET", "HEAD", "PUT", "POST", "DELETE")


class AlternateRequestSyntax:
    """Rewrite ``POST /xapi/...?method=X`` form requests into method ``X`` requests."""

    def __init__(self, app: Callable[..., Iterable[bytes]], prefix: str = "/xapi/") -> None:
        """Wrap the WSGI ``app`` for paths under ``prefix``."""
        self.app = app
        self.prefix = prefix

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Rewrite the request when it uses the alternate syntax, then call the app."""
        query = environ.get("QUERY_STRING", "")
        if environ.get("PATH_INFO", "").startswith(self.prefix) and "method=" in query:
            params = parse_qsl(query, keep_blank_values=True)
            if any(name == "method" for name, _ in params):
                self._rewrite(environ, params)
        return self.app(environ, start_response)

    def _rewrite(self, environ: dict[str, Any], params: list[tuple[str, str]]) -> None:
        environ["xapi.alternate"] = True
        if environ.get("REQUEST_METHOD") != "POST":
            environ["xapi.alternate_error"] = "the alternate request syntax must be sent as a POST"
            return
        if len(params) != 1:
            environ["xapi.alternate_error"] = ("the alternate request syntax takes only the method parameter "
                                               "in the query string; send the others as form fields")
            return
        method = params[0][1].upper()
        if method not in METHODS:
            environ["xapi.alternate_error"] = f"method {params[0][1]!r} is not an HTTP method of xAPI"
            return
        content_type = environ.get("CONTENT_TYPE", "")
        if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
            environ["xapi.alternate_error"] = ("the alternate request syntax needs a form body "
                                               "(application/x-www-form-urlencoded)")
            return
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        content = ""
        query: list[tuple[str, str]] = []
        environ["CONTENT_TYPE"] = ""
        for name, value in form:
            if name in HEADER_FIELDS:
                target = HEADER_FIELDS[name]
                if target:
                    environ[target] = value
            elif name == "content":
                content = value
            else:
                query.append((name, value))
        payload = content.encode("utf-8")
        if payload and not environ["CONTENT_TYPE"]:
            environ["CONTENT_TYPE"] = "application/json"
        environ["REQUEST_METHOD"] = method
        environ["QUERY_STRING"] = urlencode(query)
        environ["CONTENT_LENGTH"] = str(len(payload))
        environ["wsgi.input"] = io.BytesIO(payload)
