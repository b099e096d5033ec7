//! The D-Bus shape of a session record: a struct of basic types, `(ssussssuusst)`, because D-Bus
//! has no optional values (an absent tty, display or remote host is the empty string, as in
//! logind) and no enums (class and state travel as their names).

use serde::{Deserialize, Serialize};
use vestibule_core::record::{SessionRecord, UnknownName};
use zbus::zvariant::Type;

/// One entry of `ListSessions`, and the reply of `GetSession` / `GetSessionByPid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct WireSession {
    pub id: String,
    pub user: String,
    pub uid: u32,
    pub tty: String,
    pub display: String,
    pub remote_host: String,
    pub service: String,
    pub leader: u32,
    pub supervisor: u32,
    pub class: String,
    pub state: String,
    pub since: u64,
}

impl From<&SessionRecord> for WireSession {
    fn from(r: &SessionRecord) -> WireSession {
        WireSession {
            id: r.id.clone(),
            user: r.user.clone(),
            uid: r.uid,
            tty: r.tty.clone().unwrap_or_default(),
            display: r.display.clone().unwrap_or_default(),
            remote_host: r.remote_host.clone().unwrap_or_default(),
            service: r.service.clone(),
            leader: r.leader,
            supervisor: r.supervisor,
            class: r.class.as_str().to_owned(),
            state: r.state.as_str().to_owned(),
            since: r.since,
        }
    }
}

impl TryFrom<WireSession> for SessionRecord {
    type Error = UnknownName;

    fn try_from(w: WireSession) -> Result<SessionRecord, UnknownName> {
        let opt = |s: String| (!s.is_empty()).then_some(s);
        Ok(SessionRecord {
            class: w.class.parse()?,
            state: w.state.parse()?,
            id: w.id,
            user: w.user,
            uid: w.uid,
            tty: opt(w.tty),
            display: opt(w.display),
            remote_host: opt(w.remote_host),
            service: w.service,
            leader: w.leader,
            supervisor: w.supervisor,
            since: w.since,
        })
    }
}

/// The D-Bus signature of `ListSessions`' reply.
pub const LIST_SIGNATURE: &str = "a(ssussssuusst)";

/// Byte order of an encoded body (the message header's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Little,
    Big,
}

impl Order {
    /// The order this machine writes, which is what zbus builds messages in.
    pub const NATIVE: Order = if cfg!(target_endian = "big") {
        Order::Big
    } else {
        Order::Little
    };
}

/// A D-Bus marshalled body written by hand, for the replies whose size grows with the table
/// (ListSessions of both APIs).
///
/// Why not zvariant: at 10,000 sessions its serde-driven encoder took about 13 ms per reply
/// (plus a copy of the table into owned rows), most of `ListSessions`' latency; this writes the
/// same bytes straight from the records in a few milliseconds (see `Shared::list_body`). Unit
/// tests check it byte for byte against zvariant.
pub struct Encoder {
    buf: Vec<u8>,
    order: Order,
}

impl Encoder {
    /// An encoder whose buffer holds `capacity` bytes before it grows: a reply sized right is
    /// written without a reallocation (each one a copy of everything so far, into pages the
    /// kernel must first fault in).
    pub fn with_capacity(order: Order, capacity: usize) -> Encoder {
        Encoder {
            buf: Vec::with_capacity(capacity),
            order,
        }
    }

    /// Appends zero bytes until the length is a multiple of `n`.
    fn pad(&mut self, n: usize) {
        let len = self.buf.len().next_multiple_of(n);
        self.buf.resize(len, 0);
    }

    pub fn u32(&mut self, v: u32) {
        self.pad(4);
        self.buf.extend_from_slice(&match self.order {
            Order::Little => v.to_le_bytes(),
            Order::Big => v.to_be_bytes(),
        });
    }

    pub fn u64(&mut self, v: u64) {
        self.pad(8);
        self.buf.extend_from_slice(&match self.order {
            Order::Little => v.to_le_bytes(),
            Order::Big => v.to_be_bytes(),
        });
    }

