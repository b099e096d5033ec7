//! Proves that no copy of a password survives a login in the process that did it.
//!
//! Run as root inside the sandbox (`tests/sandbox/run.sh`), with a PAM dir whose `vestibule`
//! service uses pam_unix: it gives alice a fresh random password, checks that its scanner finds
//! the password while it is in use (so the scan can fail), runs a whole login through the core
//! (authenticate, account, credentials, session open and close, pam_end), drops everything, and
//! scans every writable mapping of its own memory again. Exit 0 and a summary line when no copy
//! remains; exit 1 with the addresses otherwise.
//!
//! The password itself is never held in plain form outside a `Secret`: the program keeps it XOR'd
//! with a random key and compares unmasked bytes on the fly, so the needle cannot match itself.
//!
//! Usage: memscan PAM_DIR USER

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::process::{Command, Stdio};

use vestibule_core::{login, ConfigDir, Items, LoginOptions, Scripted, Secret, Service};

const LEN: usize = 24;

struct Needle {
    masked: [u8; LEN],
    key: [u8; LEN],
}

impl Needle {
    /// A random printable password, written straight into a Secret.
    fn generate() -> (Needle, Secret) {
        let mut random = [0u8; 2 * LEN];
        File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut random))
            .expect("urandom");
        let alphabet = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789-_";
        let mut needle = Needle {
            masked: [0; LEN],
            key: [0; LEN],
        };
        let mut secret = Secret::new();
        for i in 0..LEN {
            let c = alphabet[random[i] as usize % alphabet.len()];
            needle.key[i] = random[LEN + i] | 0x80; // never equal to a printable byte
            needle.masked[i] = c ^ needle.key[i];
            secret.push(c).expect("fits");
        }
        random.fill(0);
        (needle, secret)
    }

    fn matches_at(&self, hay: &[u8], at: usize) -> bool {
        (0..LEN).all(|j| hay[at + j] ^ self.key[j] == self.masked[j])
    }

    /// Start addresses of every copy in the process's writable memory.
    fn scan(&self) -> Vec<(u64, String)> {
        let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
        let mem = File::open("/proc/self/mem").expect("mem");
        let mut found = Vec::new();
        let mut chunk = vec![0u8; 1 << 20];
        for line in maps.lines() {
            let mut parts = line.split_whitespace();
            let (Some(range), Some(perms)) = (parts.next(), parts.next()) else {
                continue;
            };
            let name = line.split_whitespace().nth(5).unwrap_or("[anon]").to_owned();
            if !perms.starts_with("rw") || name == "[vvar]" || name == "[vsyscall]" {
                continue;
            }
            let (start, end) = range.split_once('-').expect("range");
            let start = u64::from_str_radix(start, 16).unwrap();
            let end = u64::from_str_radix(end, 16).unwrap();
            // Overlapping chunks so a copy across a chunk border is still seen.
            let mut at = start;
            while at < end {
                let len = ((end - at) as usize).min(chunk.len());
                let Ok(n) = mem.read_at(&mut chunk[..len], at) else {
                    break;
                };
                if n >= LEN {
                    for i in 0..=(n - LEN) {
                        if self.matches_at(&chunk, i) {
                            found.push((at + i as u64, name.clone()));
                        }
                    }
                }
                if n < len || at + (n as u64) >= end {
                    break;
                }
                at += (n - LEN + 1) as u64;
            }
        }
        chunk.fill(0);
        found
    }
}

/// Sets the account's password to the secret, through openssl (no PAM, no shell, no argv).
fn set_password(user: &str, secret: &Secret) {
    let mut child = Command::new("openssl")
        .args(["passwd", "-6", "-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl");
    {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(secret.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
    }
    let out = child.wait_with_output().expect("openssl output");
    assert!(out.status.success(), "openssl passwd failed");
    let hash = String::from_utf8(out.stdout).unwrap();
    let status = Command::new("usermod")
        .args(["-p", hash.trim(), user])
        .status()
        .unwrap();
    assert!(status.success(), "usermod -p failed");
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(pam_dir), Some(user)) = (args.next(), args.next()) else {
        eprintln!("usage: memscan PAM_DIR USER");
        std::process::exit(2);
    };
    let (needle, secret) = Needle::generate();
    set_password(&user, &secret);

    let before = needle.scan();
    println!("control: {} copies while the password is in use", before.len());
    if before.is_empty() {
        eprintln!("memscan: the scanner did not find the live password; the scan proves nothing");
        std::process::exit(1);
    }

    let options = LoginOptions {
        config: ConfigDir::Override(pam_dir.into()),
        items: Items {
            user: Some(user.clone()),
            tty: Some("memscan".into()),
            ..Items::default()
        },
        max_tries: 1,
        fail_delay: std::time::Duration::ZERO,
        ..LoginOptions::default()
    };
    let conversation = Scripted {
        user: user.clone(),
        secret,
    };
    let session = match login(Service::Login, &options, Box::new(conversation)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("memscan: login failed: {e}");
            std::process::exit(1);
        }
    };
    println!("logged in as {}", session.identity().pam_user());
    if let Err(e) = session.close() {
        eprintln!("memscan: closing failed: {e}");
        std::process::exit(1);
    }

    let after = needle.scan();
    println!("after pam_end: {} copies", after.len());
    for (addr, region) in &after {
        println!("  copy at {addr:#x} in {region}");
    }
    std::process::exit(if after.is_empty() { 0 } else { 1 });
}
