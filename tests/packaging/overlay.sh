#!/bin/sh
# overlay.sh WORK DEBDIR -- run steps.sh in a throw-away copy of this machine's root file system.
#
# Run inside a private mount namespace (tests/tests/packaging.rs starts it with
# `unshare --mount --propagation private`), so every mount below vanishes with the namespace:
# a tmpfs on WORK holds an overlayfs upper and work directory over / (read-only use of the real
# root as the lower layer), merged at WORK/root; /proc, /sys and /dev are mounted into it (with
# /dev/null over /dev/log: the installed programs' syslog lines never reach the host's logger),
# /run and /tmp are fresh tmpfs. dpkg, useradd and the programs then change only the upper layer
# in memory; nothing on the host's disk is written.
set -eu
work=$1
debs=$2
here=$(dirname "$0")

mount -t tmpfs -o mode=0755 vestibule-packaging "$work"
mkdir "$work/upper" "$work/work" "$work/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$work/upper,workdir=$work/work" "$work/root"
root=$work/root
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
if [ -e "$root/dev/log" ]; then
	mount --bind /dev/null "$root/dev/log"
fi
mount -t tmpfs -o mode=0755 run "$root/run"
mount -t tmpfs -o mode=1777 tmp "$root/tmp"
mkdir "$root/tmp/debs"
cp "$debs"/*.deb "$root/tmp/debs/"
cp "$here/steps.sh" "$root/tmp/steps.sh"
exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
	HOME=/root /bin/sh /tmp/steps.sh
