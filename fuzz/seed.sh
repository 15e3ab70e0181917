#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the parser fixtures in crates/clima-model/tests/data/.
# Corpora are not committed; run this before fuzzing (run-all.sh does). Existing corpus files
# are kept, so a corpus grown by earlier runs is not lost.
set -euo pipefail
cd "$(dirname "$0")"
data=../crates/clima-model/tests/data
corpus=corpus

seed() { # seed TARGET NAME < bytes
    mkdir -p "$corpus/$1"
    cat >"$corpus/$1/seed-$2"
}

# serial_lines: two control bytes (read-size seed, flush/reopen interval), then port bytes.
for f in "$data"/serial/* "$data"/http/*; do
    [ -f "$f" ] || continue # serial/corpus/ is a folder of its own
    name=$(basename "$f")
    { printf '\x07\x00'; cat "$f"; } | seed serial_lines "$name"
    { printf '\x01\x04'; cat "$f"; } | seed serial_lines "$name-flush"
done
# A line over the framer's 4096-byte cap (libFuzzer's -max_len grows to the largest seed),
# and bytes read at a wrong baud rate.
{
    printf '\x03\x00'
    head -c 5000 /dev/zero | tr '\0' 'x'
    printf '\r\ntemperature:22.5\r\n'
} | seed serial_lines overlong
{
    printf '\x05\x00'
    head -c 4000 /dev/zero | tr '\0' '\377'
    printf '\ntemperature:22.5\n'
} | seed serial_lines noise

# json_body: whole bodies, and each line of the JSON-lines fixture.
for f in "$data"/http/*.json "$data"/serial/*.json; do
    seed json_body "$(basename "$f")" <"$f"
done
i=0
while IFS= read -r line; do
    i=$((i + 1))
    printf '%s' "$line" | seed json_body "json-lines-$i"
done <"$data/serial/json-lines.txt"
printf '{"measurement":{"temperature":21.5,"humidity":40},"sensor":"dev","measured_at":"2026-11-26T09:00:00Z"}' |
    seed json_body wrapper

# line_protocol: the fixture, and the other serial text (mostly refusals).
for f in "$data"/serial/*; do
    [ -f "$f" ] || continue
    seed line_protocol "$(basename "$f")" <"$f"
done

# query_string: the Shelly report's query, and the range/rate parameters the routes read.
sed -n 's/^[A-Z]* [^?]*?\([^ ]*\).*/\1/p' "$data/http/shelly-ht-gen1.txt" | tr -d '\n' |
    seed query_string shelly
printf 'sensor=s1&temp=20&measured_at=1795683660&name=Living+room' | seed query_string push
printf 'sensor=kitchen&metric=temperature&from=2026-11-26T09:00:00Z&to=1795700000&points=500' |
    seed query_string range
printf 'precision=ms&rate=600/1m&keep=30d&unit=F' | seed query_string settings

# csv_import: an export of the JSON fixture's readings, as export_csv writes it.
seed csv_import export.csv <<'CSV'
sensor,metric,unit,measured_at,received_at,value
ip-127-0-0-1,temperature,°C,2026-11-26T09:00:01.000Z,2026-11-26T09:00:01.120Z,23.41
ip-127-0-0-1,humidity,%,2026-11-26T09:00:01.000Z,2026-11-26T09:00:01.120Z,44.9
garage,pressure,hPa,2026-11-26T09:01:00.000Z,2026-11-26T09:01:00.250Z,1008.12
garage,iaq,,2026-11-26T09:01:00.000Z,2026-11-26T09:01:00.250Z,51.2
CSV

# chunk_codec: first byte even = decode the rest, odd = encode 24-byte samples. Fixture bytes
# give both modes something to start from.
for f in "$data"/serial/*; do
    [ -f "$f" ] || continue
    seed chunk_codec "$(basename "$f")" <"$f"
done
printf '\x00\x01\x02\x01\x80\x80\x80\x80\x80\x80\x80\x80\x01\x02\x00\x14' | seed chunk_codec one-sample

# rollup_codec: first byte even = decode the rest (here one minute of six samples), odd = encode
# 40-byte minutes.
printf '\x00\x01\x01\x02\xf8\xa9\xc5\x1c\x0c\x98\x43\xc0\x43\x88\x94\x03' | seed rollup_codec one-minute
for f in "$data"/serial/*; do
    [ -f "$f" ] || continue
    seed rollup_codec "$(basename "$f")" <"$f"
done

ls "$corpus" | while read -r t; do echo "$t: $(ls "$corpus/$t" | wc -l) files"; done
