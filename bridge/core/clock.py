"""The clock every domain time comes from: injected by the app, moved by tests and the demo.

Domain code never calls the system clock: it reads ``uow.clock.now()``. The app holds one clock
(``app.clock``, the system's UTC clock by default); tests and the demo loader use a
:class:`MovableClock` to make weeks pass without sleeping.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from contextvars import ContextVar
from typing import Protocol

logger = logging.getLogger(__name__)


class Clock(Protocol):
    """Anything that tells the current time, timezone-aware in UTC."""

    def now(self) -> dt.datetime:
        """The current time (aware, UTC)."""
        ...


class SystemClock:
    """The server's clock, in UTC."""

    def now(self) -> dt.datetime:
        """The server's current time (aware, UTC)."""
        return dt.datetime.now(dt.UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class MovableClock:
    """A clock that runs with the system's, shifted by an offset that can be moved.

    It keeps ticking (so records made one after the other keep their order) unless frozen.
    """

    def __init__(self, start: dt.datetime | None = None, *, frozen: bool = False) -> None:
        """Start at ``start`` (now if omitted); ``frozen`` stops it at that moment."""
        self._lock = threading.Lock()
        self._offset = dt.timedelta(0)
        self._frozen_at: dt.datetime | None = None
        if start is not None:
            self.set(start)
        if frozen:
            self.freeze()

    def now(self) -> dt.datetime:
        """The clock's current time (aware, UTC)."""
        with self._lock:
            if self._frozen_at is not None:
                return self._frozen_at
            return dt.datetime.now(dt.UTC) + self._offset

    def set(self, when: dt.datetime) -> None:
        """Move the clock to ``when`` (aware); a frozen clock stays frozen there."""
        if when.tzinfo is None:
            raise ValueError("the clock takes aware datetimes only")
        when = when.astimezone(dt.UTC)
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at = when
            else:
                self._offset = when - dt.datetime.now(dt.UTC)

    def advance(self, delta: dt.timedelta | None = None, **kwargs: float) -> dt.datetime:
        """Move the clock forward by ``delta`` (or ``timedelta(**kwargs)``); returns the new time."""
        step = delta if delta is not None else dt.timedelta(**kwargs)
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += step
            else:
                self._offset += step
        return self.now()

    def freeze(self, when: dt.datetime | None = None) -> None:
        """Stop the clock at ``when`` (its current time if omitted)."""
        moment = when.astimezone(dt.UTC) if when is not None else self.now()
        with self._lock:
            self._frozen_at = moment

    def thaw(self) -> None:
        """Let a frozen clock run again from where it stands."""
        with self._lock:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - dt.datetime.now(dt.UTC)
                self._frozen_at = None

    def __repr__(self) -> str:
        return f"MovableClock({self.now().isoformat()})"


SYSTEM_CLOCK = SystemClock()

# Column defaults (``created_at`` and the like) run inside SQLAlchemy's flush, where no unit of
# work is at hand: the unit of work publishes its clock here for them while it is open.
_current: ContextVar[Clock] = ContextVar("gxpbridge_clock", default=SYSTEM_CLOCK)


def bind(clock: Clock) -> object:
    """Make ``clock`` the one column defaults read in this context; returns the reset token."""
    return _current.set(clock)


def unbind(token: object) -> None:
    """Undo :func:`bind`."""
    try:
        _current.reset(token)  # type: ignore[arg-type]
    except ValueError:  # closed from another context (a generator finalised elsewhere)
        _current.set(SYSTEM_CLOCK)


def column_now() -> dt.datetime:
    """Default of timestamp columns: the time of the unit of work that writes the row."""
    return _current.get().now()
