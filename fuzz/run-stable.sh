#!/usr/bin/env bash
# Run every fuzz target for a bounded time on a stable toolchain: the same
# coverage instrumentation cargo-fuzz uses (SanitizerCoverage with
# libFuzzer), without AddressSanitizer, which needs nightly. Rust code is
# memory-safe here, so what it finds are panics, failed assertions and
# overflows (debug assertions and overflow checks are on).
#
#   fuzz/run-stable.sh                 # every target, 60 s each
#   fuzz/run-stable.sh 300 pkce        # one target, 300 s
#
# With nightly and cargo-fuzz installed, `cargo fuzz run <target>` in this
# directory does the same with AddressSanitizer on.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-60}
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    TARGETS=(token_key oauth_form api_body redirect_uri pkce jwt_header)
fi
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# --target keeps the instrumentation off build scripts and proc macros.
cargo build --release --bins --target "$TRIPLE"
for t in "${TARGETS[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    echo "== $t (${SECONDS_EACH}s)"
    "target/$TRIPLE/release/$t" "corpus/$t" \
        -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" 2>&1 |
        grep -E '^(stat::number_of_executed_units|stat::new_units_added|Done|==|SUMMARY|thread)' || true
    # crash-, oom-, timeout- or leak- inputs: anything left here failed.
    if [ -n "$(ls -A "artifacts/$t")" ]; then
        echo "fuzz: $t failed; inputs in fuzz/artifacts/$t/" >&2
        exit 1
    fi
done
