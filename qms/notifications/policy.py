"""The site's notification policy, read from ``GXPBRIDGE_NOTIFY_*`` environment variables."""

from __future__ import annotations

import logging

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

logger = logging.getLogger(__name__)


class NotifyPolicy(BaseSettings):
    """When notices go out (times are in the site's time zone, ``GXPBRIDGE_SITE_TIMEZONE``).

    Attributes:
        reminder_days: Days before the due date a reminder is sent
            (``GXPBRIDGE_NOTIFY_REMINDER_DAYS='[7,1]'``).
        escalate_after_days: Days overdue after which the supervisor and the QA contact are told.
        digest_hour: Local hour of the daily digest of new assignments (assignments made after it
            wait for the next morning's).
        digest_lookback_days: Assignments older than this are never digested (a first start
            does not mail the whole history).
        quiet_start_hour: Local hour from which no e-mail leaves (held until the quiet hours end).
        quiet_end_hour: Local hour at which held e-mail leaves; equal to the start: no quiet hours.
        sweep_seconds: Seconds between runs of the notification sweep under the worker.
    """

    model_config = SettingsConfigDict(env_prefix="GXPBRIDGE_NOTIFY_", extra="ignore")

    reminder_days: list[int] = Field(default_factory=lambda: [7, 1])
    escalate_after_days: int = Field(default=7, ge=0)
    digest_hour: int = Field(default=7, ge=0, le=23)
    digest_lookback_days: int = Field(default=7, ge=1)
    quiet_start_hour: int = Field(default=20, ge=0, le=23)
    quiet_end_hour: int = Field(default=7, ge=0, le=23)
    sweep_seconds: int = Field(default=600, ge=10)
