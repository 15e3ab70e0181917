#!/usr/bin/env bash
# Runs every fuzz target, one after another, for SECONDS each (default 600), after seeding the
# corpora. Logs go to fuzz/logs/TARGET.log; crashes to fuzz/artifacts/TARGET/.
# Usage: fuzz/run-all.sh [SECONDS]
set -uo pipefail
cd "$(dirname "$0")"
secs=${1:-600}
./seed.sh >/dev/null
mkdir -p logs
failed=()
for target in $(cargo +nightly fuzz list); do
    echo "== $target: ${secs}s"
    if cargo +nightly fuzz run "$target" -- \
        -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
        >"logs/$target.log" 2>&1; then
        grep -E '^(stat::number_of_executed_units|Done)' "logs/$target.log" | tail -2
        echo "   corpus: $(ls "corpus/$target" | wc -l) files"
    else
        failed+=("$target")
        grep -E 'panicked|ERROR|Test unit written' "logs/$target.log" | head -5
    fi
done
if ((${#failed[@]})); then
    echo "failed: ${failed[*]} (see fuzz/logs/ and fuzz/artifacts/)"
    exit 1
fi
echo "all targets clean"
