#!/usr/bin/env bash
# run-daemon.sh -- vestibuled against Debian's greetd 0.9, side by side in one run, with the same
# PAM stack (bench/pam.d/daemon-bench: pam_env + pam_permit), the same greeter user, the same
# scripted greeter (bench/greeter_client.rs, greetd's plain protocol, as agreety speaks it) and the
# same session (bench/session_stamp.c, records CLOCK_MONOTONIC as it starts and ends). Measured:
#   (1) create_session -> session exec: from just before the greeter writes create_session to the
#       session's first instruction (this includes the greeter's exit: both daemons start the
#       session only after the greeter has gone);
#   (2) session end -> next greeter's first reply: from the session's last instruction to the moment
#       the next greeter has read the daemon's first reply to its create_session (the daemon reaps
#       the session, closes its PAM session, starts a greeter, which connects and asks);
#   (3) idle RSS of the daemon (VmRSS, one second after a greeter connected and went idle), alone
#       and with its other helper processes (the greeter's PAM-session worker), the greeter excluded;
#   (4) RSS of the session's worker (the session's parent: vestibule-worker; greetd's session worker)
#       while the first session of each round runs.
# Each session lasts SESSION_MS (1100 ms): greetd 0.9 waits one second before the next greeter
# after a session shorter than a second (against respawn loops), which would otherwise be timed.
# Both daemons run with [terminal] vt = "none" (no terminal: greetd would otherwise take over a
# VT of this shared machine; the session's terminal handling is not what is compared) and
# source_profile = false (no shell profiles in the timings), as root, in the root sandbox of
# tests/sandbox/run.sh: a private mount namespace over a copy of /etc, where pam.d/greetd and
# pam.d/greetd-greeter are the bench stack (greetd hard-codes /etc/pam.d; vestibuled reads the
# same stack from --pam-confdir). The session user is the sandbox's alice, the greeter user vgreeter.
# ROUNDS rounds alternate the daemons (vestibuled then greetd, each RUNS/ROUNDS logins) so machine
# noise hits both alike.
#
# Usage: bench/run-daemon.sh   Tunables: RUNS=30 ROUNDS=3 SESSION_MS=1100 DAEMONS="vestibuled greetd" (one of them
# alone: to check the harness; the comparison needs both)
# Output: Markdown on stdout and in RESULTS (bench/daemon-results.md); raw per-login lines in
# bench/out/daemon-runs.tsv, each daemon's log in bench/out/daemon-logs/. Needs: root, cargo, gcc, greetd (scripts/install-deps.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUNS=${RUNS:-30}
ROUNDS=${ROUNDS:-3}
DAEMONS=${DAEMONS:-vestibuled greetd}
SESSION_MS=${SESSION_MS:-1100}
RESULTS=${RESULTS:-$ROOT/bench/daemon-results.md}
export RUNS ROUNDS DAEMONS SESSION_MS RESULTS
OUT=$ROOT/bench/out
BIN=$ROOT/target/release
die() { echo "run-daemon.sh: $*" >&2; exit 1; }

if [ "${1:-}" != --inside ]; then
	(( RUNS >= 30 )) || die "RUNS must be >= 30"
	[ "$(id -u)" -eq 0 ] || die "must run as root (sandbox, daemons)"
	[ -x /usr/sbin/greetd ] || die "/usr/sbin/greetd missing: run scripts/install-deps.sh"
	packages=(-p vestibule-e2e --bin greeter-client)
	[[ " $DAEMONS " == *" vestibuled "* ]] && packages+=(-p vestibuled --bin vestibuled --bin vestibule-worker)
	cargo build --release --locked "${packages[@]}" >&2
	mkdir -p "$OUT"
	work=$(mktemp -d /tmp/vestibule-bench-daemon.XXXXXX)
	chmod 755 "$work"
	gcc -O2 -o "$work/session_stamp" bench/session_stamp.c
	status=0
	tests/sandbox/run.sh "$work" "$0" --inside "$work" || status=$?
	rm -rf "$work"
	exit "$status"
fi

work=$2
per_round=$(( (RUNS + ROUNDS - 1) / ROUNDS ))
mkdir -p "$work/pam.d"
for service in vestibule vestibule-greeter; do cp bench/pam.d/daemon-bench "$work/pam.d/$service"; done
# The sandbox's /etc is a private copy: greetd's hard-coded services land there only.
for service in greetd greetd-greeter; do cp bench/pam.d/daemon-bench "/etc/pam.d/$service"; done

