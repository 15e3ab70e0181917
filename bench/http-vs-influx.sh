#!/usr/bin/env bash
# Clima's HTTP ingest against InfluxDB 1.6's /write, side by side on this machine (loopback only):
# single readings from 50 kept-alive clients, batches of 5000 from 4 clients, a burst check of
# 50 connections on freshly started servers, and live-stream (SSE) latency.
# Results and logs go to $OUT_DIR (default: a new folder under /tmp); see BENCHMARKS.md.
#
# Knobs (environment): DURATION=15 (s per run), REPEATS=2, SINGLE_CLIENTS=50, BATCH_CLIENTS=4,
# BATCH_SIZE=5000, BURST_TRIES=3, NO_BUILD=1 (skip cargo), BIN_DIR (default target/release),
# PROFILE=1 (per-thread CPU of clima-server with top -H during each Clima run).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-15}
REPEATS=${REPEATS:-2}
SINGLE_CLIENTS=${SINGLE_CLIENTS:-50}
BATCH_CLIENTS=${BATCH_CLIENTS:-4}
BATCH_SIZE=${BATCH_SIZE:-5000}
BURST_TRIES=${BURST_TRIES:-3}
BIN_DIR=${BIN_DIR:-$ROOT/target/release}
PROFILE=${PROFILE:-0}
CLIMA_PORT=18137
INFLUX_PORT=18086
CLIMA=http://127.0.0.1:$CLIMA_PORT
INFLUX=http://127.0.0.1:$INFLUX_PORT
WORK=$(mktemp -d /tmp/clima-bench.XXXXXX)
OUT_DIR=${OUT_DIR:-$WORK/out}
mkdir -p "$OUT_DIR"
RESULTS=$OUT_DIR/results.txt
: >"$RESULTS"

clima_pid=""
influx_pid=""
top_pid=""
policy_added=""

cleanup() {
    for pid in $top_pid $clima_pid $influx_pid; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $top_pid $clima_pid $influx_pid; do
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$policy_added" ]; then rm -f /usr/sbin/policy-rc.d; fi
    rm -rf "$WORK/influx" "$WORK"/clima-*.db*
    echo "logs and results: $OUT_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n### %s\n' "$*" | tee -a "$OUT_DIR/log.txt"; }

port_free() {
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/"; then
        echo "port $1 is already in use on 127.0.0.1: stop what listens there first" >&2
        exit 1
    fi
}

wait_http() { # URL EXPECTED_STATUS WHAT
    for _ in $(seq 1 150); do
        if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1")" = "$2" ]; then return 0; fi
        sleep 0.2
    done
    echo "$3 did not come up at $1 within 30 s" >&2
    exit 1
}

# --- build -----------------------------------------------------------------------------------
if [ "${NO_BUILD:-0}" != 1 ]; then
    (cd "$ROOT" && cargo build --release -p clima-server -p clima-bench)
fi
BENCH=$BIN_DIR/clima-bench
SERVER=$BIN_DIR/clima-server
[ -x "$BENCH" ] && [ -x "$SERVER" ] || { echo "no binaries in $BIN_DIR" >&2; exit 1; }

# --- InfluxDB 1.6 from Debian, started by hand on loopback ------------------------------------
if ! command -v influxd >/dev/null; then
    # Keep the package's service from starting (and binding every interface) during install.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        policy_added=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq influxdb >/dev/null
fi
port_free $CLIMA_PORT
port_free $INFLUX_PORT

mkdir -p "$WORK/influx"
cat >"$WORK/influx/influxdb.conf" <<EOF
reporting-disabled = true
bind-address = "127.0.0.1:18088"
[meta]
  dir = "$WORK/influx/meta"
[data]
  dir = "$WORK/influx/data"
  wal-dir = "$WORK/influx/wal"
  # wal-fsync-delay stays at its default, 0s: the WAL is fsynced on every write.
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:$INFLUX_PORT"
  auth-enabled = false
  log-enabled = false
[ifql]
  enabled = false
[subscriber]
  enabled = false
[continuous_queries]
  enabled = false
[[graphite]]
  enabled = false
[[collectd]]
  enabled = false
[[opentsdb]]
  enabled = false
[[udp]]
  enabled = false
EOF
# (InfluxDB 1.6 has no admin UI listener any more; everything else that listens is off above.)
influxd -config "$WORK/influx/influxdb.conf" >"$OUT_DIR/influxd.log" 2>&1 &
influx_pid=$!
wait_http "$INFLUX/ping" 204 "influxd"
curl -s -XPOST "$INFLUX/query" --data-urlencode 'q=CREATE DATABASE bench' >/dev/null
echo "influxd $(influxd version 2>/dev/null | head -1) on $INFLUX (pid $influx_pid)" | tee -a "$OUT_DIR/log.txt"

clima_runs=0
start_clima() { # extra clima-server flags...
    clima_runs=$((clima_runs + 1))
    "$SERVER" --db "$WORK/clima-$clima_runs.db" --listen "127.0.0.1:$CLIMA_PORT" --rate-limit off "$@" \
        >>"$OUT_DIR/clima-server.log" 2>&1 &
    clima_pid=$!
    wait_http "$CLIMA/healthz" 200 "clima-server"
}
stop_clima() {
    kill "$clima_pid" 2>/dev/null || true
    wait "$clima_pid" 2>/dev/null || true
    clima_pid=""
}

