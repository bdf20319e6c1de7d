#!/usr/bin/env bash
# The production topology as real processes on one machine: gunicorn (2 workers), two Celery
# workers (`fast`: the `celery` queue and every connector kind not on files; `files`: the file
# kinds, so a slow rewrite never holds up a table or a cache) and one Celery beat.
#
#   scripts/stack.sh run             start, wait until ready, follow the logs; Ctrl-C stops all
#   scripts/stack.sh start           start, return once ready (pids in $LUP_STACK_DIR/pids)
#   scripts/stack.sh stop            stop every process `start` started
#   scripts/stack.sh restart NAME    stop NAME if it runs, start it again and wait until ready
#   scripts/stack.sh status          which processes run
#   scripts/stack.sh exec CMD...     run CMD with the stack's settings (e.g. bench/load.py)
# NAME is one of: web, worker-fast, worker-files, beat.
#
# Settings come from the environment, as everywhere in Lup:
#   DATABASE_URL, REDIS_URL   default to a local database `lup_stack` (created when missing) and
#                             Redis database 5 on 127.0.0.1. With neither given, the secrets below
#                             are generated once into $LUP_STACK_DIR/secrets (never committed: the
#                             data folder is git-ignored); with either given, they are required.
#   SECRET_KEY, LUP_SUBJECT_PEPPER (or _FILE), LUP_REQUEST_KEK, LUP_SIGNING_KEY_FILE
#   PORT                      gunicorn binds 127.0.0.1:PORT (default 8000)
#   DATABASE_CONN_MAX_AGE     seconds a process keeps its database connection (default 60, as
#                             deploy/ sets it; Lup's own default is 0)
#   LUP_STACK_DIR             pids, logs, secrets (default: $LUP_DATA_DIR/stack, ./data/stack)
#   LUP_STACK_NAME            workers' node names: fast.NAME@host, files.NAME@host (lup-PORT)
#   LUP_STACK_FILE_KINDS      connector kinds served by the files worker
#   LUP_STACK_MIGRATE         0 to skip `manage.py migrate` at start (default 1)
#   LUP_STACK_READY_SECONDS   how long to wait for readiness (default 120)
#   EMAIL_HOST                SMTP server; with the local defaults and none given, mail goes to
#                             files (LUP_MAIL_TO_FILES=true, which is an error anywhere else)
# and every Lup setting (LUP_SWEEP_AFTER_SECONDS, LUP_BATCH_WINDOW_SECONDS, LUP_FILE_ROOTS, …).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=${LUP_STACK_BIN:-$ROOT/.venv/bin}
PY=$BIN/python

export PORT=${PORT:-8000}
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-config.settings}
export DATABASE_CONN_MAX_AGE=${DATABASE_CONN_MAX_AGE:-60}
STACK_DIR=${LUP_STACK_DIR:-${LUP_DATA_DIR:-$ROOT/data}/stack}
STACK_NAME=${LUP_STACK_NAME:-lup-$PORT}
FILE_KINDS=${LUP_STACK_FILE_KINDS:-jsonl_file text_log csv_file parquet_file}
READY_SECONDS=${LUP_STACK_READY_SECONDS:-120}
NAMES=(web worker-fast worker-files beat)

log() { echo "stack: $*" >&2; }
die() { log "$*"; exit 1; }

# --- settings -----------------------------------------------------------------------------------

secret_file() {  # secret_file PATH COMMAND...: the file's content, made once by COMMAND
    if [ ! -s "$1" ]; then
        (umask 077 && "${@:2}" >"$1")
    fi
    cat "$1"
}

settings() {
    mkdir -p "$STACK_DIR/pids" "$STACK_DIR/logs"
    if [ -z "${DATABASE_URL:-}" ] && [ -z "${REDIS_URL:-}" ]; then
        # Local defaults: a database and a Redis database of their own, so the stack runs beside
        # `make run` (SQLite) and `make test` (other databases) without touching their data.
        export DATABASE_URL=postgres://postgres@127.0.0.1:5432/lup_stack
        export REDIS_URL=redis://127.0.0.1:6379/5
        local secrets=$STACK_DIR/secrets hex
        mkdir -p "$secrets" && chmod 700 "$secrets"
        hex=("$PY" -c "import secrets; print(secrets.token_hex(32))")
        export SECRET_KEY=${SECRET_KEY:-$(secret_file "$secrets/secret_key" "${hex[@]}")}
        if [ -z "${LUP_SUBJECT_PEPPER:-}" ] && [ -z "${LUP_SUBJECT_PEPPER_FILE:-}" ]; then
            secret_file "$secrets/subject_pepper" "${hex[@]}" >/dev/null
            export LUP_SUBJECT_PEPPER_FILE=$secrets/subject_pepper
        fi
        export LUP_REQUEST_KEK=${LUP_REQUEST_KEK:-$(secret_file "$secrets/request_kek" "${hex[@]}")}
        if [ -z "${LUP_SIGNING_KEY_FILE:-}" ]; then
            export LUP_SIGNING_KEY_FILE=$secrets/signing_key.pem
            [ -s "$LUP_SIGNING_KEY_FILE" ] || "$PY" manage.py ledger_keygen \
                --out "$LUP_SIGNING_KEY_FILE" >/dev/null 2>&1
        fi
        export LUP_FILE_ROOTS=${LUP_FILE_ROOTS:-$STACK_DIR/targets}
        # A local stack has no SMTP server: mail goes to files unless EMAIL_HOST is given.
        [ -n "${EMAIL_HOST:-}" ] || export LUP_MAIL_TO_FILES=${LUP_MAIL_TO_FILES:-true}
        mkdir -p "${LUP_FILE_ROOTS%%,*}"
        create_local_database
    else
        [ -n "${DATABASE_URL:-}" ] || die "DATABASE_URL is not set (REDIS_URL is)"
        [ -n "${REDIS_URL:-}" ] || die "REDIS_URL is not set (DATABASE_URL is): workers need a broker"
        local name
        for name in SECRET_KEY LUP_REQUEST_KEK LUP_SIGNING_KEY_FILE; do
            [ -n "${!name:-}" ] || die "$name is not set (see README, Settings)"
        done
        [ -n "${LUP_SUBJECT_PEPPER:-}${LUP_SUBJECT_PEPPER_FILE:-}" ] \
            || die "LUP_SUBJECT_PEPPER (or LUP_SUBJECT_PEPPER_FILE) is not set"
    fi
}

