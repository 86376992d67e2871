"""LTI launch and AGS figures over real HTTP on this machine.

Runs the tool (werkzeug, threaded) and the test LMS of ``tests/lti/platform.py`` on
127.0.0.1:8200-8249, then measures:

- full launches (LMS login initiation -> tool login -> LMS authorisation -> tool launch),
  sequential and from concurrent learners, with the tool's share (the launch POST);
- first launch (provisioning a person and an account) versus later launches;
- AGS scores posted through the outbox relay (client-credentials token, score POST).

Usage: ``.venv/bin/python bench/lti_launch.py [--launches 100] [--threads 4] [--scores 200]
[--database-url postgresql://…]`` (a temporary SQLite file by default).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge import migrate
from bridge.app import create_app
from bridge.core import outbox
from tests.lti.conftest import auto_form, serve
from tests.lti.platform import LEARNER, TestPlatform


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def launch(platform: TestPlatform, sub: str) -> tuple[float, float]:
    """One full launch; returns (total seconds, seconds spent in the tool: login + launch POST)."""
    browser = requests.Session()
    start = time.perf_counter()
    to_tool = browser.get(platform.launch_start_url(sub), allow_redirects=False, timeout=60)
    at_tool = time.perf_counter()
    to_lms = browser.get(to_tool.headers["Location"], allow_redirects=False, timeout=60)
    in_tool = time.perf_counter() - at_tool
    page = browser.get(to_lms.headers["Location"], timeout=60)
    action, fields = auto_form(page)
    posted = time.perf_counter()
    response = browser.post(action, data=fields, allow_redirects=False, timeout=60)
    end = time.perf_counter()
    if response.status_code != 303:
        raise SystemExit(f"launch refused: {response.status_code} {response.text[:300]}")
    return end - start, in_tool + end - posted


def report(name: str, samples: list[tuple[float, float]], wall: float) -> None:
    total = [s[0] * 1000 for s in samples]
    tool = [s[1] * 1000 for s in samples]
    print(f"{name:<34} n={len(samples):<4} {len(samples) / wall:7.1f} launches/s   "
          f"full p50 {statistics.median(total):6.1f} ms p95 {pct(total, .95):6.1f} ms   "
          f"in tool p50 {statistics.median(tool):6.1f} ms p95 {pct(tool, .95):6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--launches", type=int, default=100)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--scores", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="gxp-bench-lti-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    app = create_app(database_url=url, instance_path=workdir, secret_key="bench", log_level="WARNING")
    db = app.extensions["gxpbridge.db"]
    migrate.upgrade(db.engine)
    tool_server, tool_dispatch = serve()
    tool_base = f"http://127.0.0.1:{tool_server.port}"
    app.config["LTI_BASE_URL"] = tool_base
    tool_dispatch.target = app
    lms_server, lms_dispatch = serve()
    platform = TestPlatform(port=lms_server.port, tool_base=tool_base)
    lms_dispatch.target = platform.app
    for server in (tool_server, lms_server):
        server.thread.start()
    try:
        result = app.test_cli_runner().invoke(args=platform.cli_args())
        assert result.exit_code == 0, result.output
        n = args.launches
        for i in range(n):
            platform.add_user(f"u{i}", f"Learner {i}", f"learner{i}@bench.example", [LEARNER])
        print(f"database: {db.dialect}; tool {tool_base}; LMS {platform.base}")
        launch(platform, "u0")  # warm-up: JWKS fetch, key generation

        started = time.perf_counter()
        first = [launch(platform, f"u{i}") for i in range(1, n)]
        report("first launch (provisioning)", first, time.perf_counter() - started)

        started = time.perf_counter()
        again = [launch(platform, f"u{i}") for i in range(1, n)]
        report("later launch, sequential", again, time.perf_counter() - started)

        started = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            parallel = list(pool.map(lambda i: launch(platform, f"u{i % n}"), range(n * 2)))
        report(f"later launch, {args.threads} concurrent", parallel, time.perf_counter() - started)

        lineitem = platform.add_lineitem("bench", "Bench")
        scopes = ["https://purl.imsglobal.org/spec/lti-ags/scope/score",
                  "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"]
        with db.write_sessions() as session:
            for i in range(args.scores):
                outbox.enqueue(session, "lti.ags_score", {
                    "platform_id": 1, "resource_link_pk": 0, "lineitem_url": lineitem, "lineitems_url": None,
                    "scopes": scopes, "user_id": f"u{i % n}", "score_given": 100, "score_maximum": 100,
                    "timestamp": "2026-11-29T10:00:00+00:00", "completion_id": i, "training_item_id": 1})
            session.commit()
        started = time.perf_counter()
        sent = failed = 0
        while True:
            s, f = outbox.relay_once(db, batch=1000)
            sent, failed = sent + s, failed + f
            if not s and not f:
                break
        wall = time.perf_counter() - started
        print(f"{'AGS scores via outbox relay':<34} n={sent:<4} {sent / wall:7.1f} scores/s   "
              f"failed {failed}; token requests {platform.state.token_requests} (cached per scope set)")
    finally:
        for server in (tool_server, lms_server):
            server.server.shutdown()
            server.server.server_close()
        db.dispose()


if __name__ == "__main__":
    main()