# rss PID: VmRSS in KiB.
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# descendants PID: every descendant's pid.
descendants() {
	local p c
	for p in "$@"; do
		for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do
			echo "$c"
			descendants "$c"
		done
	done
}
# wait_for FILE PATTERN COUNT PID: until FILE has COUNT lines matching PATTERN (dies after 60 s or
# when the daemon PID has exited).
wait_for() {
	local file=$1 pattern=$2 want=$3 pid=$4 i n
	for i in $(seq 3000); do
		n=$(grep -c "$pattern" "$file" 2>/dev/null) || true
		[ "${n:-0}" -ge "$want" ] && return 0
		kill -0 "$pid" 2>/dev/null || die "the daemon exited; its log: $(tail -n 20 "$(dirname "$file")/daemon.log")"
		grep -q '^failed' "$(dirname "$file")/greeter.log" 2>/dev/null &&
			die "the greeter failed: $(grep '^failed' "$(dirname "$file")/greeter.log" | head -n1); daemon log: $(tail -n 20 "$(dirname "$file")/daemon.log")"
		sleep 0.02
	done
	die "$file: $want lines matching $pattern not within 60 s; daemon log: $(tail -n 20 "$(dirname "$file")/daemon.log")"
}

# one DAEMON ROUND: runs one daemon for per_round logins (+ one greeter for the last end -> reply
# interval), appends its per-login lines to $work/runs.tsv and its memory to $work/memory.tsv.
one() {
	local name=$1 round=$2 dir pid exec_line session ppid worker_rss worker_exe idle_pid daemon_rss helpers total
	dir=$work/$name-$round
	mkdir -p "$dir"
	chmod 777 "$dir"
	touch "$dir/hold"
	local greeter="$BIN/greeter-client $dir/greeter.log $dir/stop alice $work/session_stamp $dir/session.log $dir/hold $SESSION_MS"
	cat >"$dir/config.toml" <<CONFIG
[terminal]
vt = "none"

[general]
source_profile = false
runfile = "$dir/run.file"

[default_session]
command = "$greeter"
user = "vgreeter"
CONFIG
	case $name in
	vestibuled)
		"$BIN/vestibuled" --config "$dir/config.toml" --pam-confdir "$work/pam.d" --worker "$BIN/vestibule-worker" \
			--runtime-dir "$dir/run" </dev/null >/dev/null 2>"$dir/daemon.log" &
		;;
	greetd)
		/usr/sbin/greetd --config "$dir/config.toml" </dev/null >/dev/null 2>"$dir/daemon.log" &
		;;
	esac
	pid=$!
	# The first session holds while its worker's memory is read.
	wait_for "$dir/session.log" '^exec' 1 "$pid"
	exec_line=$(grep -m1 '^exec' "$dir/session.log")
	session=$(echo "$exec_line" | cut -d' ' -f3)
	ppid=$(echo "$exec_line" | cut -d' ' -f4)
	worker_rss=$(rss "$ppid")
	worker_exe=$(readlink "/proc/$ppid/exe")
	rm -f "$dir/hold"
	wait_for "$dir/greeter.log" '^greeter' $((per_round + 1)) "$pid"
	touch "$dir/stop"
	wait_for "$dir/greeter.log" '^idle' 1 "$pid"
	idle_pid=$(grep -m1 '^idle' "$dir/greeter.log" | cut -d' ' -f2)
	sleep 1
	daemon_rss=$(rss "$pid")
	total=$daemon_rss
	helpers=0
	for p in $(descendants "$pid"); do
		[ "$p" = "$idle_pid" ] && continue
		total=$((total + $(rss "$p" || echo 0)))
		helpers=$((helpers + 1))
	done
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$round" "$daemon_rss" "$total" "$helpers" "$worker_rss" \
		"$worker_exe" >>"$work/memory.tsv"
	local rest
	rest=$(descendants "$pid")
	kill "$pid"
	for _ in $(seq 250); do kill -0 "$pid" 2>/dev/null || break; sleep 0.02; done
	# shellcheck disable=SC2086 # a list of pids
	kill -9 "$pid" "$idle_pid" $rest 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	python3 - "$name" "$round" "$per_round" "$dir" >>"$work/runs.tsv" <<'PY'
import sys
name, rnd, per_round, d = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
greeters = [dict(w.split("=") for w in l.split()[2:]) for l in open(d + "/greeter.log") if l.startswith("greeter ")]
execs = [int(l.split()[1]) for l in open(d + "/session.log") if l.startswith("exec ")]
ends = [int(l.split()[1]) for l in open(d + "/session.log") if l.startswith("end ")]
for i in range(per_round):
    c2e = (execs[i] - int(greeters[i]["create"])) / 1e6
    e2f = (int(greeters[i + 1]["first"]) - ends[i]) / 1e6
    print("%s\t%s\t%d\t%.3f\t%.3f" % (name, rnd, i + 1, c2e, e2f))
