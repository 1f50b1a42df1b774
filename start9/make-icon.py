#!/usr/bin/env python3
"""Draw start9/icon.png (the StartOS package icon) with the standard library only.

A navy rounded square holding a white envelope with a rising gold line: mail turned into
investor-relations insight. 256x256 RGBA, 4x4 supersampled. Run it again after changing it:
    python start9/make-icon.py
"""

import itertools
import struct
import sys
import zlib
from pathlib import Path

SIZE = 256
SAMPLES = 4  # per axis, for anti-aliased edges
NAVY = (22, 41, 74)
WHITE = (246, 248, 252)
FOLD = (196, 206, 222)
GOLD = (240, 178, 50)


def inside_rounded_square(x: float, y: float, margin: float = 8, radius: float = 52) -> bool:
    lo, hi = margin, SIZE - margin
    if not (lo <= x <= hi and lo <= y <= hi):
        return False
    cx = min(max(x, lo + radius), hi - radius)
    cy = min(max(y, lo + radius), hi - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius**2


def near_segment(x, y, ax, ay, bx, by, width) -> bool:
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)))
    px, py = ax + t * dx, ay + t * dy
    return (x - px) ** 2 + (y - py) ** 2 <= (width / 2) ** 2


ENVELOPE = (52, 84, 204, 188)  # left, top, right, bottom
CHART = [(70, 170), (108, 140), (140, 154), (190, 104)]


def color_at(x: float, y: float):
    """The colour of one sample point, or None outside the icon."""
    if not inside_rounded_square(x, y):
        return None
    left, top, right, bottom = ENVELOPE
    mid = (left + right) / 2
    if left <= x <= right and top <= y <= bottom:
        for (ax, ay), (bx, by) in itertools.pairwise(CHART):
            if near_segment(x, y, ax, ay, bx, by, 11):
                return GOLD
        # The flap: two strokes from the top corners to the middle.
        if near_segment(x, y, left, top, mid, top + 58, 6) or near_segment(x, y, right, top, mid, top + 58, 6):
            return FOLD
        return WHITE
    return NAVY


def render() -> bytes:
    rows = []
    step = 1 / SAMPLES
    for py in range(SIZE):
        row = bytearray([0])  # filter type 0 for each scanline
        for px in range(SIZE):
            r = g = b = a = 0
            for sy in range(SAMPLES):
                for sx in range(SAMPLES):
                    c = color_at(px + (sx + 0.5) * step, py + (sy + 0.5) * step)
                    if c is not None:
                        r, g, b, a = r + c[0], g + c[1], b + c[2], a + 1
            n = SAMPLES * SAMPLES
            row += bytes([r // a, g // a, b // a, 255 * a // n] if a else [0, 0, 0, 0])
        rows.append(bytes(row))
    return b"".join(rows)


def png(width: int, height: int, raw: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("icon.png")
    out.write_bytes(png(SIZE, SIZE, render()))
    print(f"wrote {out} ({out.stat().st_size} bytes)")
