"""What an LTI login or launch must respect and how it is refused: the light part of the LTI
tool, which every served process imports.

The LTI protocol itself (pylti1p3, PyJWT, jwcrypto: about 10 MB a process) lives in
:mod:`lti.tool`, :mod:`lti.dynamic` and the functions of :mod:`lti.services` that call a platform,
which import it when a launch, a registration or a platform call happens, not when the app starts.
"""

from __future__ import annotations

import hashlib
import typing as t
from dataclasses import dataclass
from urllib.parse import urlsplit

from bridge.core.errors import DomainError

if t.TYPE_CHECKING:
    import requests

ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512")
STATE_LIFETIME_SECONDS = 600
KEYSET_CACHE_SECONDS = 300
KEYSET_REFRESH_SECONDS = 30
HTTP_TIMEOUT_SECONDS = 10


class LaunchRefused(DomainError):
    """A login or launch failed one of the security checks.

    Attributes:
        check: The check that failed (stable code, e.g. ``nonce_replayed``).
        platform_id: The registration concerned, when it was identified.
    """

    status = 400
    code = "lti_launch_refused"

    def __init__(self, check: str, message: str, *, status: int = 400,
                 platform_id: int | None = None, issuer: str | None = None,
                 client_id: str | None = None) -> None:
        """Create the refusal for ``check``."""
        super().__init__(message, field=check, code="lti_launch_refused")
        self.status = status
        self.check = check
        self.platform_id = platform_id
        self.issuer = issuer
        self.client_id = client_id


@dataclass
class LoginResult:
    """Where to send the browser after a login initiation."""

    redirect_url: str
    platform_id: int


def same_origin(url: str, base_url: str) -> bool:
    """Whether ``url`` has the scheme, host and port of ``base_url``."""
    a, b = urlsplit(url or ""), urlsplit(base_url)
    return (a.scheme, a.hostname, a.port or _default_port(a.scheme)) == (
        b.scheme, b.hostname, b.port or _default_port(b.scheme))


def _default_port(scheme: str) -> int | None:
    return {"http": 80, "https": 443}.get(scheme)


@dataclass
class LaunchPolicy:
    """Limits a launch must respect."""

    base_url: str
    max_token_age: int = 300
    clock_skew: int = 60


def keyset_cache_key(url: str) -> str:
    """pylti1p3's cache key for a platform key set."""
    return "key-set-url-" + hashlib.md5(url.encode()).hexdigest()  # noqa: S324 - a cache key, not security


def fetch_keyset(url: str) -> dict[str, t.Any] | None:
    """Read a platform's key set over HTTP (no database access); ``None`` if unusable."""
    import requests  # with the LTI stack, only when a platform is called

    try:
        keyset = http_session().get(url).json()
    except (requests.RequestException, ValueError):
        return None
    if not isinstance(keyset, dict) or not isinstance(keyset.get("keys"), list):
        return None
    return keyset


def http_session() -> requests.Session:
    """An HTTP session for calls to platforms, with a timeout on every request."""
    import requests  # loaded when a platform is called, not by every served process

    session = requests.Session()
    session.headers["User-Agent"] = "GxP-Bridge-LTI/1.0"
    original = session.request

    def request_with_timeout(method: str, url: str, **kwargs: t.Any) -> requests.Response:
        kwargs.setdefault("timeout", HTTP_TIMEOUT_SECONDS)
        return original(method, url, **kwargs)

    session.request = request_with_timeout  # type: ignore[method-assign]
    return session