    /// A string (`s`), or an object path (`o`): the same bytes.
    pub fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    /// An array of structs, one per item, each written by `row`.
    pub fn structs<T>(&mut self, items: impl Iterator<Item = T>, mut row: impl FnMut(&mut Encoder, T)) {
        let at = self.buf.len().next_multiple_of(4);
        self.u32(0); // the array's length, filled in below
        self.pad(8);
        let start = self.buf.len();
        for item in items {
            self.pad(8);
            row(self, item);
        }
        let len = (self.buf.len() - start) as u32;
        self.buf[at..at + 4].copy_from_slice(&match self.order {
            Order::Little => len.to_le_bytes(),
            Order::Big => len.to_be_bytes(),
        });
    }

    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// The body of the agent's `ListSessions` reply (`a(ssussssuusst)`), from the records.
pub fn encode_list(records: &[&SessionRecord], order: Order) -> Vec<u8> {
    // About 125 bytes a row: room for all of them in most tables, so it rarely grows.
    let mut e = Encoder::with_capacity(order, 128 * records.len() + 8);
    e.structs(records.iter(), |e, r| {
        e.str(&r.id);
        e.str(&r.user);
        e.u32(r.uid);
        e.str(r.tty.as_deref().unwrap_or_default());
        e.str(r.display.as_deref().unwrap_or_default());
        e.str(r.remote_host.as_deref().unwrap_or_default());
        e.str(&r.service);
        e.u32(r.leader);
        e.u32(r.supervisor);
        e.str(r.class.as_str());
        e.str(r.state.as_str());
        e.u64(r.since);
    });
    e.finish()
}

/// A `ListSessions` body that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed ListSessions reply at byte {at}: {what}")]
pub struct Malformed {
    pub at: usize,
    pub what: &'static str,
}

/// Reads a `ListSessions` body (`a(ssussssuusst)`), the inverse of [`encode_list`], with every
/// length and offset checked. Why by hand: zvariant's decoder took 16–21 ms for 10,000 sessions,
/// as long as everything else in the call together.
pub fn decode_list(body: &[u8], order: Order) -> Result<Vec<WireSession>, Malformed> {
    struct R<'a> {
        b: &'a [u8],
        at: usize,
        order: Order,
    }
    impl R<'_> {
        fn align(&mut self, n: usize) -> Result<(), Malformed> {
            let to = self.at.next_multiple_of(n);
            if to > self.b.len() {
                return Err(Malformed {
                    at: self.at,
                    what: "truncated padding",
                });
            }
            self.at = to;
            Ok(())
        }
        fn bytes<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
            let s = self.b.get(self.at..self.at + N).ok_or(Malformed {
                at: self.at,
                what: "truncated number",
            })?;
            self.at += N;
            Ok(s.try_into().expect("N bytes"))
        }
        fn u32(&mut self) -> Result<u32, Malformed> {
            self.align(4)?;
            let b = self.bytes::<4>()?;
            Ok(match self.order {
                Order::Little => u32::from_le_bytes(b),
                Order::Big => u32::from_be_bytes(b),
            })
        }
        fn u64(&mut self) -> Result<u64, Malformed> {
            self.align(8)?;
            let b = self.bytes::<8>()?;
            Ok(match self.order {
                Order::Little => u64::from_le_bytes(b),
                Order::Big => u64::from_be_bytes(b),
            })
        }
        fn string(&mut self) -> Result<String, Malformed> {
            let len = self.u32()? as usize;
            let at = self.at;
            let s = self.b.get(at..at.saturating_add(len)).ok_or(Malformed {
                at,
                what: "truncated string",
            })?;
            if self.b.get(at + len) != Some(&0) {
                return Err(Malformed {
                    at,
                    what: "string without its NUL",
                });
            }
            self.at = at + len + 1;
            String::from_utf8(s.to_vec()).map_err(|_| Malformed {
                at,
                what: "string is not UTF-8",
            })
        }
    }
    let mut r = R {
        b: body,
        at: 0,
        order,
    };
    let len = r.u32()? as usize;
    r.align(8)?;
    let end = r.at.checked_add(len).filter(|&e| e <= body.len());
    let end = end.ok_or(Malformed {
        at: 0,
        what: "array longer than the body",
    })?;
    let mut out = Vec::with_capacity(len / 96);
    while r.at < end {
        r.align(8)?;
        out.push(WireSession {
            id: r.string()?,
            user: r.string()?,
            uid: r.u32()?,
            tty: r.string()?,
            display: r.string()?,
            remote_host: r.string()?,
            service: r.string()?,
            leader: r.u32()?,
            supervisor: r.u32()?,
            class: r.string()?,
            state: r.string()?,
            since: r.u64()?,
        });
    }
    if r.at != end || end != body.len() {
        return Err(Malformed {
            at: r.at,
            what: "bytes after the array",
        });
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use vestibule_core::record::{SessionClass, SessionState};

    #[test]
    fn signature_is_a_flat_struct() {
        assert_eq!(WireSession::SIGNATURE.to_string(), "(ssussssuusst)");
    }

    #[test]
    fn empty_strings_are_absent_values() {
        let r = SessionRecord {
            id: "4".into(),
            user: "alice".into(),
            uid: 1000,
            tty: Some("tty3".into()),
            display: None,
            remote_host: None,
            service: "vestibule".into(),
            leader: 10,
            supervisor: 9,
            class: SessionClass::LockScreen,
            state: SessionState::Locked,
            since: 1_700_000_000,
        };
        let w = WireSession::from(&r);
        assert_eq!(w.display, "");
        assert_eq!(w.class, "lock-screen");
        assert_eq!(SessionRecord::try_from(w).unwrap(), r);
    }

    pub(crate) fn records(n: usize) -> Vec<SessionRecord> {
        (0..n)
            .map(|i| SessionRecord {
                id: i.to_string(),
                user: format!("user{}", "x".repeat(i % 7)),
                uid: 1000 + i as u32,
                tty: (i % 3 == 0).then(|| format!("pts/{i}")),
                display: (i % 4 == 1).then(|| ":0".to_owned()),
                remote_host: (i % 2 == 0).then(|| "héllo.example".to_owned()),
                service: "vestibule".into(),
                leader: 100 + i as u32,
                supervisor: 99 + i as u32,
                class: SessionClass::User,
                state: [SessionState::Active, SessionState::Locked, SessionState::Closing][i % 3],
                since: 1_700_000_000 + i as u64,
            })
            .collect()
    }

    #[test]
    fn the_hand_encoder_writes_what_zvariant_writes_and_the_decoder_reads_it_back() {
        use zbus::zvariant::{serialized::Context, to_bytes, BE, LE};
        for n in [0, 1, 2, 5, 33] {
            let recs = records(n);
            let wire: Vec<WireSession> = recs.iter().map(WireSession::from).collect();
            for (order, endian) in [(Order::Little, LE), (Order::Big, BE)] {
                let mine = encode_list(&recs.iter().collect::<Vec<_>>(), order);
                let theirs = to_bytes(Context::new_dbus(endian, 0), &wire).unwrap();
                assert_eq!(mine, theirs.bytes(), "n={n} {order:?}");
                assert_eq!(decode_list(&mine, order).unwrap(), wire, "n={n} {order:?}");
            }
        }
        assert_eq!(<Vec<WireSession>>::SIGNATURE.to_string(), LIST_SIGNATURE);
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        let good = encode_list(&records(3).iter().collect::<Vec<_>>(), Order::Little);
        for cut in 0..good.len() {
            assert!(decode_list(&good[..cut], Order::Little).is_err(), "cut at {cut}");
        }
        let mut long = good.clone();
        long[0] = 0xff;
        assert!(decode_list(&long, Order::Little).is_err());
        let mut trailing = good.clone();
        trailing.extend_from_slice(&[0; 8]);
        assert!(decode_list(&trailing, Order::Little).is_err());
        let mut no_nul = good.clone();
        let first_string_end = 8 + 4 + 1; // id "0": length, one byte, then its NUL
        no_nul[first_string_end] = b'x';
        assert!(decode_list(&no_nul, Order::Little).is_err());
    }
}