create_local_database() {
    "$PY" - <<'EOF' || die "PostgreSQL does not answer on 127.0.0.1:5432 (scripts/services.sh starts it)"
import os
import psycopg
from psycopg import sql

url = os.environ["DATABASE_URL"]
name = url.rsplit("/", 1)[1]
with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
EOF
}

# --- processes ----------------------------------------------------------------------------------

pid_of() { cat "$STACK_DIR/pids/$1.pid" 2>/dev/null || true; }

# A process that exited is not running, even as a zombie nobody reaped yet (its parent, this
# script, is gone; not every container's init reaps orphans).
running() { local state; state=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $state != Z* ]]; }

alive() { local pid; pid=$(pid_of "$1"); [ -n "$pid" ] && running "$pid"; }

queues() {  # the workers' queues, split once per start into pids/queues-{fast,files}
    local all kind files=() rest=()
    all=$("$PY" -c "
import django; django.setup()
from config.celery import app
print(' '.join(q.name for q in app.conf.task_queues))")
    for kind in $all; do
        if [[ " $FILE_KINDS " == *" ${kind#erasure.} "* ]]; then files+=("$kind"); else rest+=("$kind"); fi
    done
    (IFS=,; echo "${rest[*]}") >"$STACK_DIR/pids/queues-fast"
    (IFS=,; echo "${files[*]}") >"$STACK_DIR/pids/queues-files"
}

launch() {  # launch NAME: start one process in a session of its own (so stop takes its children)
    local name=$1 cmd
    case $name in
        web)
            # Its two processes' HTTP and database counters, merged by /metrics, as deploy/ does
            # (README, Metrics); emptied at each start so a restart does not add old counts.
            rm -rf "$STACK_DIR/prometheus" && mkdir -p "$STACK_DIR/prometheus"
            # deploy/gunicorn.conf.py as in production (its access log redacts paths and drops
            # query strings); only the address and the process count are the stack's own.
            cmd=(env "PROMETHEUS_MULTIPROC_DIR=$STACK_DIR/prometheus"
                 "$BIN/gunicorn" -c deploy/gunicorn.conf.py config.wsgi
                 --bind "127.0.0.1:$PORT" --workers 2 --threads 4) ;;
        worker-fast)
            cmd=("$BIN/celery" -A config worker --pool=prefork --concurrency=1
                 --queues="$(cat "$STACK_DIR/pids/queues-fast")" --hostname="fast.$STACK_NAME@%h" --loglevel=INFO
                 --without-gossip --without-mingle) ;;
        worker-files)
            cmd=("$BIN/celery" -A config worker --pool=prefork --concurrency=1
                 --queues="$(cat "$STACK_DIR/pids/queues-files")" --hostname="files.$STACK_NAME@%h" --loglevel=INFO
                 --without-gossip --without-mingle) ;;
        beat)
            # A fresh schedule file each start, in a temporary folder of its own.
            local beat_dir
            beat_dir=$(mktemp -d "${TMPDIR:-/tmp}/lup-beat.XXXXXX")
            echo "$beat_dir" >"$STACK_DIR/pids/beat.dir"
            cmd=("$BIN/celery" -A config beat --schedule="$beat_dir/schedule" --loglevel=INFO) ;;
        *) die "unknown process $name (one of: ${NAMES[*]})" ;;
    esac
    setsid "${cmd[@]}" >>"$STACK_DIR/logs/$name.log" 2>&1 </dev/null &
    echo $! >"$STACK_DIR/pids/$name.pid"
}

