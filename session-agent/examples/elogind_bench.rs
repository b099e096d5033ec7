//! elogind_bench: the baseline half of `bench/run-agent.sh` — the operations agent_bench times on
//! vestibule-agent, timed the same way on Debian's elogind (org.freedesktop.login1), so the two
//! can be read side by side.
//!
//! Against a running elogind on `--bus ADDR`, as root:
//!   1. creates `--sessions N` sessions with `CreateSession`, one after another (what pam_elogind
//!      does at pam_open_session), each with its own `sleep` leader — elogind refuses a second
//!      session on a process that already has one — and keeps each session's FIFO open (elogind
//!      ends a session when its FIFO closes);
//!   2. reads elogind's VmRSS / VmHWM from /proc/`--elogind-pid`/status;
//!   3. calls `ListSessions` `--lists L` times (after a few warm-up calls), timing the call to the
//!      reply and the decoding of the reply (into `a(susso)`) apart;
//!   4. ends `--terminates T` more sessions, each with a `sleep` leader that exits at once on
//!      SIGTERM, with `TerminateSession`, timing the call to the reply and to the leader's exit.
//!
//! elogind's TerminateSession replies once it has signalled the session's processes, not once
//! pam_close_session ran: that is the PAM application's business in logind's design. Prints a
//! Markdown fragment on stdout, with a `<!-- elogind ... -->` summary line for the report.

use std::time::{Duration, Instant};

use zbus::blocking::Connection;
use zbus::zvariant::{OwnedFd, OwnedObjectPath, Value};

mod common;
use common::{idle_cpu, leader, mean, pct, rss};

/// How long elogind is watched at rest, for its CPU use with every session created.
const IDLE: Duration = Duration::from_secs(5);

const NAME: &str = "org.freedesktop.login1";
const PATH: &str = "/org/freedesktop/login1";
const MANAGER: &str = "org.freedesktop.login1.Manager";

struct Args {
    bus: String,
    elogind_pid: u32,
    sessions: usize,
    lists: usize,
    terminates: usize,
}

fn parse_args() -> Result<Args, String> {
    let usage =
        "usage: elogind_bench --bus ADDR --elogind-pid PID [--sessions N] [--lists L] [--terminates T]";
    let f = common::flags(
        usage,
        &["--bus", "--elogind-pid", "--sessions", "--lists", "--terminates"],
        &["--bus", "--elogind-pid"],
    )?;
    Ok(Args {
        bus: f["--bus"].clone(),
        elogind_pid: common::number(&f, "--elogind-pid", 0)?,
        sessions: common::number(&f, "--sessions", 10_000)?,
        lists: common::number(&f, "--lists", 200)?,
        terminates: common::number(&f, "--terminates", 50)?,
    })
}

/// A session elogind created: its id and the FIFO that keeps it open.
struct Created {
    id: String,
    _fifo: OwnedFd,
}

