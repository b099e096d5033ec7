//! agent_bench: the measurement client of `bench/run-agent.sh` (issue 5's benchmark).
//!
//! Against a running `vestibule-agent` on `--bus ADDR`, as root:
//!   1. registers `--sessions N` sessions one after another (each call is answered after the agent
//!      appended the registration to its journal and fsync'd it), timing each call;
//!   2. reads the agent's VmRSS / VmHWM from /proc/`--agent-pid`/status;
//!   3. calls ListSessions `--lists L` times (after a few warm-up calls) for p50/p99, decoding
//!      each reply as `Client::list` does (the hand-written decoder), timed apart too; and reads
//!      one session object's properties (`Properties.GetAll`) as many times;
//!   4. closes `--closes C` sessions whose leader is a real `sleep` (its own process group) that
//!      exits at once on SIGTERM, timing CloseSession from call to reply;
//!   5. with `--login1 1` (the agent started with `--login1 on`), the same through the agent's
//!      `org.freedesktop.login1`: ListSessions (`a(susso)`, decoded with zvariant as
//!      elogind_bench decodes elogind's, so the two compare), the agent's RSS after those lists,
//!      and TerminateSession on as many real-leader sessions as step 4 closes.
//!
//! The supervisor of every session is this process, alive, as the core's supervisor is during a
//! real session: for a closed session a waiter thread does what the core's supervisor does when
//! its leader exits (waitpid, then UnregisterSession), and records when the leader exited, so
//! "close latency beyond the time the session took to exit" is reported apart.
//! The bulk sessions share one leader (a `sleep` in its own group) and this supervisor: the agent
//! does not refuse several sessions on the same pids.
//!
//! Prints a Markdown fragment on stdout.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use std::collections::HashMap;

mod common;
use common::{idle_cpu, leader, mean, ms, pct, rss};
/// How long the agent is watched at rest, for its CPU use with every session registered.
const IDLE: Duration = Duration::from_secs(5);

use vestibule_agent::client::{decode_list, Client, NewSession};
use vestibule_agent::signals::SESSION_INTERFACE;
use vestibule_agent::wire::WireSession;
use vestibule_agent::{session_path, BUS_NAME, INTERFACE, OBJECT_PATH};
use zbus::zvariant::OwnedValue;

struct Args {
    bus: String,
    agent_pid: u32,
    sessions: usize,
    lists: usize,
    closes: usize,
    state: Option<String>,
    login1: bool,
}

/// The name, object and interface of the agent's login1 manager (as elogind_bench calls them).
const LOGIN1: &str = "org.freedesktop.login1";
const LOGIN1_PATH: &str = "/org/freedesktop/login1";
const LOGIN1_MANAGER: &str = "org.freedesktop.login1.Manager";
/// login1's ListSessions reply: id, uid, user, seat, object path.
type Login1Listed = Vec<(String, u32, String, String, zbus::zvariant::OwnedObjectPath)>;

fn parse_args() -> Result<Args, String> {
    let usage = "usage: agent_bench --bus ADDR --agent-pid PID [--sessions N] [--lists L] [--closes C] [--state PATH] [--login1 0|1]";
    let f = common::flags(
        usage,
        &[
            "--bus",
            "--agent-pid",
            "--sessions",
            "--lists",
            "--closes",
            "--state",
            "--login1",
        ],
        &["--bus", "--agent-pid"],
    )?;
    Ok(Args {
        bus: f["--bus"].clone(),
        agent_pid: common::number(&f, "--agent-pid", 0)?,
        sessions: common::number(&f, "--sessions", 10_000)?,
        lists: common::number(&f, "--lists", 200)?,
        closes: common::number(&f, "--closes", 50)?,
        state: f.get("--state").cloned(),
        login1: common::number::<u8>(&f, "--login1", 0)? == 1,
    })
}

fn session(i: usize, leader: u32, supervisor: u32) -> NewSession {
    NewSession {
        user: "root".into(),
        uid: 0,
        tty: format!("pts/{}", i % 4096),
        display: String::new(),
        remote_host: format!("10.0.{}.{}", (i / 256) % 256, i % 256),
        service: "vestibule".into(),
        leader,
        supervisor,
        class: "user".into(),
    }
}

/// Close latencies of one close path: call to reply, call to the leader's exit, and the leader's
/// exit to the reply.
struct Closes {
    total: Vec<Duration>,
    exit: Vec<Duration>,
    beyond: Vec<Duration>,
}

/// What step 5 measured through login1.
struct Login1 {
    times: common::ListTimes,
    reply_bytes: usize,
    rss_after: (u64, u64),
    term: Closes,
}

