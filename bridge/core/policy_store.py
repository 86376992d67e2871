"""Policy settings an administrator may change in the console, stored as overrides of the
environment (Part 11 §11.300 password and lockout controls, §11.10(d) idle sign-out, the
effective-date gate).

The environment (``GXPBRIDGE_*``, ``GXPBRIDGE_QMS_*``) gives the default; a row of
``policy_override``, named by the same variable, wins over it. Every unit of work reads the
overrides when it first needs its settings or a policy (:func:`apply_settings`,
:func:`apply_policy`), so a change is in force from the next request, in every process, without a
restart. Changes go through :func:`change_settings`: validated as a whole (nothing is saved when
one value is wrong), audited with the old and new values in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bridge.core import audit
from bridge.core.db import Base, JSONType, UTCDateTime
from bridge.core.errors import ValidationFailed
from bridge.core.settings import Settings

if TYPE_CHECKING:
    from bridge.core.uow import UnitOfWork

logger = logging.getLogger(__name__)

SETTINGS_PREFIX = "GXPBRIDGE_"


class PolicyOverride(Base):
    """A policy value set in the console; ``name`` is the environment variable it overrides."""

    __tablename__ = "policy_override"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONType, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_by: Mapped[str] = mapped_column(String(200), nullable=False)


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError(f"a whole number from {low} to {high}") from None
        if not low <= value <= high:
            raise ValueError(f"a whole number from {low} to {high}")
        return value

    return parse


def _optional_percent(raw: str) -> float | None:
    if not raw.strip():
        return None  # no site-wide gate: each version's own threshold
    try:
        value = float(raw.strip())
    except ValueError:
        raise ValueError("a percentage from 0 to 100, or empty for none") from None
    if not 0 <= value <= 100:
        raise ValueError("a percentage from 0 to 100, or empty for none")
    return value


@dataclass(frozen=True)
class Editable:
    """A policy value the console may change: the variable it overrides and how to read it."""

    name: str  # the environment variable, e.g. GXPBRIDGE_LOCKOUT_THRESHOLD
    label: str
    prefix: str  # the env_prefix of the object holding it (Settings, or a registered policy)
    parse: Callable[[str], Any]
    hint: str

    @property
    def field(self) -> str:
        """The attribute of the settings or policy object."""
        return self.name[len(self.prefix):].lower()


# Bounds: Part 11 wants passwords that resist guessing (8 characters at the least here), a lockout
# that actually locks, and an idle sign-out no longer than a working day.
EDITABLE: tuple[Editable, ...] = (
    Editable("GXPBRIDGE_PASSWORD_MIN_LENGTH", "Password minimum length", SETTINGS_PREFIX,
             _int_between(8, 128), "8 to 128 characters; applies to passwords set from now on"),
    Editable("GXPBRIDGE_LOCKOUT_THRESHOLD", "Lockout after failed attempts", SETTINGS_PREFIX,
             _int_between(1, 20), "1 to 20 consecutive failures (sign-in and signing)"),
    Editable("GXPBRIDGE_SESSION_IDLE_MINUTES", "Idle sign-out (minutes)", SETTINGS_PREFIX,
             _int_between(1, 720), "1 to 720 minutes without a request"),
    Editable("GXPBRIDGE_QMS_MIN_TRAINED_PCT", "Effective-date gate: minimum trained %",
             "GXPBRIDGE_QMS_", _optional_percent,
             "0 to 100; empty: no site-wide gate (each version's own threshold)"),
)
BY_NAME = {e.name: e for e in EDITABLE}


def overrides(session: Session) -> dict[str, Any]:
    """The stored overrides, by variable name (one small query)."""
    return {row.name: row.value for row in session.scalars(select(PolicyOverride))}


_EDITABLE_SETTINGS = frozenset(e.field for e in EDITABLE if e.prefix == SETTINGS_PREFIX)


def is_editable_setting(field: str) -> bool:
    """Whether the console may override the :class:`Settings` field ``field``."""
    return field in _EDITABLE_SETTINGS


def apply_settings(base: Settings, found: Mapping[str, Any]) -> Settings:
    """``base`` with the overrides of its fields applied (``base`` itself when there are none)."""
    update = {e.field: found[e.name] for e in EDITABLE
              if e.prefix == SETTINGS_PREFIX and e.name in found}
    return base.model_copy(update=update) if update else base


def env_prefix(policy: Any) -> str:
    """The ``env_prefix`` of a policy object (a pydantic settings class), or ``""``."""
    config = getattr(policy, "model_config", {})
    return str(config.get("env_prefix", "")) if isinstance(config, dict) else ""


def apply_policy(policy: Any, found: Mapping[str, Any]) -> Any:
    """``policy`` with the overrides of its fields applied (``policy`` itself when none)."""
    prefix = env_prefix(policy)
    if not prefix or prefix == SETTINGS_PREFIX:
        return policy
    update = {e.field: found[e.name] for e in EDITABLE if e.prefix == prefix and e.name in found}
    return policy.model_copy(update=update) if update else policy


def _holder(settings: Settings, policies: Iterable[Any], editable: Editable) -> Any | None:
    if editable.prefix == SETTINGS_PREFIX:
        return settings
    return next((p for p in policies if env_prefix(p) == editable.prefix), None)


@dataclass(frozen=True)
class Row:
    """One editable value as the console shows it."""

    editable: Editable
    default: Any  # the environment's value (or the built-in default)
    value: Any  # the value in force
    overridden: bool
    updated_by: str | None
    updated_at: dt.datetime | None


def current(session: Session, settings: Settings, policies: Iterable[Any]) -> list[Row]:
    """Every editable value whose holder is wired in this app: default, value in force, source.

    ``settings`` and ``policies`` are the environment's objects (the app's, not a unit of work's).
    """
    stored = {row.name: row for row in session.scalars(select(PolicyOverride))}
    policies = list(policies)
    rows = []
    for editable in EDITABLE:
        holder = _holder(settings, policies, editable)
        if holder is None:
            continue
        default = getattr(holder, editable.field)
        row = stored.get(editable.name)
        rows.append(Row(editable, default, row.value if row else default, row is not None,
                        row.updated_by if row else None, row.updated_at if row else None))
    return rows


def validate(values: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Parse the submitted values (variable name → text); returns ``(parsed, errors)``.

    Only names in :data:`EDITABLE` are read; a name missing from ``values`` is left unchanged.
    """
    parsed: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, raw in values.items():
        editable = BY_NAME.get(name)
        if editable is None:
            errors[name] = "not a setting the console may change"
            continue
        try:
            parsed[name] = editable.parse(raw or "")
        except ValueError as exc:
            errors[name] = f"{editable.label}: give {exc}"
    return parsed, errors


