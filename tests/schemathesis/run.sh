#!/usr/bin/env bash
# API-schema testing: start the real server on loopback over a temporary
# data dir, run schemathesis against its /openapi.json and fail on any 5xx,
# any undocumented status code and any response that does not match its
# documented schema.
#
#   tests/schemathesis/run.sh                 # the CI run
#   ST_MAX_EXAMPLES=200 tests/schemathesis/run.sh
#   ST_SEED=123 tests/schemathesis/run.sh     # another seed (default fixed)
#   ST_REPORTS=junit,ndjson,har tests/schemathesis/run.sh
#
# schemathesis is installed from PyPI into a virtualenv under target/.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HERE=$ROOT/tests/schemathesis

ST_VERSION=4.32.5
VENV=${ST_VENV:-$ROOT/target/schemathesis/venv}
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-100}
SEED=${ST_SEED:-20261124}
# A hard bound on the schemathesis run (seconds). Not schemathesis'
# --max-time, which repeats fuzzing until the budget is spent.
TIME_LIMIT=${ST_TIME_LIMIT:-600}

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -qF "$ST_VERSION"; then
    echo "schemathesis: installing $ST_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION"
fi

cargo build --quiet --bin tessera
BIN=$ROOT/target/debug/tessera

# Reports and the server's log stay here after the run.
REPORT=$ROOT/target/schemathesis/report
rm -rf "$REPORT"
mkdir -p "$REPORT"

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

ADMIN_TOKEN="tes_adm_$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
TESSERA_ADMIN_TOKEN=$ADMIN_TOKEN TESSERA_LOG__LEVEL=warn \
    "$BIN" --data-dir "$WORK/data" serve --bind 127.0.0.1:0 \
    >"$REPORT/server.log" 2>&1 &
SERVER_PID=$!

BASE=
for _ in $(seq 1 300); do
    BASE=$(sed -n 's/^tessera listening on \(http:\/\/127\.0\.0\.1:[0-9]*\)$/\1/p' "$REPORT/server.log")
    [ -n "$BASE" ] && break
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        cat "$REPORT/server.log"
        echo "schemathesis: the server did not start" >&2
        exit 1
    fi
    sleep 0.2
done
if [ -z "$BASE" ]; then
    cat "$REPORT/server.log"
    echo "schemathesis: the server did not print its address" >&2
    exit 1
fi
set +e
(
    cd "$WORK"
    ST_BASE_URL=$BASE ST_ADMIN_TOKEN=$ADMIN_TOKEN SCHEMATHESIS_HOOKS=$HERE/hooks.py PYTHONDONTWRITEBYTECODE=1 \
    timeout "$TIME_LIMIT" "$VENV/bin/schemathesis" --no-color --config-file "$HERE/schemathesis.toml" run "$BASE/openapi.json" \
        --checks not_a_server_error,status_code_conformance,response_schema_conformance \
        --phases examples,coverage,fuzzing,stateful \
        --max-examples "$MAX_EXAMPLES" \
        --seed "$SEED" \
        --max-redirects 0 \
        --request-timeout 30 \
        --workers 2 \
        --report "${ST_REPORTS:-junit}" --report-dir "$REPORT"
) 2>&1 | tee "$REPORT/schemathesis.log"
rc=${PIPESTATUS[0]}
set -e

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "schemathesis: the server died during the run" >&2
    rc=1
fi
if grep -q "panicked at" "$REPORT/server.log"; then
    grep -B2 -A10 "panicked at" "$REPORT/server.log" >&2
    echo "schemathesis: the server panicked" >&2
    rc=1
fi
if [ "$rc" != 0 ]; then
    echo "schemathesis: FAILED (exit $rc)" >&2
    exit "$rc"
fi
tested=$(sed -n 's/^ *Tested: *\([0-9]*\)$/\1/p' "$REPORT/schemathesis.log")
cases=$(sed -n 's/^ *\([0-9]*\) generated.*/\1/p' "$REPORT/schemathesis.log")
echo "schemathesis: ${tested:-?} operations, ${cases:-?} test cases, no failures"