PY
}

: >"$work/runs.tsv"
: >"$work/memory.tsv"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u '+%Y-%m-%d %H:%M UTC')
for round in $(seq "$ROUNDS"); do
	for daemon in $DAEMONS; do one "$daemon" "$round"; done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
cp "$work/runs.tsv" "$OUT/daemon-runs.tsv"
rm -rf "$OUT/daemon-logs"
mkdir -p "$OUT/daemon-logs"
for d in "$work"/*-[0-9]*/; do
	d=${d%/}
	cp "$d/daemon.log" "$OUT/daemon-logs/${d##*/}.log"
done

python3 - "$work/runs.tsv" "$work/memory.tsv" "$RUNS" "$ROUNDS" "$started" "$load_start" "$load_end" \
	"$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" \
	"$(dpkg-query -W -f='${Version}' greetd)" "$(uname -r)" "$(rustc --version 2>/dev/null || echo rustc unknown)" \
	"$(awk '/^MemTotal:/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)" "$SESSION_MS" "$BIN" <<'PY' | tee "$RESULTS"
import statistics, sys
(runs, memory, n, rounds, started, load0, load1, cores, cpu, greetd_version, kernel, rustc, ram,
 session_ms, bin_dir) = sys.argv[1:]
rows = [l.split("\t") for l in open(runs).read().split("\n") if l]
mem = [l.split("\t") for l in open(memory).read().split("\n") if l]

def pct(values, p):
    s = sorted(values)
    k = (len(s) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)

def col(name, i):
    return [float(r[i]) for r in rows if r[0] == name]

print("## vestibuled vs greetd %s (bench/run-daemon.sh)\n" % greetd_version)
print("Run %s, %s logins per daemon in %s alternating rounds; load average (1, 5, 15 min) %s at"
      " its start, %s at its end.\n" % (started, n, rounds, load0, load1))
print("Machine: %s cores (%s), %s GiB RAM, Debian GNU/Linux 12, kernel %s, %s (release build)."
      " The machine is shared: other builds and tests compete for its cores.\n" % (cores, cpu, ram, kernel, rustc))
print("Commands (in the root sandbox of tests/sandbox/run.sh; $D is each round's directory):\n")
print("    %s/vestibuled --config $D/config.toml --pam-confdir $WORK/pam.d --worker %s/vestibule-worker --runtime-dir $D/run" % (bin_dir, bin_dir))
print("    /usr/sbin/greetd --config $D/config.toml")
print("    greeter (both): %s/greeter-client $D/greeter.log $D/stop alice $WORK/session_stamp $D/session.log $D/hold %s\n" % (bin_dir, session_ms))
print("Config (both): `[terminal] vt = \"none\"`, `[general] source_profile = false`, `[default_session]`"
      " user `vgreeter`; PAM: bench/pam.d/daemon-bench (pam_env + pam_permit) as vestibule and"
      " vestibule-greeter, and as /etc/pam.d/greetd and greetd-greeter in the sandbox's /etc. Each"
      " session lasts %s ms.\n" % session_ms)
print("| interval (ms) | vestibuled median | vestibuled p90 | greetd median | greetd p90 | ratio of medians |")
print("| --- | --- | --- | --- | --- | --- |")
for label, i in (("create_session -> session exec", 3), ("session end -> next greeter's first reply", 4)):
    v, g = col("vestibuled", i) or [float("nan")], col("greetd", i) or [float("nan")]
    print("| %s | %.2f | %.2f | %.2f | %.2f | %.2f |" % (
        label, statistics.median(v), pct(v, 0.9), statistics.median(g), pct(g, 0.9),
        statistics.median(v) / statistics.median(g)))
print()
print("| memory (KiB, VmRSS; median of %s rounds) | vestibuled | greetd | ratio |" % rounds)
print("| --- | --- | --- | --- |")
def m(name, i):
    return statistics.median([float(r[i]) for r in mem if r[0] == name] or [float("nan")])
for label, i in (("idle daemon (main process)", 2), ("idle daemon + its helpers, greeter excluded", 3),
                 ("worker while a session runs", 5)):
    v, g = m("vestibuled", i), m("greetd", i)
    print("| %s | %.0f | %.0f | %.2f |" % (label, v, g, v / g))
print()
helpers = {r[0]: r[4] for r in mem}
exes = {r[0]: r[6] for r in mem}
print("Helpers while idle: vestibuled %s, greetd %s process(es). The session's parent (the worker"
      " measured): vestibuled `%s`, greetd `%s`." % (
          helpers.get("vestibuled"), helpers.get("greetd"), exes.get("vestibuled"), exes.get("greetd")))
PY
