#!/usr/bin/env bash
# The test command: installs what the tests need, checks formatting and
# lints, then runs every test (unit and integration, on both I/O backends).
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
