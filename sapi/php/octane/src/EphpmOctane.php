<?php

namespace Ephpm\Octane;

use Exception;
use Laravel\Octane\Octane;

/** Octane's facade root on ephpm: tables live in the KV instead of Swoole's shared memory. */
class EphpmOctane extends Octane
{
    /** @var array<string, KvTable> */
    protected array $tables = [];

    /** The table configured as `octane.tables.NAME:ROWS`, shared by every thread and core. */
    public function table(string $table): \Swoole\Table
    {
        if (isset($this->tables[$table])) {
            return $this->tables[$table];
        }

        foreach (config('octane.tables', []) as $spec => $columns) {
            [$name, $rows] = array_pad(explode(':', $spec, 2), 2, 1000);
            if ($name === $table) {
                return $this->tables[$table] = \Swoole\Table::fromConfig($name, (int) $rows, $columns ?? []);
            }
        }

        throw new Exception("Octane table [{$table}] has not been configured.");
    }
}
