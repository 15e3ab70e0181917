#!/usr/bin/env bash
# Clima's HTTP ingest against InfluxDB 1.6's /write, side by side on this machine (loopback only):
# single readings from 50 kept-alive clients, batches of 5000 from 4 clients, a burst check of
# 200 connections on freshly started servers (each client's first reply), clima-server's memory
# (VmRSS idle, VmHWM over the single-reading runs) and live-stream (SSE) latency.
# Results and logs go to $OUT_DIR (default: a new folder under /tmp); see BENCHMARKS.md.
#
# Knobs (environment): DURATION=15 (s per run), REPEATS=2, SINGLE_CLIENTS=50, BATCH_CLIENTS=4,
# BATCH_SIZE=5000, BURST_CLIENTS=200, BURST_TRIES=3, NO_BUILD=1 (skip cargo), BIN_DIR (default
# target/release), BENCH_BIN (default $BIN_DIR/clima-bench), ISOLATE=0 (let the idle server run
# during the other's runs; by default it is paused with SIGSTOP so that InfluxDB's compactions or
# Clima's table moves do not steal the other's CPU).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-15}
REPEATS=${REPEATS:-2}
SINGLE_CLIENTS=${SINGLE_CLIENTS:-50}
BATCH_CLIENTS=${BATCH_CLIENTS:-4}
BATCH_SIZE=${BATCH_SIZE:-5000}
BURST_CLIENTS=${BURST_CLIENTS:-200}
BURST_TRIES=${BURST_TRIES:-3}
ISOLATE=${ISOLATE:-1}
CLIMA_PORT=18137
INFLUX_PORT=18086
CLIMA=http://127.0.0.1:$CLIMA_PORT
INFLUX=http://127.0.0.1:$INFLUX_PORT
HZ=$(getconf CLK_TCK)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_dirs bench

clima_pid=""
influx_pid=""

