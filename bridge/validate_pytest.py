"""A pytest plugin ``gxpbridge validate run`` loads into the OQ test run (``-p bridge.validate_pytest``).

It keeps only the tests a requirement links to (the ids listed in the JSON file named by
``GXPBRIDGE_OQ_SELECT``; a linked id without parameters selects each of its parametrised
variants) and writes every selected test's outcome to the JSON file named by
``GXPBRIDGE_OQ_RESULTS``. It imports nothing at module level, so importing it elsewhere (the
migration environment walks every module of ``bridge``) costs nothing.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

PACKAGES = ("bridge", "qms", "xapi", "lti")
_outcomes: dict[str, str] = {}
_durations: dict[str, float] = {}


def base_id(nodeid: str) -> str:
    """A test's node id without its parameters (``a.py::t[x]`` → ``a.py::t``)."""
    return nodeid.split("[", 1)[0]


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Deselect every collected test no requirement links to."""
    select_file = os.environ.get("GXPBRIDGE_OQ_SELECT")
    if not select_file:
        return
    with open(select_file, encoding="utf-8") as handle:
        wanted = set(json.load(handle))
    keep, drop = [], []
    for item in items:
        (keep if item.nodeid in wanted or base_id(item.nodeid) in wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep


def pytest_runtest_logreport(report: Any) -> None:
    """Record the worst outcome of each test's setup, call and teardown."""
    previous = _outcomes.get(report.nodeid)
    if report.failed:
        outcome = "failed"
    elif report.skipped:
        outcome = "skipped"
    elif report.when == "call":
        outcome = "passed"
    else:
        outcome = previous or "passed"
    if previous in ("failed",) or (previous == "skipped" and outcome == "passed"):
        outcome = previous
    _outcomes[report.nodeid] = outcome
    _durations[report.nodeid] = _durations.get(report.nodeid, 0.0) + float(report.duration or 0.0)


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    """Write the outcomes (on the controlling process only when tests run in parallel).

    Every process, parallel workers included, also writes where it imported the application's
    packages from (``<results>.packages-<pid>``).
    """
    results_file = os.environ.get("GXPBRIDGE_OQ_RESULTS")
    if not results_file:
        return
    imported = {name: os.path.dirname(getattr(sys.modules[name], "__file__", "") or "")
                for name in PACKAGES if name in sys.modules}
    with open(f"{results_file}.packages-{os.getpid()}", "w", encoding="utf-8") as handle:
        json.dump(imported, handle)
    if hasattr(session.config, "workerinput"):
        return
    data = {nodeid: {"outcome": outcome, "duration": round(_durations.get(nodeid, 0.0), 3)}
            for nodeid, outcome in _outcomes.items()}
    # Which copy of the application the tests exercised (the installed one, not a source tree).
    with open(results_file, "w", encoding="utf-8") as handle:
        json.dump({"exitstatus": int(exitstatus), "tests": data}, handle)
