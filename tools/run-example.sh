#!/usr/bin/env bash
# Serves the example application on http://127.0.0.1:8080, building PHP
# (once, cached under ~/.cache/ephpm) and ephpm first. Extra arguments go to
# `ephpm serve` (e.g. --listen 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/setup.sh
PHP_PREFIX=$(bash tools/build-php.sh | tail -1)
export PHP_CONFIG="$PHP_PREFIX/bin/php-config"
# The embedded database's file lives outside the checkout.
export EPHPM_DB__SQLITE__PATH="${EPHPM_DB__SQLITE__PATH:-${XDG_DATA_HOME:-$HOME/.local/share}/ephpm/example.sqlite}"
exec cargo run --release -p ephpm -- serve --root core/example/public "$@"
