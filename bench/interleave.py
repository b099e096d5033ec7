#!/usr/bin/env python3
"""interleave.py N 'CMD1' 'CMD2' ... -- wall time of whole logins, one run of each command in turn.

Each command (a program and its own flags, split on spaces) gets
`--pam-confdir bench/pam.d --user root -- true` appended, stdin/stdout/stderr on /dev/null, and
is started with posix_spawn and waited for, N times, in alternating order (forward, then
backward), so that load drifting on a shared machine reaches every command alike. Prints each
command's median wall time, its ratio to the first command's, and its minimum.

Used in BENCHMARKS.md for before/after comparisons of binaries that bench/run-core.sh does not
build (e.g. an older vestibule-tui). Example, from the repository root, as root:

    nice -n -20 bench/interleave.py 500 bench/out/login_baseline target/release/vestibule-login
"""
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    n = int(sys.argv[1])
    commands = sys.argv[2:]
    tail = ["--pam-confdir", os.path.join(ROOT, "bench/pam.d"), "--user", "root", "--", "true"]
    null = os.open(os.devnull, os.O_RDWR)
    actions = [(os.POSIX_SPAWN_DUP2, null, fd) for fd in (0, 1, 2)]
    times = {c: [] for c in commands}
    for i in range(n):
        for c in commands if i % 2 == 0 else commands[::-1]:
            argv = c.split() + tail
            start = time.perf_counter()
            pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
            _, status = os.waitpid(pid, 0)
            times[c].append((time.perf_counter() - start) * 1000)
            if status != 0:
                sys.exit(f"{c}: exit status {status}")
    base = statistics.median(times[commands[0]])
    for c in commands:
        median = statistics.median(times[c])
        print(f"{median:7.3f} ms  x{median / base:.3f}  min {min(times[c]):.3f}  {c}")


if __name__ == "__main__":
    main()
