#!/usr/bin/env bash
# Bucketing history for a chart, Clima against InfluxDB 1.6 on this machine (loopback only): the
# same 1,000,000 points (one sensor, one metric, 1 Hz, about 11.6 days, ending two hours ago) go
# into a fresh clima-server and a fresh influxd as line-protocol batches; then each server is asked,
# in turn, for 1,000 points over the whole range, the last 24 hours and the last hour:
#   Clima     GET /api/v1/readings?sensor=&metric=&from=&to=&points=1000
#   InfluxDB  SELECT mean(v),min(v),max(v),count(v) FROM ... WHERE time >= .. AND time < ..
#             GROUP BY time(W) over HTTP /query, with W the bucket width Clima chose (the same
#             buckets), and with W = range / 1,000 (exactly 1,000 buckets)
# Each query runs REPEATS times, interleaved, after 3 untimed warm-ups; the script prints median
# and p90 latency (curl's time_total: connect, query, whole reply) and the ratios. See
# BENCHMARKS.md.
#
# Knobs (environment): POINTS=1000000, REPEATS=30, BATCH=5000 (lines per POST), NO_BUILD=1 (skip
# cargo), BIN_DIR (default target/release), OUT_DIR (default a new folder under /tmp).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
POINTS=${POINTS:-1000000}
REPEATS=${REPEATS:-30}
BATCH=${BATCH:-5000}
CLIMA_PORT=18137
INFLUX_PORT=18086
CLIMA=http://127.0.0.1:$CLIMA_PORT
INFLUX=http://127.0.0.1:$INFLUX_PORT
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_dirs history

clima_pid=""
influx_pid=""
cleanup() {
    for pid in $clima_pid $influx_pid; do kill "$pid" 2>/dev/null || true; done
    for pid in $clima_pid $influx_pid; do wait "$pid" 2>/dev/null || true; done
    influx_install_cleanup
    rm -rf "$WORK/influx" "$WORK/lines" "$WORK"/clima.db* "$WORK/reply"
    rmdir "$WORK" 2>/dev/null || true
    echo "logs and results: $OUT_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

describe_run

build_release
influx_install
port_free $CLIMA_PORT
port_free $INFLUX_PORT
# Its cache goes to TSM files after 5 s without writes (default 10 min), so both servers are
# measured with the data in their long-term form: InfluxDB's TSM files, Clima's chunks and rollups.
influx_start $INFLUX_PORT "$OUT_DIR/influxd.log" history '  cache-snapshot-write-cold-duration = "5s"'
echo "influxd $(influxd version 2>/dev/null | head -1) on $INFLUX (pid $influx_pid)" | tee -a "$RESULTS"
"$SERVER" --db "$WORK/clima.db" --listen "127.0.0.1:$CLIMA_PORT" --rate-limit off --serial off \
    >"$OUT_DIR/clima-server.log" 2>&1 &
clima_pid=$!
wait_http "$CLIMA/healthz" 200 "clima-server"
echo "clima-server on $CLIMA (pid $clima_pid)" | tee -a "$RESULTS"

# --- the data: POINTS seconds ending on the hour two hours ago, a daily wave and a 10-min ripple --
END=$(( ($(date +%s) / 3600 - 2) * 3600 ))
START=$((END - POINTS))
mkdir -p "$WORK/lines"
awk -v start="$START" -v n="$POINTS" -v batch="$BATCH" -v dir="$WORK/lines" 'BEGIN {
    pi = atan2(0, -1)
    for (i = 0; i < n; i++) {
        t = start + i
        f = sprintf("%s/%06d.lp", dir, int(i / batch))
        printf "climate,sensor=bench temperature=%.2f %d\n", 20 + 3 * sin(2 * pi * t / 86400) + 0.5 * sin(2 * pi * t / 600), t > f
        if ((i + 1) % batch == 0) close(f)
    }
}'

