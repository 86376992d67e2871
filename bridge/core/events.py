"""In-process domain events, dispatched on the unit of work's session before its commit."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bridge.core.uow import UnitOfWork

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DomainEvent:
    """Base class of every domain event."""


Handler = Callable[["UnitOfWork", Any], None]


class MessageBus:
    """Maps event types to handlers that run inside the publishing transaction."""

    def __init__(self) -> None:
        """Create an empty bus."""
        self._handlers: dict[type, list[Handler]] = defaultdict(list)

    def subscribe(self, event_type: type, handler: Handler) -> None:
        """Register ``handler`` for ``event_type`` (and its subclasses); idempotent."""
        if handler not in self._handlers[event_type]:
            self._handlers[event_type].append(handler)

    def handlers_for(self, event: DomainEvent) -> list[Handler]:
        """Return the handlers registered for the event's type and its bases, in order."""
        found: list[Handler] = []
        for klass in type(event).__mro__:
            found.extend(self._handlers.get(klass, ()))
        return found

    def clear(self) -> None:
        """Remove every handler (tests)."""
        self._handlers.clear()


# One bus per process: handlers are module-level functions registered by init_app.
bus = MessageBus()


def subscribe(event_type: type) -> Callable[[Handler], Handler]:
    """Decorator form of :meth:`MessageBus.subscribe` on the process bus."""

    def register(handler: Handler) -> Handler:
        bus.subscribe(event_type, handler)
        return handler

    return register