def validate_change(values: Mapping[str, str], revert: Iterable[str] = ()
                    ) -> tuple[dict[str, Any], dict[str, str]]:
    """:func:`validate` for a change that also sends the names in ``revert`` back to the
    environment (their submitted values are not read; each must be a setting the console may
    change).
    """
    revert = set(revert)
    parsed, errors = validate({name: raw for name, raw in values.items() if name not in revert})
    errors.update({name: f"{name} is not a setting the console may change"
                   for name in sorted(revert) if name not in BY_NAME})
    return parsed, errors


def change_settings(uow: UnitOfWork, values: Mapping[str, str], reason: str,
                    *, revert: Iterable[str] = ()) -> list[str]:
    """Set the submitted policy values (administrators only); returns the names changed.

    All or nothing: every value is validated before any is written. Each change is audited
    (``policy_setting.changed``, old and new value with their source) in the caller's
    transaction; values equal to the one in force are left alone. The names in ``revert`` go
    back to the environment's value (their override is removed; a value submitted for one of
    them is ignored).

    Raises:
        Forbidden: The actor is not an administrator.
        ValidationFailed: No reason, or a value out of bounds (every error in the message).
    """
    uow.actor.require("administrator", action="changing the policy settings")
    if not (reason or "").strip():
        raise ValidationFailed("give the reason for this change (it goes into the audit trail)",
                               field="reason")
    revert = set(revert)
    parsed, errors = validate_change(values, revert)
    if errors:
        raise ValidationFailed("; ".join(errors.values()), field=next(iter(errors)))
    session = uow.session
    stored = {row.name: row for row in session.scalars(select(PolicyOverride))}
    base = uow.db.settings
    policies = list(uow.db.policies.values())
    now = uow.clock.now()
    changed = []
    for name in sorted(revert & set(stored)):
        holder = _holder(base, policies, BY_NAME[name])
        environment = getattr(holder, BY_NAME[name].field) if holder is not None else None
        audit.record(uow, "policy_setting.changed", "policy_setting", name,
                     old={"value": stored[name].value, "source": "console"},
                     new={"value": environment, "source": "environment"}, reason=reason.strip())
        session.delete(stored.pop(name))
        changed.append(name)
        logger.info("%s set %s back to the environment's value %r", uow.actor.username, name, environment)
    for name, value in parsed.items():
        editable = BY_NAME[name]
        holder = _holder(base, policies, editable)
        if holder is None:
            raise ValidationFailed(f"{editable.label} is not used by this installation", field=name)
        row = stored.get(name)
        old = row.value if row is not None else getattr(holder, editable.field)
        if old == value:
            continue
        if row is None:
            row = PolicyOverride(name=name)
            session.add(row)
        row.value, row.updated_at, row.updated_by = value, now, uow.actor.username
        audit.record(uow, "policy_setting.changed", "policy_setting", name,
                     old={"value": old, "source": "console" if name in stored else "environment"},
                     new={"value": value, "source": "console"}, reason=reason.strip())
        changed.append(name)
        logger.info("%s set %s from %r to %r", uow.actor.username, name, old, value)
    session.flush()
    uow.forget_policy_overrides()
    return changed
