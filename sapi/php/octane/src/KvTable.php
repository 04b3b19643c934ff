<?php

namespace Ephpm\Octane;

use ArrayIterator;
use Countable;
use IteratorAggregate;
use Laravel\Octane\Exceptions\ValueTooLargeForColumnException;
use Traversable;

/**
 * Octane::table() on ephpm's KV: a Swoole\Table-compatible table whose rows
 * every PHP thread of every core sees (Swoole's tables are per server
 * process tree; off Swoole, Octane has none). A row is a KV hash
 * (`octane:table:NAME:r:KEY`, one field per column), written with one HSET
 * so readers see a whole row; incr/decr are the KV's atomic HINCRBY. The
 * set `octane:table:NAME:keys` indexes the keys for count() and iteration. Like
 * Swoole's, a table holds at most its configured number of rows: set() of a
 * new key into a full table returns false.
 */
class KvTable implements IteratorAggregate, Countable
{
    public const TYPE_INT = 1;

    public const TYPE_FLOAT = 2;

    public const TYPE_STRING = 3;

    /** @var array<string, array{0: int, 1: int}> column => [type, size] */
    protected array $columns = [];

    protected string $prefix;

    public function __construct(protected string $name = 'table', protected int $size = 1000)
    {
        $this->prefix = 'octane:table:'.$name.':';
    }

    /** Build a table from Octane's configuration: `'name:rows' => ['column' => 'string:size'|'int'|'float']`. */
    public static function fromConfig(string $name, int $rows, array $columns): static
    {
        $table = new static($name, $rows);
        foreach ($columns as $column => $spec) {
            [$type, $size] = array_pad(explode(':', (string) $spec, 2), 2, 1000);
            $table->column($column, match ($type) {
                'int' => self::TYPE_INT,
                'float' => self::TYPE_FLOAT,
                default => self::TYPE_STRING,
            }, (int) $size);
        }

        return $table;
    }

    /** Declare a column (Swoole's API). */
    public function column(string $name, int $type, int $size = 0): bool
    {
        $this->columns[$name] = [$type, $size];

        return true;
    }

    /** Swoole allocates here; the KV needs nothing. */
    public function create(): bool
    {
        return true;
    }

    /** Set a row's columns (unknown columns are ignored, as Swoole does); false when the table is full. */
    public function set(string $key, array $values): bool
    {
        $row = [];
        foreach ($values as $column => $value) {
            if (! isset($this->columns[$column])) {
                continue;
            }
            [$type, $size] = $this->columns[$column];
            $row[$column] = match ($type) {
                self::TYPE_INT => (string) (int) $value,
                self::TYPE_FLOAT => (string) (float) $value,
                default => $this->fits((string) $value, $column, $size),
            };
        }

        if (! $this->admit($key)) {
            return false;
        }
        if ($row !== []) {
            ephpm_kv_hmset($this->rowKey($key), $row);
        }

        return true;
    }

    /** A row as [column => value], one column's value, or false when missing. */
    public function get(string $key, ?string $field = null): mixed
    {
        if ($field !== null) {
            $value = ephpm_kv_hget($this->rowKey($key), $field);

            return $value === null ? false : $this->cast($field, $value);
        }

        $raw = ephpm_kv_hgetall($this->rowKey($key));

        return $raw ? $this->row($raw) : false;
    }

    /** Whether the row exists. */
    public function exists(string $key): bool
    {
        return ephpm_kv_exists($this->rowKey($key));
    }

    /** Delete a row. */
    public function del(string $key): bool
    {
        ephpm_kv_del($this->rowKey($key));
        ephpm_kv_srem($this->prefix.'keys', $key);

        return true;
    }

    /** Atomically add to an int or float column; the new value, or false when the table is full. */
    public function incr(string $key, string $column, int|float $by = 1): int|float|false
    {
        if (! $this->admit($key)) {
            return false;
        }

        return ($this->columns[$column][0] ?? self::TYPE_INT) === self::TYPE_FLOAT
            ? ephpm_kv_hincr_by_float($this->rowKey($key), $column, (float) $by)
            : ephpm_kv_hincr_by($this->rowKey($key), $column, (int) $by);
    }

    /** Atomically subtract from an int or float column. */
    public function decr(string $key, string $column, int|float $by = 1): int|float|false
    {
        return $this->incr($key, $column, -$by);
    }

    /** Rows in the table, over every core. */
    public function count(): int
    {
        return (int) ephpm_kv_scard($this->prefix.'keys');
    }

    /** The configured maximum number of rows. */
    public function getSize(): int
    {
        return $this->size;
    }

    /** Iterate key => row over every row (a snapshot of the keys). */
    public function getIterator(): Traversable
    {
        $rows = [];
        foreach (ephpm_kv_smembers($this->prefix.'keys') ?: [] as $key) {
            $raw = ephpm_kv_hgetall($this->rowKey($key));
            if ($raw) {
                $rows[$key] = $this->row($raw);
            }
        }

        return new ArrayIterator($rows);
    }

    /** Delete every row (not in Swoole's API; for tests and resets). */
    public function clear(): void
    {
        ephpm_kv_flush_prefix($this->prefix);
    }

    protected function rowKey(string $key): string
    {
        return $this->prefix.'r:'.$key;
    }

    /** Index a new key, within the row limit; true when the key may be written. */
    protected function admit(string $key): bool
    {
        if (ephpm_kv_sadd($this->prefix.'keys', $key) === 0) {
            return true;
        }
        if ($this->count() > $this->size) {
            ephpm_kv_srem($this->prefix.'keys', $key);

            return false;
        }

        return true;
    }

    protected function fits(string $value, string $column, int $size): string
    {
        if ($size > 0 && strlen($value) > $size) {
            throw new ValueTooLargeForColumnException(sprintf(
                'Value [%s...] is too large for [%s] column.', substr($value, 0, 20), $column,
            ));
        }

        return $value;
    }

    protected function row(array $raw): array
    {
        $row = [];
        foreach ($this->columns as $column => [$type]) {
            $row[$column] = $this->cast($column, $raw[$column] ?? null);
        }

        return $row;
    }

    protected function cast(string $column, ?string $value): mixed
    {
        return match ($this->columns[$column][0] ?? self::TYPE_STRING) {
            self::TYPE_INT => (int) $value,
            self::TYPE_FLOAT => (float) $value,
            default => (string) $value,
        };
    }
}
