#!/usr/bin/env bash
# run-core.sh -- Vestibule core benchmarks, C baseline vs Rust, side by side.
#
#   (1) instructions per full PAM transaction (callgrind):
#         C:    bench/out/login_baseline --pam-confdir bench/pam.d --user bench --loop N
#         Rust: target/release/examples/lifecycle_loop --pam-confdir bench/pam.d --user bench --iterations N
#       per transaction = (Ir(N) - Ir(N0)) / (N - N0), N=1000, N0=0 by default.
#   (2) wall time of one whole login running `true` (hyperfine in alternating rounds, stdin /dev/null):
#         C:    login_baseline --pam-confdir bench/pam.d --user bench -- true
#         Rust: target/release/vestibule-login --user bench --pam-confdir bench/pam.d -- true
#         and, for comparison, the same line mode inside the full-screen greeter's binary:
#               target/release/vestibule-tui --plain --user bench --pam-confdir bench/pam.d -- true
#   (3) peak RSS of those single logins (/usr/bin/time -f %M).
#
# Usage: bench/run-core.sh            (from anywhere; run as root for realistic PAM/audit paths)
# Tunables (environment): LOOPS=1000 BASE_LOOPS=0 RUNS=100 ROUNDS=10 WARMUP=3 RSS_RUNS=10 BENCH_USER=root
#                         CARGO_TARGET_DIR (honoured when locating the Rust binaries)
# Output: Markdown report on stdout (also bench/out/core-results.md); raw data in bench/out/.
# Needs: gcc, libpam0g-dev, valgrind, hyperfine, GNU time (/usr/bin/time), cargo, awk.
set -euo pipefail

die() { printf 'run-core.sh: ERROR: %s\n' "$*" >&2; exit 1; }
log() { printf 'run-core.sh: %s\n' "$*" >&2; }
# Single-quote a word for hyperfine's shell-words parser (used with --shell=none).
sq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

LOOPS=${LOOPS:-1000}
BASE_LOOPS=${BASE_LOOPS:-0}
RUNS=${RUNS:-100}
WARMUP=${WARMUP:-3}
RSS_RUNS=${RSS_RUNS:-10}
BENCH_USER=${BENCH_USER:-root}
(( LOOPS > BASE_LOOPS )) || die "LOOPS ($LOOPS) must be greater than BASE_LOOPS ($BASE_LOOPS)"
(( RUNS >= 30 )) || die "RUNS must be >= 30"
(( RSS_RUNS >= 10 )) || die "RSS_RUNS must be >= 10"