/// Registers `a.closes` sessions (numbered from `first`), each with its own `sleep` leader and
/// this process as supervisor, and ends each with `close` (CloseSession or login1's
/// TerminateSession), timed; a waiter thread plays the supervisor (waitpid on the leader, then
/// UnregisterSession on `unregisterer`), which is what the close waits for before replying.
fn closes(
    a: &Args,
    client: &Client,
    unregisterer: &Client,
    first: usize,
    close: impl Fn(&str) -> Result<(), String>,
) -> Result<Closes, String> {
    let me = std::process::id();
    let mut out = Closes {
        total: Vec::with_capacity(a.closes),
        exit: Vec::with_capacity(a.closes),
        beyond: Vec::with_capacity(a.closes),
    };
    for i in 0..a.closes {
        let mut child = leader()?;
        let s = session(first + i, child.0.id(), me);
        let id = client
            .register(&s)
            .map_err(|e| format!("registration for close: {e}"))?;
        let (tx, rx) = mpsc::channel();
        let waiter = {
            let id = id.clone();
            move || {
                // The supervisor's part: the leader exits, the PAM session is closed (pam_permit:
                // nothing to do here), the session is unregistered.
                let _ = child.0.wait();
                let exited = Instant::now();
                let r = unregisterer.unregister(&id).map_err(|e| e.to_string());
                let _ = tx.send((exited, r));
            }
        };
        std::thread::scope(|sc| -> Result<(), String> {
            sc.spawn(waiter);
            let t = Instant::now();
            close(&id)?;
            let done = Instant::now();
            let (exited, r) = rx.recv().map_err(|e| e.to_string())?;
            r.map_err(|e| format!("unregister {id}: {e}"))?;
            out.total.push(done - t);
            out.exit.push(exited.saturating_duration_since(t));
            out.beyond.push(done.saturating_duration_since(exited));
            Ok(())
        })?;
    }
    out.total.sort();
    out.exit.sort();
    out.beyond.sort();
    Ok(out)
}

