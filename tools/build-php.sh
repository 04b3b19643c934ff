#!/usr/bin/env bash
# Builds PHP 8.4 with ZTS and the embed SAPI (plus php-cli and php-fpm from
# the same tree) into a versioned cache prefix outside the repo, and prints
# that prefix on its last line. A no-op when that build already exists.
#
# Source, in this order: $PHP_SRC (a tarball or a directory), a php.net
# download when reachable, Debian's php8.4 source package (trixie).
#
#   tools/build-php.sh              # build (or find) and print the prefix
#   PHP_SRC=~/php-8.4.14.tar.xz tools/build-php.sh
set -euo pipefail

CACHE="${EPHPM_CACHE:-$HOME/.cache/ephpm}"
PHP_SERIES=8.4
# Options are part of the cache key: change them and a new prefix is built.
CONFIGURE_OPTS=(
    --enable-zts --enable-embed=shared --enable-cli --enable-fpm
    --enable-zend-max-execution-timers --disable-zend-signals
    --disable-cgi --disable-phpdbg
    --enable-bcmath --enable-ctype --with-curl --enable-dom --enable-exif
    --enable-fileinfo --enable-filter --with-iconv --enable-intl
    --enable-mbstring --with-mysqli=mysqlnd --enable-mysqlnd --enable-opcache
    --with-openssl --enable-pdo --with-pdo-mysql=mysqlnd --with-pdo-sqlite
    --enable-posix --enable-session --enable-simplexml --with-sodium
    --with-sqlite3 --enable-tokenizer --enable-xml --enable-xmlreader
    --enable-xmlwriter --with-zip --with-zlib
    --enable-gd --with-jpeg --with-freetype --with-webp
)
# libphp.so is position-independent code, which by default lets any symbol
# be interposed: every call between the engine's own exported functions
# goes through the PLT and none of them can be inlined into another file's
# caller. Nobody interposes the engine's symbols, so say so (as CPython's
# builds do): measured, the embedded engine ran CPU-bound PHP about 12 %
# slower than php-cli built from the same tree without this. Part of the
# cache key too.
BUILD_CFLAGS="-O2 -fno-semantic-interposition"
BUILD_LDFLAGS="-Wl,-Bsymbolic-functions"
DEB_BUILD_DEPS=(
    build-essential autoconf bison re2c pkg-config dpkg-dev xz-utils
    libxml2-dev libsqlite3-dev libssl-dev libcurl4-openssl-dev libonig-dev
    libicu-dev libsodium-dev libzip-dev zlib1g-dev libpng-dev libjpeg-dev
    libfreetype-dev libwebp-dev
)

