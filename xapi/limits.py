"""What one request may carry (read once at start, ``GXPBRIDGE_LRS_*`` in the environment).

A request over a limit is refused with ``413`` naming the limit, before the part over it is read
into memory where the size is announced (``Content-Length``), else as soon as it is passed.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from bridge.core.errors import DomainError

MIB = 1024 * 1024


class LrsLimits(BaseSettings):
    """Per-request limits of the record store."""

    model_config = SettingsConfigDict(env_prefix="GXPBRIDGE_LRS_", extra="ignore")

    # Statements in one PUT/POST. Moodle's log store sends batches of its "maxbatchsize" (30 by
    # default); a batch of 1,000 holds a worker at about 15 MB while it is validated.
    max_statements: int = 1000
    # The statement JSON (the body, or the first part of a multipart request).
    max_statements_bytes: int = 16 * MIB
    # One attachment part; parts are spooled to a temporary file past 1 MiB, so this bounds the
    # disk a request uses and the one copy a write holds in memory.
    max_attachment_bytes: int = 32 * MIB
    # Attachment parts in one request (each must carry a distinct attachment of the statements).
    max_attachment_parts: int = 100
    # A whole multipart request.
    max_request_bytes: int = 128 * MIB


class TooLarge(DomainError):
    """A request over one of the :class:`LrsLimits` (413)."""

    status = 413
    code = "request_too_large"
