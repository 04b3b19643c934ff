<?php

// ephpm's Octane worker: the [php.worker] script of a Laravel application
// (octane:ephpm points ephpm at it). Each PHP thread runs it once: the
// application boots here, then every request runs in a sandbox clone of it,
// as on Octane's other servers.

use Ephpm\Octane\EphpmClient;
use Ephpm\Octane\InternalRequests;
use Laravel\Octane\ApplicationFactory;
use Laravel\Octane\RequestContext;
use Laravel\Octane\Worker;

if (! function_exists('ephpm_handle_request') || ! ($_SERVER['EPHPM_WORKER'] ?? false)) {
    fwrite(STDERR, "This script is an ephpm worker: set it as [php.worker] script, or run php artisan octane:ephpm.\n");

    exit(1);
}

ignore_user_abort(true);

// The application: APP_BASE_PATH (octane:ephpm sets it), else the parent of
// the document root (public/).
$basePath = getenv('APP_BASE_PATH') ?: ($_SERVER['APP_BASE_PATH'] ?? dirname($_SERVER['DOCUMENT_ROOT'] ?? ''));
if (! is_file($basePath.'/vendor/autoload.php')) {
    fwrite(STDERR, "ephpm octane worker: no vendor/autoload.php under [$basePath]; set APP_BASE_PATH.\n");

    exit(1);
}
$_SERVER['APP_BASE_PATH'] = $_ENV['APP_BASE_PATH'] = $basePath;
require $basePath.'/vendor/laravel/octane/bin/bootstrap.php';

$client = new EphpmClient;

// Booted before the first request, so a broken application fails the boot
// (503 with Retry-After, logged, retried with back-off) instead of a request.
$worker = new Worker(new ApplicationFactory($basePath), $client);
$worker->boot();

$internal = new InternalRequests($worker);

$handle = static function () use ($worker, $client, $internal): void {
    if ($internal->handle()) {
        return;
    }

    try {
        [$request, $context] = $client->marshalRequest(new RequestContext);

        $worker->handle($request, $context);
    } catch (Throwable $e) {
        report($e);
        $client->internalError();
    }
};

try {
    while (! $client->stopping() && ephpm_handle_request($handle)) {
        // One request per turn; ephpm says when to stop (restart,
        // max_requests, max_memory, shutdown).
    }
} finally {
    $worker->terminate();
}
