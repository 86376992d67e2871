#!/bin/sh
# Entrypoint of the GxP Bridge container (deploy/Containerfile); also usable on a plain host.
#
#   web      wait for the database, `gxpbridge db upgrade` (unless GXPBRIDGE_MIGRATE_ON_START=0),
#            then gunicorn with $GXPBRIDGE_GUNICORN_CONF
#   worker   wait for the database, then `gxpbridge worker` (outbox relay and sweeps)
#   migrate  wait for the database, then `gxpbridge db upgrade` and exit
#   anything else is executed as given (e.g. `gxpbridge user create admin --role administrator`)
set -eu

GXPBRIDGE_GUNICORN_CONF="${GXPBRIDGE_GUNICORN_CONF:-/etc/gxpbridge/gunicorn.conf.py}"
GXPBRIDGE_DB_WAIT="${GXPBRIDGE_DB_WAIT:-60}"

wait_for_database() {
    waited=0
    until gxpbridge db current >/dev/null 2>&1; do
        if [ "$waited" -ge "$GXPBRIDGE_DB_WAIT" ]; then
            echo "entrypoint: database not reachable after ${GXPBRIDGE_DB_WAIT}s" >&2
            gxpbridge db current >&2 || true
            exit 1
        fi
        sleep 2
        waited=$((waited + 2))
    done
}

command="${1:-web}"
[ "$#" -gt 0 ] && shift

case "$command" in
    web)
        wait_for_database
        if [ "${GXPBRIDGE_MIGRATE_ON_START:-1}" != "0" ]; then
            gxpbridge db upgrade
        fi
        exec gunicorn --config "$GXPBRIDGE_GUNICORN_CONF" "$@"
        ;;
    worker)
        wait_for_database
        exec gxpbridge worker "$@"
        ;;
    migrate)
        wait_for_database
        exec gxpbridge db upgrade "$@"
        ;;
    *)
        exec "$command" "$@"
        ;;
esac
