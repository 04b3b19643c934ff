#!/usr/bin/env bash
# Assembles a Laravel 10 application with Laravel Octane and ephpm's Octane
# driver, offline: the laravel/laravel skeleton, laravel/octane and
# laminas-diactoros from ../shared/third_party (or $EPHPM_THIRD_PARTY),
# Laravel 10.48 and its libraries from Debian trixie's packages
# (tools/fetch-php-libs.sh: downloaded and unpacked, never installed), and
# the driver (sapi/php/octane) linked in as Composer links a path
# repository. There is no Composer here: vendor/autoload.php and
# vendor/composer/installed.json are written as Composer would write them
# for this set of packages. Sanctum is left out (Debian has no package of
# it): config/sanctum.php and the HasApiTokens trait go. The overlay in
# tools/laravel/ adds the demo routes the tests and benches use.
#
# usage: tools/assemble-laravel.sh [DEST]   (default: ~/.cache/ephpm/laravel-app)
# Prints the application's directory on its last line. Rebuilt every run
# (a second or two; the libraries stay cached); storage/ is kept empty.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
CACHE="${EPHPM_CACHE:-$HOME/.cache/ephpm}"
dest="${1:-$CACHE/laravel-app}"
log() { echo "assemble-laravel: $*" >&2; }

third_party="${EPHPM_THIRD_PARTY:-}"
if [ -z "$third_party" ]; then
    for d in "$repo/../shared/third_party" /work/shared/third_party; do
        [ -d "$d/octane" ] && { third_party=$(cd "$d" && pwd); break; }
    done
fi
[ -n "$third_party" ] && [ -d "$third_party/octane" ] \
    || { log "no third_party sources (set EPHPM_THIRD_PARTY to the directory holding octane/)"; exit 1; }
skeleton="$third_party/laravel-skeleton-10.3.3"

libs=$(bash "$repo/tools/fetch-php-libs.sh" laravel-10 php-laravel-framework \
    php-symfony-psr-http-message-bridge php-psr-http-message php-psr-http-factory | tail -1)

rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
cp -a "$skeleton" "$dest"
cd "$dest"

# Sanctum: not packaged by Debian, not needed by the app.
rm -f config/sanctum.php
sed -i '/Laravel\\Sanctum\\HasApiTokens/d; s/use HasApiTokens, /use /' app/Models/User.php
sed -i "s#'sanctum/csrf-cookie'##" config/cors.php

# The overlay: demo routes and Octane's configuration.
cp -a "$repo/tools/laravel/." "$dest/"
cp "$third_party/octane/config/octane.php" config/octane.php
sed -i "s/env('OCTANE_SERVER', 'roadrunner')/env('OCTANE_SERVER', 'ephpm')/" config/octane.php

# .env: production settings with a fresh key.
key="base64:$(head -c 32 /dev/urandom | base64)"
sed -e "s#^APP_KEY=.*#APP_KEY=$key#" -e 's/^APP_ENV=.*/APP_ENV=production/' \
    -e 's/^APP_DEBUG=.*/APP_DEBUG=false/' -e 's/^LOG_LEVEL=.*/LOG_LEVEL=warning/' \
    -e 's/^DB_CONNECTION=.*/DB_CONNECTION=sqlite/' -e '/^DB_\(HOST\|PORT\|DATABASE\|USERNAME\|PASSWORD\)=/d' \
    .env.example >.env

# vendor/: the packages, as Composer would lay them out.
mkdir -p vendor/laravel vendor/laminas vendor/ephpm vendor/composer
cp -a "$third_party/octane" vendor/laravel/octane
cp -a "$third_party/laminas-diactoros" vendor/laminas/laminas-diactoros
ln -s "$repo/sapi/php/octane" vendor/ephpm/octane

diactoros_files=$(sed -n '/"files"/,/\]/p' "$third_party/laminas-diactoros/composer.json" \
    | grep -o '"src/[^"]*"' | tr -d '"')
{
    echo "<?php"
    echo
    echo "// Written by tools/assemble-laravel.sh in place of Composer's autoloader."
    echo "// Laravel and its libraries: Debian's packages, each with its own autoload.php."
    for f in Illuminate Laravel/SerializableClosure Symfony/Bridge/PsrHttpMessage Psr/Http/Message; do
        echo "require_once '$libs/$f/autoload.php';"
    done
    echo
    echo "// PSR-4 prefixes of the application and of the packages under vendor/."
    cat <<'PHP'
spl_autoload_register(static function (string $class): void {
    static $prefixes = [
        'App\\' => __DIR__.'/../app/',
        'Database\\Factories\\' => __DIR__.'/../database/factories/',
        'Database\\Seeders\\' => __DIR__.'/../database/seeders/',
        'Laravel\\Octane\\' => __DIR__.'/laravel/octane/src/',
        'Laminas\\Diactoros\\' => __DIR__.'/laminas/laminas-diactoros/src/',
        'Ephpm\\Octane\\' => __DIR__.'/ephpm/octane/src/',
    ];
    foreach ($prefixes as $prefix => $dir) {
        if (str_starts_with($class, $prefix)) {
            $file = $dir.strtr(substr($class, strlen($prefix)), '\\', '/').'.php';
            if (is_file($file)) {
                require $file;
            }

            return;
        }
    }
});
PHP
    echo
    echo "// Composer's autoload.files."
    for f in $diactoros_files; do
        echo "require_once __DIR__.'/laminas/laminas-diactoros/$f';"
    done
    echo "require_once __DIR__.'/ephpm/octane/src/swoole-table.php';"
} >vendor/autoload.php

# Package discovery reads installed.json: Octane's and the driver's providers.
cat >vendor/composer/installed.json <<'JSON'
{
    "packages": [
        {
            "name": "laravel/octane",
            "version": "2.3.6",
            "type": "library",
            "install-path": "../laravel/octane",
            "extra": {"laravel": {"providers": ["Laravel\\Octane\\OctaneServiceProvider"], "aliases": {"Octane": "Laravel\\Octane\\Facades\\Octane"}}}
        },
        {
            "name": "laminas/laminas-diactoros",
            "version": "3.5.0",
            "type": "library",
            "install-path": "../laminas/laminas-diactoros"
        },
        {
            "name": "ephpm/octane",
            "version": "dev-main",
            "type": "library",
            "install-path": "../ephpm/octane",
            "extra": {"laravel": {"providers": ["Ephpm\\Octane\\EphpmServiceProvider"]}}
        }
    ],
    "dev": false
}
JSON

mkdir -p database storage/app/public storage/framework/cache/data storage/framework/sessions \
    storage/framework/views storage/logs bootstrap/cache
touch database/database.sqlite
log "assembled $dest (Laravel libraries: $libs)"
echo "$dest"