fn run(a: Args) -> Result<(), String> {
    let me = std::process::id();
    let client = Client::connect(Some(&a.bus)).map_err(|e| format!("connecting: {e}"))?;
    let before = rss(a.agent_pid);

    // 1. Registration.
    let shared = leader()?;
    let shared_pid = shared.0.id();
    let mut reg = Vec::with_capacity(a.sessions);
    let all = Instant::now();
    for i in 0..a.sessions {
        let s = session(i, shared_pid, me);
        let t = Instant::now();
        client
            .register(&s)
            .map_err(|e| format!("registration {i}: {e}"))?;
        reg.push(t.elapsed());
    }
    let reg_total = all.elapsed();
    let after = rss(a.agent_pid);
    let idle = idle_cpu(a.agent_pid, IDLE);
    let size = |p: String| std::fs::metadata(p).map_or(0, |m| m.len());
    let state_size = a.state.clone().map_or(0, size);
    let journal_size = a.state.as_ref().map_or(0, |p| size(format!("{p}.journal")));

    // 2. ListSessions: what `Client::list` does, with the client's decoding timed apart.
    let common::ListTimes {
        mut replies,
        mut decode,
        total: mut lists,
    } = common::time_lists(
        a.lists,
        a.sessions,
        || {
            client
                .connection()
                .call_method(Some(BUS_NAME), OBJECT_PATH, Some(INTERFACE), "ListSessions", &())
                .map_err(|e| format!("list: {e}"))
        },
        |reply| {
            let got: Vec<WireSession> = decode_list(reply).map_err(|e| format!("list: {e}"))?;
            Ok(got.len())
        },
    )?;
    let after_list = rss(a.agent_pid);

    // 2b. One session object's properties, as a second client would read them.
    let object = session_path(1);
    let mut props = Vec::with_capacity(a.lists);
    for _ in 0..a.lists {
        let t = Instant::now();
        let reply = client
            .connection()
            .call_method(
                Some(BUS_NAME),
                object.as_str(),
                Some("org.freedesktop.DBus.Properties"),
                "GetAll",
                &(SESSION_INTERFACE,),
            )
            .map_err(|e| format!("GetAll: {e}"))?;
        let all: HashMap<String, OwnedValue> =
            reply.body().deserialize().map_err(|e| format!("GetAll: {e}"))?;
        props.push(t.elapsed());
        if all.len() != 13 {
            return Err(format!(
                "GetAll returned {} properties: {:?}",
                all.len(),
                all.keys()
            ));
        }
    }
    // And zvariant's generic decoding of one list reply, for comparison with the decoder above.
    let reply = client
        .connection()
        .call_method(Some(BUS_NAME), OBJECT_PATH, Some(INTERFACE), "ListSessions", &())
        .map_err(|e| format!("list: {e}"))?;
    let t = Instant::now();
    let generic: Vec<WireSession> = reply.body().deserialize().map_err(|e| format!("list: {e}"))?;
    let generic_decode = t.elapsed();
    if generic != decode_list(&reply).map_err(|e| e.to_string())? {
        return Err("the hand-written decoder and zvariant disagree".into());
    }

    // 3. CloseSession on sessions whose leader is a real process.
    let unregisterer = Client::connect(Some(&a.bus)).map_err(|e| format!("connecting: {e}"))?;
    let close_agent = |id: &str| client.close(id).map_err(|e| format!("close {id}: {e}"));
    let Closes {
        total: close_total,
        exit: close_exit,
        beyond: close_beyond,
    } = closes(&a, &client, &unregisterer, a.sessions, close_agent)?;

    // 4. login1, on the same table: ListSessions, RSS, TerminateSession.
    let login1 = if a.login1 {
        let conn = client.connection();
        let list = || {
            conn.call_method(
                Some(LOGIN1),
                LOGIN1_PATH,
                Some(LOGIN1_MANAGER),
                "ListSessions",
                &(),
            )
            .map_err(|e| format!("login1 ListSessions: {e}"))
        };
        let mut times = common::time_lists(a.lists, a.sessions, list, |reply| {
            let got: Login1Listed = reply
                .body()
                .deserialize()
                .map_err(|e| format!("login1 ListSessions reply: {e}"))?;
            Ok(got.len())
        })?;
        times.replies.sort();
        times.decode.sort();
        times.total.sort();
        let reply_bytes = list()?.data().len();
        let rss_after = rss(a.agent_pid);
        let terminate = |id: &str| {
            conn.call_method(
                Some(LOGIN1),
                LOGIN1_PATH,
                Some(LOGIN1_MANAGER),
                "TerminateSession",
                &(id,),
            )
            .map(|_| ())
            .map_err(|e| format!("login1 TerminateSession {id}: {e}"))
        };
        let term = closes(&a, &client, &unregisterer, a.sessions + a.closes, terminate)?;
        Some(Login1 {
            times,
            reply_bytes,
            rss_after,
            term,
        })
    } else {
        None
    };
    drop(shared);

    let k = a.sessions.min(1000);
    let first: Vec<Duration> = reg.iter().take(k).copied().collect();
    let last: Vec<Duration> = reg.iter().rev().take(k).copied().collect();
    reg.sort();
    lists.sort();
    replies.sort();
    decode.sort();
    props.sort();

    let n = a.sessions;
    println!("### Registration ({n} sessions, one RegisterSession after another, one client)\n");
    println!("| metric | value |");
    println!("| --- | --- |");
    println!("| total | {:.2} s |", reg_total.as_secs_f64());
    println!(
        "| throughput | {:.0} registrations/s |",
        n as f64 / reg_total.as_secs_f64()
    );
    println!(
        "| per call p50 / p99 / max | {:.2} / {:.2} / {:.2} ms |",
        pct(&reg, 50.0),
        pct(&reg, 99.0),
        pct(&reg, 100.0)
    );
    println!("| mean of the first {k} calls | {:.2} ms |", mean(&first));
    println!("| mean of the last {k} calls | {:.2} ms |", mean(&last));
    println!(
        "| snapshot + journal after registration | {:.2} MiB + {:.2} MiB ({state_size} + {journal_size} bytes) |",
        state_size as f64 / 1048576.0,
        journal_size as f64 / 1048576.0
    );
    println!();
    println!(
        "### Agent at rest with {n} sessions\n\nCPU time used in {} s with no calls, after the registrations: {idle:.2} % of one core.\n",
        IDLE.as_secs()
    );
    println!("### Agent memory (/proc/<agent>/status)\n");
    println!("| when | VmRSS | VmHWM |");
    println!("| --- | --- | --- |");
    for (when, (r, h)) in [
        ("before registration (empty table)", before),
        (&format!("after registering {n}") as &str, after),
        (
            &format!("after {} ListSessions of {n}", a.lists) as &str,
            after_list,
        ),
    ] {
        println!(
            "| {when} | {:.1} MiB | {:.1} MiB |",
            r as f64 / 1024.0,
            h as f64 / 1024.0
        );
    }
    println!();
    println!(
        "### ListSessions with {n} sessions ({} calls after 5 warm-up calls)\n",
        a.lists
    );
    println!("| measure | p50 | p90 | p99 | max | mean |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (what, v) in [
        ("call to reply received", &replies),
        ("the client's decoding (`client::decode_list`)", &decode),
        (
            "call to decoded `Vec<WireSession>` (what `Client::list` costs)",
            &lists,
        ),
    ] {
        println!("{}", common::spread_row(what, v));
    }
    println!(
        "\nThe reply is {} bytes. For comparison, zvariant's generic decoding of one such reply \
         took {:.2} ms.",
        reply.body().len(),
        ms(generic_decode)
    );
    println!();
    println!(
        "### Properties.GetAll on one session object, with {n} session objects exported ({} calls)\n",
        a.lists
    );
    println!("| p50 | p99 | max |");
    println!("| --- | --- | --- |");
    println!(
        "| {:.2} ms | {:.2} ms | {:.2} ms |",
        pct(&props, 50.0),
        pct(&props, 99.0),
        pct(&props, 100.0)
    );
    println!();
    println!(
        "### CloseSession with {n} other sessions registered ({} closes, leader `sleep` exits on SIGTERM)\n",
        a.closes
    );
    println!("| measure | p50 | p99 | max |");
    println!("| --- | --- | --- | --- |");
    for (what, v) in [
        ("call to reply", &close_total),
        (
            "call to leader exit (seen by the supervisor's waitpid)",
            &close_exit,
        ),
        ("leader exit to reply (beyond the session's exit)", &close_beyond),
    ] {
        println!(
            "| {what} | {:.2} ms | {:.2} ms | {:.2} ms |",
            pct(v, 50.0),
            pct(v, 99.0),
            pct(v, 100.0)
        );
    }
    println!();
    if let Some(l) = &login1 {
        print_login1(&a, l);
    }
    // Machine-readable summary for the harness's verdicts.
    println!(
        "<!-- summary list_p99_ms={:.3} list_reply_p99_ms={:.3} close_beyond_p99_ms={:.3} close_p99_ms={:.3} rss_kib={} hwm_kib={} reg_per_s={:.1} idle_cpu_pct={idle:.2} -->",
        pct(&lists, 99.0),
        pct(&replies, 99.0),
        pct(&close_beyond, 99.0),
        pct(&close_total, 99.0),
        after.0.max(after_list.0),
        after_list.1,
        n as f64 / reg_total.as_secs_f64()
    );
    if let Some(l) = &login1 {
        println!(
            "<!-- login1 list_p50_ms={:.3} list_p99_ms={:.3} list_reply_p50_ms={:.3} list_reply_p99_ms={:.3} terminate_p50_ms={:.3} terminate_p99_ms={:.3} rss_kib={} hwm_kib={} -->",
            pct(&l.times.total, 50.0),
            pct(&l.times.total, 99.0),
            pct(&l.times.replies, 50.0),
            pct(&l.times.replies, 99.0),
            pct(&l.term.total, 50.0),
            pct(&l.term.total, 99.0),
            l.rss_after.0,
            l.rss_after.1,
        );
    }
    Ok(())
}

