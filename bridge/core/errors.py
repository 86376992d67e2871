"""Domain errors: each maps to one HTTP status and a JSON body naming the field and the rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bridge.core.uow import UnitOfWork


class DomainError(Exception):
    """Base of every refusal a service makes.

    Attributes:
        status: HTTP status the web layer answers with.
        code: Stable machine-readable error code.
        message: Human-readable explanation.
        field: The input field at fault, when there is one.
        details: Extra structured data (e.g. the open assignments blocking a closure).
    """

    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        details: Any = None,
        after_rollback: Callable[[UnitOfWork], None] | None = None,
    ) -> None:
        """Create the error with its message and optional field, code and details.

        ``after_rollback`` names writes that must survive the refusal (a failed-attempt
        counter, an audit row of the refusal): the unit of work rolls back everything
        else, applies them in a fresh transaction and commits that.
        """
        super().__init__(message)
        self.after_rollback = after_rollback
        self.message = message
        self.field = field
        if code:
            self.code = code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON body of this error."""
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.details is not None:
            body["details"] = self.details
        return body


class ValidationFailed(DomainError):
    """Input breaks a rule (format, policy, range)."""

    status = 400
    code = "validation_failed"


class Unauthorized(DomainError):
    """No valid credentials were given."""

    status = 401
    code = "unauthorized"


class Forbidden(DomainError):
    """The actor lacks the role for this action (Part 11 §11.10(g))."""

    status = 403
    code = "forbidden"


class NotFound(DomainError):
    """The record does not exist."""

    status = 404
    code = "not_found"


class Conflict(DomainError):
    """The request conflicts with stored state (duplicate, stale precondition)."""

    status = 409
    code = "conflict"


class InvalidTransition(Conflict):
    """A state machine refused a step out of order (Part 11 §11.10(f))."""

    code = "invalid_transition"


class AccountLocked(DomainError):
    """The account is locked after repeated failures (Part 11 §11.300)."""

    status = 423
    code = "account_locked"
