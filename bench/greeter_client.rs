//! greeter-client: the scripted greeter of `bench/run-daemon.sh`, run by vestibuled and by
//! greetd 0.9 alike (as their greeter command), speaking greetd's plain protocol (a u32 length in
//! native byte order, then JSON) with nothing of Vestibule's: one `create_session` for the user,
//! an empty answer to any prompt, `start_session` with the session command, then exit, as agreety
//! does. It appends one line per run to LOG:
//!
//! ```text
//! greeter PID create=NS first=NS
//! ```
//!
//! `create`: CLOCK_MONOTONIC just before `create_session` is written; `first`: when the daemon's
//! first reply to it has been read (both in nanoseconds, the clock the session's stamp uses).
//! When STOP exists, it connects and stays idle instead (`idle PID` in LOG), so the harness can
//! read the idle daemon's memory with a greeter at its card, as a real one would be.
//!
//! Usage: greeter-client LOG STOP USER SESSION-COMMAND...

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use nix::time::{clock_gettime, ClockId};
use serde_json::{json, Value};

fn now_ns() -> i128 {
    let t = clock_gettime(ClockId::CLOCK_MONOTONIC).expect("CLOCK_MONOTONIC");
    i128::from(t.tv_sec()) * 1_000_000_000 + i128::from(t.tv_nsec())
}

fn send(stream: &mut UnixStream, message: &Value) -> std::io::Result<()> {
    let body = serde_json::to_vec(message).expect("JSON");
    let len = u32::try_from(body.len()).expect("small message");
    stream.write_all(&len.to_ne_bytes())?;
    stream.write_all(&body)
}

fn receive(stream: &mut UnixStream) -> Result<Value, String> {
    let mut len = [0u8; 4];
    stream
        .read_exact(&mut len)
        .map_err(|e| format!("reading a reply: {e}"))?;
    let len = u32::from_ne_bytes(len) as usize;
    if len > 1 << 20 {
        return Err(format!("a reply of {len} bytes"));
    }
    let mut body = vec![0u8; len];
    stream
        .read_exact(&mut body)
        .map_err(|e| format!("reading a reply: {e}"))?;
    serde_json::from_slice(&body).map_err(|e| format!("a reply that is not JSON: {e}"))
}

fn append(log: &str, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap_or_else(|e| panic!("{log}: {e}"));
    writeln!(f, "{line}").unwrap_or_else(|e| panic!("{log}: {e}"));
}

fn run(log: &str, stop: &str, user: &str, command: &[String]) -> Result<(), String> {
    let path = std::env::var("GREETD_SOCK").map_err(|_| "GREETD_SOCK is not set".to_owned())?;
    let mut stream = UnixStream::connect(&path).map_err(|e| format!("connecting to {path}: {e}"))?;
    let pid = std::process::id();
    if std::path::Path::new(stop).exists() {
        append(log, &format!("idle {pid}"));
        loop {
            std::thread::park();
        }
    }
    let io = |e: std::io::Error| format!("writing a request: {e}");
    let create = now_ns();
    send(&mut stream, &json!({"type": "create_session", "username": user})).map_err(io)?;
    let mut first = None;
    let mut starting = false;
    loop {
        let reply = receive(&mut stream)?;
        first.get_or_insert_with(now_ns);
        match reply["type"].as_str() {
            Some("auth_message") => {
                let prompt = matches!(reply["auth_message_type"].as_str(), Some("secret" | "visible"));
                let answer = if prompt { json!("") } else { Value::Null };
                send(
                    &mut stream,
                    &json!({"type": "post_auth_message_response", "response": answer}),
                )
                .map_err(io)?;
            }
            Some("success") if !starting => {
                starting = true;
                send(
                    &mut stream,
                    &json!({"type": "start_session", "cmd": command, "env": []}),
                )
                .map_err(io)?;
            }
            Some("success") => break,
            _ => return Err(format!("the daemon replied {reply}")),
        }
    }
    let first = first.unwrap_or(create);
    append(log, &format!("greeter {pid} create={create} first={first}"));
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        eprintln!("usage: greeter-client LOG STOP USER SESSION-COMMAND...");
        std::process::exit(2);
    }
    if let Err(e) = run(&args[0], &args[1], &args[2], &args[3..]) {
        eprintln!("greeter-client: {e}");
        append(&args[0], &format!("failed {e}"));
        std::process::exit(1);
    }
}
