<?php

// The demo application's API (tools/laravel overlay): what the tests and
// the laravel benches call. Not throttled: the benches send thousands of
// requests a second from one address.

use App\Providers\AppServiceProvider;
use Illuminate\Http\Request;
use Illuminate\Support\Facades\Cache;
use Illuminate\Support\Facades\Route;
use Laravel\Octane\Facades\Octane;

Route::withoutMiddleware('throttle:api')->group(function () {
    Route::get('/hello', fn () => [
        'hello' => 'world',
        'framework' => app()->version(),
        'worker' => $_SERVER['EPHPM_WORKER'] ?? '0',
    ]);

    // State that must not leak from one request to the next.
    Route::get('/state', function (Request $request) {
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
    });

    Route::get('/table/incr/{key}', fn (string $key) => ['votes' => Octane::table('example')->incr($key, 'votes')]);
    Route::get('/table/set/{key}', fn (Request $request, string $key) => [
        'set' => Octane::table('example')->set($key, ['name' => $request->query('name', ''), 'votes' => (int) $request->query('votes', 0)]),
    ]);
    Route::get('/table/get/{key}', fn (string $key) => ['row' => Octane::table('example')->get($key), 'count' => Octane::table('example')->count()]);

    Route::get('/cache/put', fn (Request $request) => ['put' => Cache::store('octane')->put($request->query('k'), $request->query('v'), 60)]);
    Route::get('/cache/get', fn (Request $request) => ['value' => Cache::store('octane')->get($request->query('k'))]);
    Route::get('/cache/incr', fn (Request $request) => ['value' => Cache::store('octane')->increment($request->query('k'))]);
    Route::get('/ticks', fn () => [
        'ticks' => Cache::store('octane')->get('ticks'),
        'interval' => Cache::store('octane')->get('demo-interval'),
    ]);

    Route::get('/concurrently', function (Request $request) {
        $ms = (int) $request->query('ms', 200);
        $start = microtime(true);
        $results = Octane::concurrently([
            'a' => function () use ($ms) { usleep($ms * 1000); return 'a'; },
            'b' => function () use ($ms) { usleep($ms * 1000); return 'b'; },
            'c' => fn () => 6 * 7,
        ], 5000);

        return ['results' => $results, 'elapsed_ms' => (int) ((microtime(true) - $start) * 1000)];
    });

    Route::get('/fail', fn () => throw new RuntimeException('demo failure'));

    Route::post('/echo', fn (Request $request) => [
        'input' => $request->all(),
        'raw' => $request->getContent(),
        'method' => $request->method(),
    ]);
});
