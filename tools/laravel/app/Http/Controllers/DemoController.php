<?php

namespace App\Http\Controllers;

use App\Providers\AppServiceProvider;
use Illuminate\Http\Request;
use Illuminate\Support\Facades\Cache;
use Laravel\Octane\Facades\Octane;
use RuntimeException;

// The demo application's API (tools/laravel overlay): what the tests and
// the laravel benches call. A controller, not closures: cached routes
// unserialize (and compile) a closure action on every request.
class DemoController extends Controller
{
    public function hello(): array
    {
        return [
            'hello' => 'world',
            'framework' => app()->version(),
            'worker' => $_SERVER['EPHPM_WORKER'] ?? '0',
        ];
    }

    // State that must not leak from one request to the next.
    public function state(Request $request): array
    {
        static $served = 0;
        $served++;
        $leakedInstance = app()->bound('demo.leak');
        $leakedConfig = config('demo.leak');
        app()->instance('demo.leak', $request->query('v'));
        config(['demo.leak' => $request->query('v')]);

        return [
            'served_by_this_worker' => $served,
            'leaked_instance' => $leakedInstance,
            'leaked_config' => $leakedConfig,
            'events' => AppServiceProvider::$events,
        ];
    }

    public function tableIncr(string $key): array
    {
        return ['votes' => Octane::table('example')->incr($key, 'votes')];
    }

    public function tableSet(Request $request, string $key): array
    {
        return ['set' => Octane::table('example')->set($key, [
            'name' => $request->query('name', ''),
            'votes' => (int) $request->query('votes', 0),
        ])];
    }

    public function tableGet(string $key): array
    {
        return ['row' => Octane::table('example')->get($key), 'count' => Octane::table('example')->count()];
    }

    public function cachePut(Request $request): array
    {
        return ['put' => Cache::store('octane')->put($request->query('k'), $request->query('v'), 60)];
    }

    public function cacheGet(Request $request): array
    {
        return ['value' => Cache::store('octane')->get($request->query('k'))];
    }

    public function cacheIncr(Request $request): array
    {
        return ['value' => Cache::store('octane')->increment($request->query('k'))];
    }

    public function ticks(): array
    {
        return [
            'ticks' => Cache::store('octane')->get('ticks'),
            'interval' => Cache::store('octane')->get('demo-interval'),
        ];
    }

    public function concurrently(Request $request): array
    {
        $ms = (int) $request->query('ms', 200);
        $start = microtime(true);
        $results = Octane::concurrently([
            'a' => function () use ($ms) {
                usleep($ms * 1000);

                return 'a';
            },
            'b' => function () use ($ms) {
                usleep($ms * 1000);

                return 'b';
            },
            'c' => fn () => 6 * 7,
        ], 5000);

        return ['results' => $results, 'elapsed_ms' => (int) ((microtime(true) - $start) * 1000)];
    }

    public function fail(): never
    {
        throw new RuntimeException('demo failure');
    }

    public function echo(Request $request): array
    {
        return ['input' => $request->all(), 'raw' => $request->getContent(), 'method' => $request->method()];
    }
}
