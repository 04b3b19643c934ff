<?php

namespace Ephpm\Octane\Commands;

use Ephpm\Octane\InternalRequests;
use Ephpm\Octane\ServerStateFile;
use Illuminate\Console\Command;

/**
 * octane:ephpm: serve the application with ephpm in worker mode. The
 * options become EPHPM_* overrides over the application's own ephpm.toml
 * (when it has one), so anything else (the KV, the database, TLS, limits)
 * is configured there. The command stays in the foreground while ephpm
 * runs, sends Octane's tick once a second, and stops with it.
 */
class StartCommand extends Command
{
    public $signature = 'octane:ephpm
                    {--host=127.0.0.1 : The IP address the server should bind to}
                    {--port=8000 : The port the server should be available on}
                    {--admin-port= : The node API port (default: port + 1)}
                    {--workers=auto : PHP worker threads in all ("auto": ephpm\'s default, 4 per core)}
                    {--cores=auto : Cores (shard threads) ephpm runs}
                    {--max-requests=500 : Requests a worker serves before it is restarted (0: never)}
                    {--config= : An ephpm.toml for everything else (default: the application\'s ephpm.toml, if any)}
                    {--binary= : The ephpm binary (default: $EPHPM_BINARY, this process when it is ephpm, else ephpm on PATH)}
                    {--watch : Restart the workers when the application\'s files change}
                    {--no-tick : Do not send Octane\'s once-a-second tick}';

    public $description = 'Start the Octane server on ephpm';

    public function handle(): int
    {
        $base = base_path();
        $host = (string) $this->option('host');
        $port = (int) $this->option('port');
        $adminPort = (int) ($this->option('admin-port') ?: $port + 1);
        $token = bin2hex(random_bytes(24));
        $bracket = fn (string $h) => str_contains($h, ':') ? "[$h]" : $h;
        $local = match ($host) {
            '0.0.0.0', '' => '127.0.0.1',
            '::' => '::1',
            default => $host,
        };
        $url = 'http://'.$bracket($local).':'.$port;

        $env = [
            'APP_BASE_PATH' => $base,
            // ephpm stops when this command dies, however it dies.
            'EPHPM_STOP_WITH_PARENT' => '1',
            'EPHPM_OCTANE_URL' => $url,
            'EPHPM_SERVER__LISTEN' => $bracket($host).':'.$port,
            'EPHPM_SERVER__DOCUMENT_ROOT' => public_path(),
            'EPHPM_PHP__WORKER__SCRIPT' => $this->workerScript(),
            'EPHPM_PHP__WORKER__MAX_REQUESTS' => (string) max(0, (int) $this->option('max-requests')),
            'EPHPM_NODE_API__LISTEN' => '127.0.0.1:'.$adminPort,
            'EPHPM_NODE_API__TOKEN' => $token,
        ];
        if ($this->option('cores') !== 'auto') {
            $env['EPHPM_SERVER__CORES'] = (string) (int) $this->option('cores');
        }
        if ($this->option('workers') !== 'auto') {
            $cores = $this->option('cores') !== 'auto' ? (int) $this->option('cores') : $this->cpus();
            $env['EPHPM_PHP__THREADS_PER_CORE'] = (string) max(1, (int) ceil((int) $this->option('workers') / max(1, $cores)));
        }
        if ($this->option('watch')) {
            $env['EPHPM_PHP__WORKER__WATCH'] = json_encode($this->watchGlobs(), JSON_UNESCAPED_SLASHES);
        }

        $command = [$this->binary(), 'serve'];
        $config = $this->option('config') ?: (is_file($base.'/ephpm.toml') ? $base.'/ephpm.toml' : null);
        if ($config) {
            array_push($command, '--config', $config);
        }

        $process = proc_open($command, [STDIN, STDOUT, STDERR], $pipes, $base, $env + getenv());
        if (! is_resource($process)) {
            $this->error('Could not start '.$command[0].'.');

            return 1;
        }
        $pid = proc_get_status($process)['pid'];

        $state = ServerStateFile::for($base);
        $state->write([
            'pid' => $pid,
            'url' => $url,
            'node_api' => '127.0.0.1:'.$adminPort,
            'token' => $token,
            'started_at' => time(),
        ]);
        $this->info("ephpm (pid $pid) serving $url; node API on 127.0.0.1:$adminPort");

        $signature = InternalRequests::tickSignature((string) config('app.key'));
        $tick = ! $this->option('no-tick');
        $lastTick = microtime(true);
        while (($status = proc_get_status($process))['running']) {
            usleep(100_000);
            if ($tick && microtime(true) - $lastTick >= 1.0) {
                $lastTick = microtime(true);
                $this->tick($url, $signature);
            }
        }
        proc_close($process);
        $state->delete();

        return (int) ($status['exitcode'] ?? 0);
    }

    /** The worker entry script of this package. */
    protected function workerScript(): string
    {
        $installed = base_path('vendor/ephpm/octane/bin/ephpm-worker.php');

        return is_file($installed) ? $installed : dirname(__DIR__, 2).'/bin/ephpm-worker.php';
    }

    protected function binary(): string
    {
        if ($binary = $this->option('binary') ?: getenv('EPHPM_BINARY')) {
            return $binary;
        }
        $self = @readlink('/proc/self/exe');
        if (is_string($self) && str_starts_with(basename($self), 'ephpm')) {
            return $self;
        }

        return 'ephpm';
    }

    protected function cpus(): int
    {
        $n = 0;
        foreach (@file('/proc/cpuinfo') ?: [] as $line) {
            $n += str_starts_with($line, 'processor') ? 1 : 0;
        }

        return max(1, $n);
    }

    /** Octane's `watch` list as ephpm globs: a directory watches everything under it. */
    protected function watchGlobs(): array
    {
        return array_values(array_map(function (string $path) {
            $full = base_path($path);

            return is_dir($full) ? rtrim($full, '/').'/**' : $full;
        }, config('octane.watch', [])));
    }

    /** One tick; a busy or restarting server just misses it. */
    protected function tick(string $url, string $signature): void
    {
        $handle = curl_init($url.InternalRequests::PREFIX.'tick');
        curl_setopt_array($handle, [
            CURLOPT_POST => true,
            CURLOPT_POSTFIELDS => '',
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_TIMEOUT => 2,
            CURLOPT_HTTPHEADER => [InternalRequests::TICK_HEADER.': '.$signature],
        ]);
        curl_exec($handle);
        curl_close($handle);
    }
}
