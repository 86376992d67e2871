"""The activity IRIs of imported packages: one for the course (what a training item version
lists, so the course's result is the evidence) and one per unit (SCO or AU: a part of the course,
recorded in the record store but never evidence on its own).

A course with three SCOs is done when all three are, not when the first one is: the player rolls
the units up into the course's statement (:mod:`bridge.content.rollup`, cmi5's ``satisfied``), and
the bridge's rule leaves the units' statements alone (:func:`is_unit_iri`).
"""

from __future__ import annotations

import re

_UNIT_PATH = re.compile(r"^/content/versions/\d+/units/[^/]+$")


def course_iri(base_url: str, version_id: int) -> str:
    """The activity IRI of the course of a package version (the cmi5 course, the SCORM course)."""
    return f"{base_url.rstrip('/')}/content/versions/{version_id}"


def unit_iri(base_url: str, version_id: int, identifier: str) -> str:
    """The activity IRI of one unit (SCO or AU) of a package version."""
    safe = re.sub(r"[^A-Za-z0-9._~-]", lambda m: f"%{ord(m.group()):02X}", identifier)
    return f"{course_iri(base_url, version_id)}/units/{safe}"


def is_unit_iri(base_url: str, iri: str) -> bool:
    """Whether ``iri`` names a unit of a package played on this site (``base_url``)."""
    base = base_url.rstrip("/")
    return iri.startswith(base + "/") and bool(_UNIT_PATH.match(iri[len(base) :]))
