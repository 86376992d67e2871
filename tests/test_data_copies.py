"""The Moodle captures under tests/data are unchanged copies of the project's shared data.

Run only where the shared data sits beside the repository (CI, the team's machines), skipped
(and shown as skipped) elsewhere; a clone elsewhere runs on the copies.
"""

from __future__ import annotations

import pytest

from tests.conftest import MOODLE_CAPTURES, SHARED

SHARED_CAPTURES = SHARED / "data" / "moodle-4.5"


@pytest.mark.skipif(not SHARED_CAPTURES.is_dir(), reason=f"no shared data at {SHARED_CAPTURES}")
def test_the_moodle_captures_match_the_shared_data():
    shared = {path.name: path.read_bytes() for path in SHARED_CAPTURES.glob("*.json")}
    copies = {path.name: path.read_bytes() for path in MOODLE_CAPTURES.glob("*.json")}
    assert shared, "no capture in the shared data"
    assert copies == shared
