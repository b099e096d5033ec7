#!/usr/bin/env bash
# install-deps.sh [--bench] -- everything Vestibule needs on a fresh Debian 12, installed from
# Debian's archive and crates.io. Run as root (apt-get); as another user it only checks.
#
# Why each package: libpam0g-dev (libpam to link against, headers for the C fixtures and the
# benchmark baseline), libpam-modules (pam_unix, pam_permit, pam_deny, pam_env), libpam-python
# (pam_python.so: the demo's accounts and the Python test fixtures), python3 (runs them and the
# sandbox's syslog listener), passwd + openssl (accounts and password hashes in the test sandbox),
# util-linux (unshare, setpriv), tmux (tests in a real terminal), gcc + pkg-config (C fixtures),
# dbus-daemon (the session agent's tests run a private bus with the shipped policy) + dbus-bin
# (dbus-send: the tests' client that is not ours, sending wrong argument types), systemd
# (systemd-analyze verify checks the shipped units; nothing is started: PID 1 is not systemd here),
# libgtk-4-dev (the desktop greeter; GTK 4.8) + fonts-dejavu-core (text to draw), xvfb (the X
# server its tests run on) + xdotool (typing into it) + imagemagick (screenshots) + python3-xlib
# (the tests' stand-ins for a desktop under the lock screen and a window manager's close request)
# + xauth (a cookie for the server that refuses clients without one, as a display manager's does),
# sway + grim (a headless Wayland compositor whose outputs can be plugged in while the lock screen
# runs, and its screenshots: the multi-monitor test), greetd (Debian's greetd 0.9 and its agreety:
# the real greetd greeter the daemon's tests log in with, and the daemon the benchmark and the
# greeter's compatibility test run side by side), cage + seatd + wtype (a kiosk Wayland compositor,
# its seat daemon and a Wayland typist: what the desktop greeter runs under; xwayland, without
# which cage 0.1.4 does not start), xinit (startx: the X11 sessions' default wrapper), openbox +
# xterm + x11-utils (a real window manager, an application with a prompt of its own, and xprop:
# the lock screen's keyboard grab and stacking test), xss-lock + swayidle (Debian's screen-lock
# helpers, real login1 clients: the agent's org.freedesktop.login1 tests lock through them). pam_limits
# and pam_loginuid, which the daemon's tests stack, come with libpam-modules.
# debhelper + dpkg-dev (make deb: debian/rules through dpkg-buildpackage), make (the Makefile
# both the packages and `make install` use), lintian (checks the built .debs), man-db (man -l
# renders every installed page, its warnings counted), zsh (zsh -n parses the generated
# completions): the packaging test.
# Three tools not from the archive's installed set, kept under target/tools (never on the host's
# paths): tuigreet 0.10.2 from crates.io (cargo install --locked, only when missing), a real
# greetd greeter nobody here wrote; pinned because the tests drive its screen (prompts, layout,
# keys), which changes between releases. And pam_script.so from Debian's libpam-script .deb
# (apt-get download + dpkg-deb -x, NEVER installed: its postinst edits the host's
# /etc/pam.d/common-* files), a second witness in the daemon tests' session stack. And elogind
# from its .debs (unpacked, NEVER installed: it would remove systemd), the logind that the
# shipped PAM files' pam_systemd talks to in the logind-path test.
# With --bench also: valgrind (callgrind), hyperfine, time (/usr/bin/time for peak RSS), dpkg-dev
# (dpkg-buildflags: the C baseline is built with Debian's hardening flags), lightdm-gtk-greeter
# (Debian's GTK greeter, measured side by side with vestibule-gtk by bench/run-gtk.sh; without
# recommends it pulls in only GTK 3 and liblightdm-gobject, not the lightdm daemon, and adds
# nothing to /etc/pam.d; only /etc/lightdm/lightdm-gtk-greeter.conf) + python3-gi (run-gtk.sh's
# harness calls the session agent over D-Bus with Gio, to time LockSession in-process). elogind, the
# agent's baseline, is never installed (it would remove systemd): run-agent.sh fetches its .debs with
# apt-get download and runs them unpacked.
set -euo pipefail

