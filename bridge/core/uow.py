"""Unit of work: one transaction, its domain events and its audit rows, committed once."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.orm import Session

from bridge.core import clock as clocks
from bridge.core import policy_store
from bridge.core.actor import Actor
from bridge.core.clock import Clock
from bridge.core.errors import DomainError
from bridge.core.events import DomainEvent, MessageBus, bus
from bridge.core.settings import Settings

if TYPE_CHECKING:
    from bridge.core.db import Database

P = TypeVar("P")

logger = logging.getLogger(__name__)


class UnitOfWork:
    """A transaction with the actor, the clock and the site's settings behind it.

    Services receive a unit of work, change records through ``uow.session``, read the time
    from ``uow.clock`` and the site's rules from ``uow.settings`` / :meth:`policy`, publish
    events with :meth:`publish` and flush. Only the owner of the unit of work (the request
    decorator, the CLI decorator, a worker job: all in ``bridge.core``) calls :meth:`commit`,
    once. Committing dispatches pending events to their handlers on the same session, seals
    the audit rows into the hash chain, then commits.
    """

    def __init__(
        self,
        db: Database,
        actor: Actor,
        *,
        readonly: bool = False,
        message_bus: MessageBus | None = None,
        clock: Clock | None = None,
        settings: Settings | None = None,
        policies: dict[type, Any] | None = None,
        replica: bool = False,
    ) -> None:
        """Open a session on ``db`` acting as ``actor``.

        ``clock``, ``settings`` and ``policies`` default to the ones the app gave ``db``
        (:meth:`Database.configure`); a bare database has the system clock and the defaults.
        ``replica`` reads from the database's read replica (a read-only unit of work only; the
        caller has checked the replica is usable: see ``bridge.core.web``).
        """
        if replica and (not readonly or db.replica is None):
            raise ValueError("only a read-only unit of work on a database with a replica reads from it")
        self.db = db
        self.actor = actor
        self.readonly = readonly
        self.bus = message_bus or bus
        self.clock: Clock = clock or db.clock
        # Given settings are used as they are; the database's get the console's overrides
        # (bridge.core.policy_store), read once per unit of work when first needed.
        self._settings: Settings | None = settings
        self._policies = policies if policies is not None else db.policies
        self._overrides: dict[str, Any] | None = None
        self._effective: dict[Any, Any] = {}
        self._clock_token = clocks.bind(self.clock)
        factory = db.read_sessions if readonly else db.write_sessions
        # Which database answers: "primary" or "replica" (shown in a response header).
        self.read_source = "primary"
        if replica:
            assert db.replica is not None
            factory, self.read_source = db.replica.sessions, "replica"
        self.session: Session = factory()
        self.session.info["uow"] = self
        self.pending_audit: list[dict[str, Any]] = []
        self._events: deque[DomainEvent] = deque()
        self._reasons: list[str] = []
        self._after_commit: list[Callable[[], None]] = []
        self.committed = False

    # -- context -------------------------------------------------------------------
    def __enter__(self) -> UnitOfWork:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if not self.committed:
                self.rollback()
                if exc is not None:
                    self.apply_refusal_writes(exc)
        finally:
            self.close()

    def _policy_overrides(self) -> dict[str, Any]:
        if self._overrides is None:
            if self.session.in_transaction():  # its own writes included (a policy just changed)
                self._overrides = policy_store.overrides(self.session)
            else:
                # Not through this unit of work's session: on SQLite its first statement takes
                # the write lock, which a sender reading its settings before a network call (the
                # outbox relay) would then hold across the call, and a second writer wait on.
                with self.db.read_sessions() as session:
                    self._overrides = policy_store.overrides(session)
        return self._overrides

    def forget_policy_overrides(self) -> None:
        """Read the overrides again at the next use (they were just changed)."""
        self._overrides = None
        self._effective.clear()

    @property
    def settings(self) -> Settings:
        """The site's settings: the environment's, with the console's policy overrides."""
        if self._settings is not None:
            return self._settings
        found = self._effective.get(Settings)
        if found is None:
            found = self._effective[Settings] = policy_store.apply_settings(
                self.db.settings, self._policy_overrides())
        return found  # type: ignore[no-any-return]

    def setting(self, field: str) -> Any:
        """One of the site's settings: :attr:`settings`' ``field``, without reading the console's
        overrides when the console cannot change it (the record store's write path reads
        ``base_url`` on every request).
        """
        if self._settings is None and not policy_store.is_editable_setting(field):
            return getattr(self.db.settings, field)
        return getattr(self.settings, field)

    def policy(self, kind: type[P]) -> P:
        """The site's policy object of type ``kind`` (registered by its package at app start),
        with the console's overrides applied.

        A unit of work without one gets the policy's defaults, never the environment's values.
        """
        if kind in self._effective:
            return self._effective[kind]  # type: ignore[no-any-return]
        found = self._policies.get(kind)
        if found is None:
            return kind.model_construct()  # type: ignore[attr-defined,no-any-return]
        effective = self._effective[kind] = policy_store.apply_policy(found, self._policy_overrides())
        return effective  # type: ignore[no-any-return]

    def act_as(self, actor: Actor) -> None:
        """Attribute what follows to ``actor`` (a launch or sign-in authenticated it mid-request)."""
        self.actor = actor

    def apply_refusal_writes(self, exc: BaseException) -> None:
        """Commit the writes a refusal carries (see ``DomainError.after_rollback``)."""
        if not isinstance(exc, DomainError) or exc.after_rollback is None or self.readonly:
            return
        writer, exc.after_rollback = exc.after_rollback, None
        try:
            writer(self)
            self.commit()
        except Exception:
            logger.exception("could not record the refusal %s", exc.code)
            self.rollback()

    @property
    def reason(self) -> str | None:
        """The innermost reason given with :meth:`because`, if any."""
        return self._reasons[-1] if self._reasons else None

    @contextmanager
    def because(self, reason: str | None) -> Iterator[None]:
        """Attach ``reason`` to the audit rows of the changes made inside the block."""
        self._reasons.append(reason or "")
        try:
            yield
            self.session.flush()
        finally:
            self._reasons.pop()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """All or nothing inside the block: on an exception its writes, the audit rows they
        produced, the events they published and a change of actor are undone; the rest of
        the transaction goes on (the exception propagates).
        """
        audit_mark, events_mark, actor = len(self.pending_audit), len(self._events), self.actor
        nested = self.session.begin_nested()
        try:
            yield
            self.session.flush()
        except BaseException:
            nested.rollback()
            del self.pending_audit[audit_mark:]
            while len(self._events) > events_mark:
                self._events.pop()
            self.actor = actor
            raise
        else:
            nested.commit()

    # -- work ------------------------------------------------------------------------
    def publish(self, event: DomainEvent) -> None:
        """Queue ``event``; its handlers run on this session before the commit."""
        self._events.append(event)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the transaction has committed (never on rollback)."""
        self._after_commit.append(callback)

    def flush(self) -> None:
        """Flush pending changes (and their audit rows) without committing."""
        self.session.flush()

    def dispatch_events(self) -> None:
        """Run the handlers of every queued event, including events they publish."""
        while self._events:
            event = self._events.popleft()
            for handler in self.bus.handlers_for(event):
                logger.debug("dispatching %s to %s", type(event).__name__, handler.__qualname__)
                handler(self, event)
            self.session.flush()

    def commit(self) -> None:
        """Dispatch events, seal the audit trail and commit: the one commit of a request."""
        from bridge.core import audit  # audit needs this module's type: import when committing

        self.session.flush()
        self.dispatch_events()
        audit.seal(self)
        self.session.commit()
        self.committed = True
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                logger.exception("after-commit callback %r failed", callback)

    def rollback(self) -> None:
        """Discard every change, event and pending audit row."""
        self.session.rollback()
        self._events.clear()
        self.pending_audit.clear()
        self._after_commit.clear()

    def close(self) -> None:
        """Return the connection to the pool."""
        self.session.close()
        if self._clock_token is not None:
            clocks.unbind(self._clock_token)
            self._clock_token = None
