#!/usr/bin/env bash
# Account and entity token paths under load, with wrk, against a release
# build on loopback. Every run is bounded (DURATION seconds, default 8).
#
#   cargo build --release && benches/accounts.sh
#
# It sets up a throwaway store with the CLI (a user, an entity with that
# user as admin, an API key, an introspecting resource server), starts the
# server, gets a personal token and an entity token over HTTP, and runs:
#   1. introspection of an ordinary access token (the reference)
#   2. introspection of an entity token (same endpoint, same client)
#   3. POST /api/oauth/token: exchanging a personal token (mints a JWT)
#   4. GET of the entity token API (API key + user + token headers)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/tessera}
DURATION=${DURATION:-8}
CONNS=${CONNS:-64}
DATA=$(mktemp -d)
LOG=$DATA/serve.log
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$DATA"' EXIT
export TESSERA_ISSUER=http://127.0.0.1:18080 TESSERA_WORKERS=2 TESSERA_LOG__LEVEL=warn
t() { "$BIN" --data-dir "$DATA/db" "$@"; }

t user create --username bench --email bench@example.com --password 'correct horse battery staple' >/dev/null
ENTITY=$(t entity create --name Bench | cut -f1)
t entity add-member "$ENTITY" bench --role admin >/dev/null
APIKEY=$(t apikey create "$ENTITY" --name bench | sed -n 's/^apikey: *//p')
RS_SECRET=$(t client create --client-id rs --introspect-any | sed -n 's/^client_secret: *//p')
CC_SECRET=$(t client create --client-id cc --scope read --access-token-format opaque | sed -n 's/^client_secret: *//p')

"$BIN" --data-dir "$DATA/db" serve --bind 127.0.0.1:18080 >"$DATA/out" 2>"$LOG" &
for _ in $(seq 1 100); do grep -q listening "$DATA/out" 2>/dev/null && break; sleep 0.1; done
URL=http://127.0.0.1:18080
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

COOKIE=$(curl -s -D - -o /dev/null -H 'content-type: application/json' \
  -d '{"login":"bench","password":"correct horse battery staple"}' "$URL/auth/login" \
  | sed -n 's/^set-cookie: \(tessera_session=[^;]*\).*/\1/ip')
USER_ID=$(curl -s -H "cookie: $COOKIE" "$URL/sessions/session" | json '["user"]["id"]')
PAT=$(curl -s -X PUT -H "cookie: $COOKIE" -H 'content-type: application/json' \
  -d '{"scope":"openid"}' "$URL/api/users/token" | json '["token"]')
ACCESS=$(curl -s -H 'content-type: application/json' \
  -d "{\"client_id\":\"tessera-account\",\"grant_type\":\"refresh_token\",\"refresh_token\":\"$PAT\"}" \
  "$URL/api/oauth/token" | json '["access_token"]')
ET=$(curl -s -X POST -H "apikey: $APIKEY" -H "userid: $USER_ID" -H "token: $ACCESS" \
  "$URL/entities/$ENTITY/users/$USER_ID/authentication-token" | json '["authenticationToken"]')
CC=$(curl -s -u "cc:$CC_SECRET" -d grant_type=client_credentials "$URL/oauth2/token" | json '["access_token"]')
RS_AUTH="Basic $(printf 'rs:%s' "$RS_SECRET" | base64 -w0)"

check() { echo "-- $1: $(curl -s -H "authorization: $RS_AUTH" -d "token=$2" "$URL/oauth2/token/introspect" | cut -c1-160)"; }
check "access token" "$CC"; check "entity token" "$ET"

run() {
  echo "== $1"
  shift
  "$@" | grep -E "Requests/sec|Latency|99%|Non-2xx|Socket errors" || true
}
WRK="wrk -t2 -c$CONNS -d${DURATION}s --latency"
run "introspection, opaque access token (reference)" env WRK_AUTH="$RS_AUTH" WRK_BODY="token=$CC" \
  $WRK -s benches/wrk/post_form.lua "$URL/oauth2/token/introspect"
run "introspection, entity token" env WRK_AUTH="$RS_AUTH" WRK_BODY="token=$ET" \
  $WRK -s benches/wrk/post_form.lua "$URL/oauth2/token/introspect"
run "POST /api/oauth/token (personal token exchange, RS256 JWT minted)" env WRK_CTYPE=application/json \
  WRK_BODY="{\"client_id\":\"tessera-account\",\"grant_type\":\"refresh_token\",\"refresh_token\":\"$PAT\"}" \
  $WRK -s benches/wrk/post_form.lua "$URL/api/oauth/token"
run "GET entity token API (three-header auth)" env WRK_APIKEY="$APIKEY" WRK_USERID="$USER_ID" WRK_TOKEN="$ACCESS" \
  $WRK -s benches/wrk/get_headers.lua "$URL/entities/$ENTITY/users/$USER_ID/authentication-token"