packages=(libpam0g-dev libpam-modules libpam-python python3 passwd openssl util-linux tmux gcc pkg-config dbus-daemon dbus-bin systemd
	libgtk-4-dev fonts-dejavu-core xvfb xdotool imagemagick python3-xlib xauth sway grim
	greetd cage seatd wtype xwayland xinit openbox xterm x11-utils xss-lock swayidle
	debhelper dpkg-dev make lintian man-db zsh)
if [ "${1:-}" = "--bench" ]; then
	packages+=(valgrind hyperfine time dpkg-dev lightdm-gtk-greeter python3-gi)
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps.sh: missing packages (run as root to install): ${missing[*]}" >&2
		exit 1
	fi
	echo "install-deps.sh: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
	echo "install-deps.sh: cargo not found: Vestibule needs a Rust toolchain (1.85 or newer, via rustup)" >&2
	exit 1
fi
[ -f /lib/security/pam_python.so ] || [ -f /lib/x86_64-linux-gnu/security/pam_python.so ] || {
	echo "install-deps.sh: pam_python.so not found after installing libpam-python" >&2
	exit 1
}
cd "$(dirname "$0")/.."
cargo fetch --locked >/dev/null

# The tools under target/tools (fast when already there).
tools="$PWD/target/tools"
mkdir -p "$tools"
# (tuigreet --version needs a terminal: cargo's record of what it installed says which version it is.)
if [ ! -x "$tools/bin/tuigreet" ] || ! grep -q '^"tuigreet 0\.10\.2 ' "$tools/.crates.toml" 2>/dev/null; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps.sh: $tools/bin/tuigreet missing (run as root to build it)" >&2
		exit 1
	fi
	echo "install-deps.sh: building tuigreet 0.10.2 into $tools" >&2
	cargo install tuigreet --version 0.10.2 --locked --root "$tools" --quiet
fi
pam_script_dir="$tools/libpam-script"
if ! find "$pam_script_dir" -name pam_script.so 2>/dev/null | grep -q .; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps.sh: pam_script.so missing under $pam_script_dir (run as root to unpack it)" >&2
		exit 1
	fi
	echo "install-deps.sh: unpacking libpam-script (not installing it) into $pam_script_dir" >&2
	rm -rf "$pam_script_dir" "$tools"/libpam-script_*.deb
	(cd "$tools" && apt-get download libpam-script >/dev/null 2>&1) || {
		apt-get update >/dev/null
		(cd "$tools" && apt-get download libpam-script)
	}
	dpkg-deb -x "$tools"/libpam-script_*.deb "$pam_script_dir"
	rm -f "$tools"/libpam-script_*.deb
fi
find "$pam_script_dir" -name pam_script.so | grep -q . || {
	echo "install-deps.sh: no pam_script.so inside Debian's libpam-script package" >&2
	exit 1
}
# elogind, the stand-in for systemd-logind in the logind-path test (pam_systemd of the shipped PAM
# files talks to it: the same org.freedesktop.login1 API): unpacked from Debian's elogind and
# libelogind0 .debs, NEVER installed (installing elogind removes systemd).
elogind_dir="$tools/elogind"
if [ ! -x "$elogind_dir/lib/elogind/elogind" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps.sh: $elogind_dir/lib/elogind/elogind missing (run as root to unpack it)" >&2
		exit 1
	fi
	echo "install-deps.sh: unpacking elogind (not installing it) into $elogind_dir" >&2
	rm -rf "$elogind_dir" "$tools"/elogind_*.deb "$tools"/libelogind0_*.deb
	(cd "$tools" && apt-get download elogind libelogind0 >/dev/null 2>&1) || {
		apt-get update >/dev/null
		(cd "$tools" && apt-get download elogind libelogind0)
	}
	for deb in "$tools"/elogind_*.deb "$tools"/libelogind0_*.deb; do dpkg-deb -x "$deb" "$elogind_dir"; done
	rm -f "$tools"/elogind_*.deb "$tools"/libelogind0_*.deb
fi
[ -x "$elogind_dir/lib/elogind/elogind" ] || {
	echo "install-deps.sh: no elogind binary inside Debian's elogind package" >&2
	exit 1
}
