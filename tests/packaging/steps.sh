#!/bin/sh
# steps.sh -- inside the overlay root (overlay.sh): install the packages with dpkg -i and use
# them from the installed files only. Each step prints "== NAME" and what a user would see;
# tests/tests/packaging.rs reads this transcript and decides. Nothing here stops at a failure:
# every step runs and reports.
set -u
step() { echo; echo "== $*"; }
status() { echo "status=$?"; }

step install
dpkg -i /tmp/debs/vestibule_*.deb /tmp/debs/vestibule-gtk_*.deb 2>&1
status
dpkg-query -W -f='${Package} ${Status}\n' vestibule vestibule-gtk
dpkg -L vestibule vestibule-gtk | sort -u > /tmp/installed.list
dpkg-query --control-show vestibule conffiles 2>/dev/null || cat /var/lib/dpkg/info/vestibule.conffiles

step reinstall
# An administrator's edit to a conffile survives reinstalling (and upgrading) the package; the
# maintainer script runs again over an existing account and directory.
echo '# edited by the administrator' >> /etc/vestibule/vestibuled.toml
dpkg -i /tmp/debs/vestibule_*.deb 2>&1
status
tail -n 1 /etc/vestibule/vestibuled.toml

step greeter-user
getent passwd _vestibule
id -nG _vestibule
stat -c 'dir %n %U:%G %a' /var/lib/vestibule

step check
/usr/sbin/vestibuled --check 2>&1
status

step login
useradd --create-home --shell /bin/sh alice
echo 'alice:Installed-Pa55' | chpasswd
printf 'Installed-Pa55\n' | /usr/bin/vestibule-login --user alice --fail-delay-ms 0 -- \
	/bin/sh -c 'echo "session: $(id -un) in $PWD, $PAM_SHELL$SHELL"' 2>&1
status
step wrong-password
printf 'not-her-password\n' | /usr/bin/vestibule-login --user alice --max-tries 1 \
	--fail-delay-ms 0 -- /bin/echo never 2>&1
status

step agent
# A private bus shaped like Debian's system bus, reading the installed policy from its usual
# directory; the agent is started with its unit's ExecStart, on that bus.
cat > /tmp/bus.conf <<'CONF'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/tmp/bus.socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
  </policy>
  <includedir>/usr/share/dbus-1/system.d</includedir>
</busconfig>
CONF
dbus-daemon --config-file=/tmp/bus.conf --fork --print-pid=3 3>/tmp/bus.pid
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=/tmp/bus.socket
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/vestibule-agent.service)
echo "ExecStart=$exec_start"
# RuntimeDirectory=vestibule, as systemd would create it for the unit.
mkdir -p -m 0755 /run/vestibule
# As systemd splits it: the locker command is one quoted argument.
eval "$exec_start" 2>/tmp/agent.log &
agent=$!
i=0
until dbus-send --system --print-reply --dest=org.freedesktop.DBus / \
	org.freedesktop.DBus.NameHasOwner string:org.vestibule.SessionAgent1 2>/dev/null |
	grep -q 'boolean true'; do
	i=$((i + 1))
	if [ $i -gt 100 ]; then echo "agent never owned its name"; cat /tmp/agent.log; break; fi
	sleep 0.1
done
echo "agent owns org.vestibule.SessionAgent1"
/usr/bin/vestibulectl list-sessions 2>&1
status
# (The session's environment is PAM's, without DBUS_SYSTEM_BUS_ADDRESS: the address is given.)
printf 'Installed-Pa55\n' | /usr/bin/vestibule-login --user alice --fail-delay-ms 0 -- \
	/usr/bin/vestibulectl --bus-address unix:path=/tmp/bus.socket list-sessions 2>&1
status
echo "as nobody:"
setpriv --reuid 65534 --regid 65534 --clear-groups dbus-send --system --print-reply \
	--dest=org.freedesktop.DBus / org.freedesktop.DBus.RequestName \
	string:org.vestibule.SessionAgent1 uint32:0 2>&1
kill "$agent"
wait "$agent"
echo "agent exit=$?"
kill "$(cat /tmp/bus.pid)"
unset DBUS_SYSTEM_BUS_ADDRESS

step units
systemd-analyze verify /lib/systemd/system/vestibule-agent.service \
	/lib/systemd/system/vestibuled@tty9.service 2>&1
status
grep -h '^ExecStart=' /lib/systemd/system/vestibuled@.service \
	/lib/systemd/system/vestibule-agent.service
grep -h '^Exec=' /usr/share/dbus-1/system-services/org.vestibule.SessionAgent1.service

step man
for page in $(grep '^/usr/share/man/' /tmp/installed.list | grep '\.gz$'); do
	warnings=$(MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null)
	lines=$(MANWIDTH=80 man -E UTF-8 -l "$page" 2>/dev/null | wc -l)
	echo "page $page lines=$lines warnings=[$warnings]"
done
echo "found by name: $(man -w vestibuled vestibuled.toml vestibule-gtk 2>&1 | tr '\n' ' ')"

step completion
bash -c '. /usr/share/bash-completion/completions/vestibulectl
COMP_WORDS=(vestibulectl lock-s); COMP_CWORD=1; _vestibulectl; echo "vestibulectl lock-s: ${COMPREPLY[*]}"
. /usr/share/bash-completion/completions/vestibuled
COMP_WORDS=(vestibuled --ch); COMP_CWORD=1; _vestibuled; echo "vestibuled --ch: ${COMPREPLY[*]}"'
for f in $(grep '^/usr/share/zsh/vendor-completions/' /tmp/installed.list); do
	zsh -n "$f" 2>&1 && echo "zsh -n ok: $f"
done

step purge
dpkg --purge vestibule-gtk vestibule 2>&1
status
while read -r path; do
	# (Directories, and symlinks to them such as merged-/usr's /lib, belong to the system.)
	if [ -f "$path" ] || { [ -L "$path" ] && [ ! -d "$path" ]; }; then echo "left: $path"; fi
done < /tmp/installed.list
for d in /etc/vestibule /var/lib/vestibule /usr/libexec/vestibule /usr/share/doc/vestibule \
	/usr/share/doc/vestibule-gtk; do
	if [ -e "$d" ]; then echo "left: $d"; fi
done
echo "kept account: $(getent passwd _vestibule | cut -d: -f1)"
echo "== end"
