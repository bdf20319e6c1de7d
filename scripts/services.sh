#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on 127.0.0.1 (and nginx and pg_dirtyread are installed),
# installing Debian's packages and starting them where needed. Used by `make test`; safe to run again.
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
        echo "services: installing PostgreSQL"
        apt_install postgresql
    fi
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    conf=/etc/postgresql/$version/main
    # Tests connect as postgres over TCP without a password (trust on loopback only).
    if ! grep -q "^host all all 127.0.0.1/32 trust" "$conf/pg_hba.conf"; then
        as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$conf/pg_hba.conf"
    fi
    echo "services: starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -q -h 127.0.0.1 -p 5432 || { echo "services: PostgreSQL does not answer" >&2; exit 1; }

# The binary is needed even when a Redis already answers: the fault tests start, flush and
# restart a private redis-server of their own.
if ! command -v redis-server >/dev/null; then
    echo "services: installing Redis"
    apt_install redis-server
fi
if ! (redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG); then
    echo "services: starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
    for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 ping 2>/dev/null | grep -q PONG && break; sleep 1; done
fi
redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG || { echo "services: Redis does not answer" >&2; exit 1; }

# nginx is only a binary for the tests: the client-address test starts one of its own in front
# of gunicorn, as deploy/README.md's site does.
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    echo "services: installing nginx"
    apt_install nginx
fi

# pg_dirtyread reads a table's dead tuples: the postgres_table history test uses it to show that
# an erased row survives on disk until VACUUM, and is gone after. The package must match the
# server's major version.
major=$(psql -h 127.0.0.1 -p 5432 -U postgres -Atc "SELECT current_setting('server_version_num')::int / 10000")
if [ ! -f "/usr/share/postgresql/$major/extension/pg_dirtyread.control" ]; then
    echo "services: installing pg_dirtyread for PostgreSQL $major"
    apt_install "postgresql-$major-dirtyread"
fi
