#!/usr/bin/env bash
# The whole test run, as CI runs it (.ci/run calls this), on a fresh Debian
# machine with nothing installed by hand:
#
#   1. installs what the tests need and is missing, from Debian packages
#      (needs root and apt-get; with everything present it needs neither):
#        prometheus              promtool and prometheus (tests/api/metrics_dashboard.rs)
#        chromium chromium-driver  the browser test (tests/browser)
#        python3 python3-venv    the schemathesis virtualenv
#        postgresql              a server on 127.0.0.1:5432, user postgres
#                                with trust auth: the suite's second run and
#                                the PostgreSQL tests make a database each
#                                there (unless TESSERA_TEST_DATABASE_URL
#                                names another server)
#        haproxy curl postgresql-client
#                                the cluster example (examples/cluster/run.sh):
#                                the balancer, its requests, and psql
#   2. cargo fmt --all -- --check
#   3. cargo clippy --all-targets -- -D warnings
#   4. cargo test --workspace               (the store backend: sled)
#   5. the integration suite again with TESSERA_TEST_BACKEND=postgres,
#      but the cluster tests (tests/api/cluster: they run on PostgreSQL
#      whatever the suite's backend, so step 4 ran them already)
#   6. tests/schemathesis/run.sh
#   7. examples/cluster/run.sh: three nodes of the binary step 4 built,
#      behind HAProxy, on a database of the same PostgreSQL server
#   8. the cluster test that restarts PostgreSQL under load, alone (it is
#      #[ignore]d in the suite; only with the local server this script
#      started or found, never a TESSERA_TEST_DATABASE_URL server)
#
# `cargo test` alone stays the quick local loop. apt-get update runs at most
# once per run, and only when something has to be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "test.sh: $*" >&2; }

can_install() { [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; }

APT_UPDATED=0
apt_install() {
    if ! can_install; then
        log "cannot install $* (needs root and apt-get)"
        return 1
    fi
    if [ "$APT_UPDATED" -eq 0 ]; then
        apt-get update -qq || return 1
        APT_UPDATED=1
    fi
    log "installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# --- what the tests need -------------------------------------------------

missing=()
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
    missing+=(prometheus)
fi
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v python3 >/dev/null || missing+=(python3)
# `python3 -m venv` needs ensurepip, which Debian ships apart.
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v haproxy >/dev/null || missing+=(haproxy)
command -v curl >/dev/null || missing+=(curl)
command -v psql >/dev/null || missing+=(postgresql-client)
if [ "${#missing[@]}" -gt 0 ]; then
    if ! apt_install "${missing[@]}"; then
        log "missing: ${missing[*]}; install these Debian packages, or run this script as root"
        exit 1
    fi
fi

# rustfmt and clippy are rustup components, not Debian packages.
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null; then
        rustup component add rustfmt clippy
    else
        log "cargo fmt / cargo clippy missing and no rustup to add them"
        exit 1
    fi
fi

# --- PostgreSQL: the second backend the suite runs on ---------------------

pg_answers() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }

# The newest installed server version, e.g. 15 (empty if none).
pg_version() {
    find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null |
        sort -n | tail -1
}

start_postgres() {
    if ! command -v pg_ctlcluster >/dev/null || [ -z "$(pg_version)" ]; then
        apt_install postgresql || return 1
    fi
    local v
    v=$(pg_version)
    [ -n "$v" ] || return 1
    if [ ! -d "/etc/postgresql/$v/main" ]; then
        pg_createcluster "$v" main || return 1
    fi
    pg_ctlcluster "$v" main start || return 1
    for _ in $(seq 1 60); do
        pg_answers && return 0
        sleep 0.5
    done
    return 1
}

# Tests connect as postgres over loopback without a password. Debian's
# default asks for one there, so trust is put first for that user only.
trust_postgres() {
    psql -h 127.0.0.1 -U postgres -w -tAc 'select 1' >/dev/null 2>&1 && return 0
    can_install || return 1
    local v hba
    v=$(pg_version)
    hba=/etc/postgresql/$v/main/pg_hba.conf
    [ -n "$v" ] && [ -f "$hba" ] || return 1
    log "trusting user postgres on loopback in $hba"
    sed -i '1i host all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust' "$hba"
    pg_ctlcluster "$v" main reload || return 1
    sleep 1
    psql -h 127.0.0.1 -U postgres -w -tAc 'select 1' >/dev/null 2>&1
}

if [ -n "${TESSERA_TEST_DATABASE_URL:-}" ]; then
    log "postgresql: using TESSERA_TEST_DATABASE_URL"
elif pg_answers || start_postgres; then
    command -v psql >/dev/null || apt_install postgresql-client || true
    if command -v psql >/dev/null && trust_postgres; then
        log "postgresql: answering on 127.0.0.1:5432 (user postgres, trust)"
    else
        log "postgresql: answering on 127.0.0.1:5432, but user postgres cannot log in without a password"
        exit 1
    fi
else
    log "postgresql: nothing answers on 127.0.0.1:5432 and it could not be installed and started"
    exit 1
fi

# --- the checks ------------------------------------------------------------

step() {
    local started=$SECONDS
    log "== $*"
    "$@"
    log "== done in $((SECONDS - started)) s: $*"
}

step cargo fmt --all -- --check
step cargo clippy --all-targets -- -D warnings
step cargo test --workspace
# The integration suite once more, every server over PostgreSQL (a fresh
# database per test). Tests of sled's own machinery start on sled either way.
step env TESSERA_TEST_BACKEND=postgres cargo test --test api -- --skip cluster::
step bash tests/schemathesis/run.sh
# The HAProxy example against the binary `cargo test` built, its database
# on the suite's PostgreSQL server.
cluster_example_url() {
    local url=${TESSERA_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
    local base=${url%%\?*}
    echo "${base%/*}/tessera_cluster_example${url#"$base"}"
}
step env TESSERA_BIN=target/debug/tessera DATABASE_URL="$(cluster_example_url)" \
    bash examples/cluster/run.sh
# Last, and alone: it restarts the PostgreSQL server everything else uses.
if [ -z "${TESSERA_TEST_DATABASE_URL:-}" ] && [ -n "$(pg_version)" ]; then
    step env TESSERA_TEST_PG_RESTART="pg_ctlcluster $(pg_version) main restart" \
        cargo test --test api -- --ignored --exact \
        cluster::faults::a_postgres_restart_under_load_loses_no_acknowledged_write_and_every_node_recovers
else
    log "skipping the PostgreSQL restart test: the server is not this machine's pg_ctlcluster one"
fi
log "all passed in $SECONDS s"
