"""Quality policy knobs, read from ``GXPBRIDGE_QMS_*`` environment variables."""

from __future__ import annotations

import logging

from pydantic_settings import BaseSettings, SettingsConfigDict

logger = logging.getLogger(__name__)


class QmsPolicy(BaseSettings):
    """Site policy of the quality system.

    Attributes:
        self_approval_allowed: Whether an author may approve their own record.
        default_due_days: Days given to complete an assignment that has no other due date.
        periodic_lead_days: Days before periodic retraining falls due that its assignment is made.
        min_trained_pct: Site-wide gate on the effective-date transition (per-version values win).
    """

    model_config = SettingsConfigDict(env_prefix="GXPBRIDGE_QMS_", extra="ignore")

    self_approval_allowed: bool = False
    default_due_days: int = 30
    periodic_lead_days: int = 30
    min_trained_pct: float | None = None