/// The login1 part of the report (step 5).
fn print_login1(a: &Args, l: &Login1) {
    let n = a.sessions;
    let t = &l.times;
    println!(
        "### login1 (`org.freedesktop.login1`, the agent's second connection): ListSessions with {n} sessions ({} calls after 5 warm-up calls)\n",
        a.lists
    );
    println!("| measure | p50 | p90 | p99 | max | mean |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (what, v) in [
        ("call to reply received", &t.replies),
        ("decoding the reply (`a(susso)`, zvariant)", &t.decode),
        ("call to decoded list", &t.total),
    ] {
        println!("{}", common::spread_row(what, v));
    }
    println!("\nThe reply is {} bytes.\n", l.reply_bytes);
    println!(
        "Agent memory after those lists (it serves login1 and its own API): VmRSS {:.1} MiB, VmHWM {:.1} MiB.\n",
        l.rss_after.0 as f64 / 1024.0,
        l.rss_after.1 as f64 / 1024.0
    );
    println!(
        "### login1 TerminateSession with {n} other sessions registered ({} sessions, leader `sleep` exits on SIGTERM)\n",
        a.closes
    );
    println!("| measure | p50 | p99 | max |");
    println!("| --- | --- | --- | --- |");
    for (what, v) in [
        ("call to reply", &l.term.total),
        (
            "call to leader exit (seen by the supervisor's waitpid)",
            &l.term.exit,
        ),
        ("leader exit to reply (beyond the session's exit)", &l.term.beyond),
    ] {
        println!(
            "| {what} | {:.2} ms | {:.2} ms | {:.2} ms |",
            pct(v, 50.0),
            pct(v, 99.0),
            pct(v, 100.0)
        );
    }
    println!();
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("agent_bench: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args) {
        eprintln!("agent_bench: {e}");
        std::process::exit(1);
    }
}