load() { # LABEL URL MODE CLIENTS DURATION
    local label=$1 url=$2 mode=$3 clients=$4 secs=$5
    if [ "$PROFILE" = 1 ] && [ "$url" = "$CLIMA" ]; then
        top -H -b -d $((secs / 3 > 1 ? secs / 3 : 1)) -n 3 -p "$clima_pid" >"$OUT_DIR/top-$label.txt" &
        top_pid=$!
    fi
    "$BENCH" http --url "$url" --label "$label" --mode "$mode" --clients "$clients" \
        --batch-size "$BATCH_SIZE" --duration "$secs" | tee -a "$RESULTS"
    if [ -n "$top_pid" ]; then wait "$top_pid" 2>/dev/null || true; top_pid=""; fi
}

# --- 1. the burst trap: 50 connections at once on a freshly started server --------------------
say "burst check: $SINGLE_CLIENTS clients connect at once to a fresh clima-server ($BURST_TRIES tries)"
for i in $(seq 1 "$BURST_TRIES"); do
    start_clima
    load "burst-clima.t$i" "$CLIMA" single "$SINGLE_CLIENTS" 5
    stop_clima
done

# --- 2. single readings, 50 kept-alive clients, interleaved -----------------------------------
say "single readings: $SINGLE_CLIENTS clients, ${DURATION} s per run, $REPEATS rounds"
start_clima
for r in $(seq 1 "$REPEATS"); do
    load "clima-json-single.r$r" "$CLIMA" single "$SINGLE_CLIENTS" "$DURATION"
    load "influx-single.r$r" "$INFLUX" influx-single "$SINGLE_CLIENTS" "$DURATION"
    load "clima-write-single.r$r" "$CLIMA" influx-single "$SINGLE_CLIENTS" "$DURATION"
done

# --- 3. batches of 5000, 4 clients, interleaved -----------------------------------------------
say "batches of $BATCH_SIZE: $BATCH_CLIENTS clients, ${DURATION} s per run, $REPEATS rounds"
for r in $(seq 1 "$REPEATS"); do
    load "clima-json-batch.r$r" "$CLIMA" batch "$BATCH_CLIENTS" "$DURATION"
    load "clima-write-batch.r$r" "$CLIMA" influx-batch "$BATCH_CLIENTS" "$DURATION"
    load "influx-batch.r$r" "$INFLUX" influx-batch "$BATCH_CLIENTS" "$DURATION"
done
stop_clima
kill "$influx_pid" 2>/dev/null || true
wait "$influx_pid" 2>/dev/null || true
influx_pid=""

# --- 4. live-stream latency ---------------------------------------------------------------------
say "SSE latency, --throttle-ms 1"
start_clima --throttle-ms 1
"$BENCH" sse-latency --url "$CLIMA" --samples 100 --interval-ms 50 | tee -a "$RESULTS"
stop_clima
say "SSE latency, default throttle (500 ms): quiet spells of 600 ms, then a burst every 100 ms"
start_clima
"$BENCH" sse-latency --url "$CLIMA" --samples 30 --interval-ms 600 | tee -a "$RESULTS"
"$BENCH" sse-latency --url "$CLIMA" --samples 20 --interval-ms 100 | tee -a "$RESULTS"
stop_clima

# --- 5. summary ---------------------------------------------------------------------------------
say "summary (mean of rounds; ratios are Clima / InfluxDB)"
awk '
/^result label=/ {
    delete kv
    for (i = 2; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
    name = kv["label"]; sub(/\.[rt][0-9]+$/, "", name)
    if (name == "sse") next
    if (!(name in n)) order[++k] = name
    n[name]++; rps[name] += kv["readings_per_s"]; p50[name] = p50[name] " " kv["p50_ms"]
    p99[name] = p99[name] " " kv["p99_ms"]; errs[name] += kv["errors"]
    stalled[name] += kv["stalled"]; each[name] = each[name] " " kv["readings_per_s"]
}
END {
    printf "| run | readings/s (mean) | each round | p50 ms | p99 ms | errors | stalled clients |\n"
    printf "|---|---:|---|---|---|---:|---:|\n"
    for (i = 1; i <= k; i++) {
        m = order[i]; mean[m] = rps[m] / n[m]
        printf "| %s | %.0f |%s |%s |%s | %d | %d |\n", m, mean[m], each[m], p50[m], p99[m], errs[m], stalled[m]
    }
    printf "\n"
    r("clima-json-single", "influx-single", 1.5); r("clima-write-single", "influx-single", 1.5)
    r("clima-json-batch", "influx-batch", 1.0); r("clima-write-batch", "influx-batch", 1.0)
}
function r(a, b, target) {
    if (mean[b] > 0 && (a in mean))
        printf "%s / %s = %.2f (target >= %.1f: %s)\n", a, b, mean[a] / mean[b], target, (mean[a] / mean[b] >= target ? "met" : "MISSED")
}' "$RESULTS" | tee "$OUT_DIR/summary.md"
grep '^result label=sse' "$RESULTS" | tee -a "$OUT_DIR/summary.md"
