#!/usr/bin/env bash
# Storage at real sensor intervals (loopback only): ten rooms' temperature and humidity (see
# `clima-bench climate`: a slow random walk plus sensor noise at two decimals, measured every
# INTERVAL s with 0-20 ms of timer jitter, received 50-400 ms later) for each data set
# INTERVAL:DAYS, ending on the hour two hours ago, stored by clima-server two ways:
#   import  `clima-server import` of a CSV export (everything sealed at the end)
#   http    line-protocol POSTs of BATCH lines to a running server, which is then left to settle
# For each: the database file's bytes per value (file plus WAL, over every value sent), the
# sealed chunks' and rollups' share, the load time, and the median of REPEATS charts of
# room01's temperature over the last day (5-minute buckets), 30 days and year
# (GET /api/v1/chart.svg, 640 px, 320 buckets, as the dashboard asks). The 10 s set also goes to VictoriaMetrics (Debian's
# victoria-metrics, on 127.0.0.1 with its data in the work folder) as the same line protocol:
# its data folder's bytes per value after a flush and a merge. See BENCHMARKS.md.
#
# Knobs (environment): DATASETS="1:7 10:30 60:90", REPEATS=10, BATCH=2500 (lines, two values
# each), NO_BUILD=1, BIN_DIR (default target/release), BENCH_BIN (another clima-bench, e.g. to
# measure an older clima-server with this generator), NO_VM=1, OUT_DIR.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATASETS=${DATASETS:-"1:7 10:30 60:90"}
REPEATS=${REPEATS:-10}
BATCH=${BATCH:-2500}
CLIMA_PORT=18137
VM_PORT=18428
CLIMA=http://127.0.0.1:$CLIMA_PORT
VM=http://127.0.0.1:$VM_PORT
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_dirs storage

