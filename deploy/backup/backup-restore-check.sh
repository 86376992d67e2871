#!/bin/sh
# Dump the GxP Bridge PostgreSQL database (pg_dump --format=custom), restore it into a fresh
# database, run `gxpbridge audit verify` and compare every table's row count on the copy.
# Run it as the service user with the service's environment, e.g. nightly from cron or a timer:
#   set -a; . /etc/gxpbridge/env; set +a
#   /opt/gxpbridge/src/deploy/backup/backup-restore-check.sh --backup-dir /var/backups/gxpbridge
# Options: --database-url URL (default $GXPBRIDGE_DATABASE_URL), --backup-dir DIR, --keep-copy.
set -eu
here=$(dirname "$0")
# The Python that has GxP Bridge (and psycopg) installed: the one beside `gxpbridge` on PATH.
python="${GXPBRIDGE_PYTHON:-$(dirname "$(command -v gxpbridge)")/python}"
exec "$python" "$here/backup_restore_check.py" "$@"
