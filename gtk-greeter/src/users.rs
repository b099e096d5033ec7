//! The accounts offered in the greeter's user list: uid in the configured range and a shell one
//! can log in with, read from the passwd database text. Pure, so the filter is unit-tested.

/// One listed account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    /// The GECOS full name, or the login name when there is none.
    pub display: String,
}

/// The listable accounts of a passwd file's text, sorted by display name.
pub fn listable(passwd: &str, min_uid: u32, max_uid: u32) -> Vec<Account> {
    let mut out: Vec<Account> = passwd
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() != 7 || f[0].is_empty() || f[0].starts_with(['+', '-', '#']) {
                return None;
            }
            let uid: u32 = f[2].parse().ok()?;
            if uid < min_uid || uid > max_uid || !login_shell(f[6]) {
                return None;
            }
            let full = f[4].split(',').next().unwrap_or("").trim();
            Some(Account {
                name: f[0].to_owned(),
                display: if full.is_empty() { f[0] } else { full }.to_owned(),
            })
        })
        .collect();
    out.sort_by(|a, b| {
        let key = |x: &Account| x.display.to_lowercase();
        key(a).cmp(&key(b)).then(a.name.cmp(&b.name))
    });
    out.dedup_by(|a, b| a.name == b.name);
    out
}

fn login_shell(shell: &str) -> bool {
    !shell.is_empty() && !shell.ends_with("/nologin") && !shell.ends_with("/false")
}

/// The accounts from `/etc/passwd` (empty if it cannot be read: the name field still works).
pub fn from_system(min_uid: u32, max_uid: u32) -> Vec<Account> {
    std::fs::read_to_string("/etc/passwd")
        .map(|t| listable(&t, min_uid, max_uid))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
        carol:x:1002:1002:Carol Jones,,,:/home/carol:/bin/bash\n\
        alice:x:1000:1000::/home/alice:/bin/zsh\n\
        svc:x:1003:1003::/srv:/bin/false\n\
        broken line\n\
        bob:x:1001:1001:Bob:/home/bob:/bin/sh\n";

    #[test]
    fn lists_people_with_shells_in_range_by_display_name() {
        let got = listable(PASSWD, 1000, 59999);
        let names: Vec<_> = got
            .iter()
            .map(|a| (a.name.as_str(), a.display.as_str()))
            .collect();
        assert_eq!(
            names,
            [("alice", "alice"), ("bob", "Bob"), ("carol", "Carol Jones")]
        );
    }

    #[test]
    fn the_range_is_inclusive() {
        let got = listable(PASSWD, 1001, 1001);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name, "bob");
    }
}
