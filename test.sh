#!/usr/bin/env bash
# test.sh -- every check and test Vestibule has, on a fresh Debian 12 as root:
# installs what it needs, then formatting, lints, the build, unit tests and the end-to-end tests
# (real libpam and modules; real accounts only inside a private mount namespace).
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" -ne 0 ]; then
	echo "test.sh: run as root: the end-to-end tests use private mount namespaces and real accounts" >&2
	exit 1
fi

scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo build --workspace --all-targets --locked
cargo test --workspace --locked
