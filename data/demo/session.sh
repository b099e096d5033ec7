#!/bin/sh
# The demo's session: shows what the login handed over, then an interactive shell.
echo
echo "${VESTIBULE_GREETING:-Welcome.}"
echo "  running as:   $(id -un) (uid $(id -u))"
echo "  terminal:     $(tty 2>/dev/null || echo none)   TERM=$TERM"
echo "  session type: $XDG_SESSION_TYPE, class $XDG_SESSION_CLASS"
echo "  from PAM:     VESTIBULE_DEMO=$VESTIBULE_DEMO"
echo
if [ $# -gt 0 ]; then
	exec "$@"
fi
PS1='[vestibule demo] $ ' exec /bin/sh -i
