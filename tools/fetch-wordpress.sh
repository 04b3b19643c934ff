#!/usr/bin/env bash
# Fetches the files of Debian's `wordpress` package (without installing it:
# no web server, PHP or database packages come along) into the cache and
# prints the WordPress directory on its last line. A no-op when present.
set -euo pipefail

CACHE="${EPHPM_CACHE:-$HOME/.cache/ephpm}"
log() { echo "fetch-wordpress: $*" >&2; }

candidate() { apt-cache policy wordpress 2>/dev/null | awk '/Candidate:/ {print $2}'; }
version=$(candidate)
if [ -z "$version" ] || [ "$version" = "(none)" ]; then
    # A fresh machine may have no package lists yet.
    if [ "$(id -u)" -eq 0 ]; then apt-get update -qq; else sudo apt-get update -qq; fi
    version=$(candidate)
fi
if [ -z "$version" ] || [ "$version" = "(none)" ]; then
    log "apt knows no wordpress package (run apt-get update?)"
    exit 1
fi
dest="$CACHE/wordpress-${version//[^A-Za-z0-9.+-]/_}-theme"
if [ -f "$dest/.complete" ]; then
    echo "$dest/usr/share/wordpress"
    exit 0
fi
log "fetching Debian's wordpress $version"
mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/wp.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The default theme is a package of its own; without a theme WordPress
# renders an empty front page.
theme=wordpress-theme-twentytwentythree
(cd "$work" && apt-get download -q "wordpress=$version" "$theme=$version" >/dev/null 2>&1) \
    || { log "apt-get download wordpress $theme failed"; exit 1; }
rm -rf "$dest"
dpkg-deb -x "$work"/wordpress_*.deb "$dest"
dpkg-deb -x "$work"/${theme}_*.deb "$work/theme"
mkdir -p "$dest/usr/share/wordpress/wp-content/themes"
cp -a "$work/theme/usr/share/wordpress/wp-content/themes/." "$dest/usr/share/wordpress/wp-content/themes/"
touch "$dest/.complete"
log "done"
echo "$dest/usr/share/wordpress"
