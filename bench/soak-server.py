#!/usr/bin/env python3
"""Soak of the headless server: ingest from 10 sensors every second plus a burst of 500
readings a minute, five live viewers that read, one viewer that never reads, and clients that
connect, ask once and leave. Samples the server's resident memory every 30 s and reports the
slope after a warm-up, and when (if ever) the server cut the viewer that never reads.

Usage: bench/soak-server.py SERVER_BINARY [MINUTES] [PORT]   (loopback only; bounded in time)
"""

import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

binary = sys.argv[1]
minutes = float(sys.argv[2]) if len(sys.argv) > 2 else 20
port = int(sys.argv[3]) if len(sys.argv) > 3 else 18641
base = f"http://127.0.0.1:{port}"
warmup_s = 120
end = time.time() + minutes * 60
stop = threading.Event()

work = tempfile.mkdtemp(prefix="clima-soak-")
server = subprocess.Popen(
    [binary, "--db", os.path.join(work, "soak.db"), "--listen", f"127.0.0.1:{port}",
     "--serial", "off", "--rate-limit", "off"],
    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
server.stdout.readline()  # "Clima is listening on ..."


def rss_kib():
    with open(f"/proc/{server.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def post(path, body, ctype="application/json"):
    req = urllib.request.Request(base + path, data=body.encode(), method="POST",
                                 headers={"Content-Type": ctype})
    try:
        urllib.request.urlopen(req, timeout=10).read()
    except Exception:
        pass


def ingest():
    tick = 0
    while not stop.is_set() and time.time() < end:
        items = [json.dumps({"sensor": f"room-{i}", "temperature": 20 + (tick + i) % 7 / 10,
                             "humidity": 40 + (tick * i) % 13 / 10}) for i in range(10)]
        for item in items:
            post("/api/v1/readings", item)
        if tick % 60 == 59:
            now = int(time.time())
            burst = [{"sensor": f"burst-{i % 50}", "temperature": 18 + i % 9,
                      "measured_at": now - 3600 + i} for i in range(500)]
            post("/api/v1/readings", json.dumps(burst))
        tick += 1
        stop.wait(1)


def viewer():
    while not stop.is_set() and time.time() < end:
        try:
            with urllib.request.urlopen(base + "/api/v1/stream", timeout=30) as r:
                while not stop.is_set() and time.time() < end:
                    if not r.readline():
                        break
        except Exception:
            stop.wait(1)


def churn():
    while not stop.is_set() and time.time() < end:
        try:
            urllib.request.urlopen(base + "/api/v1/sensors", timeout=10).read()
        except Exception:
            pass
        stop.wait(0.5)


def deaf_viewer():
    """Asks for the stream and never reads; returns the socket to watch."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(f"GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    return s


def tcp_state(s):
    # The first byte of TCP_INFO is the connection's state: 1 established, 8 close-wait.
    return struct.unpack("B", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1))[0]


threads = [threading.Thread(target=f, daemon=True) for f in [ingest, churn] + [viewer] * 5]
for t in threads:
    t.start()
deaf = deaf_viewer()
started = time.time()
cut_after = None
samples = []
next_sample = started
while time.time() < end:
    now = time.time()
    if cut_after is None and tcp_state(deaf) != 1:
        cut_after = now - started
    if now >= next_sample:
        samples.append((now - started, rss_kib()))
        print(f"{(now - started) / 60:5.1f} min  RSS {samples[-1][1] / 1024:7.1f} MiB", flush=True)
        next_sample += 30
    time.sleep(0.5)
stop.set()
server.terminate()
try:
    server.wait(timeout=20)
    stopped = "stopped on SIGTERM"
except subprocess.TimeoutExpired:
    server.kill()
    stopped = "did not stop within 20 s of SIGTERM; killed"

after = [(t, r) for t, r in samples if t >= warmup_s]
if len(after) >= 2:
    n = len(after)
    mt = sum(t for t, _ in after) / n
    mr = sum(r for _, r in after) / n
    slope = sum((t - mt) * (r - mr) for t, r in after) / sum((t - mt) ** 2 for t, _ in after)
    print(f"after the {warmup_s // 60}-minute warm-up: {after[0][1] / 1024:.1f} -> {after[-1][1] / 1024:.1f} MiB, "
          f"slope {slope * 3600 / 1024:+.1f} MiB/h, spread {(max(r for _, r in after) - min(r for _, r in after)) / 1024:.1f} MiB")
print("viewer that never reads: " + (f"cut after {cut_after:.0f} s" if cut_after is not None else "never cut"))
print("server: " + stopped)
