#!/usr/bin/env bash
# run-cage.sh -- issue 11's benchmark of the desktop greeter where it now runs: inside cage (Debian's
# cage 0.1.4, wlroots' headless backend, pixman, 1280x720), as an unprivileged user, side by side in
# one run with Debian's lightdm-gtk-greeter 2.0.8 in the same cage:
#   (1) greeter start to first frame: from just before fork/exec of `cage -- GREETER` to the
#       greeter's first committed frame (its WAYLAND_DEBUG trace), and to the first screenshot
#       showing its finished idle screen (grim; bench/cage-bench.py says how);
#   (2) idle RSS of greeter + compositor: VmRSS (and Pss) of cage and everything under it, IDLE s
#       after the first frame;
#   (3) login to session exec (bench/desktop-latency, from tests/src/cage.rs's harness): alice's
#       password typed, from the Enter key to the session's first instruction
#       (bench/session_stamp.c), with vestibule-gtk in cage under vestibuled, and the same greeter
#       under Debian's greetd 0.9 (lightdm-gtk-greeter cannot log in without the lightdm daemon,
#       which is not installed: it must own a seat and start its own X server).
# Runs alternate the sides so noise on this shared machine hits both alike.
#
# Why lightdm-gtk-greeter and not ReGreet: ReGreet (the GTK 4 greetd greeter that runs in cage) is not
# on crates.io (`cargo install regreet` finds no such crate) and Debian 12 does not package it; of
# the GTK greeters Debian 12 ships, lightdm-gtk-greeter is the closest (GTK 3). It gets the two
# pipes and the CONNECT handshake lightdm gives its greeters (bench/gtk-bench.py's FakeLightdm).
#
# Usage: bench/run-cage.sh   (as root)   Tunables: RUNS=20 (>= 20) IDLE=3 LOGINS=20 (>= 20)
# Output: Markdown on stdout and in RESULTS (bench/cage-results.md); raw runs in
#         bench/out/cage-runs.tsv and bench/out/cage-logins.tsv, logs in bench/out/cage-logs/.
# Needs: cargo, gcc, cage, xwayland, grim, sway, greetd, lightdm-gtk-greeter, python3-xlib
#        (scripts/install-deps.sh --bench).
set -euo pipefail