load() { # NAME URL
    local began status files=0
    began=$(date +%s.%N)
    for f in "$WORK"/lines/*.lp; do
        status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 --data-binary @"$f" "$2/write?db=history&precision=s")
        [ "$status" = 204 ] || { echo "$1 answered $status to $f" >&2; exit 1; }
        files=$((files + 1))
    done
    awk -v name="$1" -v n="$POINTS" -v files="$files" -v began="$began" -v now="$(date +%s.%N)" \
        'BEGIN { printf "loaded %s: %d points in %d POSTs, %.1f s, %.0f points/s\n", name, n, files, now - began, n / (now - began) }' |
        tee -a "$RESULTS"
}
say "load: $POINTS points, $(date -u -d "@$START" +%FT%TZ) to $(date -u -d "@$END" +%FT%TZ), batches of $BATCH lines"
load Clima "$CLIMA"
load InfluxDB "$INFLUX"
echo "settled after the load: Clima in $(wait_idle "$clima_pid" 300) s, InfluxDB in $(wait_idle "$influx_pid" 300) s (under 2 % CPU for 3 s)" | tee -a "$RESULTS"

influx_count=$(curl -sG "$INFLUX/query" --data-urlencode db=history --data-urlencode 'q=SELECT count(temperature) FROM climate' |
    grep -o '"values":\[\[[^]]*\]' | grep -o '[0-9]*\]$' | tr -d ']')
echo "InfluxDB holds ${influx_count:-?} points; TSM files: $(find "$WORK/influx/data" -name '*.tsm' | wc -l)" | tee -a "$RESULTS"
if command -v sqlite3 >/dev/null; then
    sqlite3 "$WORK/clima.db" "SELECT 'Clima holds: ' || (SELECT count(*) FROM chunks) || ' hourly chunks, ' ||
        (SELECT count(*) FROM pieces) || ' pieces, ' ||
        (SELECT count(*) FROM samples) || ' rows in samples, ' || (SELECT count(*) FROM recent_samples) ||
        ' in recent_samples, ' || (SELECT count(*) FROM minute_rollups) || ' hours of minute rollups and ' ||
        (SELECT count(*) FROM rollup_hour) || ' hour rollups'" | tee -a "$RESULTS"
fi

# --- the queries ---------------------------------------------------------------------------------
# One line per query in $WORK/queries: LABEL RANGE SERVER URL
: >"$WORK/queries"
reply=$WORK/reply
influx_url() { # FROM_MS TO_MS WIDTH_MS
    local q="SELECT mean(temperature),min(temperature),max(temperature),count(temperature) FROM climate WHERE sensor='bench' AND time >= $1ms AND time < $2ms GROUP BY time($3ms)"
    printf '%s/query?db=history&epoch=ms&q=%s' "$INFLUX" "$(printf '%s' "$q" | sed 's/ /%20/g; s/,/%2C/g; s/(/%28/g; s/)/%29/g; s/=/%3D/g; s/>/%3E/g; s/</%3C/g; s/'"'"'/%27/g')"
}
for range in full:$START 24h:$((END - 86400)) 1h:$((END - 3600)); do
    name=${range%%:*}
    from=$(( ${range#*:} * 1000 ))
    to=$((END * 1000))
    url="$CLIMA/api/v1/readings?sensor=bench&metric=temperature&from=$from&to=$to&points=1000"
    curl -s -o "$reply" "$url"
    width=$(grep -o '"bucket_ms":[0-9]*' "$reply" | cut -d: -f2)
    first=$(grep -o '"t":[0-9]*' "$reply" | awk -F: 'NR == 1 { print $2 }')
    buckets=$(grep -o '"t":[0-9]*' "$reply" | wc -l)
    if [ $((width % 3600000)) = 0 ]; then source="hour rollups"
    elif [ $((width % 60000)) = 0 ]; then source="minute rollups"
    else source="raw samples (chunks)"; fi
    echo "$name clima $url" >>"$WORK/queries"
    echo "$name influx-same $(influx_url "$first" $((first + width * buckets)) "$width")" >>"$WORK/queries"
    echo "$name influx-1000 $(influx_url "$from" "$to" $(((to - from) / 1000)))" >>"$WORK/queries"
    echo "range $name: $(( (to - from) / 1000 )) s; Clima chose $buckets buckets of $((width / 1000)) s, read from $source (and recent_samples, which holds none of this data)" | tee -a "$RESULTS"
done

# Buckets and values counted in a reply, from either server's JSON.
counted() { # SERVER FILE
    if [ "$1" = clima ]; then
        grep -o '"count":[0-9]*' "$2" | awk -F: '{ n++; s += $2 } END { printf "%d buckets, %d values", n, s }'
    else
        grep -o ',[0-9]*\]' "$2" | tr -d ',]' | awk '{ n++; s += $1 } END { printf "%d buckets, %d values", n, s }'
    fi
}

say "latency: $REPEATS rounds, interleaved, after 3 warm-ups each"
while read -r name server url; do
    curl -s -o "$reply" "$url"
    got=$(counted "$server" "$reply")
    echo "check $name $server: $got" | tee -a "$RESULTS"
    # The same buckets must hold the same values on both sides (empty ones aside).
    if [ "$server" = clima ]; then expected=${got#* buckets, }
    elif [ "$server" = influx-same ] && [ "${got#* buckets, }" != "$expected" ]; then
        echo "InfluxDB counted ${got#* buckets, } over Clima's buckets, Clima $expected" >&2
        exit 1
    fi
    for _ in 1 2; do curl -s -o /dev/null "$url"; done
done <"$WORK/queries"
for r in $(seq 1 "$REPEATS"); do
    while read -r name server url; do
        out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 30 "$url")
        [ "${out%% *}" = 200 ] || { echo "$server answered ${out%% *} to $url" >&2; exit 1; }
        echo "time $name $server $r ${out#* }" >>"$RESULTS"
    done <"$WORK/queries"
done

say "summary (ms; ratio = InfluxDB median / Clima median)"
awk '
/^time / { k = $2 " " $3; v[k, ++n[k]] = $5 * 1000; if (!(k in seen)) { seen[k] = 1; order[++m] = k } }
function pct(k, p,   i, j, t, a, c) {
    c = n[k]; for (i = 1; i <= c; i++) a[i] = v[k, i]
    for (i = 2; i <= c; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    i = int(p * c + 0.999999); if (i < 1) i = 1; return a[i]
}
END {
    printf "| range | server | median ms | p90 ms | ratio |\n|---|---|---:|---:|---:|\n"
    for (i = 1; i <= m; i++) {
        k = order[i]; split(k, f, " "); med[k] = pct(k, 0.5)
        ratio = (f[2] == "clima") ? "" : sprintf("%.1f", med[k] / med[f[1] " clima"])
        printf "| %s | %s | %.2f | %.2f | %s |\n", f[1], f[2], med[k], pct(k, 0.9), ratio
    }
}' "$RESULTS" | tee "$OUT_DIR/summary.md"
