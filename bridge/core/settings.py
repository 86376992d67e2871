"""Settings read from ``GXPBRIDGE_*`` environment variables."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

logger = logging.getLogger(__name__)


class Settings(BaseSettings):
    """Runtime configuration of one GxP Bridge instance.

    Every field can be set from the environment as ``GXPBRIDGE_<FIELD>`` (upper case).
    """

    model_config = SettingsConfigDict(env_prefix="GXPBRIDGE_", extra="ignore")

    instance_path: Path = Field(default_factory=lambda: Path.cwd() / "instance")
    database_url: str | None = None
    # A PostgreSQL hot standby of that database: GET requests on ``replica_paths`` read from it
    # while it lags at most ``replica_max_lag_seconds`` (docs/admin-guide.md, "Reads from a
    # replica"); everything else, and every write, uses the primary.
    database_replica_url: str | None = None
    replica_max_lag_seconds: float = Field(default=30.0, ge=0)
    # Comma-separated path prefixes whose GET requests may read from the replica.
    replica_paths: str = "/api/v1/reports/,/console/reports/,/console/inspection/"
    secret_key: str | None = None
    base_url: str = "http://127.0.0.1:8000"
    site_name: str = "GxP Bridge"
    # Part 11 §11.300 password controls.
    password_min_length: int = 12
    lockout_threshold: int = 5
    outbox_max_attempts: int = 8
    # Oldest LTI id_token (seconds since its iat) a launch accepts.
    lti_max_token_age: int = 300
    # Console sessions (server-side): signed out after this many idle minutes, and at the latest
    # this many hours after sign-in (Part 11 §11.10(d), §11.300).
    session_idle_minutes: int = Field(default=15, ge=1)
    session_absolute_hours: int = Field(default=12, ge=1)
    # Reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host/-Port/-Prefix headers
    # are trusted (werkzeug ProxyFix); 0 trusts none. Set to 1 behind the nginx of deploy/.
    trusted_proxies: int = Field(default=0, ge=0)
    # Key of the audit trail's HMAC chain and signed checkpoints: kept outside the database, so
    # whoever can write the database cannot recompute the chain. Generated in the instance
    # folder (``audit_key``) on first use when unset; back it up apart from the database.
    audit_key: str | None = None
    # A signed checkpoint of the chain's head every this many rows, and from the worker every
    # this many seconds when rows were added since the last one.
    audit_checkpoint_rows: int = Field(default=100, ge=1)
    audit_checkpoint_seconds: int = Field(default=300, ge=1)
    # Outgoing e-mail (bridge/core/mail.py). No host: notices are recorded as skipped, never sent.
    smtp_host: str | None = None
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "GxP Bridge <gxpbridge@localhost>"
    smtp_timeout: float = Field(default=30.0, gt=0)
    # The site's time zone (IANA name): quiet hours and the morning digest are in local time.
    site_timezone: str = "UTC"
    # Seconds a claimed outbox message stays invisible to other workers while it is being sent;
    # a worker that dies mid-send leaves it to be claimed again after this lease.
    outbox_lease_seconds: int = Field(default=120, ge=1)
    testing: bool = False
    log_level: str = "INFO"

    @field_validator("database_url", "database_replica_url")
    @classmethod
    def _normalise_url(cls, value: str | None) -> str | None:
        # Accept the libpq style URL operators paste from elsewhere; we always use psycopg 3.
        if value and value.startswith(("postgres://", "postgresql://")):
            return "postgresql+psycopg://" + value.split("://", 1)[1]
        return value

    def resolved_database_url(self) -> str:
        """Return the database URL, defaulting to a SQLite file in the instance folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.instance_path / 'gxpbridge.sqlite3'}"

    def resolved_secret_key(self) -> str:
        """Return the secret key, generating and persisting one on first use."""
        if not self.secret_key:
            self.secret_key = self._instance_secret("secret_key")
        return self.secret_key

    def resolved_audit_key(self) -> str:
        """Return the audit trail's key, generating and persisting one on first use."""
        if not self.audit_key:
            self.audit_key = self._instance_secret("audit_key")
        return self.audit_key

    def _instance_secret(self, name: str) -> str:
        """The secret in the instance folder's file ``name``, created (mode 0600) if missing."""
        self.instance_path.mkdir(parents=True, exist_ok=True)
        key_file = self.instance_path / name
        if not key_file.exists():
            try:
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first: use theirs
                pass
            else:
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_urlsafe(48))
                logger.info("generated a new %s in %s", name.replace("_", " "), key_file)
        value = key_file.read_text().strip()
        if not value:
            raise RuntimeError(f"{key_file} is empty: restore it from the backup")
        return value
