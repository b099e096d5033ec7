#!/usr/bin/env bash
# run-gtk.sh -- issue 6's benchmark of the desktop greeter and lock screen (vestibule-gtk), side by
# side with Debian's lightdm-gtk-greeter 2.0.8, on Xvfb (1024x768x24):
#   (1) greeter start to first frame: from just before fork/exec of the greeter until the screen
#       shows its idle login screen (bench/gtk-bench.py says how pixels are sampled);
#   (2) lock signal to screen covered: the lock daemon (vestibule-gtk --lock-daemon) idle under a
#       running session agent, from the LockSession call until the screen shows the lock screen,
#       with a full-screen check that no pixel of the root window is left;
#   (3) idle memory of the greeter: VmRSS (and VmHWM, Pss) IDLE seconds after its first frame.
# Greeter runs are interleaved (vestibule-gtk, lightdm, lightdm, vestibule-gtk, ...) so load on
# this shared machine hits both alike.
#
# lightdm-gtk-greeter needs the lightdm daemon only for its start-up handshake: lightdm starts it
# with two pipes (LIGHTDM_TO_SERVER_FD, LIGHTDM_FROM_SERVER_FD), the greeter sends CONNECT and
# waits for CONNECTED. bench/gtk-bench.py plays lightdm's part of that handshake (nothing else is
# sent to a greeter until a login starts). The lightdm daemon itself is not used: it must run as
# root on a seat, start its own X server and a PAM session for its greeter user, and is not
# installed (lightdm-gtk-greeter does not depend on it).
#
# Both greeters get the same environment: DISPLAY, a private session bus (a real greeter session
# has one; the accessibility bus is activated on it), XDG_RUNTIME_DIR and XDG_CACHE_HOME in the work
# directory (nothing is written to the invoking user's ~/.cache).
#
# A third, informative side: vestibule-gtk with GSK_RENDERER=gl. vestibule-gtk draws with GSK's
# cairo renderer and GL disabled unless GSK_RENDERER is set (GTK 3, and so lightdm-gtk-greeter,
# draws with cairo too); with GSK_RENDERER=gl it uses GTK 4's GL renderer, which on Xvfb (no GPU)
# runs on Mesa's software rasteriser, llvmpipe. The targets are judged on the default.
# vestibule-gtk runs with the default configuration (user list on, sessions from the usual
# directories) apart from its state file; lightdm-gtk-greeter with Debian's configuration
# (its background image is in desktop-base, a Recommends that is not installed, so it draws a
# plain black background, as vestibule-gtk draws a plain colour).
#
# Usage: bench/run-gtk.sh   (as root: the agent's RegisterSession is root-only)
# Tunables: RUNS=30 (greeter starts per side, >= 20) LOCK_RUNS=30 RESPAWN_RUNS=20 (lock screen
# killed while locked, replaced by the agent) IDLE=3 (s at the card before
#           memory is read) RESULTS=bench/gtk-results.md
# Output: Markdown on stdout and in $RESULTS; raw runs in bench/out/gtk-runs.tsv and
#         bench/out/gtk-lock-runs.tsv, logs of every process in bench/out/gtk-logs/.
# Needs: cargo, Xvfb, dbus-daemon, /usr/bin/python3 with python3-xlib and python3-gi,
#        lightdm-gtk-greeter (scripts/install-deps.sh --bench installs them).
set -euo pipefail