/// CreateSession as pam_elogind calls it for a remote tty login of root.
fn create(conn: &Connection, i: usize, leader: u32) -> Result<Created, String> {
    let properties: Vec<(&str, Value<'_>)> = Vec::new();
    let tty = format!("pts/{}", i % 4096);
    let host = format!("10.0.{}.{}", (i / 256) % 256, i % 256);
    let body = (
        0u32,
        leader,
        "vestibule",
        "tty",
        "user",
        "",
        "",
        0u32,
        tty.as_str(),
        "",
        true,
        "",
        host.as_str(),
        properties,
    );
    let reply = conn
        .call_method(Some(NAME), PATH, Some(MANAGER), "CreateSession", &body)
        .map_err(|e| format!("CreateSession {i}: {e}"))?;
    type Reply = (String, OwnedObjectPath, String, OwnedFd, u32, String, u32, bool);
    let (id, _, _, fifo, _, _, _, _): Reply = reply
        .body()
        .deserialize()
        .map_err(|e| format!("CreateSession {i} reply: {e}"))?;
    Ok(Created { id, _fifo: fifo })
}

type Listed = Vec<(String, u32, String, String, OwnedObjectPath)>;

fn run(a: Args) -> Result<(), String> {
    let conn = zbus::blocking::connection::Builder::address(a.bus.as_str())
        .and_then(|b| b.build())
        .map_err(|e| format!("connecting: {e}"))?;
    let before = rss(a.elogind_pid);

    // 1. Creation: the leaders are started first, outside the timing.
    let leaders = (0..a.sessions).map(|_| leader()).collect::<Result<Vec<_>, _>>()?;
    let mut created = Vec::with_capacity(a.sessions);
    let mut reg = Vec::with_capacity(a.sessions);
    let all = Instant::now();
    for (i, l) in leaders.iter().enumerate() {
        let t = Instant::now();
        created.push(create(&conn, i, l.0.id())?);
        reg.push(t.elapsed());
    }
    let reg_total = all.elapsed();
    let after = rss(a.elogind_pid);
    let idle = idle_cpu(a.elogind_pid, IDLE);

    // 2. ListSessions, decoded as any client would.
    let list = || {
        conn.call_method(Some(NAME), PATH, Some(MANAGER), "ListSessions", &())
            .map_err(|e| format!("ListSessions: {e}"))
    };
    let common::ListTimes {
        replies,
        decode,
        total: lists,
    } = common::time_lists(a.lists, a.sessions, list, |reply| {
        let got: Listed = reply
            .body()
            .deserialize()
            .map_err(|e| format!("ListSessions reply: {e}"))?;
        Ok(got.len())
    })?;
    let reply_bytes = list()?.data().len();
    let after_list = rss(a.elogind_pid);

    // 3. TerminateSession on sessions whose leader exits at once on SIGTERM.
    let mut term_total = Vec::with_capacity(a.terminates);
    let mut term_exit = Vec::with_capacity(a.terminates);
    for i in 0..a.terminates {
        let mut child = leader()?;
        let s = create(&conn, a.sessions + i, child.0.id())?;
        std::thread::scope(|sc| -> Result<(), String> {
            let waiter = sc.spawn(|| {
                let _ = child.0.wait();
                Instant::now()
            });
            let t = Instant::now();
            conn.call_method(Some(NAME), PATH, Some(MANAGER), "TerminateSession", &(&s.id,))
                .map_err(|e| format!("TerminateSession {}: {e}", s.id))?;
            let done = Instant::now();
            let limit = t + Duration::from_secs(10);
            while !waiter.is_finished() {
                if Instant::now() > limit {
                    return Err(format!(
                        "session {}: the leader outlived TerminateSession by 10 s",
                        s.id
                    ));
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            let exited = waiter.join().map_err(|_| "waiter panicked".to_string())?;
            term_total.push(done - t);
            term_exit.push(exited.saturating_duration_since(t));
            Ok(())
        })?;
    }

    print_report(
        &a,
        &Report {
            reg,
            reg_total,
            before,
            after,
            after_list,
            idle,
            lists,
            replies,
            decode,
            reply_bytes,
            term_total,
            term_exit,
        },
    );
    drop(created);
    drop(leaders);
    Ok(())
}

struct Report {
    reg: Vec<Duration>,
    reg_total: Duration,
    before: (u64, u64),
    after: (u64, u64),
    after_list: (u64, u64),
    idle: f64,
    lists: Vec<Duration>,
    replies: Vec<Duration>,
    decode: Vec<Duration>,
    reply_bytes: usize,
    term_total: Vec<Duration>,
    term_exit: Vec<Duration>,
}

fn print_report(a: &Args, r: &Report) {
    let n = a.sessions;
    let first = mean(&r.reg[..n.min(1000)]);
    let last = mean(&r.reg[n.saturating_sub(1000)..]);
    let sorted = |v: &[Duration]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    let reg = sorted(&r.reg);
    let (lists, replies, decode) = (sorted(&r.lists), sorted(&r.replies), sorted(&r.decode));
    let (term, term_exit) = (sorted(&r.term_total), sorted(&r.term_exit));
    let mib = |k: u64| k as f64 / 1024.0;
    let per_s = n as f64 / r.reg_total.as_secs_f64();
    println!("### elogind: CreateSession ({n} sessions, one after another, one client)\n");
    println!("| metric | value |\n| --- | --- |");
    println!("| total | {:.2} s |", r.reg_total.as_secs_f64());
    println!("| throughput | {per_s:.0} sessions/s |");
    println!(
        "| per call p50 / p99 / max | {:.2} / {:.2} / {:.2} ms |",
        pct(&reg, 50.0),
        pct(&reg, 99.0),
        pct(&reg, 100.0)
    );
    println!("| mean of the first 1000 calls | {first:.2} ms |");
    println!("| mean of the last 1000 calls | {last:.2} ms |\n");
    println!(
        "### elogind at rest with {n} sessions\n\nCPU time used in {} s with no calls, after the sessions were created: {:.2} % of one core.\n",
        IDLE.as_secs(),
        r.idle
    );
    println!("### elogind memory (/proc/<elogind>/status)\n");
    println!("| when | VmRSS | VmHWM |\n| --- | --- | --- |");
    for (when, (rss, hwm)) in [
        ("before (no sessions)", r.before),
        (&*format!("after creating {n}"), r.after),
        (&*format!("after {} ListSessions of {n}", a.lists), r.after_list),
    ] {
        println!("| {when} | {:.1} MiB | {:.1} MiB |", mib(rss), mib(hwm));
    }
    println!(
        "\n### elogind: ListSessions with {n} sessions ({} calls after 5 warm-up calls)\n",
        a.lists
    );
    println!("| measure | p50 | p90 | p99 | max | mean |\n| --- | --- | --- | --- | --- | --- |");
    for (what, v) in [
        ("call to reply received", &replies),
        ("decoding the reply (`a(susso)`, zvariant)", &decode),
        ("call to decoded list", &lists),
    ] {
        println!("{}", common::spread_row(what, v));
    }
    println!("\nThe reply is {} bytes.\n", r.reply_bytes);
    println!(
        "### elogind: TerminateSession with {n} other sessions ({} sessions, leader `sleep` exits on SIGTERM)\n",
        a.terminates
    );
    println!("| measure | p50 | p99 | max |\n| --- | --- | --- | --- |");
    for (what, v) in [("call to reply", &term), ("call to leader exit", &term_exit)] {
        println!(
            "| {what} | {:.2} ms | {:.2} ms | {:.2} ms |",
            pct(v, 50.0),
            pct(v, 99.0),
            pct(v, 100.0)
        );
    }
    println!(
        "\n<!-- elogind list_p99_ms={:.3} list_reply_p50_ms={:.3} list_reply_p99_ms={:.3} terminate_p50_ms={:.3} terminate_p99_ms={:.3} terminate_exit_p99_ms={:.3} rss_kib={} hwm_kib={} reg_per_s={per_s:.1} idle_cpu_pct={:.2} -->",
        pct(&lists, 99.0),
        pct(&replies, 50.0),
        pct(&replies, 99.0),
        pct(&term, 50.0),
        pct(&term, 99.0),
        pct(&term_exit, 99.0),
        r.after_list.0,
        r.after_list.1,
        r.idle,
    );
}

fn main() {
    let code = match parse_args().and_then(run) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("elogind_bench: {e}");
            1
        }
    };
    std::process::exit(code);
}
