#!/usr/bin/env bash
# bench/run-lock-grab.sh [RUNS] -- Lock signal to screen covered *and* input grabbed, under Xvfb with
# a real window manager (openbox), through the session agent on a private bus with the shipped
# policy (issue 12; bench/lock-grab-results.md).
#
# Two figures for each build:
# - the lock alone, as ONE clock sees it: the lock daemon's own log (VESTIBULE_LOG=debug), from
#   the moment it read the agent's Lock signal to "covered and grabbed" (its first frame painted
#   and keyboard and pointer grabbed), and to the agent's answer to its ReportLocked (what
#   `LockSession` waits for), with the steps in between;
# - end to end: the time `vestibulectl lock-session` takes (its own start and bus connection
#   included: `show-session` alone is printed to subtract it), which returns only once the lock
#   screen reported the screen covered and input grabbed.
# After every lock the screen is read back (python3-xlib GetImage of the root window, painted
# magenta): a run counts as covered only if no magenta pixel is left.
#
# BIN=DIR (default target/release) names the build. BINS="NAME=DIR NAME=DIR ..." measures several
# builds side by side in one run: one Xvfb, openbox, bus and agent (the first build's), one session
# and lock daemon per build, and the runs alternate between them, so that all see the same load.
# Needs the release binaries (cargo build --release -p vestibule-agent -p vestibule-gtk), Xvfb,
# openbox, dbus-daemon, /usr/bin/python3 + python3-xlib. KEEP=DIR keeps the logs.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
die() { echo "run-lock-grab.sh: $*" >&2; exit 1; }
source bench/bus.sh
names=() dirs=()
for spec in ${BINS:-build=${BIN:-target/release}}; do
    names+=("${spec%%=*}")
    dirs+=("${spec#*=}")
done
for d in "${dirs[@]}"; do
    for b in vestibule-agent vestibule-gtk vestibulectl; do [[ -x $d/$b ]] || die "$d/$b missing: cargo build"; done
done
bin=${dirs[0]}
work=$(mktemp -d)
pids=()
cleanup() { stop "${pids[@]}" "${BUS_PID:-}"; [[ -n ${KEEP:-} ]] && cp -r "$work" "$KEEP"; rm -rf "$work"; }
trap cleanup EXIT

exec 3>"$work/displayfd"
Xvfb -displayfd 3 -screen 0 1280x800x24 -noreset >"$work/xvfb.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -s $work/displayfd ]] && break; sleep 0.05; done
export DISPLAY=:$(head -n1 "$work/displayfd")
openbox --sm-disable >"$work/openbox.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do xprop -root _NET_SUPPORTING_WM_CHECK 2>/dev/null | grep -q "window id" && break; sleep 0.05; done
# The desktop: the root window magenta, which no lock screen pixel is.
/usr/bin/python3 - <<'PY'
from Xlib import display
d = display.Display()
root = d.screen().root
root.change_attributes(background_pixel=0xff00ff)
root.clear_area()
d.sync()
PY
# uncovered: the number of magenta pixels on the screen now.
cat >"$work/uncovered.py" <<'PY'
from Xlib import display, X
d = display.Display()
s = d.screen()
img = s.root.get_image(0, 0, s.width_in_pixels, s.height_in_pixels, X.ZPixmap, 0xffffffff).data
# 32 bits a pixel, blue green red first: one byte of 1 per pixel whose channel matches, ANDed.
def ones(channel, value):
    table = bytes(1 if v == value else 0 for v in range(256))
    return int.from_bytes(channel.translate(table), "little")
print((ones(img[0::4], 0xff) & ones(img[1::4], 0x00) & ones(img[2::4], 0xff)).bit_count())
PY
uncovered() { /usr/bin/python3 "$work/uncovered.py"; }

sed -e "s#@WORK@#$work#g" -e "s#@DATA@#$PWD/data#g" tests/fixtures/dbus/bus.conf.in >"$work/bus.conf"
start_bus "$work/bus.conf" "$work/bus.log"
# The lock screen's PAM service: pam_unix, as Debian's common-auth, which asks for root's password
# and waits (nobody types it here). Not the tests' pam_python accounts: libpython, initialised
# again in each lock's PAM thread, crashed (SIGSEGV in PyUnicode_New, thread pam-unlock) in 2 of 6
# runs of this script, whichever build ran it.
mkdir -p "$work/pam"
printf '%s\n' "auth required pam_unix.so nodelay" "account required pam_permit.so" \
    "session required pam_permit.so" >"$work/pam/vestibule-lock"
$bin/vestibule-agent --bus-address "$ADDRESS" --state "$work/state.json" --locker-command "" \
    >"$work/agent.log" 2>&1 &