clima_pid=""
vm_pid=""
cleanup() {
    for pid in $clima_pid $vm_pid; do kill "$pid" 2>/dev/null || true; done
    for pid in $clima_pid $vm_pid; do wait "$pid" 2>/dev/null || true; done
    influx_install_cleanup
    rm -rf "$WORK/data.csv" "$WORK/lines" "$WORK"/*.db* "$WORK/vm" "$WORK/reply" "$WORK/gen.log"
    rmdir "$WORK" 2>/dev/null || true
    echo "logs and results: $OUT_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

describe_run
build_release
port_free $CLIMA_PORT

END_MS=$(( ($(date +%s) / 3600 - 2) * 3600 * 1000 ))
file_bytes() { # DB
    local total=0 f
    for f in "$1" "$1-wal"; do [ -e "$f" ] && total=$((total + $(stat -c %s "$f"))); done
    echo "$total"
}
per_value() { # BYTES VALUES
    awk -v b="$1" -v n="$2" 'BEGIN { printf "%.2f", b / n }'
}
breakdown() { # DB VALUES
    command -v sqlite3 >/dev/null || return 0
    # Minute rollups: one row per series and minute before schema 9, one blob per series and
    # hour since; sealed hours' rollups one blob per series and day since.
    local minutes="(SELECT count(*) FROM rollup_minute) || ' minute rollup rows'"
    if [ "$(sqlite3 "$1" "SELECT count(*) FROM sqlite_master WHERE name = 'minute_rollups'")" = 1 ]; then
        minutes="printf('minute rollups %.2f B/value (%d hours), packed hour rollups %.2f B/value (%d days)',
            (SELECT total(length(data)) FROM minute_rollups) / $2, (SELECT count(*) FROM minute_rollups),
            (SELECT total(length(data)) FROM hour_rollups) / $2, (SELECT count(*) FROM hour_rollups))"
    fi
    sqlite3 "$1" "SELECT printf('chunks %.2f B/value (%d rows), pieces %d, samples %d, recent %d, ',
        (SELECT total(length(data)) FROM chunks) / $2, (SELECT count(*) FROM chunks), (SELECT count(*) FROM pieces),
        (SELECT count(*) FROM samples), (SELECT count(*) FROM recent_samples)) || $minutes
        || printf(', hour rollups %d rows, free pages %d', (SELECT count(*) FROM rollup_hour), (SELECT freelist_count FROM pragma_freelist_count))"
    # Pages by table and index (SQLite's dbstat), where the file's bytes go.
    sqlite3 "$1" "SELECT 'pages: ' || group_concat(name || ' ' || printf('%.2f', bytes * 1.0 / $2), ', ') || ' B/value'
        FROM (SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC)" 2>/dev/null || true
}
start_clima() { # DB
    "$SERVER" --db "$1" --listen "127.0.0.1:$CLIMA_PORT" --rate-limit off --serial off \
        >>"$OUT_DIR/clima-server.log" 2>&1 &
    clima_pid=$!
    wait_http "$CLIMA/healthz" 200 "clima-server"
}
stop_clima() {
    kill "$clima_pid"
    wait "$clima_pid" || true
    clima_pid=""
}
post_all() { # URL
    local f status
    for f in "$WORK"/lines/*.lp; do
        status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 --data-binary @"$f" "$1")
        [ "$status" = 204 ] || { echo "$1 answered $status to $f" >&2; exit 1; }
    done
}
# Median milliseconds of REPEATS charts over the last DAYS, after one warm-up.
chart_ms() { # DAYS
    local url="$CLIMA/api/v1/chart.svg?sensor=room01&metric=temperature&from=$((END_MS - $1 * 86400000))&to=$END_MS&points=320&width=640&height=240"
    curl -s -o "$WORK/reply" "$url"
    grep -q '<svg' "$WORK/reply" || { echo "no chart from $url" >&2; exit 1; }
    for _ in $(seq 1 "$REPEATS"); do
        curl -s -o /dev/null -w '%{time_total}\n' "$url"
    done | sort -n | awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] * 1000 }'
}
report() { # SET HOW DB VALUES SECONDS
    local bytes
    bytes=$(file_bytes "$3")
    echo "$1 $2: $(per_value "$bytes" "$4") B/value ($bytes bytes, WAL $(file_bytes "$3-wal")), loaded in $5 s; 1-day chart $(chart_ms 1) ms, 30-day chart $(chart_ms 30) ms, 1-year chart $(chart_ms 365) ms" | tee -a "$RESULTS"
    breakdown "$3" "$4" | sed 's/^/  /' | tee -a "$RESULTS"
}

for set in $DATASETS; do
    interval=${set%%:*}
    days=${set#*:}
    name="${interval}s-${days}d"
    rm -rf "$WORK/lines" "$WORK/data.csv"
    "$BENCH" climate --interval "$interval" --days "$days" --end "$END_MS" --csv "$WORK/data.csv" \
        --line-protocol "$WORK/lines" --batch "$BATCH" 2>"$WORK/gen.log"
    values=$(($(wc -l <"$WORK/data.csv") - 1))
    say "$name: $values values"

    began=$(date +%s.%N)
    "$SERVER" --db "$WORK/import.db" import "$WORK/data.csv" >>"$OUT_DIR/import.log" 2>&1
    took=$(awk -v a="$began" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    start_clima "$WORK/import.db"
    report "$name" import "$WORK/import.db" "$values" "$took"
    stop_clima

    start_clima "$WORK/http.db"
    began=$(date +%s.%N)
    post_all "$CLIMA/write?precision=ms"
    took=$(awk -v a="$began" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    echo "  settled in $(wait_idle "$clima_pid" 600) s" | tee -a "$RESULTS"
    report "$name" http "$WORK/http.db" "$values" "$took"
    stop_clima

    if [ "$interval" = 10 ] && [ "${NO_VM:-0}" != 1 ]; then
        deb_install_quiet victoria-metrics victoria-metrics
        port_free $VM_PORT
        victoria-metrics -httpListenAddr="127.0.0.1:$VM_PORT" -storageDataPath="$WORK/vm" \
            -retentionPeriod=100y >"$OUT_DIR/victoria-metrics.log" 2>&1 &
        vm_pid=$!
        wait_http "$VM/health" 200 "victoria-metrics"
        began=$(date +%s.%N)
        post_all "$VM/write?precision=ms"
        took=$(awk -v a="$began" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
        curl -s "$VM/internal/force_flush" >/dev/null
        curl -s "$VM/internal/force_merge" >/dev/null
        echo "  VictoriaMetrics settled in $(wait_idle "$vm_pid" 600) s" | tee -a "$RESULTS"
        held=$(curl -s "$VM/api/v1/query" --data-urlencode "query=sum(count_over_time({__name__=~\"climate_.*\"}[${days}d]))" --data-urlencode "time=$((END_MS / 1000))" |
            grep -o '"value":\[[^]]*\]' | grep -o '"[0-9]*"\]' | tr -d '"]')
        bytes=$(du -sb "$WORK/vm" | cut -f1)
        echo "$name victoria-metrics $(victoria-metrics -version 2>/dev/null | head -1): $(per_value "$bytes" "$values") B/value ($bytes bytes, ${held:-?} values held), loaded in $took s" | tee -a "$RESULTS"
        kill "$vm_pid"
        wait "$vm_pid" || true
        vm_pid=""
        rm -rf "$WORK/vm"
    fi
    rm -f "$WORK"/*.db*
done
