#!/usr/bin/env python3
"""Back up the GxP Bridge PostgreSQL database and prove the backup restores.

    deploy/backup/backup-restore-check.sh [--database-url URL] [--backup-dir DIR] [--keep-copy]

1. Opens a repeatable-read transaction on the source, exports its snapshot and counts every
   table's rows in it;
2. ``pg_dump --format=custom --snapshot=…`` dumps exactly that snapshot into
   ``DIR/gxpbridge-<UTC time>.dump`` (with a ``.sha256`` file beside it);
3. restores the dump into a fresh database ``<name>_restore_check_<time>`` on the same server
   (``pg_restore --exit-on-error``);
4. runs ``gxpbridge audit verify`` on the copy (the hash chain must be intact);
5. compares the row count of every table of the copy with the source's counts;
6. drops the copy (unless ``--keep-copy``) and exits 0 only if everything matched.

The database URL defaults to ``GXPBRIDGE_DATABASE_URL``. The role needs CREATEDB (for the
copy); pg_dump and pg_restore must be at least the server's major version. Only the standard
library, psycopg (a GxP Bridge dependency) and the PostgreSQL client programs are used.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql


def libpq_url(url: str) -> str:
    """A SQLAlchemy-style URL (``postgresql+psycopg://``) as libpq takes it."""
    parts = urlsplit(url)
    scheme = "postgresql" if parts.scheme.startswith(("postgresql", "postgres")) else parts.scheme
    return urlunsplit((scheme, *parts[1:]))


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` on the same server."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def table_counts(conn: psycopg.Connection) -> dict[str, int]:
    """Row count of every table outside the system schemas."""
    tables = conn.execute(
        "select schemaname, tablename from pg_tables "
        "where schemaname not in ('pg_catalog', 'information_schema') order by 1, 2").fetchall()
    counts = {}
    for schema, table in tables:
        query = sql.SQL("select count(*) from {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        counts[f"{schema}.{table}"] = conn.execute(query).fetchone()[0]
    return counts


def find_gxpbridge() -> str:
    """The ``gxpbridge`` command beside this Python, else on PATH."""
    beside = Path(sys.executable).parent / "gxpbridge"
    return str(beside) if beside.exists() else (shutil.which("gxpbridge") or "gxpbridge")


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a client program, echoing it; raise with its output when it fails."""
    print("$", " ".join(command), flush=True)
    return subprocess.run(command, check=True, text=True, **kwargs)  # type: ignore[call-overload]  # noqa: S603


def main() -> int:
    """Back up, restore, verify; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("GXPBRIDGE_DATABASE_URL"),
                        help="source database (default: $GXPBRIDGE_DATABASE_URL)")
    parser.add_argument("--backup-dir", type=Path, default=Path("backups"), help="where the dump is kept")
    parser.add_argument("--keep-copy", action="store_true", help="keep the restored copy for inspection")
    args = parser.parse_args()
    if not args.database_url or not args.database_url.startswith(("postgres", "postgresql")):
        parser.error("a PostgreSQL --database-url (or GXPBRIDGE_DATABASE_URL) is required")
    source_url = libpq_url(args.database_url)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    args.backup_dir.mkdir(parents=True, exist_ok=True)
    dump = args.backup_dir / f"gxpbridge-{stamp}.dump"

    with psycopg.connect(source_url) as source:
        source.execute("begin isolation level repeatable read read only")
        snapshot = source.execute("select pg_export_snapshot()").fetchone()[0]
        source_counts = table_counts(source)
        source_name = source.info.dbname
        # The dump reads the very snapshot the counts were taken in.
        run(["pg_dump", "--format=custom", f"--snapshot={snapshot}", f"--file={dump}", source_url])
        source.execute("commit")
    digest = hashlib.sha256(dump.read_bytes()).hexdigest()
    Path(f"{dump}.sha256").write_text(f"{digest}  {dump.name}\n", encoding="utf-8")
    print(f"backup {dump} ({dump.stat().st_size} bytes, SHA-256 {digest})")

    copy_name = f"{source_name}_restore_check_{stamp.lower()}"[:63]
    copy_url = with_database(source_url, copy_name)
    with psycopg.connect(source_url, autocommit=True) as admin:
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(copy_name)))
    ok = False
    try:
        run(["pg_restore", "--exit-on-error", "--no-owner", "--no-privileges", f"--dbname={copy_url}",
             str(dump)])
        verify = subprocess.run([find_gxpbridge(), "audit", "verify"], text=True, capture_output=True,  # noqa: S603
                                env={**os.environ, "GXPBRIDGE_DATABASE_URL": copy_url}, check=False)
        print((verify.stdout + verify.stderr).strip())
        with psycopg.connect(copy_url) as copy:
            copy_counts = table_counts(copy)
        mismatches = [(t, source_counts.get(t), copy_counts.get(t))
                      for t in sorted(set(source_counts) | set(copy_counts))
                      if source_counts.get(t) != copy_counts.get(t)]
        width = max(len(t) for t in source_counts) if source_counts else 10
        for table in sorted(source_counts):
            print(f"  {table:<{width}}  {source_counts[table]:>10}  {copy_counts.get(table, 'missing'):>10}")
        for table, expected, found in mismatches:
            print(f"MISMATCH {table}: source {expected}, restored copy {found}", file=sys.stderr)
        if not mismatches:
            print(f"row counts: all {len(source_counts)} tables match")
        ok = verify.returncode == 0 and not mismatches
    finally:
        if args.keep_copy:
            print(f"restored copy kept: {copy_url}")
        else:
            with psycopg.connect(source_url, autocommit=True) as admin:
                admin.execute(sql.SQL("drop database if exists {} with (force)")
                              .format(sql.Identifier(copy_name)))
    print("BACKUP RESTORE CHECK " + ("PASSED" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
