#!/usr/bin/env bash
# Installs what building and testing ephpm needs on Debian/Ubuntu, skipping
# whatever is already present. Safe to run repeatedly.
set -euo pipefail

need=()
command -v cc >/dev/null || need+=(build-essential)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v mold >/dev/null || need+=(mold)
# bindgen (sapi/build.rs) loads libclang.
ls /usr/lib/llvm-*/lib/libclang.so >/dev/null 2>&1 || need+=(libclang-dev)
command -v curl >/dev/null || need+=(curl)
command -v wrk >/dev/null || need+=(wrk)
command -v redis-cli >/dev/null || need+=(redis-tools)
# The embedded database's tests use the real MySQL clients.
command -v mariadb >/dev/null || need+=(mariadb-client)
command -v sysbench >/dev/null || need+=(sysbench)
# The MySQL client side is tested against a real MariaDB server.
[ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
[ -x /usr/sbin/nginx ] || need+=(nginx-light)
# The TLS tests make certificates with openssl and talk TLS through
# openssl s_client, curl and Python's ssl module.
command -v openssl >/dev/null || need+=(openssl)
command -v python3 >/dev/null || need+=(python3)
# HTTP/2 tests and benchmarks use nghttp and h2load.
command -v h2load >/dev/null || need+=(nghttp2-client)
# The ACME test orders certificates from pebble (an ACME test server),
# with pebble-challtestsrv as its DNS.
command -v pebble >/dev/null || need+=(pebble)
# The node API test checks /metrics with promtool.
command -v promtool >/dev/null || need+=(prometheus)

if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "ci/setup.sh: installing ${need[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    # Debian starts nginx on install; the tests run their own instances.
    if [[ " ${need[*]} " == *" nginx-light "* ]]; then
        $sudo systemctl disable --now nginx >/dev/null 2>&1 || $sudo service nginx stop >/dev/null 2>&1 || true
    fi
    # Nor MariaDB's (tests start their own on free ports).
    if [[ " ${need[*]} " == *" mariadb-server "* ]]; then
        $sudo systemctl disable --now mariadb >/dev/null 2>&1 || $sudo service mariadb stop >/dev/null 2>&1 || true
    fi
    # Nor is the Prometheus server wanted (it would take port 9090).
    if [[ " ${need[*]} " == *" prometheus "* ]]; then
        $sudo systemctl disable --now prometheus >/dev/null 2>&1 || $sudo service prometheus stop >/dev/null 2>&1 || true
    fi
fi

if ! command -v cargo >/dev/null; then
    echo "ci/setup.sh: cargo not found; install Rust (https://rustup.rs) first" >&2
    exit 1
fi
