#!/usr/bin/env bash
# bench/run-lock-grab.sh [RUNS] -- Lock signal to screen covered *and* input grabbed, under Xvfb with
# a real window manager (openbox), through the session agent on a private bus with the shipped
# policy: the time `vestibulectl lock-session` takes, which returns only once the lock screen
# reported the screen covered and keyboard and pointer grabbed (ReportLocked). Includes
# vestibulectl's own start-up and bus connection, so it overstates the lock by a few ms.
# Prints each run, then the median and p90, then the lock alone as the lock daemon logged it
# (VESTIBULE_LOG=debug): from reading the agent's Lock signal to covered and grabbed, and to the
# agent's answer to ReportLocked, with the steps in between (bench/lock-grab-results.md).
# Needs the release binaries (cargo build --release -p vestibule-agent -p vestibule-gtk), Xvfb,
# openbox, dbus-daemon, python3 + pam_python (the lock stack's virtual root account). BIN=target/debug measures the debug binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
die() { echo "run-lock-grab.sh: $*" >&2; exit 1; }
source bench/bus.sh
bin=${BIN:-target/release}
for b in vestibule-agent vestibule-gtk vestibulectl; do [[ -x $bin/$b ]] || die "$bin/$b missing: cargo build"; done
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

sed -e "s#@WORK@#$work#g" -e "s#@DATA@#$PWD/data#g" tests/fixtures/dbus/bus.conf.in >"$work/bus.conf"
start_bus "$work/bus.conf" "$work/bus.log"
mkdir -p "$work/pam"
sed -e "s#@PY@#$PWD/tests/fixtures/python#g" -e "s#@WORK@#$work#g" tests/pam.d/lock-accounts >"$work/pam/vestibule-lock"
: >"$work/record.log"
$bin/vestibule-agent --bus-address "$ADDRESS" --state "$work/state.json" --locker-command "" \
    >"$work/agent.log" 2>&1 &
pids+=($!)
wait_for_name org.vestibule.SessionAgent1 "${pids[-1]}" "$work/agent.log"
sleep 600 &
leader=$!
pids+=($leader)
id=$(dbus-send --bus="$ADDRESS" --print-reply --dest=org.vestibule.SessionAgent1 /org/vestibule/SessionAgent1 \
    org.vestibule.SessionAgent1.RegisterSession string:root uint32:0 string: "string:$DISPLAY" string: \
    string:vestibule "uint32:$leader" "uint32:$$" string:user | awk -F'"' '/string/ {print $2}')
[[ -n $id ]] || die "RegisterSession failed"
echo "machine: $(nproc) cores, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
VESTIBULE_LOG=debug ${GTK_WRAP:-} $bin/vestibule-gtk --lock-daemon --session "$id" --agent-bus "$ADDRESS" --pam-confdir "$work/pam" \
    >"$work/gtk.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do grep -q "lock screen registered" "$work/agent.log" && break; sleep 0.05; done

# vestibulectl's own cost (start-up, connection, one call), to read the lock time net of it.
base=()
for i in $(seq 10); do
    t0=$(date +%s%N)
    $bin/vestibulectl --bus-address "$ADDRESS" show-session "$id" >/dev/null
    t1=$(date +%s%N)
    base+=($(( (t1 - t0) / 1000 )))
done
printf '%s\n' "${base[@]}" | sort -n | awk '{a[NR]=$1} END {printf "vestibulectl show-session alone: median %.1f ms\n", (a[5]+a[6])/2000}'
times=()
for i in $(seq "$runs"); do
    t0=$(date +%s%N)
    $bin/vestibulectl --bus-address "$ADDRESS" lock-session "$id" >/dev/null
    t1=$(date +%s%N)
    ms=$(( (t1 - t0) / 1000 ))
    times+=("$ms")
    printf 'run %2d: %d.%03d ms\n' "$i" $((ms / 1000)) $((ms % 1000))
    $bin/vestibulectl --bus-address "$ADDRESS" unlock-session "$id" >/dev/null
    sleep 0.3
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {
    m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; p = a[int(NR*0.9 + 0.999)];
    printf "lock-session to covered and grabbed, %d runs: median %.1f ms, p90 %.1f ms\n", NR, m/1000, p/1000 }'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
# The lock alone, from the lock daemon's log: each Lock signal read, then its steps.
python3 - "$work/gtk.log" <<'PY'
import re, sys, statistics
from datetime import datetime
def ts(line):
    return datetime.strptime(line[:26], "%Y-%m-%dT%H:%M:%S.%f").timestamp() * 1000
runs, cur = [], None
for line in open(sys.argv[1], errors="replace"):
    line = re.sub(r"\x1b\[[0-9;]*m", "", line)
    if "agent signal read signal=Lock" in line:
        cur = {"signal": ts(line)}
        runs.append(cur)
    elif cur is not None:
        m = re.search(r"::lock: lock: (.*?) ms=([0-9.]+)", line)
        if m and m.group(1) not in cur:
            cur[m.group(1)] = float(m.group(2))
            if m.group(1) == "covered and grabbed":
                cur["held_at"] = ts(line)
        elif "ReportLocked answered" in line and "answered" not in cur:
            cur["answered"] = ts(line)
runs = [r for r in runs if "held_at" in r and "answered" in r]
def med(xs):
    return statistics.median(xs) if xs else float("nan")
print("lock alone, %d runs (medians, ms):" % len(runs))
print("  signal read -> covered and grabbed: %.1f" % med([r["held_at"] - r["signal"] for r in runs]))
print("  signal read -> ReportLocked answered: %.1f" % med([r["answered"] - r["signal"] for r in runs]))
for step in ["windows presented", "keyboard and pointer grabbed", "first frame painted", "covered and grabbed"]:
    xs = [r[step] for r in runs if step in r]
    print("  lock() -> %s: %.1f (%d runs)" % (step, med(xs), len(xs)))
PY
