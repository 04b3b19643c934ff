<?php

namespace Ephpm\Octane;

use Closure;
use Illuminate\Contracts\Cache\Store;
use Laravel\SerializableClosure\SerializableClosure;
use Throwable;

/**
 * The `octane` cache store on ephpm's KV: one store for every PHP thread of
 * every core (off Swoole, Octane's is a per-worker array). Numbers are kept
 * as plain strings, as Laravel's Redis store does, so increment() is the
 * KV's atomic INCRBY; anything else is serialized. Expiry is the KV's.
 * Cache::interval() keeps its resolver in the KV and is refreshed by the
 * tick (octane:ephpm sends one a second).
 */
class KvStore implements Store
{
    /** Where this store's keys live in the KV. */
    public const PREFIX = 'octane:cache:';

    protected const INTERVALS = 'octane:interval:';

    /** @var array<string, true> intervals registered in this worker */
    protected array $intervals = [];

    /** Retrieve an item, or null. */
    public function get($key)
    {
        $raw = ephpm_kv_get(self::PREFIX.$key);
        if ($raw !== null && $raw !== false) {
            return $this->decode($raw);
        }

        if (isset($this->intervals[$key]) && ($interval = $this->storedInterval($key)) !== null) {
            return $interval['resolver']();
        }

        return null;
    }

    /** Retrieve several items by key. */
    public function many(array $keys)
    {
        $values = [];
        foreach ($keys as $key) {
            $values[$key] = $this->get($key);
        }

        return $values;
    }

    /** Store an item for $seconds (at least one). */
    public function put($key, $value, $seconds)
    {
        $seconds = (int) $seconds;
        if ($seconds <= 0) {
            $this->forget($key);

            return true;
        }

        return ephpm_kv_set(self::PREFIX.$key, $this->encode($value), $seconds);
    }

    /** Store several items. */
    public function putMany(array $values, $seconds)
    {
        $ok = true;
        foreach ($values as $key => $value) {
            $ok = $this->put($key, $value, $seconds) && $ok;
        }

        return $ok;
    }

    /** Atomically increment; the new value (false when the value is not an integer). */
    public function increment($key, $value = 1)
    {
        $result = @ephpm_kv_incr_by(self::PREFIX.$key, (int) $value);

        return is_int($result) ? $result : false;
    }

    /** Atomically decrement. */
    public function decrement($key, $value = 1)
    {
        return $this->increment($key, -$value);
    }

    /** Store an item with no expiry. */
    public function forever($key, $value)
    {
        return ephpm_kv_set(self::PREFIX.$key, $this->encode($value));
    }

    /** Remove an item. */
    public function forget($key)
    {
        return ephpm_kv_del(self::PREFIX.$key) > 0;
    }

    /** Remove every item on every core (intervals stay registered). */
    public function flush()
    {
        ephpm_kv_flush_prefix(self::PREFIX);

        return true;
    }

    /** The store keeps its own prefix. */
    public function getPrefix()
    {
        return '';
    }

    /** Register a value recomputed by $resolver every $seconds (Cache::store('octane')->interval()). */
    public function interval($key, Closure $resolver, $seconds)
    {
        $this->intervals[$key] = true;

        ephpm_kv_setnx(self::INTERVALS.$key, serialize([
            'resolver' => new SerializableClosure($resolver),
            'refreshInterval' => (int) $seconds,
        ]));
    }

    /** Recompute the intervals that are due: the first thread to claim an interval's slot does it. */
    public function refreshIntervalCaches()
    {
        foreach (array_keys($this->intervals) as $key) {
            $interval = $this->storedInterval($key);
            if ($interval === null) {
                continue;
            }
            // One refresh per period over all threads and cores.
            if (! ephpm_kv_setnx(self::INTERVALS.$key.':lock', '1', max(1, $interval['refreshInterval']))) {
                continue;
            }
            try {
                $this->forever($key, $interval['resolver']());
            } catch (Throwable $e) {
                report($e);
            }
        }
    }

    protected function storedInterval(string $key): ?array
    {
        $raw = ephpm_kv_get(self::INTERVALS.$key);

        return is_string($raw) ? unserialize($raw) : null;
    }

    protected function encode(mixed $value): string
    {
        return is_int($value) || (is_float($value) && is_finite($value)) ? (string) $value : serialize($value);
    }

    protected function decode(string $raw): mixed
    {
        if (is_numeric($raw)) {
            return str_contains($raw, '.') || stripos($raw, 'e') !== false ? (float) $raw : (int) $raw;
        }

        return unserialize($raw);
    }
}
