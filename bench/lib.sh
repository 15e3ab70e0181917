# Shell shared by the benchmarks that run Clima beside InfluxDB 1.6 (sourced, not run): building
# the release binaries, installing Debian's influxdb without starting its service, starting
# influxd by hand on loopback only, and waiting for ports. Expects ROOT and WORK to be set.

BIN_DIR=${BIN_DIR:-$ROOT/target/release}
policy_added=""

bench_dirs() { # NAME: sets WORK (a new folder under /tmp), OUT_DIR (kept unless given) and RESULTS
    WORK=$(mktemp -d "/tmp/clima-$1.XXXXXX")
    OUT_DIR=${OUT_DIR:-$WORK/out}
    mkdir -p "$OUT_DIR"
    RESULTS=$OUT_DIR/results.txt
    : >"$RESULTS"
}

port_free() { # PORT
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

# Builds clima-server and clima-bench once (NO_BUILD=1 skips it) and sets SERVER and BENCH.
# BENCH_BIN names another clima-bench, so that two server builds meet the same load generator.
build_release() {
    if [ "${NO_BUILD:-0}" != 1 ]; then
        (cd "$ROOT" && cargo build --release -p clima-server -p clima-bench)
    fi
    BENCH=${BENCH_BIN:-$BIN_DIR/clima-bench}
    SERVER=$BIN_DIR/clima-server
    [ -x "$BENCH" ] && [ -x "$SERVER" ] || { echo "no binaries in $BIN_DIR" >&2; exit 1; }
}

# Installs a Debian PACKAGE if COMMAND is missing, without letting the package start its service
# (which would bind every interface). Call influx_install_cleanup on exit.
deb_install_quiet() { # COMMAND PACKAGE
    command -v "$1" >/dev/null && return 0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        policy_added=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}
# Debian's influxdb (1.6).
influx_install() { deb_install_quiet influxd influxdb; }
influx_install_cleanup() {
    if [ -n "$policy_added" ]; then rm -f /usr/sbin/policy-rc.d; fi
}

# Starts influxd from a config in $WORK/influx: HTTP on 127.0.0.1:PORT, RPC on 127.0.0.1:18088,
# every other listener off, data in $WORK/influx; sets influx_pid and creates DATABASE.
# EXTRA_DATA holds more lines for the [data] section.
influx_start() { # PORT LOG DATABASE [EXTRA_DATA]
    local port=$1 log=$2 db=$3 extra=${4:-}
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
$extra
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:$port"
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
    influxd -config "$WORK/influx/influxdb.conf" >"$log" 2>&1 &
    influx_pid=$!
    wait_http "http://127.0.0.1:$port/ping" 204 "influxd"
    curl -s -XPOST "http://127.0.0.1:$port/query" --data-urlencode "q=CREATE DATABASE $db" >/dev/null
}

# Waits (at most MAX_S seconds) until PID has used under 2 % of a core for three seconds in a
# row: background work after a load (Clima sealing hours into chunks, InfluxDB writing its
# cache to TSM files) is done. Prints the seconds waited.
wait_idle() { # PID MAX_S
    local hz before after quiet=0 waited=0
    hz=$(getconf CLK_TCK)
    before=$(awk '{ print $14 + $15 }' /proc/"$1"/stat)
    while [ "$waited" -lt "$2" ] && [ "$quiet" -lt 3 ]; do
        sleep 1
        waited=$((waited + 1))
        after=$(awk '{ print $14 + $15 }' /proc/"$1"/stat)
        if [ $(((after - before) * 100)) -lt $((2 * hz)) ]; then quiet=$((quiet + 1)); else quiet=0; fi
        before=$after
    done
    echo "$waited"
}

# A section heading in the output and in $RESULTS.
say() { printf '\n### %s\n' "$*" | tee -a "$RESULTS"; }

# The first line of $RESULTS: which build, on what machine, when.
describe_run() {
    echo "clima $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (uncommitted changes)'), $(nproc) cores, $(uname -sr), $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RESULTS"
}
