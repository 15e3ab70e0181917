#!/usr/bin/env python3
"""Draws Clima's icon (a thermometer on a rounded teal square) as an 8-bit RGBA PNG, 1024 px.

Standard library only, so anyone can regenerate it: python3 icons/make-icon.py. It writes the one
source image, icons/app-icon.png; `scripts/package --icons` turns it into every size and format
the bundles of each platform use (`tauri icon`).
"""
import math
import os
import struct
import zlib

SIZE = 1024
# The drawing is laid out on a 256-unit grid.
UNIT = SIZE / 256


def coverage(d):
    """Anti-aliased coverage from a signed distance in grid units (negative inside)."""
    return max(0.0, min(1.0, 0.5 - d * UNIT))


def rounded_rect(x, y, x0, y0, x1, y1, r):
    cx = min(max(x, x0 + r), x1 - r)
    cy = min(max(y, y0 + r), y1 - r)
    inside_core = x0 + r <= x <= x1 - r or y0 + r <= y <= y1 - r
    if inside_core and x0 <= x <= x1 and y0 <= y <= y1:
        return -min(x - x0, x1 - x, y - y0, y1 - y)
    return math.hypot(x - cx, y - cy) - r


def capsule(x, y, cx, y0, y1, r):
    cy = min(max(y, y0), y1)
    return math.hypot(x - cx, y - cy) - r


def circle(x, y, cx, cy, r):
    return math.hypot(x - cx, y - cy) - r


def blend(dst, src, a):
    return tuple(d * (1 - a) + s * a for d, s in zip(dst, src))


def pixel(x, y):
    px, py = (x + 0.5) / UNIT, (y + 0.5) / UNIT
    bg_a = coverage(rounded_rect(px, py, 8, 8, 248, 248, 52))
    if bg_a == 0:
        return (0, 0, 0, 0)
    t = py / 256
    color = (20 + 30 * t, 150 - 60 * t, 170 - 20 * t)
    white = (250, 250, 250)
    red = (240, 90, 70)
    # Thermometer: white outline (stem and bulb), red mercury inside.
    outer = min(capsule(px, py, 128, 58, 150, 26), circle(px, py, 128, 176, 42))
    color = blend(color, white, coverage(outer))
    inner = min(capsule(px, py, 128, 100, 160, 12), circle(px, py, 128, 176, 28))
    color = blend(color, red, coverage(inner))
    # Scale ticks beside the stem.
    for i, ty in enumerate(range(66, 140, 18)):
        tick = rounded_rect(px, py, 170, ty, 170 + (34 if i % 2 == 0 else 22), ty + 7, 3.5)
        color = blend(color, white, coverage(tick))
    return tuple(int(round(c)) for c in color) + (int(round(255 * bg_a)),)


def png(width, height, rows):
    raw = b"".join(b"\x00" + bytes(v for p in row for v in p) for row in rows)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    # Colour type 6 is 8-bit RGBA: Tauri refuses RGB icons.
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


if __name__ == "__main__":
    rows = [[pixel(x, y) for x in range(SIZE)] for y in range(SIZE)]
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "app-icon.png")
    with open(out, "wb") as f:
        f.write(png(SIZE, SIZE, rows))
    print(out)
