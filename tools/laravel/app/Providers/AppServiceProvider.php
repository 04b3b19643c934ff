<?php

namespace App\Providers;

use Illuminate\Support\Facades\Cache;
use Illuminate\Support\Facades\Event;
use Illuminate\Support\ServiceProvider;
use Laravel\Octane\Events\RequestHandled;
use Laravel\Octane\Events\RequestReceived;
use Laravel\Octane\Events\RequestTerminated;
use Laravel\Octane\Events\WorkerStarting;
use Laravel\Octane\Facades\Octane;

// The demo application's provider (tools/laravel overlay): counts Octane's
// events in this worker, and registers a tick and an interval on the KV.
class AppServiceProvider extends ServiceProvider
{
    /** Octane events this worker has seen, by class. */
    public static array $events = [];

    public function register(): void
    {
        //
    }

    public function boot(): void
    {
        foreach ([WorkerStarting::class, RequestReceived::class, RequestHandled::class, RequestTerminated::class] as $event) {
            Event::listen($event, fn () => self::$events[class_basename($event)] = (self::$events[class_basename($event)] ?? 0) + 1);
        }

        if (function_exists('ephpm_handle_request')) {
            Octane::tick('demo-ticks', fn () => Cache::store('octane')->increment('ticks'));
            Cache::store('octane')->interval('demo-interval', fn () => microtime(true), 1);
        }
    }
}
