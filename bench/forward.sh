#!/usr/bin/env bash
# Forwarding, on this machine (loopback only): the drain rate of a backlog of 1,000,000 readings
# (one line each, two values) into InfluxDB 1.6 and into VictoriaMetrics, the forwarding lag at
# 1,000 readings/s, and clima-server's ingest rate with two forwarders on against none, side by
# side. Results and logs go to $OUT_DIR (default: a new folder under /tmp); see BENCHMARKS.md.
#
# Knobs (environment): BACKLOG=1000000 (readings), LAG_S=30, INGEST_S=15, REPEATS=2, NO_BUILD=1
# (skip cargo), BIN_DIR (default target/release).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BACKLOG=${BACKLOG:-1000000}
LAG_S=${LAG_S:-30}
INGEST_S=${INGEST_S:-15}
REPEATS=${REPEATS:-2}
CLIMA_PORT=18237
INFLUX_PORT=18286
VM_PORT=18428
CLIMA=http://127.0.0.1:$CLIMA_PORT
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_dirs forward

clima_pid=""
influx_pid=""
vm_pid=""
cleanup() {
    for pid in $clima_pid $influx_pid $vm_pid; do kill "$pid" 2>/dev/null || true; done
    for pid in $clima_pid $influx_pid $vm_pid; do wait "$pid" 2>/dev/null || true; done
    influx_install_cleanup
    rm -rf "$WORK/influx" "$WORK/vm" "$WORK"/clima-*.db*
    echo "logs and results: $OUT_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

describe_run
build_release
command -v victoria-metrics >/dev/null || { echo "victoria-metrics is not installed: scripts/install-deps test" >&2; exit 1; }
influx_install
for p in $CLIMA_PORT $INFLUX_PORT $VM_PORT; do port_free "$p"; done

runs=0
start_clima() { # clima-server flags...
    runs=$((runs + 1))
    "$SERVER" --db "$WORK/clima-$runs.db" --listen "127.0.0.1:$CLIMA_PORT" --rate-limit off --serial off "$@" \
        >>"$OUT_DIR/clima-server.log" 2>&1 &
    clima_pid=$!
    wait_http "$CLIMA/healthz" 200 "clima-server"
}
stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
vm_start() {
    victoria-metrics -storageDataPath="$WORK/vm" -httpListenAddr="127.0.0.1:$VM_PORT" -retentionPeriod=100y \
        >>"$OUT_DIR/victoria-metrics.log" 2>&1 &
    vm_pid=$!
    wait_http "http://127.0.0.1:$VM_PORT/health" 200 "victoria-metrics"
}
# One forwarder field of /api/v1/forwarders, summed over forwarders.
fwd() { # FIELD
    curl -s "$CLIMA/api/v1/forwarders" | python3 -c "import json,sys; print(sum(f['$1'] for f in json.load(sys.stdin)['forwarders']))"
}
now_s() { date +%s.%N; }

# --- drain: a backlog piles up while the target is down, then drains ----------------------------
drain() { # NAME START_FN STOP_FN URL
    say "drain of $BACKLOG readings into $1"
    $2
    $3 # created (InfluxDB: its database), then down while the backlog piles up
    start_clima --forward "$4"
    "$BENCH" http --url "$CLIMA" --mode batch --batch-size 5000 --clients 2 \
        --requests-per-client $((BACKLOG / 10000)) --duration 600 --label "backlog-$1" >>"$OUT_DIR/bench.log"
    echo "backlog: $(fwd lag_readings) values ($BACKLOG readings) waiting" | tee -a "$RESULTS"
    $2
    while [ "$(fwd delivered)" = 0 ]; do sleep 0.05; done
    local t0 t1
    t0=$(now_s)
    while [ "$(fwd lag_readings)" != 0 ]; do sleep 0.1; done
    t1=$(now_s)
    awk -v n="$BACKLOG" -v a="$t0" -v b="$t1" -v name="$1" \
        'BEGIN { printf "result drain target=%s readings=%d seconds=%.1f readings_per_s=%.0f\n", name, n, b - a, n / (b - a) }' | tee -a "$RESULTS"
    stop_pid "$clima_pid"; clima_pid=""
    $3
}
influx_up() { influx_start $INFLUX_PORT "$OUT_DIR/influxd.log" clima; }
influx_down() { stop_pid "$influx_pid"; influx_pid=""; }
vm_down() { stop_pid "$vm_pid"; vm_pid=""; }
drain influxdb-1.6 influx_up influx_down "http://127.0.0.1:$INFLUX_PORT/write?db=clima"
drain victoria-metrics vm_start vm_down "http://127.0.0.1:$VM_PORT/write?db=clima"

# --- lag at 1,000 readings/s: 10 clients, one reading each per 10 ms ----------------------------
say "forwarding lag at 1,000 readings/s into VictoriaMetrics, sampled every 100 ms for $LAG_S s"
vm_start
start_clima --forward "http://127.0.0.1:$VM_PORT/write?db=clima"
"$BENCH" http --url "$CLIMA" --mode single --clients 10 --pace-ms 10 --duration "$LAG_S" --label lag >>"$OUT_DIR/bench.log" &
bench_pid=$!
: >"$WORK/lag"
while kill -0 "$bench_pid" 2>/dev/null; do
    curl -s "$CLIMA/api/v1/forwarders" | python3 -c "import json,sys; f=json.load(sys.stdin)['forwarders'][0]; print(f['lag_readings'], f['lag_seconds'])" >>"$WORK/lag"
    sleep 0.1
done
wait "$bench_pid"
grep "^result" "$OUT_DIR/bench.log" | tail -1 | tee -a "$RESULTS"
sort -n -k1 "$WORK/lag" | awk '{ v[NR] = $1 } END { printf "result lag samples=%d values_p50=%d values_p99=%d values_max=%d\n", NR, v[int(NR*0.5)+1], v[int(NR*0.99)+1], v[NR] }' | tee -a "$RESULTS"
sort -n -k2 "$WORK/lag" | awk '{ v[NR] = $2 } END { printf "result lag seconds_behind_p50=%.2f seconds_behind_p99=%.2f\n", v[int(NR*0.5)+1], v[int(NR*0.99)+1] }' | tee -a "$RESULTS"
stop_pid "$clima_pid"; clima_pid=""

# --- ingest with two forwarders against none, alternating ---------------------------------------
say "ingest (batches of 5,000 from 4 clients, ${INGEST_S} s) with no forwarder and with two"
influx_up
for r in $(seq 1 "$REPEATS"); do
    for mode in none two; do
        if [ $mode = none ]; then start_clima; else
            start_clima --forward "http://127.0.0.1:$INFLUX_PORT/write?db=clima" --forward "http://127.0.0.1:$VM_PORT/write?db=clima"
        fi
        "$BENCH" http --url "$CLIMA" --mode batch --batch-size 5000 --clients 4 --duration "$INGEST_S" --label "ingest-$mode-$r" \
            | tee -a "$OUT_DIR/bench.log" | grep "^result" | tee -a "$RESULTS"
        stop_pid "$clima_pid"; clima_pid=""
    done
done
