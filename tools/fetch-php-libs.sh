#!/usr/bin/env bash
# Fetches PHP libraries packaged by Debian trixie (php-symfony-*, php-psr-*,
# php-laravel-framework, ...) without installing them: the named packages
# and every php-* library they depend on are downloaded with apt-get from
# a trixie source list kept under the cache (never in /etc), unpacked with
# dpkg-deb, and their absolute /usr/share/php paths rewritten to the
# unpacked tree. PHP extensions (php-xml, php-mbstring, ...) are left out:
# ephpm's PHP build has them.
#
# usage: tools/fetch-php-libs.sh NAME PACKAGE...
# Prints the directory that stands for /usr/share/php on its last line
# (each library's autoload.php is under it). A no-op when present.
set -euo pipefail

CACHE="${EPHPM_CACHE:-$HOME/.cache/ephpm}"
log() { echo "fetch-php-libs: $*" >&2; }
[ $# -ge 2 ] || { echo "usage: $0 NAME PACKAGE..." >&2; exit 2; }
name=$1
shift

dest="$CACHE/php-libs-$name"
if [ -f "$dest/.complete" ] && [ "$(cat "$dest/.complete")" = "$*" ]; then
    echo "$dest/share/php"
    exit 0
fi

# A private apt state for trixie, derived from the machine's own mirror.
apt_dir="$CACHE/apt-trixie"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
uri=$(grep -h -m1 -E '^URIs:.*debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' || true)
if [ -z "$uri" ]; then
    uri=$(grep -h -m1 -E '^deb .*debian/? ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' || true)
fi
[ -n "$uri" ] || { log "no Debian mirror found in the apt sources"; exit 1; }
printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$uri" >"$apt_dir/trixie.sources"
touch "$apt_dir/status"
APT=(-o "Dir::Etc::SourceList=$apt_dir/trixie.sources" -o Dir::Etc::SourceParts=/nonexistent
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "Dir::State::status=$apt_dir/status")
if [ -z "$(find "$apt_dir/lists" -name '*trixie*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
    log "updating the trixie package index ($uri)"
    apt-get "${APT[@]}" update -qq
fi

# The closure of php-* libraries: an alternative's first choice; a package
# that depends on a php8.x extension package is an extension, not a library.
queue=("$@")
declare -A seen
libs=()
while [ ${#queue[@]} -gt 0 ]; do
    p=${queue[0]}
    queue=("${queue[@]:1}")
    [ -n "${seen[$p]:-}" ] && continue
    seen[$p]=1
    [ "$p" = php-common ] && continue
    info=$(apt-cache "${APT[@]}" show "$p" 2>/dev/null | awk '/^$/ {exit} {print}')
    [ -n "$info" ] || { log "trixie has no package $p"; exit 1; }
    deps=$(printf '%s\n' "$info" | awk -F': ' '/^Depends:/ {print $2}')
    if printf '%s' "$deps" | grep -q 'php8\.[0-9]-'; then
        continue
    fi
    libs+=("$p")
    IFS=, read -ra parts <<<"$deps"
    for d in "${parts[@]}"; do
        first=$(printf '%s' "$d" | sed 's/|.*//; s/(.*)//; s/ //g; s/:any//')
        case "$first" in php-*) queue+=("$first") ;; esac
    done
done
log "fetching ${#libs[@]} packages: ${libs[*]}"

work=$(mktemp -d "$CACHE/php-libs.XXXXXX")
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get "${APT[@]}" download -q "${libs[@]}" >/dev/null 2>&1) \
    || { log "apt-get download failed"; exit 1; }
mkdir -p "$work/root"
for deb in "$work"/*.deb; do
    dpkg-deb -x "$deb" "$work/root"
done
rm -rf "$dest"
mkdir -p "$dest/share"
mv "$work/root/usr/share/php" "$dest/share/php"
# Autoloaders that name /usr/share/php point at this tree instead.
{ grep -rlZ --include='*.php' '/usr/share/php' "$dest/share/php" 2>/dev/null || true; } \
    | xargs -0 -r sed -i "s#/usr/share/php#$dest/share/php#g"
printf '%s' "$*" >"$dest/.complete"
log "done"
echo "$dest/share/php"
