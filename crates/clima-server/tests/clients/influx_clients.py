"""Writes to Clima with the InfluxDB client libraries people run: `influxdb` (1.x API, /write)
and `influxdb-client` (2.x API, /api/v2/write), each once plain and once gzip-compressed.

Usage: influx_clients.py HOST PORT TOKEN. Prints one line per write; exits non-zero on any error.
"""

import sys
from datetime import datetime, timezone

from influxdb import InfluxDBClient
from influxdb_client import InfluxDBClient as InfluxDB2Client, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS

host, port, token = sys.argv[1], int(sys.argv[2]), sys.argv[3]
base = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


def points_v1(sensor):
    return [
        {
            "measurement": "climate",
            "tags": {"sensor": sensor},
            "time": base.replace(minute=i).isoformat(),
            "fields": {"temperature": 20.0 + i / 10, "humidity": 40.0 + i},
        }
        for i in range(10)
    ]


for gzip in (False, True):
    sensor = "v1-gzip" if gzip else "v1-plain"
    # InfluxDB 1 clients authenticate with a user and password; Clima takes the token as either.
    v1 = InfluxDBClient(host=host, port=port, username="clima", password=token, database="home", gzip=gzip)
    v1.create_database("home")
    assert v1.write_points(points_v1(sensor), time_precision="s")
    print(f"v1 gzip={gzip}: 10 points")

for gzip in (False, True):
    sensor = "v2-gzip" if gzip else "v2-plain"
    with InfluxDB2Client(url=f"http://{host}:{port}", token=token, org="home", enable_gzip=gzip) as v2:
        write = v2.write_api(write_options=SYNCHRONOUS)
        points = [
            Point("climate")
            .tag("sensor", sensor)
            .field("temperature", 21.0 + i / 10)
            .field("co2", 600 + i)
            .time(base.replace(minute=i), WritePrecision.S)
            for i in range(10)
        ]
        write.write(bucket="home", record=points, write_precision=WritePrecision.S)
        print(f"v2 gzip={gzip}: 10 points")
