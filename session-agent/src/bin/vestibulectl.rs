//! vestibulectl: Vestibule's sessions from the command line, in the style of loginctl — a table
//! for people, `--json` for scripts. Everything it may do is decided by the agent from the
//! caller's uid; this tool only asks and shows the answer.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use vestibule_agent::client::{CallError, Client};
use vestibule_agent::wire::WireSession;
use vestibule_core::record::SessionRecord;

#[derive(Parser, Debug)]
#[command(
    name = "vestibulectl",
    version,
    about = "List, lock and close Vestibule sessions"
)]
struct Args {
    /// Talk to the agent on this bus instead of the system bus.
    #[arg(long, global = true, value_name = "ADDR")]
    bus_address: Option<String>,
    /// Print JSON instead of a table (list-sessions, show-session).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The sessions you may see (all of them for root).
    ListSessions,
    /// One session's record.
    ShowSession { id: String },
    /// End a session and close its PAM session.
    TerminateSession { id: String },
    /// End every session of a user (a uid or a user name).
    TerminateUser { user: String },
    /// Ask a session to lock its screen.
    LockSession { id: String },
    /// Mark a session unlocked (root).
    UnlockSession { id: String },
    /// Lock every user session (root).
    LockSessions,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vestibulectl: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let bus = args.bus_address.as_deref().unwrap_or("the system bus");
    let client =
        Client::connect(args.bus_address.as_deref()).map_err(|e| format!("connecting to {bus}: {e}"))?;
    match &args.command {
        Command::ListSessions => {
            let sessions = client.list().map_err(|e| format!("list-sessions: {e}"))?;
            if args.json {
                println!("{}", json(&records(sessions)?));
            } else {
                print!("{}", table(&sessions));
            }
        }
        Command::ShowSession { id } => {
            let s = client.get(id).map_err(what("show-session", id))?;
            if args.json {
                println!("{}", json(&record(s)?));
            } else {
                print!("{}", show(&s));
            }
        }
        Command::TerminateSession { id } => client.close(id).map_err(what("terminate-session", id))?,
        Command::TerminateUser { user } => {
            let uid = resolve_uid(user)?;
            client.close_user(uid).map_err(what("terminate-user", user))?;
        }
        Command::LockSession { id } => client.lock(id).map_err(what("lock-session", id))?,
        Command::UnlockSession { id } => client.unlock(id).map_err(what("unlock-session", id))?,
        Command::LockSessions => client.lock_all().map_err(|e| format!("lock-sessions: {e}"))?,
    }
    Ok(())
}

/// A uid as given, or the uid of a user name.
fn resolve_uid(user: &str) -> Result<u32, String> {
    if let Ok(uid) = user.parse::<u32>() {
        return Ok(uid);
    }
    match nix::unistd::User::from_name(user) {
        Ok(Some(u)) => Ok(u.uid.as_raw()),
        Ok(None) => Err(format!("terminate-user: no user named {user:?}")),
        Err(e) => Err(format!("terminate-user: looking up {user:?}: {e}")),
    }
}

/// The error text for a command about one argument: `terminate-session 3: <the agent's error>`.
fn what<'a>(cmd: &'a str, arg: &'a str) -> impl Fn(CallError) -> String + 'a {
    move |e| format!("{cmd} {arg}: {e}")
}

fn record(s: WireSession) -> Result<SessionRecord, String> {
    SessionRecord::try_from(s)
        .map_err(|e| format!("the agent sent a record this vestibulectl cannot read: {e}"))
}

fn records(list: Vec<WireSession>) -> Result<Vec<SessionRecord>, String> {
    list.into_iter().map(record).collect()
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("records always serialize")
}

/// `-` for what a session does not have, as loginctl shows it.
fn or_dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

/// The human table: one line per session, columns sized to their widest cell.
fn table(sessions: &[WireSession]) -> String {
    let header = [
        "SESSION", "UID", "USER", "TTY", "DISPLAY", "REMOTE", "CLASS", "STATE", "LEADER", "SINCE",
    ];
    let rows: Vec<[String; 10]> = sessions
        .iter()
        .map(|s| {
            [
                s.id.clone(),
                s.uid.to_string(),
                s.user.clone(),
                or_dash(&s.tty).to_owned(),
                or_dash(&s.display).to_owned(),
                or_dash(&s.remote_host).to_owned(),
                s.class.clone(),
                s.state.clone(),
                s.leader.to_string(),
                utc(s.since),
            ]
        })
        .collect();
    let mut width = header.map(str::len);
    for r in &rows {
        for (w, cell) in width.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (c, w)) in cells.iter().zip(width).enumerate() {
            // Numbers right-aligned (SESSION, UID, LEADER), text left-aligned.
            let cell = if matches!(i, 0 | 1 | 8) {
                format!("{c:>w$}")
            } else {
                format!("{c:<w$}")
            };
            out.push_str(&cell);
            out.push(' ');
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut out = line(header.to_vec());
    for r in &rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    let n = sessions.len();
    out.push_str(&format!(
        "\n{n} session{} listed.\n",
        if n == 1 { "" } else { "s" }
    ));
    out
}

/// `show-session`: one `Key=value` per line, as `loginctl show-session` prints.
fn show(s: &WireSession) -> String {
    format!(
        "Id={}\nUser={}\nUID={}\nTTY={}\nDisplay={}\nRemoteHost={}\nService={}\nLeader={}\nSupervisor={}\nClass={}\nState={}\nSince={}\nSinceUTC={}\n",
        s.id,
        s.user,
        s.uid,
        s.tty,
        s.display,
        s.remote_host,
        s.service,
        s.leader,
        s.supervisor,
        s.class,
        s.state,
        s.since,
        utc(s.since)
    )
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC` (days to civil date: Howard Hinnant's algorithm),
/// so the tool needs neither a time zone database nor a date crate.
fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
    }

    #[test]
    fn the_table_lines_up() {
        let s = WireSession {
            id: "12".into(),
            user: "alice".into(),
            uid: 1000,
            tty: "tty3".into(),
            display: String::new(),
            remote_host: String::new(),
            service: "vestibule".into(),
            leader: 4242,
            supervisor: 4241,
            class: "user".into(),
            state: "active".into(),
            since: 0,
        };
        let t = table(&[s]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "SESSION  UID USER  TTY  DISPLAY REMOTE CLASS STATE  LEADER SINCE"
        );
        assert_eq!(
            lines[1],
            "     12 1000 alice tty3 -       -      user  active   4242 1970-01-01 00:00:00 UTC"
        );
        assert_eq!(lines[3], "1 session listed.");
    }
}
