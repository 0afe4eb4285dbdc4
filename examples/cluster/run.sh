#!/usr/bin/env bash
# Three tessera nodes on one PostgreSQL database behind HAProxy, and checks
# that through the balancer they behave as one server:
#
#   1. a client made with the admin API, and a client_credentials token;
#   2. the token introspects active many times in a row, every node
#      answering in turn;
#   3. its revocation answers 200, and from then on (within 1 s) every
#      node answers inactive;
#   4. one node killed with kill -9: requests through the balancer still
#      succeed, and HAProxy stops sending it any.
#
# It builds nothing. Environment:
#   TESSERA_BIN   the tessera binary (default target/debug/tessera)
#   DATABASE_URL  the cluster's database (default
#                 postgres://postgres@127.0.0.1:5432/tessera_cluster_example;
#                 created with psql when missing)
#   REVOCATION    eventual (default) or strict
#
# Needs curl, psql, haproxy and python3, and 127.0.0.1:8080-8083 free. The
# nodes get the settings in node.env.example and nothing else (inherited
# TESSERA_* variables are cleared). Any failed check stops the script with
# a non-zero status and says what failed; every process it started is
# stopped on exit.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${TESSERA_BIN:-$ROOT/target/debug/tessera}
[[ $BIN == /* ]] || BIN=$PWD/$BIN
DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/tessera_cluster_example}
REVOCATION=${REVOCATION:-eventual}
LB=http://127.0.0.1:8080
PORTS=(8081 8082 8083)

log() { echo "run.sh: $*" >&2; }

# Milliseconds since the epoch.
now_ms() { date +%s%3N; }

# --- set-up and clean-up ---------------------------------------------------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tessera-cluster.XXXXXX")
declare -A PIDS=()
FAILED=0

fail() {
    FAILED=1
    log "FAILED: $*"
    exit 1
}

cleanup() {
    local name pid
    for name in "${!PIDS[@]}"; do
        kill "${PIDS[$name]}" 2>/dev/null || true
    done
    for name in "${!PIDS[@]}"; do
        pid=${PIDS[$name]}
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "$FAILED" -ne 0 ]; then
        for f in "$TMP"/*.log; do
            [ -f "$f" ] || continue
            log "--- last lines of $(basename "$f")"
            tail -n 30 "$f" >&2 || true
        done
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in curl psql haproxy python3; do
    command -v "$tool" >/dev/null || fail "$tool is not installed"
done
[ -x "$BIN" ] || fail "no tessera binary at $BIN (build it first, or set TESSERA_BIN)"
case $REVOCATION in
    eventual | strict) ;;
    *) fail "REVOCATION=$REVOCATION: expected eventual or strict" ;;
esac
for port in 8080 "${PORTS[@]}"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        fail "something already listens on 127.0.0.1:$port"
    fi
done

# The database: its name is the URL's last path segment; it is made through
# the server's `postgres` database when missing.
url_base=${DATABASE_URL%%\?*}
url_query=${DATABASE_URL#"$url_base"}
DB_NAME=${url_base##*/}
ADMIN_URL="${url_base%/*}/postgres$url_query"
[[ $DB_NAME =~ ^[a-z_][a-z0-9_]*$ ]] || fail "database name '$DB_NAME' in DATABASE_URL: use [a-z0-9_]"
exists=$(psql "$ADMIN_URL" -w -X -v ON_ERROR_STOP=1 -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'") ||
    fail "cannot reach PostgreSQL at $ADMIN_URL"
if [ "$exists" != 1 ]; then
    log "creating database $DB_NAME"
    psql "$ADMIN_URL" -w -X -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $DB_NAME" >/dev/null ||
        fail "could not create database $DB_NAME"
fi

# The nodes' settings: node.env.example and nothing inherited.
while IFS= read -r v; do
    unset "$v"
done < <(compgen -e | grep '^TESSERA_' || true)
set -a
# shellcheck source=node.env.example
. "$HERE/node.env.example"
set +a
ADMIN_TOKEN=$TESSERA_ADMIN_TOKEN

# Start node N (1-3) on 127.0.0.1:808N with a store directory of its own.
start_node() {
    local n=$1 port=${PORTS[$(($1 - 1))]}
    mkdir -p "$TMP/node$n"
    (
        export TESSERA_STORE__DATABASE_URL=$DATABASE_URL
        export TESSERA_CLUSTER__NODE_ID=node$n
        export TESSERA_CLUSTER__REVOCATION=$REVOCATION
        exec "$BIN" --data-dir "$TMP/node$n" serve --bind "127.0.0.1:$port"
    ) >"$TMP/node$n.log" 2>&1 &
    PIDS[node$n]=$!
}

# Wait (at most 60 s) until node N's /readyz answers 200.
wait_ready() {
    local n=$1 port=${PORTS[$(($1 - 1))]} code
    local deadline=$(($(now_ms) + 60000))
    for _ in $(seq 1 600); do
        kill -0 "${PIDS[node$n]}" 2>/dev/null || fail "node$n exited while starting"
        code=$(curl -s -o /dev/null -w '%{http_code}' --connect-timeout 1 --max-time 2 \
            "http://127.0.0.1:$port/readyz") || true
        [ "$code" = 200 ] && return 0
        [ "$(now_ms)" -lt "$deadline" ] || break
        sleep 0.1
    done
    fail "node$n never became ready (last /readyz status: ${code:-none})"
}

log "nodes: $BIN, database $DB_NAME, revocation $REVOCATION"
# The first node applies the schema and makes the keys; the others join.
start_node 1
wait_ready 1
start_node 2
start_node 3
wait_ready 2
wait_ready 3

haproxy -c -q -f "$HERE/haproxy.cfg" || fail "haproxy rejects $HERE/haproxy.cfg"
haproxy -f "$HERE/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 &
PIDS[haproxy]=$!
deadline=$(($(now_ms) + 10000))
for _ in $(seq 1 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --connect-timeout 1 --max-time 2 "$LB/readyz") || true
    [ "$code" = 200 ] && break
    kill -0 "${PIDS[haproxy]}" 2>/dev/null || fail "haproxy exited"
    [ "$(now_ms)" -lt "$deadline" ] || fail "the balancer never answered /readyz with 200"
    sleep 0.1
done
[ "$code" = 200 ] || fail "the balancer never answered /readyz with 200"
log "three nodes ready behind $LB"

# --- requests through the balancer -----------------------------------------

# POST to the balancer: STATUS is the status, NODE the node that answered,
# the body is left in $TMP/body.
post() {
    local path=$1
    shift
    rm -f "$TMP/body" "$TMP/headers"
    STATUS=$(curl -sS -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' \
        --connect-timeout 2 --max-time 10 "$@" "$LB$path" 2>"$TMP/curl.err") || STATUS=000
    NODE=
    if [ -f "$TMP/headers" ]; then
        NODE=$(tr -d '\r' <"$TMP/headers" | sed -n 's/^[Xx]-[Tt]essera-[Nn]ode: *//p' | tail -n 1) || true
    fi
}

# A top-level field of the JSON body ("true"/"false" for booleans, empty
# when absent or when the body is not JSON).
field() {
    python3 -c '
import json, sys
try:
    v = json.load(open(sys.argv[1])).get(sys.argv[2])
except Exception:
    v = None
print("" if v is None else str(v).lower() if isinstance(v, bool) else v)
' "$TMP/body" "$1"
}

body() { head -c 300 "$TMP/body" 2>/dev/null || true; }

# A client_credentials token of the client: TOKEN, or fails.
token() {
    post /oauth2/token -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials
    [ "$STATUS" = 200 ] || return 1
    TOKEN=$(field access_token)
    [ -n "$TOKEN" ]
}

# Introspect $1: ACTIVE is true or false, or fails (any status but 200).
introspect() {
    post /oauth2/token/introspect -u "$CLIENT_ID:$CLIENT_SECRET" --data-urlencode "token=$1"
    [ "$STATUS" = 200 ] || return 1
    ACTIVE=$(field active)
}

# Introspect $1 until it answers $2 (true or false) $3 times in a row. The
# other answer is tolerated only from requests sent within $4 ms of now
# (the feed's latency); after that it fails the check. The nodes that
# answered the last run end up in SEEN.
until_steady() {
    local token=$1 want=$2 times=$3 grace=$4 row=0 start sent
    start=$(now_ms)
    SEEN=()
    for _ in $(seq 1 100); do
        sent=$(now_ms)
        introspect "$token" || fail "introspection through the balancer answered $STATUS (node ${NODE:-?}): $(body)"
        if [ "$ACTIVE" = "$want" ]; then
            row=$((row + 1))
            SEEN+=("$NODE")
            [ "$row" -ge "$times" ] && return 0
        else
            [ $((sent - start)) -le "$grace" ] ||
                fail "$NODE answered active=$ACTIVE $((sent - start)) ms later, want $want within $grace ms"
            row=0
            SEEN=()
            sleep 0.02
        fi
    done
    fail "introspection never answered active=$want $times times in a row"
}

# Every answer must be $2 now, $3 times in a row.
always() {
    local token=$1 want=$2 times=$3
    SEEN=()
    for _ in $(seq 1 "$times"); do
        introspect "$token" || fail "introspection through the balancer answered $STATUS (node ${NODE:-?}): $(body)"
        [ "$ACTIVE" = "$want" ] || fail "$NODE answered active=$ACTIVE, want $want"
        SEEN+=("$NODE")
    done
}

distinct() { printf '%s\n' "$@" | sort -u | grep -c . || true; }

# 1. A client, then tokens until every node knows it (three in a row: one
# from each node, round robin).
post /admin/clients -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
    -d '{"scope":"read","access_token_format":"opaque"}'
case $STATUS in
    200 | 201) ;;
    *) fail "POST /admin/clients through the balancer answered $STATUS: $(body)" ;;
esac
CLIENT_ID=$(field client_id)
CLIENT_SECRET=$(field client_secret)
[ -n "$CLIENT_ID" ] && [ -n "$CLIENT_SECRET" ] || fail "no client_id/client_secret in $(body)"
row=0
deadline=$(($(now_ms) + 5000))
for _ in $(seq 1 100); do
    if token; then row=$((row + 1)); else row=0; fi
    [ "$row" -ge 3 ] && break
    [ "$(now_ms)" -lt "$deadline" ] || break
    sleep 0.05
done
[ "$row" -ge 3 ] || fail "the client could not get tokens from every node within 5 s (last: $STATUS $(body))"
log "ok: client $CLIENT_ID made through the balancer, tokens from every node"

# 2. Active everywhere: once every node has applied the token (feed
# latency), nine answers in a row, from every node.
token || fail "token request answered $STATUS: $(body)"
T1=$TOKEN
until_steady "$T1" true 3 2000
always "$T1" true 9
[ "$(distinct "${SEEN[@]}")" -eq 3 ] || fail "not every node answered: ${SEEN[*]}"
log "ok: the token is active 9 times in a row (nodes: $(printf '%s\n' "${SEEN[@]}" | sort -u | tr '\n' ' '))"

# 3. Revoked through the balancer: 200, then inactive on every node within
# 1 s, and every answer after that inactive.
post /oauth2/token/revoke -u "$CLIENT_ID:$CLIENT_SECRET" --data-urlencode "token=$T1"
[ "$STATUS" = 200 ] || fail "revocation through the balancer answered $STATUS: $(body)"
revoked_by=$NODE
until_steady "$T1" false 6 1000
always "$T1" false 9
[ "$(distinct "${SEEN[@]}")" -eq 3 ] || fail "not every node answered: ${SEEN[*]}"
log "ok: revoked on $revoked_by (200), inactive on every node within 1 s"

# 4. One node killed: a token known everywhere keeps introspecting, new
# tokens keep coming, and once HAProxy has seen two failed checks no
# request goes to the dead node.
token || fail "token request answered $STATUS: $(body)"
T2=$TOKEN
until_steady "$T2" true 3 2000
kill -9 "${PIDS[node2]}"
wait "${PIDS[node2]}" 2>/dev/null || true
unset 'PIDS[node2]'
log "node2 killed with kill -9"
check_serving() {
    local i
    SEEN=()
    for i in $(seq 1 "$1"); do
        token || fail "after the kill, token request $i answered $STATUS (node ${NODE:-?}): $(tail -c 200 "$TMP/curl.err") $(body)"
        introspect "$T2" || fail "after the kill, introspection $i answered $STATUS (node ${NODE:-?}): $(body)"
        [ "$ACTIVE" = true ] || fail "after the kill, $NODE answered a live token inactive"
        SEEN+=("$NODE")
        introspect "$T1" || fail "after the kill, introspection $i answered $STATUS (node ${NODE:-?}): $(body)"
        [ "$ACTIVE" = false ] || fail "after the kill, $NODE answered a revoked token active"
        SEEN+=("$NODE")
    done
}
check_serving 6
# fall 2 x inter 500ms: out of the rotation within about a second.
sleep 1.5
check_serving 6
for n in "${SEEN[@]}"; do
    [ "$n" != node2 ] || fail "HAProxy still sends requests to the killed node2"
done
log "ok: with node2 dead every request through the balancer succeeds (nodes: $(printf '%s\n' "${SEEN[@]}" | sort -u | tr '\n' ' '))"

log "all checks passed"