log() { echo "build-php: $*" >&2; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

install_build_deps() {
    local missing=()
    for p in "${DEB_BUILD_DEPS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing build dependencies: ${missing[*]}"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# Adds a deb-src entry for trixie derived from the machine's own Debian
# entry (same mirror), so `apt-get source php8.4` works.
enable_trixie_sources() {
    local list=/etc/apt/sources.list.d/ephpm-php-src.sources
    [ -f "$list" ] && return 0
    local uri
    uri=$(grep -h -m1 -E '^URIs:.*debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}') || true
    if [ -z "$uri" ]; then
        uri=$(grep -h -m1 -E '^deb .*debian/? ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}') || true
    fi
    [ -n "$uri" ] || { log "no Debian mirror found in the apt sources"; return 1; }
    log "adding a deb-src entry for trixie from $uri"
    printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" \
        | as_root tee "$list" >/dev/null
    as_root apt-get update -qq
}

# Prints the path of an unpacked source tree.
fetch_source() {
    local work=$1
    if [ -n "${PHP_SRC:-}" ]; then
        if [ -d "$PHP_SRC" ]; then echo "$PHP_SRC"; return; fi
        log "unpacking $PHP_SRC"
        tar -xf "$PHP_SRC" -C "$work"
        find "$work" -maxdepth 1 -mindepth 1 -type d -name 'php-*' | head -1
        return
    fi
    local tarball="$work/php.tar.xz"
    if curl -fsSL --max-time 20 -o "$tarball" "https://www.php.net/distributions/php-${PHP_VERSION_WANTED:-8.4.14}.tar.xz" 2>/dev/null; then
        log "downloaded from php.net"
        tar -xf "$tarball" -C "$work"
        find "$work" -maxdepth 1 -mindepth 1 -type d -name 'php-*' | head -1
        return
    fi
    log "php.net unreachable; using Debian's php${PHP_SERIES} source package"
    enable_trixie_sources
    (cd "$work" && apt-get source -qq --download-only "php${PHP_SERIES}" >/dev/null 2>&1) || true
    local orig
    orig=$(ls "$work"/php${PHP_SERIES}_*.orig.tar.* 2>/dev/null | head -1)
    if [ -z "$orig" ]; then
        # A mirror's index can name a version its pool no longer (or not
        # yet) holds; fall back to known releases straight from the pool.
        local uri v
        uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/ephpm-php-src.sources)
        for v in ${PHP_VERSION_WANTED:-} 8.4.24 8.4.16 8.4.11; do
            log "apt-get source failed; trying php${PHP_SERIES}_$v.orig.tar.xz from the mirror's pool"
            if curl -fsSL --max-time 300 -o "$work/php${PHP_SERIES}_$v.orig.tar.xz" \
                "$uri/pool/main/p/php${PHP_SERIES}/php${PHP_SERIES}_$v.orig.tar.xz"; then
                orig="$work/php${PHP_SERIES}_$v.orig.tar.xz"
                break
            fi
        done
    fi
    [ -n "$orig" ] || { log "found no php${PHP_SERIES} source (apt-get source and the mirror's pool both failed)"; return 1; }
    tar -xf "$orig" -C "$work"
    find "$work" -maxdepth 1 -mindepth 1 -type d -name 'php-*' | head -1
}

main() {
    local key
    key=$(printf '%s\n' "${CONFIGURE_OPTS[@]}" "$BUILD_CFLAGS" "$BUILD_LDFLAGS" | sha256sum | cut -c1-12)
    # An existing build for this option set is reused, whatever its version.
    local existing
    existing=$(ls -d "$CACHE"/php-${PHP_SERIES}.*-zts-"$key" 2>/dev/null | sort -V | tail -1 || true)
    if [ -n "$existing" ] && [ -x "$existing/bin/php-config" ] && [ -f "$existing/.complete" ]; then
        log "using the existing build at $existing"
        echo "$existing"
        return
    fi
    install_build_deps
    mkdir -p "$CACHE"
    WORK=$(mktemp -d "$CACHE/src.XXXXXX")
    trap 'rm -rf "$WORK"' EXIT
    local work=$WORK
    local src
    src=$(fetch_source "$work")
    local version
    version=$(grep -m1 -oE 'PHP_VERSION "[0-9.]+' "$src/main/php_version.h" | cut -d'"' -f2)
    local prefix="$CACHE/php-${version}-zts-$key"
    log "building PHP $version (ZTS, embed, cli, fpm) into $prefix; this takes about 20 minutes"
    cd "$src"
    [ -x ./configure ] || ./buildconf --force >/dev/null
    CFLAGS="$BUILD_CFLAGS" CXXFLAGS="$BUILD_CFLAGS" LDFLAGS="$BUILD_LDFLAGS" \
        ./configure --prefix="$prefix" --with-config-file-path="$prefix/etc" "${CONFIGURE_OPTS[@]}" > "$work/configure.log" 2>&1 \
        || { tail -30 "$work/configure.log" >&2; exit 1; }
    log "configured; compiling with $(nproc) jobs"
    make -j"$(nproc)" > "$work/make.log" 2>&1 &
    local make_pid=$! started=$SECONDS
    # Progress: how many of the tree's C files have been compiled so far.
    local total
    total=$(find . -name '*.c' -path '*/ext/*' -o -name '*.c' -path '*/Zend/*' -o -name '*.c' -path '*/main/*' | wc -l)
    while kill -0 "$make_pid" 2>/dev/null; do
        sleep 30
        log "compiling: $(grep -c -- '--mode=compile' "$work/make.log" || true) of about $total files, $(( (SECONDS - started) / 60 )) min"
    done
    wait "$make_pid" || { tail -40 "$work/make.log" >&2; exit 1; }
    make install > "$work/install.log" 2>&1 || { tail -20 "$work/install.log" >&2; exit 1; }
    touch "$prefix/.complete"
    log "done"
    echo "$prefix"
}

main "$@"
