# bench/bus.sh -- sourced by the benchmark scripts that run a service on a private system-like
# bus (run-agent.sh, elogind-run.sh, run-gtk.sh). The caller defines die().

# stop PID...: ends each of these background processes (empty ones skipped) and reaps it.
stop() {
    local p
    for p in "$@"; do
        [[ -n $p ]] || continue
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
}

# start_bus CONF LOG: starts dbus-daemon with the configuration CONF in the background, its
# stderr to LOG; sets BUS_PID (for the caller's cleanup) and ADDRESS.
start_bus() {
    local conf=$1 log=$2 file
    file=$(mktemp)
    dbus-daemon --config-file="$conf" --nofork --nopidfile --print-address=1 >"$file" 2>"$log" &
    BUS_PID=$!
    for _ in $(seq 100); do [[ -s $file ]] && break; sleep 0.05; done
    ADDRESS=$(head -n1 "$file")
    rm -f "$file"
    [[ $ADDRESS == unix:* ]] || die "dbus-daemon did not start: $(cat "$log")"
}

# wait_for_name NAME PID LOG: waits up to 10 s for NAME to be owned on $ADDRESS; dies if process
# PID exits first (showing LOG) or the time runs out.
wait_for_name() {
    local name=$1 pid=$2 log=$3
    for _ in $(seq 100); do
        grep -q "$name" <(busctl --address="$ADDRESS" list 2>/dev/null || true) && return 0
        kill -0 "$pid" 2>/dev/null || die "$name: its service exited: $(tail -n 20 "$log")"
        sleep 0.1
    done
    die "$name did not appear on the bus within 10 s: $(tail -n 20 "$log")"
}
