"""Write ``bridge/build_info.json`` before the wheel is built: what ``gxpbridge validate`` reports.

Run from the source tree (the container build runs it in its build stage)::

    python3 deploy/write_build_info.py [--commit SHA]

It records the version from ``pyproject.toml``, the source commit (``--commit``, else the
``SOURCE_COMMIT`` environment variable, else ``git rev-parse HEAD`` when the tree is a git
checkout), the build time, and ``source_sha256``: the SHA-256 over every file of the shipped
packages (bridge, qms, xapi, lti) and ``pyproject.toml``, path by path. That digest is the
build hash the IQ shows; the installed copy never needs git.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bridge", "qms", "xapi", "lti")
TARGET = ROOT / "bridge" / "build_info.json"


def source_digest(root: Path) -> str:
    """SHA-256 over the relative path and content hash of each shipped source file."""
    outer = hashlib.sha256()
    files = [root / "pyproject.toml"]
    for package in PACKAGES:
        files += [p for p in (root / package).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p != TARGET]
    for path in sorted(files):
        rel = path.relative_to(root).as_posix()
        outer.update(f"{rel}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    return outer.hexdigest()


def git_commit(root: Path) -> str:
    """The checkout's commit, or an empty string outside a git checkout."""
    try:
        done = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"],  # noqa: S603, S607
                              capture_output=True, text=True, check=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def main() -> None:
    """Write the build-info file and print it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commit", default=None, help="source commit (default: $SOURCE_COMMIT or git)")
    parser.add_argument("--output", type=Path, default=TARGET)
    args = parser.parse_args()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    info = {
        "version": project["version"],
        "commit": args.commit or os.environ.get("SOURCE_COMMIT") or git_commit(ROOT),
        "built_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "source_sha256": source_digest(ROOT),
    }
    args.output.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
