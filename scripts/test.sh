#!/usr/bin/env bash
# The whole test suite against real PostgreSQL, Redis and Celery workers. `make test` runs this.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh
bash scripts/browser.sh

# Fresh secrets for every run: the suite must not depend on any particular pepper or key.
export SECRET_KEY="test-$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(24))')"
export LUP_SUBJECT_PEPPER="$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(32))')"
export LUP_REQUEST_KEK="$(.venv/bin/python -c 'import secrets; print(secrets.token_hex(32))')"
export DATABASE_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/lup}"
export REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/1}"
export LUP_DATA_DIR="$(mktemp -d)"
export LUP_LOG_FILE="$LUP_DATA_DIR/test-run.log"
export LUP_CACHE_PREFIX="lup-test-$$"
export LUP_SIGNING_KEY_FILE="$LUP_DATA_DIR/signing_key.pem"
export LUP_LOG_ORIGIN="lup.test/receipts"
export LUP_MAIL_TO_FILES=true  # no SMTP server in a test run (lup.E090)
trap 'rm -rf "$LUP_DATA_DIR"' EXIT
.venv/bin/python manage.py ledger_keygen --out "$LUP_SIGNING_KEY_FILE" >/dev/null 2>&1

.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet .
.venv/bin/lint-imports --no-cache
# The 25 slowest tests are listed at the end, so a slow one is noticed when it is added.
.venv/bin/pytest --durations=25 "$@"
