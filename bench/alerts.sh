#!/usr/bin/env bash
# Alerts' cost on ingest, on this machine (loopback only): clima-server's single-reading and
# batch rates with no rules against 100 rules over the 50 sensors the load writes to (two per
# sensor), alternating (no rules first in odd repeats, rules first in even ones), each run on a
# fresh database. Besides the rates it reports the CPU time clima-server spent per 1,000 readings
# during the load (from /proc: Linux only), in all and on its alert evaluation thread, which is
# steadier than rates on a shared machine. Results and logs go to $OUT_DIR (default: a new
# folder under /tmp); see BENCHMARKS.md.
#
# Knobs (environment): SECONDS_PER_RUN=10, REPEATS=3, MODES="single batch", NO_BUILD=1 (skip cargo), BIN_DIR (default
# target/release).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
REPEATS=${REPEATS:-3}
MODES=${MODES:-single batch}
PORT=18239
CLIMA=http://127.0.0.1:$PORT
TAG=room
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_dirs alerts

clima_pid=""
cleanup() {
    if [ -n "$clima_pid" ]; then kill "$clima_pid" 2>/dev/null || true; wait "$clima_pid" 2>/dev/null || true; fi
    rm -rf "$WORK"/clima-*.db*
    echo "logs and results: $OUT_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

describe_run
build_release
port_free "$PORT"

runs=0
start_clima() {
    runs=$((runs + 1))
    "$SERVER" --db "$WORK/clima-$runs.db" --listen "127.0.0.1:$PORT" --rate-limit off --serial off \
        >>"$OUT_DIR/clima-server.log" 2>&1 &
    clima_pid=$!
    wait_http "$CLIMA/healthz" 200 "clima-server"
}
# CPU time (clock ticks) of clima-server so far: the whole process, and its evaluation thread.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$clima_pid/stat"
}
alert_ticks() {
    local t n=0
    for t in /proc/"$clima_pid"/task/*; do
        if [ "$(cat "$t/comm" 2>/dev/null)" = clima-alerts ]; then
            n=$((n + $(awk '{ print $14 + $15 }' "$t/stat")))
        fi
    done
    echo "$n"
}
TICK_MS=$((1000 / $(getconf CLK_TCK)))
stop_clima() { kill "$clima_pid" 2>/dev/null || true; wait "$clima_pid" 2>/dev/null || true; clima_pid=""; }
# 100 rules: per sensor, temperature above 30 °C for 5 minutes and humidity above 70 % for 6 hours.
add_rules() {
    for i in $(seq 0 49); do
        for rule in \
            "{\"sensor\":\"$TAG-$i\",\"metric\":\"temperature\",\"condition\":\"above\",\"threshold\":30,\"for\":\"5m\"}" \
            "{\"sensor\":\"$TAG-$i\",\"metric\":\"humidity\",\"condition\":\"above\",\"threshold\":70,\"for\":\"6h\"}"; do
            [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d "$rule" "$CLIMA/api/v1/alerts/rules")" = 201 ] \
                || { echo "adding a rule failed" >&2; exit 1; }
        done
    done
    [ "$(curl -s "$CLIMA/api/v1/alerts/rules" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["rules"]))')" = 100 ]
}

for r in $(seq 1 "$REPEATS"); do
    # Which goes first alternates by repeat, so that drift in the machine's load does not always
    # favour the same side.
    order="none 100"
    if [ $((r % 2)) = 0 ]; then order="100 none"; fi
    for mode in $MODES; do
        for rules in $order; do
            start_clima
            if [ "$rules" = 100 ]; then add_rules; fi
            if [ "$mode" = single ]; then
                args=(--mode single --clients 50)
            else
                args=(--mode batch --batch-size 5000 --clients 4)
            fi
            cpu0=$(cpu_ticks)
            alerts0=$(alert_ticks)
            line=$("$BENCH" http --url "$CLIMA" "${args[@]}" --sensors 50 --run-tag "$TAG" --duration "$SECONDS_PER_RUN" \
                --label "$mode-rules-$rules-$r" | tee -a "$OUT_DIR/bench.log" | grep "^result")
            cpu=$(($(cpu_ticks) - cpu0))
            alerts=$(($(alert_ticks) - alerts0))
            readings=$(sed -n 's/.* readings=\([0-9]*\) .*/\1/p' <<<"$line")
            echo "$line cpu_ms=$((cpu * TICK_MS)) cpu_ms_per_1000=$(awk -v c="$cpu" -v t="$TICK_MS" -v n="$readings" 'BEGIN { printf "%.2f", c * t * 1000 / n }') alerts_cpu_ms=$((alerts * TICK_MS))" |
                tee -a "$RESULTS"
            stop_clima
        done
    done
done
