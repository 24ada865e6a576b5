#!/usr/bin/env bash
# Runs every cargo-fuzz target under libFuzzer with AddressSanitizer (cargo-fuzz's default
# sanitizer), each for SECONDS (default 60), seeded from fuzz/seeds/<target>; new inputs go
# to fuzz/corpus/<target>, crashes to fuzz/artifacts/<target>/. Exits non-zero on the first
# target that finds a crash.
#
#   cargo install cargo-fuzz            # once
#   rustup toolchain install nightly    # ASan needs nightly's -Zsanitizer
#   fuzz/run-all.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
# The first `run` builds the targets (optimised, ASan); later ones reuse that build.
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    echo "==> $t (${secs}s, AddressSanitizer)"
    cargo +nightly fuzz run -O --sanitizer address "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 2>&1 |
        grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)' || true
    if [ -n "$(ls -A "artifacts/$t" 2>/dev/null)" ]; then
        echo "crash found in $t: see fuzz/artifacts/$t/" >&2
        exit 1
    fi
done
echo "all ${#targets[@]} targets ran ${secs}s each under ASan without a crash"
