//! What each man page says beyond the flags: its section, one-line summary and prose. The flags,
//! their values and defaults, the subcommands, and every configuration key come from the programs'
//! `--help` and the documented files, never from here.

/// A program's page.
pub struct Program {
    pub name: &'static str,
    pub section: u8,
    pub summary: &'static str,
    /// Extra paragraphs after the program's own about line.
    pub description: &'static str,
    pub environment: &'static [(&'static str, &'static str)],
    pub files: &'static [(&'static str, &'static str)],
    pub exit_status: &'static str,
    pub see_also: &'static str,
    /// Whether it gets shell completions (not the daemon's internal helper).
    pub completions: bool,
}

/// A configuration file's page, written from the documented file in data/.
pub struct ConfigFile {
    pub name: &'static str,
    pub source: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub see_also: &'static str,
}

pub const PROGRAMS: &[Program] = &[
    Program {
        name: "vestibuled",
        section: 8,
        summary: "Vestibule's login daemon for one terminal",
        description: "vestibuled runs the greeter named by `[default_session] command` as the unprivileged greeter user, \
in a PAM session of its own (service `vestibule-greeter`), on its terminal, with `GREETD_SOCK` \
pointing at a socket only that user can open. It speaks greetd's protocol (greetd-ipc(7)), so \
any greetd greeter works, plus an extension that Vestibule's greeters ask for.\n\n\
Every login runs in a fresh `vestibule-worker` process: authentication, account checks, the \
session's opening, supervision and closing (service `vestibule`; `vestibule-autologin` for \
`[initial_session]`). The daemon itself never calls libpam. Before every greeter and every \
session the terminal is revoked (vhangup) and reset; the session gets the terminal as its \
controlling terminal, utmp and wtmp records, and `/run/user/UID` when no PAM module provides it.\n\n\
Run one per virtual terminal with the systemd unit `vestibuled@ttyN.service` in place of getty.",
        environment: &[("VESTIBULE_LOG", "Log level on standard error: trace, debug, info (the default), warn or error."),
            ("VESTIBULE_AGENT_BUS", "The session agent's bus address when `--agent-bus` is not given.")],
        files: &[("/etc/vestibule/vestibuled.toml", "The configuration, see vestibuled.toml(5)."),
            ("/etc/pam.d/vestibule, /etc/pam.d/vestibule-greeter, /etc/pam.d/vestibule-autologin", "The PAM services (their names are hard-wired)."),
            ("/usr/libexec/vestibule/vestibule-worker", "The worker, see vestibule-worker(8)."),
            ("/run/vestibule", "Greeter sockets and runtime-directory holders.")],
        exit_status: "0 after SIGTERM or SIGINT (every worker ended first); 1 when it cannot start or its terminal disappears; 2 for a bad command line or configuration.",
        see_also: "vestibuled.toml(5), vestibule-worker(8), vestibule-tui(1), vestibule-gtk(1), vestibule-agent(8), greetd(1)",
        completions: true,
    },
    Program {
        name: "vestibule-worker",
        section: 8,
        summary: "one login's PAM transaction, started by vestibuled",
        description: "Not run by hand: vestibuled(8) starts one worker per login (`login`) and one for the greeter's own session \
(`greeter`), each talking to the daemon over the socket pair on file descriptor N. A login worker runs vestibule-core's whole PAM \
lifecycle (authenticate, account, credentials, open session, run and supervise the session, close, end), so \
what PAM modules change in a process (limits, loginuid, keyrings, logind session) belongs to that login alone.\n\n\
`revoke TTY` and `reset TTY` are the daemon's terminal helpers: revoke makes TTY the worker's controlling terminal, \
ignores SIGHUP and calls vhangup(2); reset restores sane terminal settings and clears the screen.",
        environment: &[],
        files: &[("/etc/pam.d/vestibule, /etc/pam.d/vestibule-greeter, /etc/pam.d/vestibule-autologin", "The PAM services.")],
        exit_status: "A login worker exits when its session has ended and its PAM session is closed.",
        see_also: "vestibuled(8), pam(8)",
        completions: false,
    },
    Program {
        name: "vestibule-login",
        section: 1,
        summary: "console login, line by line",
        description: "A login(1)-style program for getty, serial consoles, screen readers and scripts: it prints `login: ` \
(unless `--user` is given), shows every PAM message on its own line, reads one line of standard input per prompt (echo off for \
hidden prompts on a terminal), and runs the user's login shell or COMMAND as the account PAM authenticated, on the PAM service \
`vestibule`. Wrong passwords and unknown users read the same (`Login incorrect`).\n\n\
As root on a console it gives the session its own session and controlling terminal, as login(1) does. The session is registered \
with the session agent, vestibule-agent(8), when one runs. Auth events go to syslog (LOG_AUTHPRIV, ident `vestibule`) in login(1)'s words.",
        environment: &[("VESTIBULE_LOG", "`debug` shows every PAM call on standard error (never a password)."),
            ("VESTIBULE_AGENT_BUS", "The session agent's bus address when `--agent-bus` is not given.")],
        files: &[("/etc/pam.d/vestibule", "The PAM service.")],
        exit_status: "The session's exit status (128 + signal if it was killed), or 1 with a one-line reason when the login fails; 2 for a bad command line.",
        see_also: "login(1), vestibule-tui(1), vestibule-agent(8)",
        completions: true,
    },
    Program {
        name: "vestibule-tui",
        section: 1,
        summary: "Vestibule's full-screen console greeter",
        description: "A greeter for vestibuled(8) or greetd: it draws a login card on the terminal (host name, clock, \
/etc/issue, the user field, the chosen session, then every PAM message and prompt as it arrives) and talks to the daemon \
over `GREETD_SOCK`. It refuses to run as root. Keys: Enter, Backspace, Ctrl-U, Esc (cancel), F2 (session), F11/F12 \
(reboot/power off, confirmed with Enter), Ctrl-L (redraw), Ctrl-C (quit).\n\n\
With `--plain` it runs the line mode instead, vestibule-login(1), with the same flags.",
        environment: &[("GREETD_SOCK", "The daemon's socket (set by vestibuled or greetd).")],
        files: &[("/etc/vestibule/config.toml", "The greeters' configuration, see vestibule.toml(5)."),
            ("/var/lib/vestibule/tui-state", "The last user and each user's last session (names only).")],
        exit_status: "0 when it ends normally; non-zero with a message on standard error when it cannot run.",
        see_also: "vestibule.toml(5), vestibuled(8), vestibule-login(1), vestibule-gtk(1)",
        completions: true,
    },
    Program {
        name: "vestibule-gtk",
        section: 1,
        summary: "Vestibule's desktop greeter and lock screen (GTK 4)",
        description: "Greeter mode (no `--lock` flag): a login window for vestibuled(8), run in a compositor as the \
greeter user, e.g. `[default_session] command = \"cage -s -- vestibule-gtk\"`: the user list, PAM's prompts as they \
arrive, the session chooser, the clock and power buttons. It refuses to run as root.\n\n\
`--lock` covers every monitor and unlocks only with the session user's credentials (PAM service `vestibule-lock`). \
`--lock-daemon` stays in the session and locks when the session agent, vestibule-agent(8), says so \
(`vestibulectl lock-session`).",
        environment: &[("GREETD_SOCK", "The daemon's socket (greeter mode)."),
            ("VESTIBULE_AGENT_BUS", "The session agent's bus address when `--agent-bus` is not given."),
            ("GSK_RENDERER", "GTK's renderer; cairo unless set.")],
        files: &[("/etc/vestibule/config.toml", "The configuration, see vestibule.toml(5)."),
            ("/etc/pam.d/vestibule-lock", "The lock screen's PAM service.")],
        exit_status: "0 when it ends normally (a session started, the screen unlocked); non-zero with a message on standard error when it cannot run.",
        see_also: "vestibule.toml(5), vestibuled(8), vestibule-agent(8), vestibulectl(1), cage(1)",
        completions: true,
    },
    Program {
        name: "vestibule-agent",
        section: 8,
        summary: "Vestibule's session agent on D-Bus",
        description: "The table of open Vestibule sessions on the system bus, name and interface \
`org.vestibule.SessionAgent1`: logins register their sessions with it, and users list, lock and close their own (root: all) \
through it, e.g. with vestibulectl(1). When a session's supervisor dies it closes the PAM session itself; when a locked session's \
lock screen dies it starts a new one. Started by D-Bus activation through `vestibule-agent.service`.",
        environment: &[("VESTIBULE_LOG", "Log level on standard error.")],
        files: &[("/run/vestibule/sessions.json", "The session table and its journal (kept across restarts of the agent, not reboots)."),
            ("/usr/share/dbus-1/system.d/org.vestibule.SessionAgent1.conf", "The bus policy: only root owns the name or sends its signals.")],
        exit_status: "0 when stopped; non-zero when it cannot start.",
        see_also: "vestibulectl(1), vestibuled(8), vestibule-gtk(1), dbus-daemon(1)",
        completions: true,
    },
    Program {
        name: "vestibulectl",
        section: 1,
        summary: "list, lock and close Vestibule sessions",
        description: "A client of the session agent, vestibule-agent(8). A user sees and acts on their own sessions; root on all.",
        environment: &[],
        files: &[],
        exit_status: "0 on success; non-zero with a message on standard error when the agent cannot be reached or refuses, 2 for a bad command line.",
        see_also: "vestibule-agent(8), vestibule-gtk(1)",
        completions: true,
    },
];

pub const CONFIG_FILES: &[ConfigFile] = &[
    ConfigFile {
        name: "vestibuled.toml",
        source: "vestibuled.toml",
        path: "/etc/vestibule/vestibuled.toml",
        summary: "configuration of Vestibule's login daemon",
        see_also: "vestibuled(8), greetd(5), vestibule.toml(5)",
    },
    ConfigFile {
        name: "vestibule.toml",
        source: "config.example.toml",
        path: "/etc/vestibule/config.toml",
        summary: "configuration of Vestibule's greeters",
        see_also: "vestibule-tui(1), vestibule-gtk(1), vestibuled.toml(5)",
    },
];
