//! `vestibule-worker`: the per-login and per-greeter process of `vestibuled` (see
//! `vestibuled::worker`). Not meant to be run by hand.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(vestibuled::worker::main(&args));
}
