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
#
# For the login daemon's tests (vestibuled), also:
# - erin (bash, password erin-pw-1): a second account that can log in (bob is locked), the
#   "next user" after alice;
# - vgreeter (system account, no password, shell /usr/sbin/nologin, home /nonexistent): the
#   unprivileged greeter user; the daemon runs the greeter command through sh -c, so no login
#   shell is needed;
# - a limits file in the private /etc/security/limits.d giving alice nofile 64 (soft and hard),
#   for pam_limits in a test's stack;
# - a private /run: a tmpfs whose entries are the host's /run bound back one by one (as /dev
#   below), except utmp (a fresh root:utmp 0664 file: Debian's glibc writes /var/run/utmp, and
#   /var/run is a symlink to /run), /run/user and /run/vestibule (fresh tmpfs mounts, so runtime
#   directories and daemon sockets are the sandbox's own);
# - fresh /var/log/wtmp and /var/log/btmp bound over the host's, so `who` and `last -f
#   /var/log/wtmp` read only what the command wrote.
# - with VESTIBULE_SANDBOX_VT=N: /dev/tty0 and /dev/ttyN (a Linux VT for a daemon to open) in
#   the private /dev, which otherwise has no VT nodes.
# Processes outside the sandbox see its /run, /etc and logs with `nsenter --mount --target PID`.
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
if [ -n "${VESTIBULE_SANDBOX_VT:-}" ]; then
	for node in tty0 "tty$VESTIBULE_SANDBOX_VT"; do
		[ -c "$root/olddev/$node" ] || { echo "sandbox/run.sh: no /dev/$node on the host" >&2; exit 96; }
		touch "/dev/$node"
		mount --bind "$root/olddev/$node" "/dev/$node"
	done
fi
for dir in pts shm; do
	mkdir -p "/dev/$dir"
	mount --rbind "$root/olddev/$dir" "/dev/$dir"
done
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr

# A private /run (the host's entries bound back), with the login records and runtime dirs fresh.
mkdir -p "$root/oldrun"
mount --rbind /run "$root/oldrun"
mount -t tmpfs -o mode=755 tmpfs /run
for entry in "$root/oldrun"/* "$root/oldrun"/.[!.]*; do
	[ -e "$entry" ] || [ -L "$entry" ] || continue
	name=${entry##*/}
	case "$name" in utmp | user | vestibule) continue ;; esac
	# mount(8) itself may have made /run/mount (its utab) in the new tmpfs: that one stays private.
	[ -e "/run/$name" ] && continue
	if [ -L "$entry" ]; then
		cp -P "$entry" "/run/$name"
	elif [ -d "$entry" ]; then
		mkdir "/run/$name"
		mount --rbind "$entry" "/run/$name"
	else
		touch "/run/$name"
		mount --bind "$entry" "/run/$name"
	fi
done
for dir in user vestibule; do
	mkdir "/run/$dir"
	mount -t tmpfs -o mode=755 tmpfs "/run/$dir"
done
install -m 0664 -o root -g utmp /dev/null /run/utmp
for log in wtmp btmp; do
	install -m 0664 -o root -g utmp /dev/null "$root/$log"
	[ -e "/var/log/$log" ] || { echo "sandbox/run.sh: /var/log/$log missing on the host" >&2; exit 97; }
	mount --bind "$root/$log" "/var/log/$log"
done


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
add_user erin
useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin vgreeter
mkdir -p /etc/security/limits.d
printf 'alice soft nofile 64\nalice hard nofile 64\n' >/etc/security/limits.d/vestibule-test.conf
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
