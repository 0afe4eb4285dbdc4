#!/usr/bin/env bash
# Side-by-side: node-oidc-provider and tessera (release build) on this
# machine, in the same run, driven by the same load generator
# (benches/load/ in --url mode) with the same connections and duration:
# introspection (req/s, p99) and client_credentials issuance (req/s).
#
#   benches/peers/oidc-provider/run.sh
#   ROUNDS=3 DURATION=10 CONNECTIONS=64 benches/peers/oidc-provider/run.sh
#
# Environment:
#   ROUNDS (3)           rounds; the order peer/tessera alternates per round
#   DURATION (10)        measured seconds per run (plus 1 s warm-up)
#   CONNECTIONS (64)     keep-alive connections of the generator
#   JWTS (1000)          tokens issued by client_credentials to introspect
#   TESSERA_WORKERS (2)  tessera's HTTP workers
#   OPAQUE (1)           also run tessera with opaque access tokens
#   OUT (target/peers/results-<time>.txt)  full output of every run
#   IDLE_WAIT (300)      seconds to wait for running compilers before a run
#
# Both servers listen on 127.0.0.1 only and run at the same time (the idle
# one costs nothing); every process is bounded in time and stopped at exit.
# node-oidc-provider runs as one node process: its in-memory adapter is
# per process, so a cluster of workers would not see each other's tokens.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
cd "$root"

rounds="${ROUNDS:-3}"
duration="${DURATION:-10}"
connections="${CONNECTIONS:-64}"
jwts="${JWTS:-1000}"
workers="${TESSERA_WORKERS:-2}"
opaque="${OPAQUE:-1}"
peer_dir="${PEER_DIR:-$root/target/peers/oidc-provider}"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="${OUT:-$root/target/peers/results-$stamp.txt}"
run_limit=$((duration * 3 + 180))

"$here/setup.sh"

echo "run: building tessera and the load harness (release)"
cargo build --release --bin tessera --quiet
load_bin="$(cargo bench --bench load --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    try: m = json.loads(l)
    except ValueError: continue
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "load" and m.get("executable"):
        print(m["executable"])' | tail -1)"
[ -x "$load_bin" ] || { echo "run: the load harness did not build" >&2; exit 1; }

# Private copies: a rebuild by someone else mid-run cannot swap them.
work="$(mktemp -d "$root/target/peers/run-XXXXXX")"
cp "$root/target/release/tessera" "$work/tessera"
cp "$load_bin" "$work/load"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(32))'; }

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

server_limit=$(( (rounds * (2 + opaque + 2) + 2) * run_limit ))

tport="$(free_port)"
admin="$(secret)"
mkdir -p "$work/data"
TESSERA_BIND="127.0.0.1:$tport" TESSERA_DATA_DIR="$work/data" TESSERA_WORKERS="$workers" \
    TESSERA_ADMIN_TOKEN="$admin" TESSERA_LOG__LEVEL=warn \
    timeout "$server_limit" "$work/tessera" serve >"$work/tessera.log" 2>&1 &
pids+=("$!")
tessera_timeout="$!"

pport="$(free_port)"
pid_secret="$(secret)"
NODE_ENV=production PORT="$pport" CLIENT_ID=peer CLIENT_SECRET="$pid_secret" \
    timeout "$server_limit" node "$peer_dir/server.mjs" >"$work/peer.log" 2>&1 &
pids+=("$!")
peer_timeout="$!"

