"""Who is acting: carried by every unit of work and written into every audit row."""

from __future__ import annotations

from dataclasses import dataclass, field

from bridge.core.errors import Forbidden


@dataclass(frozen=True)
class Actor:
    """The authenticated principal behind a change.

    Attributes:
        kind: ``user`` (a person with an account), ``system`` (sweeps, CLI bootstrap),
            ``lrs`` (an LRS credential) or ``lti`` (a launch).
        username: Login name or credential name, as shown in the audit trail.
        display_name: Printed name.
        user_id: Account id when the actor is a user.
        person_id: Person id when the actor is (linked to) a person.
        roles: The actor's roles.
    """

    kind: str
    username: str
    display_name: str = ""
    user_id: int | None = None
    person_id: int | None = None
    roles: frozenset[str] = field(default_factory=frozenset)

    def has_role(self, *roles: str) -> bool:
        """Return whether the actor holds any of ``roles``.

        Administrators may do everything any role may: write and approve, and read what
        auditors read. An auditor holds only ``auditor``, so an operation open to auditors is a
        read, and everything that changes a record leaves ``auditor`` out of its roles.
        """
        if self.kind == "system":
            return True
        return bool(self.roles.intersection(roles)) or "administrator" in self.roles

    def require(self, *roles: str, action: str = "this action") -> None:
        """Raise :class:`Forbidden` unless the actor holds one of ``roles``."""
        if not self.has_role(*roles):
            raise Forbidden(
                f"{action} needs one of the roles {', '.join(sorted(roles))}; "
                f"{self.username} has {', '.join(sorted(self.roles)) or 'none'}",
                code="role_required",
            )


SYSTEM = Actor(kind="system", username="system", display_name="GxP Bridge (system)")