cleanup() {
    for pid in $clima_pid $influx_pid; do
        kill -CONT "$pid" 2>/dev/null || true
        kill "$pid" 2>/dev/null || true
    done
    for pid in $clima_pid $influx_pid; do
        wait "$pid" 2>/dev/null || true
    done
    influx_install_cleanup
    rm -rf "$WORK/influx" "$WORK"/clima-*.db* "$WORK/before" "$WORK/after"
    rmdir "$WORK" 2>/dev/null || true
    echo "logs and results: $OUT_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

describe_run

# --- build ---------------------------------------------------------------------------------------
build_release
echo "binaries: $SERVER, $BENCH" | tee -a "$RESULTS"

# --- InfluxDB 1.6 from Debian, started by hand on loopback (bench/lib.sh) --------------------------
influx_install
port_free $CLIMA_PORT
port_free $INFLUX_PORT
influx_start $INFLUX_PORT "$OUT_DIR/influxd.log" bench
echo "influxd $(influxd version 2>/dev/null | head -1) on $INFLUX (pid $influx_pid)" | tee -a "$RESULTS"

clima_runs=0
clima_db=""
start_clima() { # extra clima-server flags...
    clima_runs=$((clima_runs + 1))
    clima_db=$WORK/clima-$clima_runs.db
    "$SERVER" --db "$clima_db" --listen "127.0.0.1:$CLIMA_PORT" --rate-limit off "$@" \
        >>"$OUT_DIR/clima-server.log" 2>&1 &
    clima_pid=$!
    wait_http "$CLIMA/healthz" 200 "clima-server"
}
stop_clima() {
    kill "$clima_pid" 2>/dev/null || true
    wait "$clima_pid" 2>/dev/null || true
    clima_pid=""
}

# CPU ticks and context switches of every live thread, and the process's CPU total (which also
# holds threads that exited; their context switches are lost, so that figure is a floor).
snap() { # PID FILE
    {
        cat /proc/"$1"/task/*/stat 2>/dev/null | awk '{ print "T", $1, $2, $14 + $15 }'
        cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^Pid:/ { t = $2 } /ctxt_switches/ { c[t] += $2 } END { for (t in c) print "C", t, c[t] }'
        awk '{ print "P", $14 + $15 }' /proc/"$1"/stat
    } >"$2"
}

# One `server ...` line: the server's CPU during a run, per reading, and where it went by thread.
cpu_line() { # LABEL PID BEFORE AFTER
    local result
    result=$(grep "^result label=$1 " "$RESULTS" | tail -1)
    awk -v label="$1" -v pid="$2" -v hz="$HZ" -v result="$result" -v load="$(cut -d' ' -f1 /proc/loadavg)" '
        FNR == 1 { f++ }
        f == 1 && $1 == "T" { before[$2] = $4 }
        f == 1 && $1 == "C" { c0[$2] = $3 }
        f == 1 && $1 == "P" { p0 = $2 }
        f == 2 && $1 == "T" {
            d = $4 - before[$2]; name = $3; gsub(/[()]/, "", name)
            if (name ~ /^clima-http-/) name = "http-workers"
            else if (name == "clima-server") name = (($2 == pid) ? "main" : "tiny_http-conn")
            else if (name == "influxd") name = "go"
            g[name] += d; live += d
        }
        f == 2 && $1 == "C" { ctx += $3 - c0[$2] }
        f == 2 && $1 == "P" { p1 = $2 }
        END {
            n = split(result, kv, " ")
            for (i = 1; i <= n; i++) { split(kv[i], p, "="); r[p[1]] = p[2] }
            total = p1 - p0; if (total <= 0) total = 0.0001
            if (p1 - p0 - live > 0) g["exited-threads"] += p1 - p0 - live
            parts = ""
            for (k in g) if (g[k] > 0) parts = parts sprintf("%s%s:%.0f%%", (parts == "" ? "" : ","), k, 100 * g[k] / total)
            readings = (r["readings"] > 0 ? r["readings"] : 1); requests = r["requests_per_s"] * r["elapsed_s"]
            printf "server label=%s cpu_s=%.2f cpu_of_one_core=%.0f%% cpu_us_per_reading=%.1f ctx_per_request=%.2f loadavg=%s threads=%s\n",
                label, (p1 - p0) / hz, 100 * (p1 - p0) / hz / (r["elapsed_s"] > 0 ? r["elapsed_s"] : 1),
                1e6 * (p1 - p0) / hz / readings, (requests > 0 ? ctx / requests : 0), load, parts
        }' "$3" "$4" | tee -a "$RESULTS"
}

# One `rss ...` line: a process's resident memory now (VmRSS) and at its peak so far (VmHWM).
rss_line() { # LABEL PID
    awk -v label="$1" '/^VmRSS:/ { rss = $2 } /^VmHWM:/ { hwm = $2 }
        END { printf "rss label=%s vmrss_kb=%d vmhwm_kb=%d vmrss_mib=%.1f vmhwm_mib=%.1f\n", label, rss, hwm, rss / 1024, hwm / 1024 }' \
        /proc/"$2"/status | tee -a "$RESULTS"
}

load() { # LABEL URL MODE CLIENTS DURATION [clima-bench http flags...]
    local label=$1 url=$2 mode=$3 clients=$4 secs=$5 pid other
    shift 5
    if [ "$url" = "$CLIMA" ]; then pid=$clima_pid other=$influx_pid; else pid=$influx_pid other=$clima_pid; fi
    if [ "$ISOLATE" = 1 ] && [ -n "$other" ]; then kill -STOP "$other"; fi
    snap "$pid" "$WORK/before"
    "$BENCH" http --url "$url" --label "$label" --mode "$mode" --clients "$clients" \
        --batch-size "$BATCH_SIZE" --duration "$secs" "$@" | tee -a "$RESULTS"
    snap "$pid" "$WORK/after"
    if [ -n "$other" ]; then kill -CONT "$other"; fi
    cpu_line "$label" "$pid" "$WORK/before" "$WORK/after"
}

# --- 1. the burst trap: 200 connections at once on a freshly started server -------------------
# Flat out, and at one request per second per client; each client's first reply (from the common
# start, connect included) is the figure. Under tiny_http (the previous front door) a queued
# connection waited for another to close, which Clima's recycling made rare at high rates.
say "burst check: $BURST_CLIENTS clients connect at once to a fresh server ($BURST_TRIES tries each)"
load "burst-influx-paced.t1" "$INFLUX" influx-single "$BURST_CLIENTS" 8 --pace-ms 1000
load "burst-influx.t1" "$INFLUX" influx-single "$BURST_CLIENTS" 5
for i in $(seq 1 "$BURST_TRIES"); do
    start_clima
    load "burst-clima-paced.t$i" "$CLIMA" single "$BURST_CLIENTS" 8 --pace-ms 1000
    stop_clima
    start_clima
    load "burst-clima.t$i" "$CLIMA" single "$BURST_CLIENTS" 5
    stop_clima
done

# --- 2. single readings, 50 kept-alive clients, interleaved -----------------------------------
say "single readings: $SINGLE_CLIENTS clients, ${DURATION} s per run, $REPEATS rounds"
start_clima
sleep 2 # idle: started, nothing sent but the health check
rss_line clima-idle "$clima_pid"
rss_line influx-before-single "$influx_pid"
for r in $(seq 1 "$REPEATS"); do
    load "clima-json-single.r$r" "$CLIMA" single "$SINGLE_CLIENTS" "$DURATION"
    load "influx-single.r$r" "$INFLUX" influx-single "$SINGLE_CLIENTS" "$DURATION"
    load "clima-write-single.r$r" "$CLIMA" influx-single "$SINGLE_CLIENTS" "$DURATION"
done
# VmHWM: Clima's peak since its start, so over the single-reading runs only.
rss_line clima-single "$clima_pid"
rss_line influx-after-single "$influx_pid"

# --- 3. batches of 5000, 4 clients, interleaved -----------------------------------------------
say "batches of $BATCH_SIZE: $BATCH_CLIENTS clients, ${DURATION} s per run, $REPEATS rounds"
for r in $(seq 1 "$REPEATS"); do
    load "clima-json-batch.r$r" "$CLIMA" batch "$BATCH_CLIENTS" "$DURATION"
    load "clima-write-batch.r$r" "$CLIMA" influx-batch "$BATCH_CLIENTS" "$DURATION"
    load "influx-batch.r$r" "$INFLUX" influx-batch "$BATCH_CLIENTS" "$DURATION"
done
stop_clima

# --- check that what was acknowledged was stored ------------------------------------------------
say "stored versus acknowledged"
sent() { awk -v re="$1" '/^result label=/ { split($2, l, "="); if (l[2] ~ re) for (i = 2; i <= NF; i++) { split($i, p, "="); if (p[1] == "readings") s += p[2] } } END { print s + 0 }' "$RESULTS"; }
influx_points=$(curl -sG "$INFLUX/query" --data-urlencode db=bench --data-urlencode 'q=SELECT count(temperature) FROM bench' |
    grep -o '"values":\[\[[^]]*\]' | grep -o '[0-9]*\]$' | tr -d ']')
echo "InfluxDB: $(sent 'influx') points acknowledged, ${influx_points:-?} stored" | tee -a "$RESULTS"
if command -v sqlite3 >/dev/null; then
    clima_samples=$(sqlite3 "$clima_db" 'SELECT (SELECT count(*) FROM samples) + (SELECT count(*) FROM recent_samples)
        + (SELECT coalesce(sum(count), 0) FROM pieces) + (SELECT coalesce(sum(count), 0) FROM chunks)')
    echo "Clima: $(sent '^clima-') readings acknowledged, $((clima_samples / 2)) stored ($clima_samples samples, 2 per reading)" | tee -a "$RESULTS"
    sqlite3 "$clima_db" "SELECT 'not from this benchmark: sensor ' || key || ' (' || source || ')' FROM sensors WHERE key NOT GLOB 'b[0-9]*-[0-9]*'" | tee -a "$RESULTS"
fi
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
function kv(   i, p) { delete v; for (i = 2; i <= NF; i++) { split($i, p, "="); v[p[1]] = p[2] } }
function group(label) { sub(/\.[rt][0-9]+$/, "", label); return label }
/^result label=/ {
    kv(); name = group(v["label"])
    if (name == "sse") next
    if (!(name in n)) order[++k] = name
    n[name]++; rps[name] += v["readings_per_s"]; each[name] = each[name] " " v["readings_per_s"]
    p50[name] = p50[name] " " v["p50_ms"]; p99[name] = p99[name] " " v["p99_ms"]
    errs[name] += v["errors"]; stalled[name] += v["stalled"]
}
/^server label=/ {
    kv(); name = group(v["label"])
    cpu[name] = cpu[name] " " v["cpu_us_per_reading"]; ctx[name] = ctx[name] " " v["ctx_per_request"]
}
END {
    printf "| run | readings/s (mean) | each round | p50 ms | p99 ms | server CPU us/reading | ctx switches/request | errors | stalled clients |\n"
    printf "|---|---:|---|---|---|---|---|---:|---:|\n"
    for (i = 1; i <= k; i++) {
        m = order[i]; mean[m] = rps[m] / n[m]
        printf "| %s | %.0f |%s |%s |%s |%s |%s | %d | %d |\n", m, mean[m], each[m], p50[m], p99[m], cpu[m], ctx[m], errs[m], stalled[m]
    }
    printf "\n"
    r("clima-json-single", "influx-single", 2.0); r("clima-write-single", "influx-single", 2.0)
    r("clima-json-batch", "influx-batch", 1.5); r("clima-write-batch", "influx-batch", 1.5)
}
function r(a, b, target) {
    if (mean[b] > 0 && (a in mean))
        printf "%s / %s = %.2f (target >= %.1f: %s)\n", a, b, mean[a] / mean[b], target, (mean[a] / mean[b] >= target ? "met" : "MISSED")
}' "$RESULTS" | tee "$OUT_DIR/summary.md"
awk '
function kv(   i, p) { delete v; for (i = 2; i <= NF; i++) { split($i, p, "="); v[p[1]] = p[2] } }
function f(x) { return (x == "" || x == "-") ? "-" : x }
/^result label=burst-/ {
    kv(); name = v["label"]; sub(/\.t[0-9]+$/, "", name)
    if (!(name in n)) order[++k] = name
    n[name]++; p99[name] = p99[name] " " f(v["first_reply_p99_ms"]); mx[name] = mx[name] " " f(v["first_reply_max_ms"])
    stalled[name] += v["stalled"]; never[name] += v["never_replied"]; errs[name] += v["errors"]
    if (v["first_reply_max_ms"] + 0 > worst[name] + 0) worst[name] = v["first_reply_max_ms"]
}
/^rss label=/ { kv(); rss[v["label"]] = v["vmrss_mib"]; hwm[v["label"]] = v["vmhwm_mib"] }
/^result label=sse / {
    kv(); iso = (v["interval_ms"] + 0 > v["throttle_ms"] + 0)
    sse[++s] = sprintf("sse throttle %s ms, one post every %s ms: p50 %s ms, p99 %s ms, max %s ms, missed %s%s", v["throttle_ms"], v["interval_ms"], v["p50_ms"], v["p99_ms"], v["max_ms"], v["missed"],
        iso ? sprintf(" (isolated readings; target p99 <= 5 ms: %s)", (v["p99_ms"] + 0 <= 5 && v["missed"] == 0 ? "met" : "MISSED")) : "")
}
END {
    printf "\n| burst run (each try) | first reply p99 ms | first reply max ms | errors | stalled | never replied | every first reply <= 100 ms |\n"
    printf "|---|---|---|---:|---:|---:|---|\n"
    for (i = 1; i <= k; i++) {
        m = order[i]
        printf "| %s |%s |%s | %d | %d | %d | %s |\n", m, p99[m], mx[m], errs[m], stalled[m], never[m], (never[m] == 0 && worst[m] + 0 <= 100 ? "met" : "MISSED")
    }
    printf "\n"
    if ("clima-idle" in rss) printf "clima-server RSS idle %s MiB (target <= 20: %s)\n", rss["clima-idle"], (rss["clima-idle"] + 0 <= 20 ? "met" : "MISSED")
    if ("clima-single" in hwm) printf "clima-server peak RSS (VmHWM) over the single-reading runs %s MiB, %s MiB at their end (target <= 60: %s)\n", hwm["clima-single"], rss["clima-single"], (hwm["clima-single"] + 0 <= 60 ? "met" : "MISSED")
    if ("influx-after-single" in rss) printf "influxd RSS before the single-reading runs %s MiB, after %s MiB (peak since its start %s MiB)\n", rss["influx-before-single"], rss["influx-after-single"], hwm["influx-after-single"]
    for (i = 1; i <= s; i++) print sse[i]
}' "$RESULTS" | tee -a "$OUT_DIR/summary.md"
