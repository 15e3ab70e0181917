#!/usr/bin/env python3
"""A hostile serial board for the end-to-end tests: a pseudo-terminal, reachable at LINK (a
symlink), that prints markup and script instead of readings, one line every 200 ms, until
killed (SIGTERM removes LINK).

Usage: e2e/hostile-board.py LINK [LINE...]
Prints LINK once the port is ready. Clima must show these lines as text, never as HTML.
"""

import os
import signal
import sys
import time
import tty

DEFAULT_LINES = [
    '<img src=x onerror="window.__pwned=1">',
    "<script>window.__pwned=2</script>",
    '"><svg onload=window.__pwned=3>',
]


def main():
    link = sys.argv[1]
    lines = sys.argv[2:] or DEFAULT_LINES
    master, slave = os.openpty()
    # Raw: no echo back to the master (nobody reads it, so echo would fill the buffer).
    tty.setraw(slave)
    # Keep the slave open so writes never fail while Clima has the port closed.
    os.set_blocking(master, False)
    try:
        os.unlink(link)
    except FileNotFoundError:
        pass
    os.symlink(os.ttyname(slave), link)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(link, flush=True)
    try:
        while True:
            for line in lines:
                try:
                    os.write(master, (line + "\r\n").encode())
                except (BlockingIOError, OSError):
                    pass  # Nobody reads right now: drop the line, like a real board.
                time.sleep(0.2)
    finally:
        try:
            os.unlink(link)
        except OSError:
            pass


if __name__ == "__main__":
    main()
