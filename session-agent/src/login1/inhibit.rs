//! Inhibitor locks (`Inhibit`), as logind keeps them: what is inhibited, by whom, why, in which
//! mode, for which uid and pid, until the holder closes its end of the pipe the agent handed out.
//! The agent never suspends or shuts the machine down, so nothing waits on them: they are
//! recorded, listed (`ListInhibitors`) and shown in `BlockInhibited` / `DelayInhibited`, so
//! programs that take one (xss-lock, swayidle take a `sleep` delay lock) work unchanged.

use std::collections::BTreeMap;

/// The whats logind knows, in the order it joins them.
pub const WHATS: [&str; 7] = [
    "shutdown",
    "sleep",
    "idle",
    "handle-power-key",
    "handle-suspend-key",
    "handle-hibernate-key",
    "handle-lid-switch",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Block,
    Delay,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Block => "block",
            Mode::Delay => "delay",
        }
    }
}

/// An inhibitor the caller asked for, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inhibitor {
    /// Canonical, colon-joined (in [`WHATS`] order).
    pub what: String,
    pub who: String,
    pub why: String,
    pub mode: Mode,
    pub uid: u32,
    pub pid: u32,
}

/// What was wrong with an `Inhibit` call (InvalidArgs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadInhibit {
    #[error("what is empty")]
    NoWhat,
    #[error("unknown inhibit type {0:?} (known: shutdown, sleep, idle, handle-*)")]
    What(String),
    #[error("unknown inhibit mode {0:?} (block or delay)")]
    Mode(String),
    #[error("{0} is longer than 4096 bytes")]
    TooLong(&'static str),
}

/// Checks an `Inhibit(what, who, why, mode)` call.
pub fn parse(
    what: &str,
    who: &str,
    why: &str,
    mode: &str,
    uid: u32,
    pid: u32,
) -> Result<Inhibitor, BadInhibit> {
    let mode = match mode {
        "block" => Mode::Block,
        "delay" => Mode::Delay,
        m => return Err(BadInhibit::Mode(m.to_owned())),
    };
    if who.len() > 4096 {
        return Err(BadInhibit::TooLong("who"));
    }
    if why.len() > 4096 {
        return Err(BadInhibit::TooLong("why"));
    }
    let mut wanted = [false; WHATS.len()];
    for w in what.split(':').filter(|w| !w.is_empty()) {
        let i = WHATS
            .iter()
            .position(|k| *k == w)
            .ok_or_else(|| BadInhibit::What(w.to_owned()))?;
        wanted[i] = true;
    }
    if !wanted.iter().any(|&b| b) {
        return Err(BadInhibit::NoWhat);
    }
    Ok(Inhibitor {
        what: join(wanted),
        who: who.to_owned(),
        why: why.to_owned(),
        mode,
        uid,
        pid,
    })
}

fn join(wanted: [bool; WHATS.len()]) -> String {
    WHATS
        .iter()
        .zip(wanted)
        .filter(|(_, w)| *w)
        .map(|(k, _)| *k)
        .collect::<Vec<_>>()
        .join(":")
}

/// The inhibitors held now, by a number of the agent's.
#[derive(Debug, Default)]
pub struct Inhibitors {
    held: BTreeMap<u64, Inhibitor>,
    next: u64,
}

impl Inhibitors {
    pub fn add(&mut self, i: Inhibitor) -> u64 {
        self.next += 1;
        self.held.insert(self.next, i);
        self.next
    }

    pub fn remove(&mut self, key: u64) -> Option<Inhibitor> {
        self.held.remove(&key)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Inhibitor> {
        self.held.values()
    }

    /// `BlockInhibited` or `DelayInhibited`: every what some inhibitor of `mode` holds.
    pub fn inhibited(&self, mode: Mode) -> String {
        let mut wanted = [false; WHATS.len()];
        for i in self.held.values().filter(|i| i.mode == mode) {
            for w in i.what.split(':') {
                if let Some(k) = WHATS.iter().position(|k| *k == w) {
                    wanted[k] = true;
                }
            }
        }
        join(wanted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_canonicalises_whats() {
        let i = parse("idle:sleep", "xss-lock", "lock", "delay", 1000, 42).unwrap();
        assert_eq!(i.what, "sleep:idle");
        assert_eq!(i.mode, Mode::Delay);
        assert_eq!(parse("", "a", "b", "block", 0, 1), Err(BadInhibit::NoWhat));
        assert_eq!(
            parse("nap", "a", "b", "block", 0, 1),
            Err(BadInhibit::What("nap".into()))
        );
        assert_eq!(
            parse("sleep", "a", "b", "maybe", 0, 1),
            Err(BadInhibit::Mode("maybe".into()))
        );
    }

    #[test]
    fn inhibited_joins_the_whats_of_a_mode_until_removed() {
        let mut all = Inhibitors::default();
        let a = all.add(parse("sleep", "a", "", "delay", 0, 1).unwrap());
        all.add(parse("shutdown:idle", "b", "", "block", 0, 1).unwrap());
        all.add(parse("idle", "c", "", "delay", 0, 1).unwrap());
        assert_eq!(all.inhibited(Mode::Delay), "sleep:idle");
        assert_eq!(all.inhibited(Mode::Block), "shutdown:idle");
        all.remove(a);
        assert_eq!(all.inhibited(Mode::Delay), "idle");
        assert_eq!(all.iter().count(), 2);
    }
}
