//! What the two benchmark clients (agent_bench, elogind_bench) measure the same way: percentiles,
//! a process's memory and CPU time, and the `sleep` processes that stand in for sessions.

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The `--name value` pairs of the command line; every name must be in `known`, and
/// `required` ones present. Errors end with `usage`.
pub fn flags(usage: &str, known: &[&str], required: &[&str]) -> Result<HashMap<String, String>, String> {
    let mut found = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(name) = it.next() {
        if !known.contains(&name.as_str()) {
            return Err(format!("unknown argument {name}\n{usage}"));
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{name} needs a value\n{usage}"))?;
        found.insert(name, value);
    }
    if let Some(missing) = required.iter().find(|r| !found.contains_key(**r)) {
        return Err(format!("{missing} is required\n{usage}"));
    }
    Ok(found)
}

/// The number given for flag `name`, or `default`.
pub fn number<T: std::str::FromStr>(
    flags: &HashMap<String, String>,
    name: &str,
    default: T,
) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    match flags.get(name) {
        Some(v) => v.parse().map_err(|e| format!("{name}: {e}")),
        None => Ok(default),
    }
}

/// Times of `calls` list calls after 5 warm-up calls: call to reply, decoding, and both.
pub struct ListTimes {
    pub replies: Vec<Duration>,
    pub decode: Vec<Duration>,
    pub total: Vec<Duration>,
}

/// Calls `call` (one list call) `calls` times after 5 untimed ones, decoding each reply with
/// `decode` (which returns how many sessions it held: `expected`, or an error), each part timed.
pub fn time_lists<R>(
    calls: usize,
    expected: usize,
    mut call: impl FnMut() -> Result<R, String>,
    decode: impl Fn(&R) -> Result<usize, String>,
) -> Result<ListTimes, String> {
    for _ in 0..5 {
        call()?;
    }
    let mut t = ListTimes {
        replies: Vec::with_capacity(calls),
        decode: Vec::with_capacity(calls),
        total: Vec::with_capacity(calls),
    };
    for _ in 0..calls {
        let start = std::time::Instant::now();
        let reply = call()?;
        let replied = std::time::Instant::now();
        let got = decode(&reply)?;
        t.total.push(start.elapsed());
        t.replies.push(replied - start);
        t.decode.push(replied.elapsed());
        if got != expected {
            return Err(format!("the list held {got} sessions, expected {expected}"));
        }
    }
    Ok(t)
}

/// A Markdown table row `| what | p50 | p90 | p99 | max | mean |` of sorted durations.
pub fn spread_row(what: &str, sorted: &[Duration]) -> String {
    format!(
        "| {what} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
        pct(sorted, 50.0),
        pct(sorted, 90.0),
        pct(sorted, 99.0),
        pct(sorted, 100.0),
        mean(sorted)
    )
}

/// Nearest-rank percentile of sorted durations, in milliseconds.
pub fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    ms(sorted[rank.clamp(1, sorted.len()) - 1])
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn mean(v: &[Duration]) -> f64 {
    v.iter().map(|d| ms(*d)).sum::<f64>() / v.len().max(1) as f64
}

/// `VmRSS` and `VmHWM` of `pid`, in KiB.
pub fn rss(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU time `pid` used (user + system, all threads), from /proc/PID/stat.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rfind(')').map_or("", |i| &stat[i + 1..]);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name: state(3) … utime(14) stime(15).
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as u64;
    Duration::from_secs_f64(ticks as f64 / hz as f64)
}

/// The share of one core `pid` used while this process slept for `period`, in percent.
pub fn idle_cpu(pid: u32, period: Duration) -> f64 {
    let before = cpu_time(pid);
    std::thread::sleep(period);
    let used = cpu_time(pid).saturating_sub(before);
    100.0 * used.as_secs_f64() / period.as_secs_f64()
}

/// A `sleep` in its own process group, exiting at once on SIGTERM; killed and reaped when
/// dropped.
pub struct Leader(pub Child);

impl Drop for Leader {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn leader() -> Result<Leader, String> {
    Command::new("sleep")
        .arg("100000")
        .process_group(0)
        .stdin(Stdio::null())
        .spawn()
        .map(Leader)
        .map_err(|e| format!("spawning sleep: {e}"))
}