pids+=($!)
wait_for_name org.vestibule.SessionAgent1 "${pids[-1]}" "$work/agent.log"
echo "machine: $(nproc) cores, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
[[ $(uncovered) -gt 0 ]] || die "the magenta desktop does not show"
ids=()
for k in "${!names[@]}"; do
    sleep 600 &
    leader=$!
    pids+=($leader)
    id=$(dbus-send --bus="$ADDRESS" --print-reply --dest=org.vestibule.SessionAgent1 /org/vestibule/SessionAgent1 \
        org.vestibule.SessionAgent1.RegisterSession string:root uint32:0 string: "string:$DISPLAY" string: \
        string:vestibule "uint32:$leader" "uint32:$$" string:user | awk -F'"' '/string/ {print $2}')
    [[ -n $id ]] || die "RegisterSession failed"
    ids+=("$id")
    registered=$(grep -c "lock screen registered" "$work/agent.log" || true)
    VESTIBULE_LOG=debug ${GTK_WRAP:-} ${dirs[k]}/vestibule-gtk --lock-daemon --session "$id" --agent-bus "$ADDRESS" \
        --pam-confdir "$work/pam" >"$work/gtk-$k.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 600); do
        [[ $(grep -c "lock screen registered" "$work/agent.log" || true) -gt $registered ]] && break
        sleep 0.05
    done
    echo "${names[k]}: ${dirs[k]}, session $id"
done

# vestibulectl's own cost (start-up, connection, one call), to read the lock time net of it.
base=()
for i in $(seq 10); do
    t0=$(date +%s%N)
    $bin/vestibulectl --bus-address "$ADDRESS" show-session "${ids[0]}" >/dev/null
    t1=$(date +%s%N)
    base+=($(( (t1 - t0) / 1000 )))
done
printf '%s\n' "${base[@]}" | sort -n | awk '{a[NR]=$1} END {printf "vestibulectl show-session alone: median %.1f ms\n", (a[5]+a[6])/2000}'
for k in "${!names[@]}"; do : >"$work/times-$k" >"$work/uncovered-$k"; done
for i in $(seq "$runs"); do
    for k in "${!names[@]}"; do
        t0=$(date +%s%N)
        $bin/vestibulectl --bus-address "$ADDRESS" lock-session "${ids[k]}" >/dev/null
        t1=$(date +%s%N)
        left=$(uncovered)
        ms=$(( (t1 - t0) / 1000 ))
        echo "$ms" >>"$work/times-$k"
        echo "$left" >>"$work/uncovered-$k"
        printf 'run %2d %s: %d.%03d ms, %s pixels uncovered\n' "$i" "${names[k]}" $((ms / 1000)) $((ms % 1000)) "$left"
        $bin/vestibulectl --bus-address "$ADDRESS" unlock-session "${ids[k]}" >/dev/null
        sleep 0.3
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
for k in "${!names[@]}"; do
    echo "== ${names[k]} (${dirs[k]})"
    sort -n "$work/times-$k" | awk '{a[NR]=$1} END {
        m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; p = a[int(NR*0.9 + 0.999)];
        printf "lock-session to covered and grabbed, %d runs: median %.1f ms, p90 %.1f ms\n", NR, m/1000, p/1000 }'
    awk '$1 == 0 {c++} END {printf "screen covered when lock-session returned: %d of %d runs\n", c, NR}' "$work/uncovered-$k"
    # The lock alone, from the lock daemon's log: each Lock signal read, then its steps.
    python3 - "$work/gtk-$k.log" <<'PY'
import re, sys, statistics
from datetime import datetime
def ts(line):
    return datetime.strptime(line[:26], "%Y-%m-%dT%H:%M:%S.%f").timestamp() * 1000
runs, cur = [], None
for line in open(sys.argv[1], errors="replace"):
    line = re.sub(r"\x1b\[[0-9;]*m", "", line)
    if "agent signal read signal=Lock" in line:
        cur = {"signal": ts(line), "frames": 0}
        runs.append(cur)
    elif cur is not None:
        m = re.search(r"::lock: lock: (.*?) ms=([0-9.]+)", line)
        if m and m.group(1) == "first frame painted" and "held_at" not in cur:
            cur["frames"] += 1
        if m and m.group(1) not in cur:
            cur[m.group(1)] = float(m.group(2))
            if m.group(1) == "covered and grabbed":
                cur["held_at"] = ts(line)
        elif "ReportLocked answered" in line and "answered" not in cur:
            cur["answered"] = ts(line)
runs = [r for r in runs if "held_at" in r and "answered" in r]
def stats(xs):
    if not xs:
        return "n/a"
    xs = sorted(xs)
    return "median %.1f, p90 %.1f" % (statistics.median(xs), xs[min(len(xs) - 1, int(len(xs) * 0.9 + 0.999) - 1)])
print("lock alone (the lock daemon's clock), %d runs, ms:" % len(runs))
print("  Lock signal read -> covered and grabbed: %s" % stats([r["held_at"] - r["signal"] for r in runs]))
print("  Lock signal read -> ReportLocked answered: %s" % stats([r["answered"] - r["signal"] for r in runs]))
for step in ["window realized", "window made override-redirect", "window mapped", "keyboard and pointer grabbed", "covered by the lock colour", "windows presented",
             "first frame started", "first frame laid out", "first frame painted", "covered and grabbed"]:
    xs = [r[step] for r in runs if step in r]
    print("  lock() -> %s: %s (%d runs)" % (step, stats(xs), len(xs)))
print("  GTK frames painted before covered and grabbed (per run): %s" % sorted(set(r["frames"] for r in runs)))
PY
done
