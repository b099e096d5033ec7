#!/usr/bin/env bash
# run.sh WORKDIR COMMAND ARGS... -- run COMMAND as root in a private mount namespace over a copy of
# /etc, with fixture accounts, an empty /home and a syslog socket bound over /dev/log.
#
# Why: tests with real accounts (pam_unix, password changes, setuid into the user) must never touch
# the host's passwd/shadow, and the auth log must be captured from the real /dev/log path.
# Everything lives in this namespace and in WORKDIR; the host sees only WORKDIR.
#
# Accounts (password = name + "-pw-1"): alice (bash, home /home/alice), bob (locked), carol
# (password expired: must change at login). Syslog datagrams are appended to WORKDIR/syslog,
# one per line. The exit status is COMMAND's.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "sandbox/run.sh: must run as root (unshare -m, useradd); run the tests as root" >&2
	exit 99
fi
if [ $# -lt 2 ]; then
	echo "usage: $0 WORKDIR COMMAND ARGS..." >&2
	exit 2
fi

if [ "${VESTIBULE_IN_SANDBOX:-}" != 1 ]; then
	export VESTIBULE_IN_SANDBOX=1
	exec unshare --mount --propagation private -- "$0" "$@"
fi

work=$(realpath "$1")
shift
root=$(mktemp -d "$work/.sandbox.XXXXXX")

# A private /etc: every account change below and in the test lands in this copy.
cp -a /etc "$root/etc"
mount --bind "$root/etc" /etc
mount -t tmpfs -o mode=755 tmpfs /home

# A private /dev with the usual nodes, so /dev/log can be ours without touching the host's /dev.
mkdir -p "$root/olddev"
mount --rbind /dev "$root/olddev"
mount -t tmpfs -o mode=755 tmpfs /dev
for node in null zero full random urandom tty ptmx; do
	touch "/dev/$node"
	mount --bind "$root/olddev/$node" "/dev/$node"
done
for dir in pts shm; do
	mkdir -p "/dev/$dir"
	mount --rbind "$root/olddev/$dir" "/dev/$dir"
done
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr


# Hashes are set directly (chpasswd -e bypasses PAM, so the host's PAM policy cannot interfere).
add_user() {
	useradd --create-home --home-dir "/home/$1" --shell /bin/bash "$1"
	echo "$1:$(openssl passwd -6 "$1-pw-1")" | chpasswd -e
}
add_user alice
add_user bob
usermod --lock bob
add_user carol
chage --lastday 0 carol
chmod 777 "$work"

# Started after the account set-up so the log holds only what the command sends.
touch "$work/syslog"
python3 - "$work/syslog" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
os.chmod("/dev/log", 0o666)
with open(sys.argv[1], "ab", buffering=0) as out:
    while True:
        data = s.recv(65536)
        out.write(data.replace(b"\n", b"\\n") + b"\n")
PY
listener=$!
trap 'kill "$listener" 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S /dev/log ] && break; sleep 0.02; done
[ -S /dev/log ] || { echo "sandbox/run.sh: syslog listener did not start" >&2; exit 98; }

set +e
VESTIBULE_SANDBOX_WORK="$work" "$@"
status=$?
set -e
sleep 0.1 # let the last datagrams land
exit "$status"
