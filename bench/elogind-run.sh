#!/usr/bin/env bash
# elogind-run.sh -- the baseline half of bench/run-agent.sh: starts Debian's elogind (unpacked from
# its .deb, not installed: installing it would remove systemd) on a private dbus-daemon and runs
# the measurement client session-agent/examples/elogind_bench.rs against it.
#
# run-agent.sh runs this under `unshare -m`: everything elogind writes lands on tmpfs mounts made
# here, in a mount namespace of its own — /run (its session, user and seat files, the users'
# runtime directories) and /sys/fs/cgroup (where it mounts its own cgroup hierarchy and moves each
# session's leader into a cgroup of its own) — so the machine is left as it was.
#
# Usage (as root, in a private mount namespace):
#   elogind-run.sh ELOGIND_ROOT WORK BUS_CONF CLIENT [client arguments...]
# ELOGIND_ROOT: the unpacked elogind and libelogind0 packages; WORK: a scratch directory;
# BUS_CONF: the bus configuration (run-agent.sh renders the same one its agent runs on, with
# elogind's own bus policy included); CLIENT: elogind_bench. Prints the client's report.
set -euo pipefail

die() { printf 'elogind-run.sh: ERROR: %s\n' "$*" >&2; exit 1; }
# shellcheck source=bench/bus.sh
. "$(dirname "${BASH_SOURCE[0]}")/bus.sh"

[[ $# -ge 4 ]] || die "usage: elogind-run.sh ELOGIND_ROOT WORK BUS_CONF CLIENT [ARGS...]"
ELO=$1 WORK=$2 BUS_CONF=$3 CLIENT=$4
shift 4
[[ $(id -u) -eq 0 ]] || die "run as root"
[[ -x $ELO/lib/elogind/elogind ]] || die "no elogind under $ELO"

# Mounts here stay here.
mount --make-rprivate /
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=0755 tmpfs /sys/fs/cgroup

# 10,000 sessions are 10,000 FIFOs held open by the client and by elogind.
ulimit -n "$(ulimit -Hn)"
[[ $(ulimit -n) == unlimited || $(ulimit -n) -ge 12000 ]] \
    || die "the open-file limit ($(ulimit -n)) is below the 12,000 needed for 10,000 sessions"

# logind.conf: the default SessionsMax (8192) is below the 10,000 measured; nothing else changed
# that matters here (no user processes are killed at logout, IPC is left alone).
printf '[Login]\nSessionsMax=20000\nKillUserProcesses=no\nRemoveIPC=no\n' >"$WORK/logind.conf"

BUS_PID='' ELOGIND_PID=''
cleanup() { stop "$ELOGIND_PID" "$BUS_PID"; }
trap cleanup EXIT

start_bus "$BUS_CONF" "$WORK/bus.log"

DBUS_SYSTEM_BUS_ADDRESS=$ADDRESS ELOGIND_CONF_FILE=$WORK/logind.conf SYSTEMD_LOG_LEVEL=warning \
    SYSTEMD_LOG_TARGET=console LD_LIBRARY_PATH="$ELO/lib/elogind:$ELO/lib/x86_64-linux-gnu" \
    "$ELO/lib/elogind/elogind" 2>"$WORK/elogind.log" &
ELOGIND_PID=$!
wait_for_name org.freedesktop.login1 "$ELOGIND_PID" "$WORK/elogind.log"

"$CLIENT" --bus "$ADDRESS" --elogind-pid "$ELOGIND_PID" "$@" \
    || die "elogind_bench failed; elogind log: $(tail -n 20 "$WORK/elogind.log")"
kill -0 "$ELOGIND_PID" 2>/dev/null || die "elogind died during the run"
