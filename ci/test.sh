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
# Debian's WordPress files, for the test that serves its installer.
EPHPM_WORDPRESS_DIR=$(bash tools/fetch-wordpress.sh | tail -1)
export EPHPM_WORDPRESS_DIR
# Debian trixie's Symfony 6.4 (unpacked, not installed), for the Symfony
# Runtime test.
EPHPM_SYMFONY_LIBS=$(bash tools/fetch-php-libs.sh symfony-6.4 php-symfony-framework-bundle php-symfony-runtime | tail -1)
export EPHPM_SYMFONY_LIBS
# A Laravel 10 application with Octane and ephpm's driver (the skeleton and
# Octane from ../shared/third_party, Laravel from Debian trixie's packages).
EPHPM_LARAVEL_APP=$(bash tools/assemble-laravel.sh | tail -1)
export EPHPM_LARAVEL_APP
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