OUT=$ROOT/bench/out
CONFDIR=$ROOT/bench/pam.d
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $TARGET = /* ]] || TARGET=$ROOT/$TARGET

C_BIN=$OUT/login_baseline
RUST_LOOP_BIN=$TARGET/release/examples/lifecycle_loop
RUST_LOGIN_BIN=$TARGET/release/vestibule-login
TUI_BIN=$TARGET/release/vestibule-tui

# ---------------------------------------------------------------- checks
for tool in gcc valgrind callgrind_annotate hyperfine cargo awk sort; do
    command -v "$tool" >/dev/null || die "'$tool' not found in PATH"
done
[[ -x /usr/bin/time ]] || die "/usr/bin/time missing (apt-get install time)"
[[ -f /usr/include/security/pam_appl.h ]] || die "PAM headers missing (apt-get install libpam0g-dev)"
[[ -f $CONFDIR/vestibule ]] || die "missing PAM service file $CONFDIR/vestibule"
[[ $ROOT != *[[:space:]]* ]] || die "repository path must not contain whitespace: $ROOT"
[[ $(id -u) -eq 0 ]] || log "WARNING: not running as root; PAM/audit code paths differ from a real login"

mkdir -p "$OUT"

# ---------------------------------------------------------------- build
# Built the way Debian builds hardened login tools (dpkg-buildflags with hardening=+all: full RELRO
# with BIND_NOW, stack protector, fortify; gcc 12 makes PIE), so that both sides carry the same
# hardening: a Rust binary is always PIE with full RELRO/BIND_NOW.
log "building C baseline -> $C_BIN"
command -v dpkg-buildflags >/dev/null || die "dpkg-buildflags missing (apt-get install dpkg-dev)"
read -r -a HARD_CFLAGS <<<"$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get CFLAGS) $(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get CPPFLAGS)"
read -r -a HARD_LDFLAGS <<<"$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get LDFLAGS)"
gcc "${HARD_CFLAGS[@]}" -Wall -Wextra -Werror -o "$C_BIN" "$ROOT/bench/baseline/login_baseline.c" \
    "${HARD_LDFLAGS[@]}" -lpam || die "C baseline build failed"
readelf -d "$C_BIN" | grep -q BIND_NOW || die "C baseline was not linked with BIND_NOW"

log "cargo build --release -p vestibule-login -p vestibule-tui"
cargo build --release -p vestibule-login -p vestibule-tui || die "cargo build -p vestibule-login -p vestibule-tui failed"
log "cargo build --release -p vestibule-core --example lifecycle_loop"
cargo build --release -p vestibule-core --example lifecycle_loop \
    || die "cargo build -p vestibule-core --example lifecycle_loop failed"

[[ -x $RUST_LOOP_BIN ]] || die "Rust loop binary missing after build: $RUST_LOOP_BIN"
[[ -x $RUST_LOGIN_BIN ]] || die "Rust login binary missing after build: $RUST_LOGIN_BIN"
[[ -x $TUI_BIN ]] || die "Rust greeter binary missing after build: $TUI_BIN"

# Commands under test. *_LOOP commands get the iteration count appended.
C_LOOP=("$C_BIN" --pam-confdir "$CONFDIR" --user "$BENCH_USER" --loop)
RUST_LOOP=("$RUST_LOOP_BIN" --pam-confdir "$CONFDIR" --user "$BENCH_USER" --iterations)
C_LOGIN=("$C_BIN" --pam-confdir "$CONFDIR" --user "$BENCH_USER" -- true)
RUST_LOGIN=("$RUST_LOGIN_BIN" --user "$BENCH_USER" --pam-confdir "$CONFDIR" -- true)
TUI_LOGIN=("$TUI_BIN" --plain --user "$BENCH_USER" --pam-confdir "$CONFDIR" -- true)

# Smoke test: every command must succeed once before anything is measured.
smoke() {
    local name=$1; shift
    if ! "$@" </dev/null >"$OUT/smoke-$name.log" 2>&1; then
        cat "$OUT/smoke-$name.log" >&2
        die "smoke test '$name' failed: $*"
    fi
}
smoke c-loop "${C_LOOP[@]}" 2
smoke rust-loop "${RUST_LOOP[@]}" 2
smoke c-login "${C_LOGIN[@]}"
smoke rust-login "${RUST_LOGIN[@]}"
smoke tui-login "${TUI_LOGIN[@]}"

# ---------------------------------------------------------------- machine
{
    echo "date:     $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
    echo "nproc:    $(nproc)"
    echo "cpu:      $(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "kernel:   $(uname -srm)"
    echo "uid:      $(id -u)"
    echo "libpam:   $(dpkg-query -W -f='${Version}' libpam0g 2>/dev/null || echo unknown)"
    echo "gcc:      $(gcc -dumpfullversion) (baseline flags: ${HARD_CFLAGS[*]} ${HARD_LDFLAGS[*]})"
    echo "rustc:    $(rustc --version 2>/dev/null || echo unknown)"
    echo "valgrind: $(valgrind --version)"
    echo "hyperfine: $(hyperfine --version)"
    echo "git:      $(git rev-parse --short HEAD 2>/dev/null || echo none)"
    echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, before the measurements)"
} >"$OUT/machine.txt"

# ---------------------------------------------------------------- (1) callgrind
# Prints the total instruction count (Ir) of one callgrind run.
callgrind_total() {
    local tag=$1; shift
    local outf=$OUT/callgrind.$tag.out logf=$OUT/callgrind.$tag.log
    valgrind --tool=callgrind --callgrind-out-file="$outf" --log-file="$logf" "$@" \
        </dev/null >/dev/null 2>"$OUT/callgrind.$tag.stderr" \
        || { cat "$logf" "$OUT/callgrind.$tag.stderr" >&2; die "callgrind run '$tag' failed: $*"; }
    local ir
    ir=$(awk '/^summary:/ {print $2; exit}' "$outf")
    [[ $ir =~ ^[0-9]+$ ]] || die "could not read instruction total from $outf"
    echo "$ir"
}

log "callgrind: C baseline, loop $BASE_LOOPS and $LOOPS"
c_ir0=$(callgrind_total "c.$BASE_LOOPS" "${C_LOOP[@]}" "$BASE_LOOPS")
c_irn=$(callgrind_total "c.$LOOPS" "${C_LOOP[@]}" "$LOOPS")
log "callgrind: Rust lifecycle_loop, iterations $BASE_LOOPS and $LOOPS"
r_ir0=$(callgrind_total "rust.$BASE_LOOPS" "${RUST_LOOP[@]}" "$BASE_LOOPS")
r_irn=$(callgrind_total "rust.$LOOPS" "${RUST_LOOP[@]}" "$LOOPS")

per_txn() { awk -v a="$1" -v b="$2" -v n="$((LOOPS - BASE_LOOPS))" 'BEGIN {printf "%.0f", (b - a) / n}'; }
ratio() { awk -v r="$1" -v c="$2" 'BEGIN {if (c == 0) print "n/a"; else printf "%.2f", r / c}'; }
c_txn=$(per_txn "$c_ir0" "$c_irn")
r_txn=$(per_txn "$r_ir0" "$r_irn")
printf 'side\tIr(%s)\tIr(%s)\tIr_per_txn\nC\t%s\t%s\t%s\nRust\t%s\t%s\t%s\n' \
    "$BASE_LOOPS" "$LOOPS" "$c_ir0" "$c_irn" "$c_txn" "$r_ir0" "$r_irn" "$r_txn" \
    >"$OUT/callgrind-summary.tsv"

# ---------------------------------------------------------------- (2) hyperfine
# --shell=none: no shell between hyperfine and the program; hyperfine gives
# the command /dev/null as stdin.
hf_cmd() { local w s=""; for w in "$@"; do s+="$(sq "$w") "; done; printf '%s' "${s% }"; }
# Load on a shared machine drifts over a run, and hyperfine measures one command's runs before the
# next one's; so the runs are split into ROUNDS rounds that rotate which side goes first, and the
# statistics are taken over all rounds' times together.
ROUNDS=${ROUNDS:-10}
per_round=$(( (RUNS + ROUNDS - 1) / ROUNDS ))
log "hyperfine: $ROUNDS rounds x $per_round runs per side, $WARMUP warmup"
: >"$OUT/hyperfine.txt"
names=(c-baseline rust-vestibule-login rust-vestibule-tui-plain)
cmds=("$(hf_cmd "${C_LOGIN[@]}")" "$(hf_cmd "${RUST_LOGIN[@]}")" "$(hf_cmd "${TUI_LOGIN[@]}")")
for ((round = 0; round < ROUNDS; round++)); do
    # Round r starts with side r mod 3 and goes on in order: over 3k rounds each side goes first,
    # second and last equally often.
    order=()
    for ((k = 0; k < ${#names[@]}; k++)); do
        i=$(( (round + k) % ${#names[@]} ))
        order+=(-n "${names[i]}" "${cmds[i]}")
    done
    hyperfine --shell=none --runs "$per_round" --warmup "$WARMUP" --style basic \
        --export-json "$OUT/hyperfine.$round.json" "${order[@]}" \
        </dev/null >>"$OUT/hyperfine.txt" 2>&1 \
        || { cat "$OUT/hyperfine.txt" >&2; die "hyperfine failed"; }
done
# Pooled statistics per side (seconds): median, mean, stddev, count.
python3 - "$OUT" "$ROUNDS" >"$OUT/hyperfine.csv" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
times = {}
for r in range(rounds):
    for res in json.load(open(f"{out}/hyperfine.{r}.json"))["results"]:
        times.setdefault(res["command"], []).extend(res["times"])
print("command,mean,stddev,median,n")
for name, t in times.items():
    print(f"{name},{statistics.mean(t)},{statistics.stdev(t)},{statistics.median(t)},{len(t)}")
PY
hf_field() { awk -F, -v name="$1" -v col="$2" '$1 == name {print $col}' "$OUT/hyperfine.csv"; }
c_med=$(hf_field c-baseline 4);   r_med=$(hf_field rust-vestibule-login 4);  t_med=$(hf_field rust-vestibule-tui-plain 4)
c_mean=$(hf_field c-baseline 2);  r_mean=$(hf_field rust-vestibule-login 2); t_mean=$(hf_field rust-vestibule-tui-plain 2)
c_sd=$(hf_field c-baseline 3);    r_sd=$(hf_field rust-vestibule-login 3);   t_sd=$(hf_field rust-vestibule-tui-plain 3)
[[ -n $c_med && -n $r_med && -n $t_med ]] || die "could not parse $OUT/hyperfine.csv"
ms() { awk -v s="$1" 'BEGIN {printf "%.3f", s * 1000}'; }

# ---------------------------------------------------------------- (3) peak RSS
# GNU time reports ru_maxrss of the waited-for process tree (the largest of
# the login process and its `true` child), in KiB.
rss_runs() {
    local tag=$1; shift
    local f=$OUT/rss.$tag.txt i
    : >"$f"
    for ((i = 0; i < RSS_RUNS; i++)); do
        /usr/bin/time -f %M -o "$OUT/rss.$tag.one" "$@" </dev/null >/dev/null 2>&1 \
            || die "RSS run '$tag' failed: $*"
        tail -n 1 "$OUT/rss.$tag.one" >>"$f"
    done
    rm -f "$OUT/rss.$tag.one"
}
stat_max() { sort -n "$1" | tail -n 1; }
stat_median() { sort -n "$1" | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
log "peak RSS: $RSS_RUNS runs each"
rss_runs c "${C_LOGIN[@]}"
rss_runs rust "${RUST_LOGIN[@]}"
rss_runs tui "${TUI_LOGIN[@]}"
c_rss_max=$(stat_max "$OUT/rss.c.txt");   c_rss_med=$(stat_median "$OUT/rss.c.txt")
r_rss_max=$(stat_max "$OUT/rss.rust.txt"); r_rss_med=$(stat_median "$OUT/rss.rust.txt")
t_rss_max=$(stat_max "$OUT/rss.tui.txt");  t_rss_med=$(stat_median "$OUT/rss.tui.txt")
mib() { awk -v k="$1" 'BEGIN {printf "%.2f", k / 1024}'; }

# Other work on a shared machine shows in the load; it is reported with the results.
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, after the measurements)" >>"$OUT/machine.txt"

# ---------------------------------------------------------------- report
{
    echo "# Vestibule core benchmarks"
    echo
    echo '```'
    cat "$OUT/machine.txt"
    echo '```'
    echo
    echo "PAM service: \`bench/pam.d/vestibule\` (pam_permit only), user \`$BENCH_USER\`."
    echo
    echo "## Instructions per full PAM transaction (callgrind, Ir)"
    echo
    echo "start → authenticate → acct_mgmt → setcred(ESTABLISH) → open_session → close_session → setcred(DELETE) → end"
    echo
    echo "| side | Ir, $BASE_LOOPS iterations | Ir, $LOOPS iterations | Ir per transaction |"
    echo "|---|---:|---:|---:|"
    echo "| C (login_baseline --loop) | $c_ir0 | $c_irn | $c_txn |"
    echo "| Rust (lifecycle_loop --iterations) | $r_ir0 | $r_irn | $r_txn |"
    echo "| **ratio Rust/C** | $(ratio "$r_ir0" "$c_ir0") | $(ratio "$r_irn" "$c_irn") | **$(ratio "$r_txn" "$c_txn")** |"
    echo
    echo "## Wall time of one login running \`true\` (hyperfine, $((ROUNDS * per_round)) runs per side in $ROUNDS rotating rounds, stdin /dev/null)"
    echo
    echo "| side | median (ms) | mean ± σ (ms) |"
    echo "|---|---:|---:|"
    echo "| C (login_baseline) | $(ms "$c_med") | $(ms "$c_mean") ± $(ms "$c_sd") |"
    echo "| Rust (vestibule-login) | $(ms "$r_med") | $(ms "$r_mean") ± $(ms "$r_sd") |"
    echo "| **ratio Rust/C (median)** | **$(ratio "$r_med" "$c_med")** | |"
    echo "| for comparison: vestibule-tui --plain | $(ms "$t_med") | $(ms "$t_mean") ± $(ms "$t_sd") |"
    echo "| ratio vestibule-tui --plain / C (median) | $(ratio "$t_med" "$c_med") | |"
    echo
    echo "## Peak RSS of one login running \`true\` (/usr/bin/time -f %M, $RSS_RUNS runs)"
    echo
    echo "| side | max (KiB) | median (KiB) | max (MiB) |"
    echo "|---|---:|---:|---:|"
    echo "| C (login_baseline) | $c_rss_max | $c_rss_med | $(mib "$c_rss_max") |"
    echo "| Rust (vestibule-login) | $r_rss_max | $r_rss_med | $(mib "$r_rss_max") |"
    echo "| **ratio Rust/C (max)** | **$(ratio "$r_rss_max" "$c_rss_max")** | $(ratio "$r_rss_med" "$c_rss_med") | |"
    echo "| for comparison: vestibule-tui --plain | $t_rss_max | $t_rss_med | $(mib "$t_rss_max") |"
    echo
    echo "Raw data: \`bench/out/\` (callgrind.*.out, callgrind-summary.tsv, hyperfine.{json,csv,txt}, rss.*.txt, machine.txt)."
} | tee "$OUT/core-results.md"