wait_ready() {  # wait_ready NAME...: /readyz for web, a ping answer for a worker
    local pids=() name
    for name in "$@"; do pids+=("$name=$(pid_of "$name")"); done
    LUP_STACK_WAIT="$*" LUP_STACK_PIDS="${pids[*]}" "$PY" - <<'EOF'
import os
import sys
import time
import urllib.request

from config.celery import app


def exited(pid: str) -> bool:
    """Gone, or a zombie (exited, not reaped yet)."""
    if os.path.isdir("/proc"):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
        except (FileNotFoundError, ValueError):
            return True
    try:
        os.kill(int(pid), 0)
        return False
    except (OSError, ValueError):
        return True


names = os.environ["LUP_STACK_WAIT"].split()
pids = dict(item.split("=") for item in os.environ["LUP_STACK_PIDS"].split())
stack = os.environ["LUP_STACK_NAME"]
nodes = {f"fast.{stack}": "worker-fast", f"files.{stack}": "worker-files"}
waiting = set(names) - {"beat"}  # beat answers nothing; it only has to stay up
deadline = time.monotonic() + float(os.environ["LUP_STACK_READY_SECONDS"])
while waiting:
    for name, pid in pids.items():
        if exited(pid):
            sys.exit(f"stack: {name} exited; see {os.environ['LUP_STACK_DIR']}/logs/{name}.log")
    if time.monotonic() > deadline:
        sys.exit(f"stack: not ready in time: {', '.join(sorted(waiting))}")
    if "web" in waiting:
        try:
            url = f"http://127.0.0.1:{os.environ['PORT']}/readyz"
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
                if response.status == 200:
                    waiting.discard("web")
        except OSError:
            pass
    if waiting & set(nodes.values()):
        for reply in app.control.ping(timeout=1.0):
            for node in reply:
                waiting.discard(nodes.get(node.split("@")[0], ""))
    time.sleep(0.2)
if "beat" in names:  # it only has to stay up: give it a moment to fail on its settings
    time.sleep(1)
    if exited(pids["beat"]):
        sys.exit(f"stack: beat exited; see {os.environ['LUP_STACK_DIR']}/logs/beat.log")
EOF
}

stop_one() {  # stop_one NAME: TERM to its process group, KILL after 20 s
    local name=$1 pid
    pid=$(pid_of "$name")
    if [ -n "$pid" ] && running "$pid"; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do running "$pid" || break; sleep 0.2; done
        kill -KILL -- "-$pid" 2>/dev/null || true
    elif [ -n "$pid" ]; then
        kill -KILL -- "-$pid" 2>/dev/null || true  # its leader is gone; children may not be
    fi
    rm -f "$STACK_DIR/pids/$name.pid"
    if [ "$name" = beat ] && [ -f "$STACK_DIR/pids/beat.dir" ]; then
        rm -rf "$(cat "$STACK_DIR/pids/beat.dir")" "$STACK_DIR/pids/beat.dir"
    fi
}

stop_all() {
    local name
    for name in "${NAMES[@]}"; do stop_one "$name" & done
    wait
}

export_stack_env() {
    export LUP_STACK_DIR=$STACK_DIR LUP_STACK_NAME=$STACK_NAME LUP_STACK_READY_SECONDS=$READY_SECONDS
}

start() {
    settings
    for name in "${NAMES[@]}"; do
        ! alive "$name" || die "$name already runs (pid $(pid_of "$name")); run: $0 stop"
    done
    if [ "${LUP_STACK_MIGRATE:-1}" != 0 ]; then
        "$PY" manage.py migrate --noinput >>"$STACK_DIR/logs/migrate.log" 2>&1 \
            || die "migrate failed; see $STACK_DIR/logs/migrate.log"
    fi
    export_stack_env
    queues
    for name in "${NAMES[@]}"; do launch "$name"; done
    if ! wait_ready "${NAMES[@]}"; then
        stop_all
        exit 1
    fi
    log "ready: http://127.0.0.1:$PORT/ (pids and logs in $STACK_DIR)"
}

case ${1:-run} in
    run)
        tail_pid=
        trap 'trap - INT TERM; log "stopping"; [ -z "$tail_pid" ] || kill "$tail_pid" 2>/dev/null
              stop_all; exit 0' INT TERM
        start
        tail -n 0 -F "$STACK_DIR"/logs/{web,worker-fast,worker-files,beat}.log &
        tail_pid=$!
        wait "$tail_pid"
        ;;
    start) start ;;
    stop) stop_all ;;
    restart)
        [ -n "${2:-}" ] || die "restart what? one of: ${NAMES[*]}"
        settings
        export_stack_env
        [ -s "$STACK_DIR/pids/queues-fast" ] || queues
        stop_one "$2"
        launch "$2"
        wait_ready "$2"
        ;;
    status)
        for name in "${NAMES[@]}"; do
            if alive "$name"; then echo "$name: running (pid $(pid_of "$name"))"
            else echo "$name: stopped"; fi
        done
        ;;
    exec)
        [ -n "${2:-}" ] || die "exec what?"
        settings
        export_stack_env
        shift
        exec "$@"
        ;;
    *) die "usage: $0 [run|start|stop|restart NAME|status|exec CMD...]" ;;
esac
