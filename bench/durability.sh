#!/usr/bin/env bash
# What --durability full costs: Clima's ingest with each durability mode, alternating in one
# run on this machine (loopback only), single readings from 50 kept-alive clients and batches
# of 5000 from 4 clients. Prints one line per run; see RELIABILITY.md.
#
# Knobs (environment): DURATION=10 (s per run), REPEATS=2, NO_BUILD=1 (skip cargo),
# BIN_DIR (default target/release).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-10}
REPEATS=${REPEATS:-2}
PORT=18139
WORK=$(mktemp -d /tmp/clima-durability.XXXXXX)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
server_pid=""
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$WORK"' EXIT

build_release
port_free $PORT
for round in $(seq 1 "$REPEATS"); do
    for mode in normal full; do
        rm -f "$WORK"/clima.db*
        "$SERVER" --db "$WORK/clima.db" --listen 127.0.0.1:$PORT --rate-limit off --serial off \
            --durability "$mode" >/dev/null 2>"$WORK/server.log" &
        server_pid=$!
        wait_http "http://127.0.0.1:$PORT/healthz" 200 "clima-server"
        for load in "single --clients 50" "batch --clients 4 --batch-size 5000"; do
            set -- $load
            result=$("$BENCH" http --url "http://127.0.0.1:$PORT" --mode "$1" "${@:2}" \
                --duration "$DURATION" --label "$mode-$1" | tail -1)
            echo "round $round  durability=$mode  $1: $result"
        done
        kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
    done
done