die() { printf 'run-gtk.sh: ERROR: %s\n' "$*" >&2; exit 1; }
log() { printf 'run-gtk.sh: %s\n' "$*" >&2; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/bus.sh
. "$ROOT/bench/bus.sh"
RUNS=${RUNS:-30}
LOCK_RUNS=${LOCK_RUNS:-30}
RESPAWN_RUNS=${RESPAWN_RUNS:-20}
IDLE=${IDLE:-3}
RESULTS=${RESULTS:-$ROOT/bench/gtk-results.md}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $TARGET = /* ]] || TARGET=$ROOT/$TARGET
OUT=$ROOT/bench/out
PY=/usr/bin/python3
LIGHTDM_GREETER=/usr/sbin/lightdm-gtk-greeter

(( RUNS >= 20 )) || die "RUNS must be >= 20"
(( LOCK_RUNS >= 20 )) || die "LOCK_RUNS must be >= 20"
[[ $(id -u) -eq 0 ]] || die "run as root (the agent's RegisterSession is root-only)"
for tool in cargo Xvfb dbus-daemon busctl; do
	command -v "$tool" >/dev/null || die "'$tool' not found (scripts/install-deps.sh --bench)"
done
"$PY" -c 'import Xlib, gi; gi.require_version("Gio", "2.0")' 2>/dev/null \
	|| die "$PY needs python3-xlib and python3-gi (scripts/install-deps.sh --bench)"
[[ -x $LIGHTDM_GREETER ]] || die "$LIGHTDM_GREETER missing (scripts/install-deps.sh --bench)"

log "cargo build --release --locked -p vestibule-gtk -p vestibule-agent --bins"
cargo build --release --locked -p vestibule-gtk -p vestibule-agent --bins >&2 || die "build failed"
GTK=$TARGET/release/vestibule-gtk
AGENT=$TARGET/release/vestibule-agent
[[ -x $GTK && -x $AGENT ]] || die "binaries missing after build"

mkdir -p "$OUT"
LOGS=$OUT/gtk-logs
rm -rf "$LOGS"
mkdir -p "$LOGS"
WORK=$(mktemp -d /tmp/vestibule-bench-gtk.XXXXXX)
XVFB_PID='' SESSION_BUS_PID='' BUS_PID='' AGENT_PID=''
cleanup() {
	stop "$AGENT_PID" "$BUS_PID" "$SESSION_BUS_PID" "$XVFB_PID"
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# X server: a display number Xvfb picks itself (-displayfd), so no test's server is touched.
Xvfb -displayfd 9 -screen 0 1024x768x24 -nolisten tcp 9>"$WORK/display" >"$LOGS/xvfb.log" 2>&1 &
XVFB_PID=$!
for _ in $(seq 100); do [[ -s $WORK/display ]] && break; sleep 0.05; done
[[ -s $WORK/display ]] || die "Xvfb did not start: $(cat "$LOGS/xvfb.log")"
export DISPLAY=:$(head -n1 "$WORK/display")
log "Xvfb on $DISPLAY"

# The session bus both greeters get, and a runtime directory (the accessibility bus's socket).
mkdir -m 700 "$WORK/runtime"
export XDG_RUNTIME_DIR=$WORK/runtime
mkdir -p "$WORK/cache"
export XDG_CACHE_HOME=$WORK/cache
dbus-daemon --session --nofork --nopidfile --address="unix:path=$WORK/session.sock" --print-address=1 \
	>"$WORK/session.address" 2>"$LOGS/session-bus.log" &
SESSION_BUS_PID=$!
for _ in $(seq 100); do [[ -s $WORK/session.address ]] && break; sleep 0.05; done
[[ -s $WORK/session.address ]] || die "session dbus-daemon did not start: $(cat "$LOGS/session-bus.log")"
export DBUS_SESSION_BUS_ADDRESS=$(head -n1 "$WORK/session.address")

# PAM: the greeter loads no module until a login starts (pam_permit, bench/pam.d/vestibule); the
# lock screen starts pam_authenticate at once on vestibule-lock, and pam_unix there asks for the
# password and waits (the runs unlock through the agent, never with a password).
mkdir -p "$WORK/pam.d"
cp bench/pam.d/vestibule "$WORK/pam.d/vestibule"
cat >"$WORK/pam.d/vestibule-lock" <<'PAM'
# run-gtk.sh: a lock screen that asks for the password and waits.
auth     required pam_unix.so nodelay
account  required pam_permit.so
PAM
cat >"$WORK/config.toml" <<CONFIG
[greeter]
state_file = "$WORK/greeter-state"
CONFIG

GTK_VERSION=$(pkg-config --modversion gtk4 2>/dev/null || dpkg-query -W -f='${Version}' libgtk-4-1)
LIGHTDM_VERSION=$(dpkg-query -W -f='${Version}' lightdm-gtk-greeter)
LIGHTDM_LABEL="lightdm-gtk-greeter ${LIGHTDM_VERSION%%-*}"
# The greeter is a client of the login daemon and refuses root: it runs as nobody with a
# GREETD_SOCK nobody answers (nothing is sent there until a login starts), a runtime and cache
# directory of its own and no session bus (the bus above is root's). The greeter in its real place,
# cage under vestibuled, is measured by bench/run-cage.sh.
mkdir -m 700 "$WORK/nobody-runtime" "$WORK/nobody-cache"
chown nobody:nogroup "$WORK/nobody-runtime" "$WORK/nobody-cache"
chmod 755 "$WORK"
chmod 644 "$WORK/config.toml"
GREETER_CMD="setpriv --reuid=nobody --regid=nogroup --clear-groups -- env GREETD_SOCK=$WORK/no-daemon.sock \
XDG_RUNTIME_DIR=$WORK/nobody-runtime XDG_CACHE_HOME=$WORK/nobody-cache DBUS_SESSION_BUS_ADDRESS=disabled: \
$GTK --config $WORK/config.toml"

# (1) + (3): both greeters, interleaved.
log "greeters: $RUNS starts each, idle $IDLE s"
"$PY" bench/gtk-bench.py greeters --display "$DISPLAY" --runs "$RUNS" --idle "$IDLE" --logdir "$LOGS" \
	--side vestibule-gtk plain "$GREETER_CMD" \
	--side "vestibule-gtk, GSK_RENDERER=gl" plain "env GSK_RENDERER=gl $GREETER_CMD" \
	--side "$LIGHTDM_LABEL" lightdm "$LIGHTDM_GREETER" >"$OUT/gtk-runs.tsv" \
	|| die "greeter runs failed (logs in $LOGS)"

# (2): the agent on a private system-like bus (the shipped policy), the lock daemon, LockSession.
sed -e "s|@WORK@|$WORK|g" -e "s|@DATA@|$ROOT/data|g" tests/fixtures/dbus/bus.conf.in >"$WORK/bus.conf"
start_bus "$WORK/bus.conf" "$LOGS/agent-bus.log"
mkdir -p "$WORK/agent"
VESTIBULE_LOG=info "$AGENT" --bus-address "$ADDRESS" --state "$WORK/agent/sessions.json" \
	--pam-confdir "$WORK/pam.d" --locker-command "$GTK --lock-daemon --session {id} --pam-confdir $WORK/pam.d" \
	2>"$LOGS/agent.log" &
AGENT_PID=$!
wait_for_name org.vestibule.SessionAgent1 "$AGENT_PID" "$LOGS/agent.log"

LOCK_STATUS=measured
LOCK_REASON=''
log "lock: $LOCK_RUNS locks of one idle lock daemon"
if ! VESTIBULE_LOG=info "$PY" bench/gtk-bench.py lock --display "$DISPLAY" --bus "$ADDRESS" --runs "$LOCK_RUNS" \
	--respawn-runs "$RESPAWN_RUNS" \
	--logdir "$LOGS" --daemon "$GTK --lock-daemon --agent-bus $ADDRESS --pam-confdir $WORK/pam.d" \
	>"$OUT/gtk-lock-runs.tsv" 2>"$LOGS/lock-bench.log"; then
	LOCK_STATUS=pending
	LOCK_REASON=$(grep -m1 'FAILED\|stopped by signal' "$LOGS/lock-bench.log" || tail -n 1 "$LOGS/lock-bench.log")
	LOCK_REASON="the harness's lock runs failed: ${LOCK_REASON#gtk-bench: } (bench/out/gtk-logs/lock-bench.log, lock-daemon.log, agent.log)"
	log "lock measurement failed: $LOCK_REASON"
fi
cat "$LOGS/lock-bench.log" >&2

# Report.
MACHINE="$(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, $(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r)"
XVFB_VERSION=$(dpkg-query -W -f='${Version}' xvfb)
export MACHINE GTK_VERSION XVFB_VERSION LIGHTDM_LABEL LOCK_STATUS LOCK_REASON RUNS LOCK_RUNS IDLE
GIT_REV=$(git rev-parse --short HEAD)
RUSTC=$(rustc --version)
GTK3_VERSION=$(dpkg-query -W -f='${Version}' libgtk-3-0)
RUN_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
LOADS="$LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
export GIT_REV RUSTC GTK3_VERSION RUN_DATE LOADS
"$PY" - "$OUT/gtk-runs.tsv" "$OUT/gtk-lock-runs.tsv" <<'PY' | tee "$RESULTS"
import math, os, statistics, sys
env = os.environ
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip() and not l.startswith("#")]
targets = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.startswith("#targets")]
breakdowns = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.startswith("#breakdown")]
lock_lines = open(sys.argv[2]).read().splitlines() if os.path.exists(sys.argv[2]) else []
locks = [l.split("\t") for l in lock_lines if l and not l.startswith("#")]
lock_targets = [l.split("\t") for l in lock_lines if l.startswith("#targets")]
lockdaemon = [l.split("\t") for l in lock_lines if l.startswith("#lockdaemon")]
respawns = [l.split("\t") for l in lock_lines if l.startswith("#respawn")]

def pct(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    f, c = math.floor(k), math.ceil(k)
    return xs[f] + (xs[c] - xs[f]) * (k - f)

def stats(xs):
    return statistics.median(xs), pct(xs, 90), min(xs), max(xs)

sides = []
for r in rows:
    if r[1] not in sides:
        sides.append(r[1])
S = {}
for s in sides:
    rr = [r for r in rows if r[1] == s]
    S[s] = {
        "n": len(rr),
        "frame": stats([float(r[4]) for r in rr]),
        "change": stats([float(r[3]) for r in rr]),
        "rss": stats([int(r[5]) / 1024 for r in rr]),
        "hwm": stats([int(r[6]) / 1024 for r in rr]),
        "pss": stats([int(r[7]) / 1024 for r in rr]),
        "children": sorted({r[8] for r in rr}),
        "unstable": sum(1 for r in rr if r[9] != "yes"),
    }
V = sides[0]
L = next(s for s in sides if s.startswith("lightdm"))
OTHER = [s for s in sides if s not in (V, L)]
print("# Desktop greeter and lock screen: results (bench/run-gtk.sh)")
print()
print(f"Run {env.get('RUN_DATE', '')}".rstrip())
print()
print("Command: `bench/run-gtk.sh` (as root; " + f"RUNS={env['RUNS']} LOCK_RUNS={env['LOCK_RUNS']} IDLE={env['IDLE']}" + "), harness `bench/gtk-bench.py`.")
print()
print(f"- machine: {env['MACHINE']}")
print(f"- GTK {env['GTK_VERSION']} (vestibule-gtk, gtk4-rs), GTK 3 {env.get('GTK3_VERSION', '')} ({env['LIGHTDM_LABEL']}); Xvfb {env['XVFB_VERSION']}, 1024x768x24, no window manager, no compositor")
print(f"- load average (1, 5, 15 min): {env['LOADS']}")
print(f"- vestibule-gtk: release build of {env['GIT_REV']} (+ working tree), {env['RUSTC']}")
print()
print("## Greeter start to first frame, and idle memory")
print()
print(f"{' / '.join(sides)}: {S[V]['n']} starts each, interleaved; idle {env['IDLE']} s at the login screen before memory is read.")
print("First frame: from just before fork/exec until all five sampled pixels (the four corners and the centre)")
print("show the greeter's idle login screen (the centre lies on the login card); \"first change\" is the first")
print("sample that is no longer the root window's colour.")
print()
print("| | " + " | ".join(sides) + " |")
print("|---|" + "---:|" * len(sides))
def row(name, key, fmt, unit):
    cells = []
    for s in sides:
        m, p90, lo, hi = S[s][key]
        cells.append(f"{m:{fmt}} {unit} (p90 {p90:{fmt}}, {lo:{fmt}}–{hi:{fmt}})")
    print(f"| {name}, median (p90, min–max) | " + " | ".join(cells) + " |")
row("first frame", "frame", ".0f", "ms")
row("first change on screen", "change", ".0f", "ms")
row("idle VmRSS", "rss", ".1f", "MiB")
row("idle VmHWM (peak)", "hwm", ".1f", "MiB")
row("idle Pss", "pss", ".1f", "MiB")
print("| child processes (comm:RSS KiB) | " + " | ".join(", ".join(S[s]["children"]) for s in sides) + " |")
print("| runs whose screen changed during the idle wait | " + " | ".join(str(S[s]["unstable"]) for s in sides) + " |")
print()
for t in targets:
    print(f"Idle samples of {t[1]} (corners, centre): {t[2]}")
print()
print("Where the resident memory is (first timed run of each side, /proc/PID/status and smaps):")
print()
for b in breakdowns:
    print(f"- {b[1]}: {b[2]}")
print()

print("## Lock signal to screen covered")
print()
lock_ok = env["LOCK_STATUS"] == "measured" and locks
if lock_ok:
    cov = stats([float(r[6]) for r in locks])
    sig = stats([float(r[4]) for r in locks])
    rep = stats([float(r[3]) for r in locks])
    first = stats([float(r[5]) for r in locks])
    after_sig = stats([float(r[6]) - float(r[4]) for r in locks])
    at_done = [int(r[7]) for r in locks]
    after = [int(r[8]) for r in locks]
    corners = sum(1 for r in locks if r[9] == "yes")
    print(f"{len(locks)} locks of one `vestibule-gtk --lock-daemon` (started once, idle, no window) through")
    print("`LockSession(id)` on the agent's private bus; t0 just before the call is sent.")
    print()
    print("| | median | p90 | min–max |")
    print("|---|---:|---:|---:|")
    for name, st in [("LockSession reply", rep), ("Lock signal seen by the harness", sig),
                     ("first pixel of the lock screen", first), ("screen covered (all samples)", cov),
                     ("screen covered, counted from the Lock signal", after_sig)]:
        print(f"| {name} | {st[0]:.0f} ms | {st[1]:.0f} ms | {st[2]:.0f}–{st[3]:.0f} ms |")
    print()
    print(f"Full-screen checks: root-window pixels left when the samples said covered: max {max(at_done)} "
          f"(runs with any: {sum(1 for x in at_done if x)}); 0.5 s later: max {max(after)}; "
          f"lock background #0e1219 in all four corners: {corners}/{len(locks)} runs.")
    if lock_targets:
        print(f"Locked samples (corners, centre): {lock_targets[0][2]}")
    if respawns:
        rg = stats([float(r[2]) for r in respawns])
        rc = stats([float(r[3]) for r in respawns])
        print()
        print(f"Lock screen killed while locked ({len(respawns)} times, SIGKILL; the agent starts a new one when its bus")
        print("name vanishes): t0 at the kill, 'uncovered' when the X server has removed the dead windows,")
        print("'covered again' when the five samples show the new lock screen.")
        print()
        print("| | median | p90 | min–max |")
        print("|---|---:|---:|---:|")
        for name, st in (("uncovered (dead windows gone)", rg), ("covered again by the new lock screen", rc)):
            print(f"| {name} | {st[0]:.0f} ms | {st[1]:.0f} ms | {st[2]:.0f}–{st[3]:.0f} ms |")
        print()
        print(f"Root-window pixels left when covered again: max {max(int(r[4]) for r in respawns)}; 0.5 s later: max {max(int(r[5]) for r in respawns)}.")
    if lockdaemon:
        d = lockdaemon[0]
        print(f"Lock daemon after the runs: VmRSS {int(d[1])/1024:.1f} MiB, VmHWM {int(d[2])/1024:.1f} MiB, Pss {int(d[3])/1024:.1f} MiB ({d[4]}).")
else:
    print(f"**Pending**: {env['LOCK_REASON'] or 'no lock run completed'}")
print()

print("## Against issue 6's targets")
print()
print(f"| metric | vestibule-gtk | {L} | ratio | target | met? |")
print("|---|---:|---:|---:|---|---|")
vf, lf = S[V]["frame"][0], S[L]["frame"][0]
print(f"| greeter start to first frame (median; p90) | {vf:.0f} ms; {S[V]['frame'][1]:.0f} ms | {lf:.0f} ms; {S[L]['frame'][1]:.0f} ms | {vf/lf:.2f} | ≤ 400 ms | {'yes' if vf <= 400 else 'no'} |")
if lock_ok:
    print(f"| lock: LockSession call to screen covered (median; p90) | {cov[0]:.0f} ms; {cov[1]:.0f} ms | n/a (no lock mode) | – | ≤ 250 ms | {'yes' if cov[0] <= 250 and max(after) == 0 else 'no'} |")
    print(f"| lock: Lock signal to screen covered (median; p90) | {after_sig[0]:.0f} ms; {after_sig[1]:.0f} ms | n/a | – | ≤ 250 ms | {'yes' if after_sig[0] <= 250 and max(after) == 0 else 'no'} |")
    if respawns:
        rc = stats([float(r[3]) for r in respawns])
        clean = max(int(r[5]) for r in respawns) == 0
        print(f"| lock screen SIGKILLed while locked to screen covered again by the agent's new one (median; p90) | {rc[0]:.0f} ms; {rc[1]:.0f} ms | n/a | – | ≤ 250 ms | {'yes' if rc[0] <= 250 and clean else 'no'} |")
else:
    print(f"| lock signal to screen covered | pending | n/a (no lock mode) | – | ≤ 250 ms | pending |")
vr, lr = S[V]["rss"][0], S[L]["rss"][0]
print(f"| idle RSS (median VmRSS) | {vr:.1f} MiB | {lr:.1f} MiB | {vr/lr:.2f} | ≤ 60 MiB | {'yes' if vr <= 60 else 'no'} |")
vp, lp = S[V]["pss"][0], S[L]["pss"][0]
print(f"| idle Pss (median) | {vp:.1f} MiB | {lp:.1f} MiB | {vp/lp:.2f} | – | – |")
for n in OTHER:
    nf, nr = S[n]["frame"][0], S[n]["rss"][0]
    print(f"| *informative: {n}*: first frame; idle RSS | {nf:.0f} ms; {nr:.1f} MiB | {lf:.0f} ms; {lr:.1f} MiB | {nf/lf:.2f}; {nr/lr:.2f} | ≤ 400 ms; ≤ 60 MiB | {'yes' if nf <= 400 else 'no'}; {'yes' if nr <= 60 else 'no'} |")
print()
print("Ratios: vestibule-gtk / lightdm-gtk-greeter (below 1: vestibule-gtk is faster or smaller).")
print()
print("## Raw runs")
print()
print("`kind  side  run  first_change_ms  first_frame_ms  VmRSS_KiB  VmHWM_KiB  Pss_KiB  children  stable`")
print()
print("```")
for r in rows:
    print("\t".join(r))
print("```")
if locks:
    print()
    print("`kind  side  run  reply_ms  signal_ms  first_change_ms  covered_ms  magenta_at_covered  magenta_0.5s_later  corners_ok`")
    print()
    print("```")
    for r in locks:
        print("\t".join(r))
    print("```")
PY
log "written to $RESULTS"
