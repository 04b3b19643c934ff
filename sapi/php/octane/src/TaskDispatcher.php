<?php

namespace Ephpm\Octane;

use Closure;
use Illuminate\Contracts\Encryption\Encrypter;
use Laravel\Octane\Contracts\DispatchesTasks;
use Laravel\Octane\Exceptions\TaskExceptionResult;
use Laravel\Octane\Exceptions\TaskTimeoutException;
use Laravel\Octane\SequentialTaskDispatcher;
use Laravel\Octane\Swoole\TaskResult;
use Laravel\SerializableClosure\SerializableClosure;

/**
 * Octane::concurrently() on ephpm: each task is a request to this server's
 * own listener (InternalRequests), all sent at once, so each runs on
 * another PHP thread of some core while the caller waits. Where no other
 * thread can be reached (no server address, a single PHP thread) the tasks
 * run one after another here, as Octane does off Swoole.
 */
class TaskDispatcher implements DispatchesTasks
{
    public function __construct(protected Encrypter $encrypter, protected ?string $baseUrl)
    {
    }

    /** The server's own base URL: EPHPM_OCTANE_URL (octane:ephpm sets it), else the address the current request came in on. */
    public static function serverUrl(): ?string
    {
        if ($url = getenv('EPHPM_OCTANE_URL')) {
            return rtrim($url, '/');
        }

        $addr = $_SERVER['SERVER_ADDR'] ?? null;
        $port = $_SERVER['SERVER_PORT'] ?? null;
        if (! $addr || ! $port) {
            return null;
        }
        $scheme = ! empty($_SERVER['HTTPS']) && $_SERVER['HTTPS'] !== 'off' ? 'https' : 'http';

        return $scheme.'://'.(str_contains($addr, ':') ? "[$addr]" : $addr).':'.$port;
    }

    /** Run the tasks concurrently and return their results by key; a task not finished in time is false. */
    public function resolve(array $tasks, int $waitMilliseconds = 3000): array
    {
        if ($this->baseUrl === null || count($tasks) === 0) {
            return (new SequentialTaskDispatcher)->resolve($tasks, $waitMilliseconds);
        }

        $handles = [];
        foreach ($tasks as $key => $task) {
            $handles[$key] = $this->request('task', $task, $waitMilliseconds);
        }
        $multi = $this->runAll($handles);

        $results = [];
        $timedOut = 0;
        foreach ($handles as $key => $handle) {
            $code = curl_getinfo($handle, CURLINFO_RESPONSE_CODE);
            $body = curl_multi_getcontent($handle);
            $errno = curl_errno($handle);
            curl_multi_remove_handle($multi, $handle);

            if ($errno === CURLE_OPERATION_TIMEDOUT) {
                $timedOut++;
                $results[$key] = false;

                continue;
            }

            $result = ($code === 200 || $code === 500) && is_string($body) ? @unserialize($body) : false;
            if ($result instanceof TaskExceptionResult) {
                curl_multi_close($multi);

                throw $result->getOriginal();
            }
            if (! $result instanceof TaskResult) {
                curl_multi_close($multi);

                throw new \RuntimeException("ephpm: task [$key] got no result from the server (HTTP $code, curl error $errno).");
            }
            $results[$key] = $result->result;
        }
        curl_multi_close($multi);

        if ($timedOut === count($tasks)) {
            throw TaskTimeoutException::after($waitMilliseconds);
        }

        return $results;
    }

    /** Start the tasks on other threads without waiting for them. */
    public function dispatch(array $tasks): void
    {
        if ($this->baseUrl === null) {
            (new SequentialTaskDispatcher)->dispatch($tasks);

            return;
        }

        $handles = [];
        foreach ($tasks as $key => $task) {
            // Answered (202) before the task runs.
            $handles[$key] = $this->request('dispatch', $task, 5000);
        }
        $multi = $this->runAll($handles);
        foreach ($handles as $handle) {
            curl_multi_remove_handle($multi, $handle);
        }
        curl_multi_close($multi);
    }

    /** Send every request at once and wait for all of them; the multi handle, still holding them. */
    protected function runAll(array $handles): \CurlMultiHandle
    {
        $multi = curl_multi_init();
        foreach ($handles as $handle) {
            curl_multi_add_handle($multi, $handle);
        }
        do {
            $status = curl_multi_exec($multi, $running);
            if ($running) {
                curl_multi_select($multi, 0.05);
            }
        } while ($running && $status === CURLM_OK);

        return $multi;
    }

    protected function request(string $kind, mixed $task, int $timeoutMs): \CurlHandle
    {
        $task = $task instanceof Closure ? new SerializableClosure($task) : $task;
        $handle = curl_init($this->baseUrl.InternalRequests::PREFIX.$kind);
        curl_setopt_array($handle, [
            CURLOPT_POST => true,
            CURLOPT_POSTFIELDS => $this->encrypter->encryptString(serialize($task)),
            CURLOPT_HTTPHEADER => ['Content-Type: application/octet-stream', 'Expect:'],
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_TIMEOUT_MS => max(1, $timeoutMs),
            // The server's own address: its certificate names a host, not this IP.
            CURLOPT_SSL_VERIFYPEER => false,
            CURLOPT_SSL_VERIFYHOST => 0,
        ]);

        return $handle;
    }
}
