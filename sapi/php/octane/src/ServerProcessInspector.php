<?php

namespace Ephpm\Octane;

use Laravel\Octane\Contracts\ServerProcessInspector as Inspector;

/** Is the server running, reload its workers, stop it: through the node API and the recorded pid. */
class ServerProcessInspector implements Inspector
{
    public function __construct(protected ServerStateFile $state)
    {
    }

    /** The recorded process is alive and its node API answers /health. */
    public function serverIsRunning(): bool
    {
        $state = $this->state->read();
        $pid = (int) ($state['pid'] ?? 0);
        if ($pid <= 0 || ! posix_kill($pid, 0)) {
            return false;
        }

        return $this->call('GET', '/health', $state) !== null;
    }

    /** Restart the workers one thread at a time (POST /api/workers/restart): a deploy without a failed request. */
    public function reloadServer(): void
    {
        $state = $this->state->read();
        $code = $this->call('POST', '/api/workers/restart', $state);
        if ($code === null || $code >= 300) {
            throw new \RuntimeException('ephpm: the node API refused the reload (HTTP '.($code ?? 'none').').');
        }
    }

    /** SIGTERM: ephpm finishes the requests in flight and exits. True once it is gone. */
    public function stopServer(): bool
    {
        $state = $this->state->read();
        $pid = (int) ($state['pid'] ?? 0);
        if ($pid <= 0 || ! posix_kill($pid, 15 /* SIGTERM; pcntl, which names it, may be missing */)) {
            return false;
        }
        for ($i = 0; $i < 300 && posix_kill($pid, 0); $i++) {
            usleep(100_000);
        }

        return ! posix_kill($pid, 0);
    }

    /** The HTTP status of a node API call, or null when it could not be reached. */
    protected function call(string $method, string $path, array $state): ?int
    {
        if (empty($state['node_api'])) {
            return null;
        }
        $handle = curl_init('http://'.$state['node_api'].$path);
        curl_setopt_array($handle, [
            CURLOPT_CUSTOMREQUEST => $method,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_TIMEOUT => 30,
            CURLOPT_HTTPHEADER => ['Authorization: Bearer '.($state['token'] ?? '')],
        ]);
        $ok = curl_exec($handle) !== false;
        $code = curl_getinfo($handle, CURLINFO_RESPONSE_CODE);
        curl_close($handle);

        return $ok ? (int) $code : null;
    }
}