for url in "http://127.0.0.1:$tport" "http://127.0.0.1:$pport"; do
    ok=0
    for _ in $(seq 1 100); do
        if curl -sf -o /dev/null "$url/.well-known/openid-configuration"; then ok=1; break; fi
        sleep 0.2
    done
    [ "$ok" = 1 ] || { echo "run: $url did not come up" >&2; cat "$work"/*.log >&2; exit 1; }
done
# The servers themselves (children of their `timeout`), for their CPU time.
tessera_pid="$(pgrep -P "$tessera_timeout" | head -1)"
peer_pid="$(pgrep -P "$peer_timeout" | head -1)"
echo "run: tessera on 127.0.0.1:$tport ($workers HTTP workers), oidc-provider on 127.0.0.1:$pport (one node process)"
echo "run: $(node --version), oidc-provider $(node -p "require('$peer_dir/node_modules/oidc-provider/package.json').version")"
echo "run: load average $(cut -d' ' -f1-3 /proc/loadavg); full output in $out"
mkdir -p "$(dirname "$out")"
: >"$out"

common=(--no-baseline --connections "$connections" --duration "$duration" --jwts "$jwts" --pool "$jwts")
peer=(--url "http://127.0.0.1:$pport" --name oidc-provider --client-id peer --client-secret="$pid_secret" --server-pid "$peer_pid")
tess=(--url "http://127.0.0.1:$tport" --name tessera --admin-token="$admin" --server-pid "$tessera_pid")

# Wait (at most IDLE_WAIT seconds, default 300) while a compiler runs on
# the machine: other people's builds would distort the numbers.
quiet() {
    local waited=0
    while pgrep -x rustc >/dev/null 2>&1 || pgrep -x cc1 >/dev/null 2>&1; do
        if [ "$waited" -ge "${IDLE_WAIT:-300}" ]; then
            echo "run: a compiler is still running after ${waited} s; measuring anyway (noted in the output)" >&2
            echo "NOTE: a compiler was running during this run" >>"$out"
            return
        fi
        sleep 5
        waited=$((waited + 5))
    done
}

one() { # label, then harness arguments
    local label="$1"
    shift
    quiet
    echo "== $label: load $*" | sed -e "s/$admin/ADMIN_TOKEN/g" -e "s/$pid_secret/CLIENT_SECRET/g" >>"$out"
    local before
    before="$(cut -d' ' -f1 /proc/loadavg)"
    echo "load average $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out"
    if ! timeout "$run_limit" "$work/load" "$@" >>"$out" 2>&1; then
        echo "run: $label failed; see $out" >&2
        return 1
    fi
    grep '^result: ' "$out" | tail -1 | sed -e "s/^result: /{\"label\":\"$label\",\"load\":\"$before\",\"r\":/" -e 's/$/}/' >>"$work/results.jsonl"
    tail -1 "$work/results.jsonl"
}

for r in $(seq 1 "$rounds"); do
    echo "run: round $r of $rounds"
    if [ $((r % 2)) -eq 1 ]; then order="peer tessera"; else order="tessera peer"; fi
    for who in $order; do
        if [ "$who" = peer ]; then
            one "oidc-provider introspection" --scenario introspect "${common[@]}" "${peer[@]}"
        else
            one "tessera introspection" --scenario introspect "${common[@]}" "${tess[@]}"
        fi
    done
    for who in $order; do
        if [ "$who" = peer ]; then
            one "oidc-provider client_credentials" --scenario client-credentials "${common[@]}" "${peer[@]}"
        else
            one "tessera client_credentials" --scenario client-credentials "${common[@]}" "${tess[@]}"
            if [ "$opaque" = 1 ]; then
                one "tessera client_credentials (opaque)" --scenario client-credentials \
                    --client-token-format opaque "${common[@]}" "${tess[@]}"
            fi
        fi
    done
done

echo
echo "run: summary over $rounds rounds ($connections connections, $duration s each, $jwts tokens introspected)"
python3 - "$work/results.jsonl" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    rows.setdefault(d["label"], []).append(d)
print("| run | req/s (mean) | req/s per round | p99 ms (median) | p99 per round | server CPU (cores) | generator CPU | errors | load avg before |")
print("|---|---|---|---|---|---|---|---|---|")
for label, ds in rows.items():
    rps = [d["r"]["rps"] for d in ds]
    p99 = [d["r"]["p99_ms"] for d in ds]
    err = sum(d["r"]["errors"] + d["r"]["unexpected_bodies"] + d["r"]["live_but_inactive"] for d in ds)
    print(f"| {label} | {statistics.mean(rps):,.0f} | {' / '.join(f'{x:,.0f}' for x in rps)} | "
          f"{statistics.median(p99):.2f} | {' / '.join(f'{x:.2f}' for x in p99)} | "
          f"{statistics.mean(d['r']['server_cores'] or 0 for d in ds):.2f} | "
          f"{statistics.mean(d['r']['generator_cores'] for d in ds):.2f} | {err} | "
          f"{' / '.join(d['load'] for d in ds)} |")
PY