die() { printf 'run-cage.sh: ERROR: %s\n' "$*" >&2; exit 1; }
log() { printf 'run-cage.sh: %s\n' "$*" >&2; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUNS=${RUNS:-20}
IDLE=${IDLE:-3}
LOGINS=${LOGINS:-20}
RESULTS=${RESULTS:-$ROOT/bench/cage-results.md}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $TARGET = /* ]] || TARGET=$ROOT/$TARGET
OUT=$ROOT/bench/out
PY=/usr/bin/python3
LIGHTDM_GREETER=/usr/sbin/lightdm-gtk-greeter

(( RUNS >= 20 )) || die "RUNS must be >= 20"
(( LOGINS >= 20 )) || die "LOGINS must be >= 20"
[[ $(id -u) -eq 0 ]] || die "run as root (the greeters run as nobody; their memory is read as root)"
for tool in cargo gcc cage grim sway Xwayland; do
	command -v "$tool" >/dev/null || die "'$tool' not found (scripts/install-deps.sh --bench)"
done
"$PY" -c 'import Xlib' 2>/dev/null || die "$PY needs python3-xlib (scripts/install-deps.sh --bench)"
[[ -x $LIGHTDM_GREETER ]] || die "$LIGHTDM_GREETER missing (scripts/install-deps.sh --bench)"

log "cargo build --release --locked (vestibule-gtk, vestibuled, vestibule-worker, desktop-latency)"
cargo build --release --locked -p vestibule-gtk -p vestibuled -p vestibule-e2e \
	--bin vestibule-gtk --bin vestibuled --bin vestibule-worker --bin desktop-latency >&2 || die "build failed"
GTK=$TARGET/release/vestibule-gtk

mkdir -p "$OUT"
LOGS=$OUT/cage-logs
rm -rf "$LOGS"
mkdir -p "$LOGS"
WORK=$(mktemp -d /tmp/vestibule-bench-cage.XXXXXX)
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
mkdir -p "$WORK/cache"
chown nobody:nogroup "$WORK/cache"
chmod 777 "$LOGS"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
cat >"$WORK/config.toml" <<CONFIG
[greeter]
state_file = "$WORK/cache/greeter-state"
CONFIG
chmod 644 "$WORK/config.toml"

log "(1)+(2): $RUNS starts of each greeter in cage, idle $IDLE s"
"$PY" bench/cage-bench.py --runs "$RUNS" --idle "$IDLE" --workdir "$WORK" --logdir "$LOGS" \
	--side vestibule-gtk plain "$GTK --config $WORK/config.toml" \
	--side "lightdm-gtk-greeter" lightdm "$LIGHTDM_GREETER" >"$OUT/cage-runs.tsv" \
	|| die "greeter runs failed (logs in $LOGS)"

log "(3): $LOGINS logins through each daemon"
gcc -O2 -o "$WORK/session_stamp" bench/session_stamp.c
# The test harness finds the workspace's binaries next to the directory its executable is in
# (target/release/deps/X -> target/release), as for a test binary.
cp "$TARGET/release/desktop-latency" "$TARGET/release/deps/desktop-latency-bench"
"$TARGET/release/deps/desktop-latency-bench" --logins "$LOGINS" --session "$WORK/session_stamp" \
	>"$OUT/cage-logins.tsv" 2>"$LOGS/latency.log" || die "login runs failed (see $LOGS/latency.log)"
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

export GTK_VERSION=$(pkg-config --modversion gtk4 2>/dev/null || dpkg-query -W -f='${Version}' libgtk-4-1)
export LIGHTDM_VERSION=$(dpkg-query -W -f='${Version}' lightdm-gtk-greeter)
export CAGE_VERSION=$(dpkg-query -W -f='${Version}' cage)
export GREETD_VERSION=$(dpkg-query -W -f='${Version}' greetd)
export GIT_REV=$(git rev-parse --short HEAD)
export RUSTC=$(rustc --version)
export CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
export LOAD_START LOAD_END RUNS IDLE LOGINS
"$PY" - "$OUT/cage-runs.tsv" "$OUT/cage-logins.tsv" <<'PY' | tee "$RESULTS"
import os, statistics, sys

runs = {}
for line in open(sys.argv[1]):
    if line.startswith("#") or not line.strip():
        continue
    f = line.rstrip("\n").split("\t")
    runs.setdefault(f[1], []).append({"frame": float(f[3]), "screen": float(f[4]), "grim": float(f[5]),
                                       "rss": int(f[6]), "pss": int(f[7]), "detail": f[8],
                                       "sized": float(f[9])})
logins = {}
for line in open(sys.argv[2]):
    if line.startswith("#") or not line.strip():
        continue
    f = line.rstrip("\n").split("\t")
    logins.setdefault(f[0], []).append(float(f[2]))

def med(xs):
    return statistics.median(xs)

def p(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]

env = os.environ
print("# Desktop greeter in cage: benchmark results (bench/run-cage.sh)\n")
print(f"- {env['CPU']}, 2 cores shared with other work; load {env['LOAD_START']} at the start, {env['LOAD_END']} at the end")
print(f"- cage {env['CAGE_VERSION']} (wlroots headless backend, pixman, one 1280x720 output), as nobody")
print(f"- vestibule-gtk: release build of {env['GIT_REV']}, GTK {env['GTK_VERSION']}, {env['RUSTC']}; "
      f"lightdm-gtk-greeter {env['LIGHTDM_VERSION']} (GTK 3); greetd {env['GREETD_VERSION']}")
print(f"- {env['RUNS']} starts per greeter, interleaved; memory {env['IDLE']} s after the first frame; "
      f"{env['LOGINS']} logins per daemon, alternating\n")
names = list(runs)
print("| metric | " + " | ".join(names) + " | target | met? |")
print("|---|" + "---|" * len(names) + "---|---|")
ours, peer = runs.get("vestibule-gtk"), runs.get("lightdm-gtk-greeter")
def row(label, key, scale, unit, target):
    vals = [med([r[key] for r in runs[n]]) / scale for n in names]
    met = ""
    if target is not None and ours and peer:
        o = med([r[key] for r in ours]) / scale
        q = med([r[key] for r in peer]) / scale
        met = "yes" if o <= target and o <= q else "no"
    cells = " | ".join(f"{v:.1f} {unit}" for v in vals)
    print(f"| {label} | {cells} | {'' if target is None else f'<= {target} {unit}, <= peer'} | {met} |")
row("start to first frame, median", "frame", 1, "ms", 400)
row("start to first frame at the output's size, median", "sized", 1, "ms", None)
row("start to finished idle screen (grim), median", "screen", 1, "ms", None)
row("one grim capture, median", "grim", 1, "ms", None)
row("idle RSS, greeter + cage, median", "rss", 1024, "MiB", 80)
row("idle Pss, greeter + cage, median", "pss", 1024, "MiB", None)
print()
for n in names:
    fr = [r["frame"] for r in runs[n]]
    print(f"- {n}: first frame p10 {p(fr, .1):.1f} / p90 {p(fr, .9):.1f} ms; processes: {runs[n][0]['detail']} (KiB)")
print()
if logins:
    print("| login to session exec | median | p10 | p90 | runs |")
    print("|---|---|---|---|---|")
    for n, xs in logins.items():
        print(f"| {n} | {med(xs):.1f} ms | {p(xs, .1):.1f} ms | {p(xs, .9):.1f} ms | {len(xs)} |")
PY
