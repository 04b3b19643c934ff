<?php

namespace Ephpm\Octane;

/** What octane:ephpm records about the server it started: pid, addresses, node API token. */
class ServerStateFile
{
    public function __construct(protected string $path)
    {
    }

    /** The state file of the application at $basePath. */
    public static function for(string $basePath): static
    {
        return new static($basePath.'/storage/logs/ephpm-server-state.json');
    }

    /** The recorded state, or [] when there is none. */
    public function read(): array
    {
        $raw = is_file($this->path) ? file_get_contents($this->path) : false;

        return is_string($raw) ? (json_decode($raw, true) ?: []) : [];
    }

    /** Record the state (readable by its owner only: it holds the node API token). */
    public function write(array $state): void
    {
        @mkdir(dirname($this->path), 0755, true);
        $tmp = $this->path.'.'.getmypid();
        file_put_contents($tmp, json_encode($state, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES));
        chmod($tmp, 0600);
        rename($tmp, $this->path);
    }

    /** Forget the state. */
    public function delete(): void
    {
        @unlink($this->path);
    }

    /** The file's path. */
    public function path(): string
    {
        return $this->path;
    }
}
