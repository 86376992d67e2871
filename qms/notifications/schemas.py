"""Request models of the notification routes."""

from __future__ import annotations

from pydantic import Field

from qms.schemas import Reason, Strict


class PreferencesUpdate(Strict):
    """Notice kinds turned on (true) or off (false); mandatory kinds cannot be turned off."""

    choices: dict[str, bool] = Field(min_length=1)


class SupervisorUpdate(Strict):
    """The person's supervisor from now on (null: nobody)."""

    supervisor_person_id: int | None
    reason: str = Reason


class QaContactUpdate(Strict):
    """The department's QA contact from now on (null: nobody)."""

    person_id: int | None
    reason: str = Reason


class WebhookCreate(Strict):
    """A webhook subscription: where to POST which events."""

    name: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=8, max_length=1000)
    events: list[str] = Field(min_length=1)
