#!/usr/bin/env python3
"""tui_first_frame.py -- time to the first complete frame and idle peak RSS of a full-screen
greeter, measured in a fresh pseudo-terminal per run.

Why a pty and not tmux: the measurement must see the greeter's own bytes as they are written,
with nothing in between that buffers or redraws.

First complete frame: both greeters measured here draw with ratatui, which writes a frame's cells,
flushes, then shows and places the cursor (the user field has focus). The frame is complete at the
first "show cursor" sequence (ESC [ ? 25 h) written after MARKER (text of the card) has appeared;
the time is taken from just before the process is spawned (fork + exec + start-up included).

Idle RSS: after the frame, the greeter sits at the login card for IDLE seconds; then VmHWM (peak
resident set size) is read from /proc/PID/status.

Usage: tui_first_frame.py --label NAME --marker TEXT [--runs N] [--idle S] [--env K=V ...] -- CMD...
Prints one line per run: "<label> <run> <first_frame_ms> <vmhwm_kib>" (tab-separated).
"""
import argparse
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time

SHOW_CURSOR = b"\x1b[?25h"


def one_run(cmd, env, marker, idle, limit=10.0):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))

    def child_setup():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdin=slave,
        stdout=slave,
        stderr=subprocess.DEVNULL,
        env=env,
        preexec_fn=child_setup,
        close_fds=True,
    )
    os.close(slave)
    seen = b""
    frame_ms = None
    marker_at = -1
    try:
        while time.perf_counter() - start < limit:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            now = time.perf_counter()
            seen += chunk
            if marker_at < 0:
                marker_at = seen.find(marker)
            if marker_at >= 0 and seen.find(SHOW_CURSOR, marker_at) >= 0:
                frame_ms = (now - start) * 1000.0
                break
        if frame_ms is None:
            raise RuntimeError(
                "no complete frame within %.0f s; output so far: %r" % (limit, seen[-400:])
            )
        # Idle at the card; keep draining the pty so the greeter never blocks on output.
        deadline = time.perf_counter() + idle
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    os.read(master, 65536)
                except OSError:
                    break
        hwm = None
        with open("/proc/%d/status" % proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
        return frame_ms, hwm
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        os.close(master)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--label", required=True)
    p.add_argument("--marker", required=True)
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--idle", type=float, default=1.0)
    p.add_argument("--env", action="append", default=[])
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    env = dict(os.environ)
    env.setdefault("TERM", "xterm-256color")
    for kv in a.env:
        k, _, v = kv.partition("=")
        env[k] = v
    for run in range(1, a.runs + 1):
        ms, hwm = one_run(cmd, env, a.marker.encode(), a.idle)
        print("%s\t%d\t%.2f\t%d" % (a.label, run, ms, hwm), flush=True)


if __name__ == "__main__":
    sys.exit(main())
