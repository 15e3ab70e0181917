#!/usr/bin/env bash
# Forwarding, on this machine (loopback only): the drain rate of a backlog of 1,000,000 readings
# (one line each, two values) into InfluxDB 1.6 and into VictoriaMetrics, the forwarding lag at
# 1,000 readings/s, and what two forwarders cost clima-server's ingest, side by side with none:
# the CPU time of the clima-server process (utime + stime from /proc/PID/stat, so Linux only)
# per 1,000 readings accepted, with both targets up; and the ingest rate with the targets pinned
# to CPU 0 and clima-server with the load generator to CPU 1 (taskset), so that the targets'
# own work does not take Clima's core. Results and logs go to $OUT_DIR (default: a new folder
# under /tmp); see BENCHMARKS.md.
#
# Knobs (environment): BACKLOG=1000000 (readings), LAG_S=30, INGEST_S=15, REPEATS=2, NO_BUILD=1
# (skip cargo), BIN_DIR (default target/release), SECTIONS="drain lag cpu pinned" (which parts
# to run), CLIMA_PORT, INFLUX_PORT, VM_PORT (18237, 18286, 18428).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BACKLOG=${BACKLOG:-1000000}
LAG_S=${LAG_S:-30}
INGEST_S=${INGEST_S:-15}
REPEATS=${REPEATS:-2}
SECTIONS=${SECTIONS:-drain lag cpu pinned}
CLIMA_PORT=${CLIMA_PORT:-18237}
INFLUX_PORT=${INFLUX_PORT:-18286}
VM_PORT=${VM_PORT:-18428}
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
section() { case " $SECTIONS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

runs=0
PIN=() # a command prefix for clima-server and the load generator (taskset -c 1)
start_clima() { # clima-server flags...
    runs=$((runs + 1))
    "${PIN[@]}" "$SERVER" --db "$WORK/clima-$runs.db" --listen "127.0.0.1:$CLIMA_PORT" --rate-limit off --serial off "$@" \
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
if section drain; then
    drain influxdb-1.6 influx_up influx_down "http://127.0.0.1:$INFLUX_PORT/write?db=clima"
    drain victoria-metrics vm_start vm_down "http://127.0.0.1:$VM_PORT/write?db=clima"
fi

# --- lag at 1,000 readings/s: 10 clients, one reading each per 10 ms ----------------------------
if section lag; then
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
fi

# --- Clima's own cost: CPU time of clima-server per 1,000 readings, no forwarder and two -------
# Each run: the load, then (two forwarders) until both caught up, then until clima-server is
# idle (its upkeep done), so every second of CPU the readings caused is counted in both modes.
HZ=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' /proc/"$1"/stat; }
wait_caught_up() {
    for _ in $(seq 1 1800); do
        if [ "$(fwd lag_readings)" = 0 ]; then return 0; fi
        sleep 0.1
    done
    echo "the forwarders did not catch up within 180 s" >&2
    exit 1
}
two_forwarders=(--forward "http://127.0.0.1:$INFLUX_PORT/write?db=clima" --forward "http://127.0.0.1:$VM_PORT/write?db=clima")
targets_up() {
    if [ -z "$influx_pid" ]; then influx_up; fi
    if [ -z "$vm_pid" ]; then vm_start; fi
}
if section cpu; then
    say "clima-server's CPU per 1,000 readings (batches of 5,000 from 4 clients, ${INGEST_S} s), no forwarder and two (targets up)"
    targets_up
    for r in $(seq 1 "$REPEATS"); do
        for mode in none two; do
            if [ $mode = none ]; then start_clima; else start_clima "${two_forwarders[@]}"; fi
            before=$(cpu_ticks "$clima_pid")
            line=$("$BENCH" http --url "$CLIMA" --mode batch --batch-size 5000 --clients 4 --duration "$INGEST_S" \
                --label "cpu-$mode-$r" | tee -a "$OUT_DIR/bench.log" | grep "^result")
            if [ $mode = two ]; then wait_caught_up; fi
            wait_idle "$clima_pid" 120 >/dev/null
            after=$(cpu_ticks "$clima_pid")
            readings=$(sed -n 's/.* readings=\([0-9]*\) .*/\1/p' <<<"$line")
            rate=$(sed -n 's/.* readings_per_s=\([0-9]*\) .*/\1/p' <<<"$line")
            awk -v m=$mode -v r="$r" -v n="$readings" -v rate="$rate" -v t=$((after - before)) -v hz="$HZ" \
                'BEGIN { printf "result cpu forwarders=%s run=%d readings=%d readings_per_s=%d clima_cpu_s=%.2f cpu_ms_per_1000_readings=%.2f\n", m, r, n, rate, t / hz, 1000 * (t / hz) / (n / 1000) }' \
                | tee -a "$RESULTS"
            stop_pid "$clima_pid"; clima_pid=""
        done
    done
fi

# --- ingest rate with the targets on CPU 0, clima-server and the load generator on CPU 1 --------
if section pinned; then
    say "ingest (batches of 5,000 from 4 clients, ${INGEST_S} s), targets pinned to CPU 0, clima-server and clima-bench to CPU 1"
    targets_up
    taskset -a -cp 0 "$influx_pid" >/dev/null
    taskset -a -cp 0 "$vm_pid" >/dev/null
    PIN=(taskset -c 1)
    for r in $(seq 1 "$REPEATS"); do
        for mode in none two; do
            if [ $mode = none ]; then start_clima; else start_clima "${two_forwarders[@]}"; fi
            "${PIN[@]}" "$BENCH" http --url "$CLIMA" --mode batch --batch-size 5000 --clients 4 --duration "$INGEST_S" \
                --label "pinned-$mode-$r" | tee -a "$OUT_DIR/bench.log" | grep "^result" \
                | sed "s/^result /result pinned forwarders=$mode /" | tee -a "$RESULTS"
            if [ $mode = two ]; then
                echo "lag at the end of the load: $(fwd lag_readings) values" | tee -a "$RESULTS"
            fi
            stop_pid "$clima_pid"; clima_pid=""
        done
    done
    PIN=()
fi
