#!/usr/bin/env bash
# run-tui.sh -- the full-screen greeter against tuigreet 0.10.2 (crates.io), side by side:
#   (1) time from process start to the first complete frame (ms), and
#   (2) peak RSS while idle at the login card (VmHWM after IDLE seconds, KiB),
# median of RUNS runs each, runs interleaved (vestibule, tuigreet, vestibule, ...) so machine noise
# hits both alike. Both run in a fresh 100x30 pty per run (bench/tui_first_frame.py says how a
# frame is detected) with the same /etc/issue-style text and a clock.
#
# Both are greeter-protocol clients: they run as an unprivileged user (vestibule-tui refuses
# root; as root, this script runs both as nobody through the same setpriv wrapper) and need
# greetd's socket in $GREETD_SOCK. greetd itself (Debian's 0.9) is not used here: the bench
# measures the greeters alone, and neither sends anything before a user name is submitted
# (tuigreet connects at start-up, vestibule-tui only when a login starts), so a listening Unix
# socket is all they need to reach their login card. That does not change what is measured
# (start-up, first frame, idle memory).
#
# Usage: bench/run-tui.sh   Tunables: RUNS=30 IDLE=1  Output: Markdown on stdout and in
# bench/out/tui-results.md; raw per-run lines in bench/out/tui-runs.tsv.
# Needs: cargo (installs tuigreet 0.10.2 under target/bench-tools once), python3.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUNS=${RUNS:-30}
IDLE=${IDLE:-1}
(( RUNS >= 30 )) || { echo "run-tui.sh: RUNS must be >= 30" >&2; exit 1; }
OUT=$ROOT/bench/out
mkdir -p "$OUT"
TOOLS=$ROOT/target/bench-tools

cargo build --release --locked -p vestibule-tui >&2
TUIGREET=$TOOLS/bin/tuigreet
# scripts/install-deps.sh installs the same version for the daemon's tests: use it if it is there.
if "$ROOT/target/tools/bin/tuigreet" --version 2>/dev/null | grep -q '0\.10\.2'; then
	TUIGREET=$ROOT/target/tools/bin/tuigreet
fi
if [ ! -x "$TUIGREET" ] || ! "$TUIGREET" --version 2>/dev/null | grep -q '0\.10\.2'; then
	cargo install tuigreet --version 0.10.2 --locked --root "$TOOLS" --target-dir "$ROOT/target/bench-tools-build" >&2
fi

work=$(mktemp -d /tmp/vestibule-bench-tui.XXXXXX)
chmod 755 "$work"
as_greeter=()
if [ "$(id -u)" -eq 0 ]; then
	as_greeter=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
fi
stub=
cleanup() { [ -n "$stub" ] && kill "$stub" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
printf 'Debian GNU/Linux 12 \\n \\l\n\n' >"$work/issue"
cat >"$work/config.toml" <<CONFIG
[greeter]
issue_file = "$work/issue"
state_file = "$work/state"
CONFIG
python3 - "$work/greetd.sock" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o777)  # the greeters run as another user
s.listen(64)
held = []
while True:
    conn, _ = s.accept()
    held.append(conn)  # kept open: the greeter is idle at its card
PY
stub=$!
for _ in $(seq 100); do [ -S "$work/greetd.sock" ] && break; sleep 0.02; done

: >"$OUT/tui-runs.tsv"
for i in $(seq "$RUNS"); do
	python3 bench/tui_first_frame.py --label vestibule-tui --marker "login:" --runs 1 --idle "$IDLE" \
		--env "GREETD_SOCK=$work/greetd.sock" \
		-- "${as_greeter[@]}" target/release/vestibule-tui --config "$work/config.toml" | sed "s/\t1\t/\t$i\t/" >>"$OUT/tui-runs.tsv"
	python3 bench/tui_first_frame.py --label "tuigreet 0.10.2" --marker "Username" --runs 1 --idle "$IDLE" \
		--env "GREETD_SOCK=$work/greetd.sock" \
		-- "${as_greeter[@]}" "$TUIGREET" --time --issue --cmd /bin/sh | sed "s/\t1\t/\t$i\t/" >>"$OUT/tui-runs.tsv"
done

python3 - "$OUT/tui-runs.tsv" "$RUNS" "$IDLE" <<'PY' | tee "$OUT/tui-results.md"
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
labels = []
for r in rows:
    if r[0] not in labels:
        labels.append(r[0])
print("| greeter | first complete frame, median (min–max) | idle peak RSS, median (min–max) |")
print("|---|---|---|")
for label in labels:
    ms = [float(r[2]) for r in rows if r[0] == label]
    kib = [int(r[3]) for r in rows if r[0] == label]
    print("| %s | %.1f ms (%.1f–%.1f) | %.2f MiB (%.2f–%.2f) |" % (
        label, statistics.median(ms), min(ms), max(ms),
        statistics.median(kib) / 1024, min(kib) / 1024, max(kib) / 1024))
print()
print("%s runs each, interleaved; idle %s s at the card; 100x30 pty; TERM=xterm-256color." % (sys.argv[2], sys.argv[3]))
PY
