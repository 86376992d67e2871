"""deploy/backup/backup-restore-check.sh on PostgreSQL: dump, restore into a fresh database,
`gxpbridge audit verify` and every table's row count on the copy."""

from __future__ import annotations

import subprocess

import pytest
from sqlalchemy import create_engine, text

from tests.ops.helpers import BIN, PG_URL, ROOT, clean_env, libpq_url, scratch_pg_database

SCRIPT = ROOT / "deploy" / "backup" / "backup-restore-check.sh"
pytestmark = [pytest.mark.requirement("URS-REC-02"),
              pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL is not set (PostgreSQL only)")]


def gxpbridge(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(BIN / "gxpbridge"), *args], env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_backup_restore_check_on_postgresql(tmp_path):
    with scratch_pg_database("gxp_backup") as url:
        env = clean_env(GXPBRIDGE_DATABASE_URL=url, GXPBRIDGE_INSTANCE_PATH=str(tmp_path / "instance"))
        gxpbridge(env, "db", "upgrade")
        gxpbridge(env, "demo", "load")
        done = subprocess.run(["sh", str(SCRIPT), "--backup-dir", str(tmp_path / "backups")], env=env,
                              capture_output=True, text=True, timeout=600, check=False)
        out = done.stdout + done.stderr
        assert done.returncode == 0, out
        assert "audit trail intact" in out
        assert "tables match" in out and "BACKUP RESTORE CHECK PASSED" in out
        dumps = list((tmp_path / "backups").glob("gxpbridge-*.dump"))
        assert len(dumps) == 1 and dumps[0].stat().st_size > 0
        assert (tmp_path / "backups" / f"{dumps[0].name}.sha256").is_file()
        # The restored copy was dropped again.
        engine = create_engine(url)
        with engine.connect() as conn:
            left = conn.execute(text("select count(*) from pg_database where datname like '%restore_check%' "
                                     "and datname like :me"), {"me": f"{engine.url.database}%"}).scalar_one()
        engine.dispose()
        assert left == 0


def test_backup_restore_check_fails_on_a_broken_chain(tmp_path):
    with scratch_pg_database("gxp_backup") as url:
        env = clean_env(GXPBRIDGE_DATABASE_URL=url, GXPBRIDGE_INSTANCE_PATH=str(tmp_path / "instance"))
        gxpbridge(env, "db", "upgrade")
        subprocess.run([str(BIN / "gxpbridge"), "user", "create", "qa.lead", "--role", "qa_approver",
                        "--password-stdin"], input="Correct-Horse-42\n", env=env, text=True, check=True,
                       capture_output=True, timeout=120)
        # Tamper as a superuser would (replica mode skips the append-only trigger).
        subprocess.run(["psql", libpq_url(url), "-c", "set session_replication_role = replica; "
                        "update audit_event set reason = 'forged' where seq = 1"],
                       check=True, capture_output=True, timeout=60)
        done = subprocess.run(["sh", str(SCRIPT), "--backup-dir", str(tmp_path / "backups")], env=env,
                              capture_output=True, text=True, timeout=600, check=False)
        out = done.stdout + done.stderr
        assert done.returncode == 1, out
        assert "audit trail BROKEN at row 1" in out and "BACKUP RESTORE CHECK FAILED" in out
