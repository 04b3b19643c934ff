<?php

namespace Ephpm\Octane;

use Illuminate\Support\Facades\Cache;
use Illuminate\Support\Facades\Event;
use Illuminate\Support\ServiceProvider;
use Laravel\Octane\Contracts\DispatchesTasks;
use Laravel\Octane\Events\TickReceived;

/**
 * Registers the driver: the octane:ephpm commands everywhere, and inside
 * ephpm (a worker, or `ephpm php artisan`) Octane's table, cache store and
 * task dispatcher on ephpm's KV and PHP threads. Loaded after Octane's
 * provider (package discovery order), so its bindings win.
 */
class EphpmServiceProvider extends ServiceProvider
{
    /** Whether this process has ephpm's KV functions. */
    public static function onEphpm(): bool
    {
        return function_exists('ephpm_kv_get');
    }

    public function register(): void
    {
        if (! static::onEphpm()) {
            return;
        }

        $this->app->singleton('octane', EphpmOctane::class);
        $this->app->singleton(KvStore::class);
        $this->app->bind(DispatchesTasks::class, fn ($app) => new TaskDispatcher(
            $app->make('encrypter'),
            // Only a worker answers the task requests; elsewhere they run here.
            ($_SERVER['EPHPM_WORKER'] ?? '') === '1' ? TaskDispatcher::serverUrl() : null,
        ));
    }

    public function boot(): void
    {
        if ($this->app->runningInConsole()) {
            $this->commands([
                Commands\StartCommand::class,
                Commands\StatusCommand::class,
                Commands\ReloadCommand::class,
                Commands\StopCommand::class,
            ]);
        }

        if (! static::onEphpm() || empty($this->app['config']['octane.cache'])) {
            return;
        }

        $store = $this->app->make(KvStore::class);
        Cache::extend('octane', fn () => Cache::repository($store));
        Event::listen(TickReceived::class, fn () => $store->refreshIntervalCaches());
    }
}
