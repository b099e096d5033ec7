#!/usr/bin/env bash
# demo.sh [--plain] -- try Vestibule's console login on a demo PAM stack: no account is created, no
# file under /etc is touched. By default the login daemon, vestibuled, on this terminal
# (`vt = "current"`), with the full-screen greeter (vestibule-tui) as its greeter; --plain gives
# the line mode (vestibule-login).
# Demo accounts (pam_python, data/demo/demo_accounts.py):
#   alice / wonderland    bob / builder    carol / expired (must choose a new password)
#   dave is locked
# As root, it installs what it needs, then runs the daemon (and so greeter and sessions) as the
# unprivileged user `nobody` (a login only switches to the authenticated account when that
# account exists; demo accounts do not, so the session runs as the invoking user and says so).
set -euo pipefail
cd "$(dirname "$0")"

scripts/install-deps.sh
cargo build --release --locked -p vestibule-tui -p vestibule-login -p vestibuled

demo=$(mktemp -d /tmp/vestibule-demo.XXXXXX)
trap 'rm -rf "$demo"' EXIT
mkdir -p "$demo/pam.d"
cp target/release/vestibule-tui target/release/vestibule-login target/release/vestibuled \
	target/release/vestibule-worker data/demo/demo_accounts.py data/demo/session.sh "$demo/"
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
run=()
if [ "$(id -u)" -eq 0 ]; then
	run=(setpriv --reuid=nobody --regid=nogroup --clear-groups --reset-env)
fi
cat <<'BANNER'

  Vestibule demo: accounts alice/wonderland, bob/builder, carol/expired (must change it), dave (locked).
  Type "exit" in the session to log out; Ctrl-C at the login card ends the demo.

BANNER
if [ "${1:-}" = "--plain" ]; then
	shift
	set +e
	"${run[@]}" env TERM="${TERM:-linux}" "$demo/vestibule-login" --pam-confdir "$demo/pam.d" \
		--fail-delay-ms 1000 -- "$demo/session.sh" "$@"
	status=$?
	set -e
	echo "demo: vestibule-login exited with status $status"
	exit "$status"
fi

# The daemon's side: the greeter's own PAM session needs no module of the demo's, the daemon's
# runtime directory (greeter socket) lives in the demo dir, and the greeter is vestibule-tui,
# run by a wrapper that ends the demo when Ctrl-C quits the greeter (exit 130; vestibuled itself
# would start a new greeter, as it must on a real console).
printf 'auth required pam_permit.so\naccount required pam_permit.so\nsession required pam_permit.so\n' \
	>"$demo/pam.d/vestibule-greeter"
chmod 644 "$demo/pam.d/vestibule-greeter"
mkdir -p "$demo/run"
chmod 777 "$demo/run"
session=$(printf '%q ' "$demo/session.sh" "$@")
cat >"$demo/greeter.sh" <<GREETER
#!/bin/sh
"$demo/vestibule-tui" --config "$demo/config.toml" -- $session
status=\$?
if [ "\$status" -eq 130 ]; then
	kill -TERM "\$(cat "$demo/run/vestibuled.pid")"
fi
exit "\$status"
GREETER
cat >"$demo/vestibuled.toml" <<CONFIG
[terminal]
vt = "current"
[general]
runfile = "$demo/run/vestibuled.run"
[default_session]
command = "$demo/greeter.sh"
[vestibule]
fail_delay_ms = 1000
CONFIG
chmod 755 "$demo/greeter.sh"
chmod 644 "$demo/vestibuled.toml"
set +e
"${run[@]}" env TERM="${TERM:-linux}" sh -c 'echo $$ >"$1/run/vestibuled.pid"; shift; exec "$@"' sh "$demo" \
	"$demo/vestibuled" --config "$demo/vestibuled.toml" --pam-confdir "$demo/pam.d" \
	--worker "$demo/vestibule-worker" --runtime-dir "$demo/run" 2>"$demo/vestibuled.log"
status=$?
set -e
echo "demo: vestibuled exited with status $status"
if [ "$status" -ne 0 ]; then
	tail -n 20 "$demo/vestibuled.log" >&2
fi
