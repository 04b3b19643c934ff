#!/usr/bin/env bash
# The test command: installs what the tests need, checks formatting and
# lints, then runs every test (unit and integration, on both I/O backends).
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/setup.sh
# The PHP engine (ZTS + embed), built once and cached under ~/.cache/ephpm.
PHP_PREFIX=$(bash tools/build-php.sh | tail -1)
export PHP_CONFIG="$PHP_PREFIX/bin/php-config"
export EPHPM_REQUIRE_PHP=1
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
