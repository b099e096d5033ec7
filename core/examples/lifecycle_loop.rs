//! Benchmark harness: N full PAM transactions in one process, the same calls as
//! `bench/baseline/login_baseline.c --loop N` (start → authenticate → acct_mgmt →
//! setcred(ESTABLISH) → open_session → close_session → setcred(DELETE) → end), so callgrind can
//! compare the instructions the core adds to libpam's own work.
//!
//! `cargo run --release -p vestibule-core --example lifecycle_loop -- --pam-confdir bench/pam.d --user bench --iterations 1000`

use std::path::PathBuf;

use clap::Parser;
use vestibule_core::{ConfigDir, Items, Scripted, Secret, Service, Transaction};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    pam_confdir: PathBuf,
    #[arg(long)]
    user: String,
    #[arg(long, default_value_t = 1000)]
    iterations: u32,
}

fn transaction(config: &ConfigDir, items: &Items, user: &str) -> Result<(), String> {
    let conversation = Scripted {
        user: user.to_owned(),
        secret: Secret::new(),
    };
    let mut tx = Transaction::start(Service::Login, config, items, Box::new(conversation))
        .map_err(|e| e.to_string())?;
    tx.authenticate(0).map_err(|e| format!("pam_authenticate: {e}"))?;
    tx.acct_mgmt(0).map_err(|e| format!("pam_acct_mgmt: {e}"))?;
    tx.establish_credentials()
        .map_err(|e| format!("pam_setcred: {e}"))?;
    tx.open_session(0).map_err(|e| format!("pam_open_session: {e}"))?;
    tx.end().map_err(|e| format!("closing: {e}"))
}

fn main() {
    let args = Args::parse();
    let config = ConfigDir::Override(args.pam_confdir);
    let items = Items {
        user: Some(args.user.clone()),
        ..Items::default()
    };
    for i in 0..args.iterations {
        if let Err(e) = transaction(&config, &items, &args.user) {
            eprintln!("lifecycle_loop: transaction {i}: {e}");
            std::process::exit(1);
        }
    }
}
