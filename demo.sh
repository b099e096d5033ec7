#!/usr/bin/env bash
# demo.sh [--plain] -- try Vestibule's console login on a demo PAM stack: no account is created, no
# file under /etc is touched. By default the full-screen greeter (vestibule-tui); --plain gives the
# line mode (vestibule-login).
# Demo accounts (pam_python, data/demo/demo_accounts.py):
#   alice / wonderland    bob / builder    carol / expired (must choose a new password)
#   dave is locked
# As root, it installs what it needs, then runs the login as the unprivileged user `nobody`
# (a login only switches to the authenticated account when that account exists; demo accounts
# do not, so the session runs as the invoking user and says so).
set -euo pipefail
cd "$(dirname "$0")"

scripts/install-deps.sh
cargo build --release --locked -p vestibule-tui -p vestibule-login

demo=$(mktemp -d /tmp/vestibule-demo.XXXXXX)
trap 'rm -rf "$demo"' EXIT
mkdir -p "$demo/pam.d"
cp target/release/vestibule-tui target/release/vestibule-login data/demo/demo_accounts.py data/demo/session.sh "$demo/"
sed -e "s|@DEMO_DIR@|$demo|g" -e "s|@STATE@|$demo/state|g" data/demo/pam.d/vestibule.in >"$demo/pam.d/vestibule"
touch "$demo/state"
chmod 755 "$demo" "$demo/pam.d"
chmod 644 "$demo/pam.d/vestibule" "$demo/demo_accounts.py"
chmod 666 "$demo/state"
# The greeter's config: the demo's issue text, a state file `nobody` may replace, no power actions
# (a demo must not switch the machine off), and only the demo session.
mkdir -p "$demo/greeter"
chmod 777 "$demo/greeter"
cp data/demo/issue "$demo/issue"
cat >"$demo/config.toml" <<CONFIG
[greeter]
issue_file = "$demo/issue"
state_file = "$demo/greeter/state"
fail_delay_ms = 1000
[sessions]
wayland_dirs = []
xsession_dirs = []
include_shell = false
[power]
poweroff = []
reboot = []
CONFIG
chmod 644 "$demo/config.toml" "$demo/issue"
program=vestibule-tui
mode=(--config "$demo/config.toml")
if [ "${1:-}" = "--plain" ]; then
	shift
	program=vestibule-login
	mode=()
fi

run=()
if [ "$(id -u)" -eq 0 ]; then
	run=(setpriv --reuid=nobody --regid=nogroup --clear-groups --reset-env)
fi
cat <<'BANNER'

  Vestibule demo: accounts alice/wonderland, bob/builder, carol/expired (must change it), dave (locked).
  Type "exit" in the session to log out; Ctrl-C at the login card ends the demo.

BANNER
set +e
"${run[@]}" env TERM="${TERM:-linux}" "$demo/$program" "${mode[@]}" --pam-confdir "$demo/pam.d" \
	--fail-delay-ms 1000 -- "$demo/session.sh" "$@"
status=$?
set -e
echo "demo: $program exited with status $status"
