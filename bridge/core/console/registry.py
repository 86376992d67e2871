"""The console's navigation registry: menu entries and dashboard cards, each with the roles that
see it. Packages register theirs in their ``init_app``; the layout and the dashboard show a signed-in
user only the entries their roles allow (see docs/console.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from bridge.core.actor import Actor
from bridge.core.uow import UnitOfWork

logger = logging.getLogger(__name__)

MENU_KEY = "gxpbridge.console.menu"
CARD_KEY = "gxpbridge.console.cards"
SECTION_KEY = "gxpbridge.console.sections"
# Where the usual sections sit in the left navigation; a section not named here comes after these.
DEFAULT_SECTIONS = {
    "Overview": 0, "Documents": 10, "Change control": 20, "Quality events": 30, "Training": 40,
    "People": 50, "Reports": 60, "Records": 70, "Administration": 90,
}

CardLoader = Callable[[UnitOfWork], dict[str, Any]]


def _visible(roles: tuple[str, ...], actor: Actor | None) -> bool:
    """Whether ``actor`` sees an entry open to ``roles`` (no roles: every signed-in user)."""
    if actor is None:
        return False
    return not roles or actor.has_role(*roles)


@dataclass(frozen=True)
class MenuEntry:
    """One link of the left navigation."""

    section: str
    label: str
    endpoint: str
    roles: tuple[str, ...] = ()
    order: int = 100
    values: tuple[tuple[str, Any], ...] = ()

    def visible_to(self, actor: Actor | None) -> bool:
        """Whether ``actor`` sees this entry."""
        return _visible(self.roles, actor)


@dataclass(frozen=True)
class Card:
    """One dashboard card: a template rendering the context its loader returns.

    The loader runs in the dashboard's read-only unit of work; the template receives the loader's
    dict as ``card_data`` (and ``card`` itself). A loader that fails is logged and its card shows
    "unavailable" instead of breaking the whole dashboard. With ``cache_seconds``, the figures
    (the same for every user: never cache a per-user card) are reused for that long per process.
    """

    key: str
    title: str
    template: str
    load: CardLoader
    roles: tuple[str, ...] = ()
    order: int = 100
    wide: bool = False
    cache_seconds: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def visible_to(self, actor: Actor | None) -> bool:
        """Whether ``actor`` sees this card."""
        return _visible(self.roles, actor)


def register_section(app: Flask, section: str, order: int) -> None:
    """Place ``section`` in the left navigation (lower ``order`` first)."""
    app.extensions.setdefault(SECTION_KEY, dict(DEFAULT_SECTIONS))[section] = order


def register_menu(app: Flask, section: str, label: str, endpoint: str, *,
                  roles: tuple[str, ...] | list[str] = (), order: int = 100, **values: Any) -> None:
    """Add a link to ``endpoint`` (with URL ``values``) under ``section`` of the left navigation,
    seen by the holders of ``roles`` (administrators see everything; no roles: every user).
    """
    entries: list[MenuEntry] = app.extensions.setdefault(MENU_KEY, [])
    entry = MenuEntry(section, label, endpoint, tuple(roles), order, tuple(sorted(values.items())))
    if any(e.endpoint == endpoint and e.values == entry.values for e in entries):
        raise ValueError(f"console menu entry for {endpoint} registered twice")
    entries.append(entry)


def register_card(app: Flask, key: str, title: str, template: str, load: CardLoader, *,
                  roles: tuple[str, ...] | list[str] = (), order: int = 100, wide: bool = False,
                  cache_seconds: int = 0, **extra: Any) -> None:
    """Add a dashboard card ``key`` rendered by ``template`` from ``load(uow)``, seen by
    ``roles``; ``cache_seconds`` reuses the figures (shared by every user) for that long.
    """
    cards: dict[str, Card] = app.extensions.setdefault(CARD_KEY, {})
    if key in cards:
        raise ValueError(f"console card {key!r} registered twice")
    cards[key] = Card(key, title, template, load, tuple(roles), order, wide, cache_seconds, extra)


def menu_for(app: Flask, actor: Actor | None) -> list[tuple[str, list[MenuEntry]]]:
    """The sections and entries ``actor`` sees, in navigation order."""
    sections = app.extensions.get(SECTION_KEY, DEFAULT_SECTIONS)
    grouped: dict[str, list[MenuEntry]] = {}
    for entry in app.extensions.get(MENU_KEY, []):
        if entry.visible_to(actor):
            grouped.setdefault(entry.section, []).append(entry)
    ordered = sorted(grouped.items(), key=lambda item: (sections.get(item[0], 80), item[0]))
    return [(section, sorted(entries, key=lambda e: (e.order, e.label))) for section, entries in ordered]


def cards_for(app: Flask, actor: Actor | None) -> list[Card]:
    """The dashboard cards ``actor`` sees, in order."""
    cards = app.extensions.get(CARD_KEY, {}).values()
    return sorted((c for c in cards if c.visible_to(actor)), key=lambda c: (c.order, c.title))
