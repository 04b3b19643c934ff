<?php

namespace Ephpm\Octane;

use Illuminate\Contracts\Encryption\DecryptException;
use Laravel\Octane\Worker;
use Throwable;

/**
 * The requests ephpm's Octane driver sends to its own server: a task for
 * Octane::concurrently() (run here, on another PHP thread than the caller),
 * a dispatched task, and the once-a-second tick. They never reach the
 * application's router. Tasks are encrypted with the application's key,
 * ticks carry an HMAC of it: nobody else can run code through them.
 */
class InternalRequests
{
    /** Path prefix of the internal requests. */
    public const PREFIX = '/__ephpm/octane/';

    /** Header carrying the tick's HMAC. */
    public const TICK_HEADER = 'X-Ephpm-Octane-Tick';

    public function __construct(protected Worker $worker)
    {
    }

    /** Handle the current request if it is an internal one; false to let the application have it. */
    public function handle(): bool
    {
        $uri = $_SERVER['REQUEST_URI'] ?? '';
        if (! str_starts_with($uri, self::PREFIX) || ($_SERVER['REQUEST_METHOD'] ?? '') !== 'POST') {
            return false;
        }

        match (substr($uri, strlen(self::PREFIX))) {
            'task' => $this->task(false),
            'dispatch' => $this->task(true),
            'tick' => $this->tick(),
            default => http_response_code(404),
        };

        return true;
    }

    /** The value of the tick header for the application key. */
    public static function tickSignature(string $appKey): string
    {
        return hash_hmac('sha256', 'ephpm-octane-tick', $appKey);
    }

    protected function task(bool $detached): void
    {
        $app = $this->worker->application();

        try {
            $task = unserialize($app->make('encrypter')->decryptString((string) file_get_contents('php://input')));
        } catch (DecryptException) {
            http_response_code(403);

            return;
        }

        if ($detached) {
            http_response_code(202);
            ephpm_finish_request();
            $this->worker->handleTask($task);

            return;
        }

        $result = $this->worker->handleTask($task);

        header('Content-Type: application/vnd.php.serialized');
        try {
            echo serialize($result);
        } catch (Throwable $e) {
            // A result that cannot be serialized (a closure, a resource).
            http_response_code(500);
            echo serialize(\Laravel\Octane\Exceptions\TaskExceptionResult::from($e));
        }
    }

    protected function tick(): void
    {
        $key = (string) $this->worker->application()->make('config')->get('app.key');
        $given = $_SERVER['HTTP_'.strtoupper(str_replace('-', '_', self::TICK_HEADER))] ?? '';

        if ($key === '' || ! hash_equals(self::tickSignature($key), $given)) {
            http_response_code(403);

            return;
        }

        $this->worker->handleTick();
        http_response_code(204);
    }
}
