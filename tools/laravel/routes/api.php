<?php

// The demo application's API (tools/laravel overlay): what the tests and
// the laravel benches call. Not throttled: the benches send thousands of
// requests a second from one address.

use App\Http\Controllers\DemoController;
use Illuminate\Support\Facades\Route;

Route::withoutMiddleware('throttle:api')->controller(DemoController::class)->group(function () {
    Route::get('/hello', 'hello');
    Route::get('/state', 'state');
    Route::get('/table/incr/{key}', 'tableIncr');
    Route::get('/table/set/{key}', 'tableSet');
    Route::get('/table/get/{key}', 'tableGet');
    Route::get('/cache/put', 'cachePut');
    Route::get('/cache/get', 'cacheGet');
    Route::get('/cache/incr', 'cacheIncr');
    Route::get('/ticks', 'ticks');
    Route::get('/concurrently', 'concurrently');
    Route::get('/fail', 'fail');
    Route::post('/echo', 'echo');
});
