<?php
/**
 * ephpm object cache: WordPress's persistent object cache in ephpm's own
 * KV store, through the ephpm_kv_* functions (no socket, no serializer
 * extension; a key this core owns is read in place).
 *
 * Install with `ephpm wp enable-object-cache DOCROOT`, which copies this
 * file to wp-content/object-cache.php. Keys look like
 * `[WP_CACHE_KEY_SALT]wp:<group>:[<blog id>:]<key>`; integers are stored as
 * plain decimals (so incr/decr are atomic INCRBY), everything else with
 * serialize(). A flush deletes the site's keys on every core.
 *
 * Version: 1 (shipped with ephpm; see docs/wordpress.md).
 */

if (!function_exists('ephpm_kv_get')) {
    // Not running under ephpm: fall back to WordPress's own cache.
    require_once ABSPATH . WPINC . '/class-wp-object-cache.php';
    require_once ABSPATH . WPINC . '/cache.php';
    return;
}

define('EPHPM_OBJECT_CACHE', 1);

function wp_cache_init() {
    $GLOBALS['wp_object_cache'] = new WP_Object_Cache();
}

function wp_cache_add($key, $data, $group = '', $expire = 0) {
    return $GLOBALS['wp_object_cache']->add($key, $data, $group, (int) $expire);
}

function wp_cache_add_multiple(array $data, $group = '', $expire = 0) {
    return $GLOBALS['wp_object_cache']->add_multiple($data, $group, (int) $expire);
}

function wp_cache_replace($key, $data, $group = '', $expire = 0) {
    return $GLOBALS['wp_object_cache']->replace($key, $data, $group, (int) $expire);
}

function wp_cache_set($key, $data, $group = '', $expire = 0) {
    return $GLOBALS['wp_object_cache']->set($key, $data, $group, (int) $expire);
}

function wp_cache_set_multiple(array $data, $group = '', $expire = 0) {
    return $GLOBALS['wp_object_cache']->set_multiple($data, $group, (int) $expire);
}

function wp_cache_get($key, $group = '', $force = false, &$found = null) {
    return $GLOBALS['wp_object_cache']->get($key, $group, $force, $found);
}

function wp_cache_get_multiple($keys, $group = '', $force = false) {
    return $GLOBALS['wp_object_cache']->get_multiple($keys, $group, $force);
}

function wp_cache_delete($key, $group = '') {
    return $GLOBALS['wp_object_cache']->delete($key, $group);
}

function wp_cache_delete_multiple(array $keys, $group = '') {
    return $GLOBALS['wp_object_cache']->delete_multiple($keys, $group);
}

function wp_cache_incr($key, $offset = 1, $group = '') {
    return $GLOBALS['wp_object_cache']->incr($key, $offset, $group);
}

function wp_cache_decr($key, $offset = 1, $group = '') {
    return $GLOBALS['wp_object_cache']->decr($key, $offset, $group);
}

function wp_cache_flush() {
    return $GLOBALS['wp_object_cache']->flush();
}

function wp_cache_flush_runtime() {
    return $GLOBALS['wp_object_cache']->flush_runtime();
}

function wp_cache_flush_group($group) {
    return $GLOBALS['wp_object_cache']->flush_group($group);
}

function wp_cache_supports($feature) {
    switch ($feature) {
        case 'add_multiple':
        case 'set_multiple':
        case 'get_multiple':
        case 'delete_multiple':
        case 'flush_runtime':
        case 'flush_group':
            return true;
        default:
            return false;
    }
}

function wp_cache_close() {
    return true;
}

function wp_cache_add_global_groups($groups) {
    $GLOBALS['wp_object_cache']->add_global_groups($groups);
}

function wp_cache_add_non_persistent_groups($groups) {
    $GLOBALS['wp_object_cache']->add_non_persistent_groups($groups);
}

function wp_cache_switch_to_blog($blog_id) {
    $GLOBALS['wp_object_cache']->switch_to_blog($blog_id);
}

function wp_cache_reset() {
    // Deprecated since WordPress 3.5: only the runtime copies go.
    $GLOBALS['wp_object_cache']->flush_runtime();
}

class WP_Object_Cache {
    /** This request's copies, by full key (never outlives the request). */
    public $cache = array();
    public $cache_hits = 0;
    public $cache_misses = 0;
    /** Reads that went to the KV store. */
    public $kv_reads = 0;
    protected $global_groups = array();
    protected $non_persistent_groups = array();
    protected $prefix;
    protected $blog_prefix = '';
    protected $multisite = false;

    public function __construct() {
        $salt = defined('WP_CACHE_KEY_SALT') ? WP_CACHE_KEY_SALT : '';
        $this->prefix = $salt . 'wp:';
        $this->multisite = function_exists('is_multisite') && is_multisite();
        $this->blog_prefix = $this->multisite ? get_current_blog_id() . ':' : '';
    }

    public function add_global_groups($groups) {
        foreach ((array) $groups as $g) {
            $this->global_groups[$g] = true;
        }
    }

    public function add_non_persistent_groups($groups) {
        foreach ((array) $groups as $g) {
            $this->non_persistent_groups[$g] = true;
        }
    }

    public function switch_to_blog($blog_id) {
        $this->blog_prefix = $this->multisite ? ((int) $blog_id) . ':' : '';
    }

    protected function full_key($key, $group) {
        if ($group === '' || $group === null) {
            $group = 'default';
        }
        $blog = isset($this->global_groups[$group]) ? '' : $this->blog_prefix;
        return $this->prefix . $group . ':' . $blog . $key;
    }

    protected function persistent($group) {
        return !isset($this->non_persistent_groups[$group === '' ? 'default' : $group]);
    }

    protected static function valid_key($key) {
        return is_int($key) || (is_string($key) && $key !== '');
    }

    protected static function encode($data) {
        return is_int($data) ? (string) $data : serialize($data);
    }

    protected static function decode($raw) {
        if (preg_match('/^-?\d+$/', $raw)) {
            return (int) $raw;
        }
        if ($raw === 'b:0;') {
            return false;
        }
        $value = @unserialize($raw);
        return $value;
    }

    protected static function copy($data) {
        return is_object($data) ? clone $data : $data;
    }

    public function get($key, $group = 'default', $force = false, &$found = null) {
        if (!self::valid_key($key)) {
            $found = false;
            return false;
        }
        $k = $this->full_key($key, $group);
        // A non-persistent group lives only here, forced or not.
        if (array_key_exists($k, $this->cache) && (!$force || !$this->persistent($group))) {
            $found = true;
            $this->cache_hits++;
            return self::copy($this->cache[$k]);
        }
        if (!$this->persistent($group)) {
            $found = false;
            $this->cache_misses++;
            return false;
        }
        $this->kv_reads++;
        $raw = ephpm_kv_get($k);
        if ($raw === null || $raw === false) {
            $found = false;
            $this->cache_misses++;
            unset($this->cache[$k]);
            return false;
        }
        $found = true;
        $this->cache_hits++;
        $value = self::decode($raw);
        $this->cache[$k] = $value;
        return self::copy($value);
    }

    public function get_multiple($keys, $group = 'default', $force = false) {
        $out = array();
        foreach ($keys as $key) {
            $out[$key] = $this->get($key, $group, $force);
        }
        return $out;
    }

    /** Runs $op (set or add) for each key => value of $data. */
    protected function each_pair($op, array $data, $group, $expire) {
        $out = array();
        foreach ($data as $key => $value) {
            $out[$key] = $this->$op($key, $value, $group, $expire);
        }
        return $out;
    }

    public function set($key, $data, $group = 'default', $expire = 0) {
        if (!self::valid_key($key)) {
            return false;
        }
        $k = $this->full_key($key, $group);
        $data = self::copy($data);
        if ($this->persistent($group) && !ephpm_kv_set($k, self::encode($data), max(0, (int) $expire))) {
            unset($this->cache[$k]);
            return false;
        }
        $this->cache[$k] = $data;
        return true;
    }

    public function set_multiple(array $data, $group = 'default', $expire = 0) {
        return $this->each_pair('set', $data, $group, $expire);
    }

    public function add($key, $data, $group = 'default', $expire = 0) {
        if (function_exists('wp_suspend_cache_addition') && wp_suspend_cache_addition()) {
            return false;
        }
        if (!self::valid_key($key)) {
            return false;
        }
        $k = $this->full_key($key, $group);
        if (array_key_exists($k, $this->cache)) {
            return false;
        }
        $data = self::copy($data);
        if ($this->persistent($group) && !ephpm_kv_setnx($k, self::encode($data), max(0, (int) $expire))) {
            return false;
        }
        $this->cache[$k] = $data;
        return true;
    }

    public function add_multiple(array $data, $group = 'default', $expire = 0) {
        return $this->each_pair('add', $data, $group, $expire);
    }

    public function replace($key, $data, $group = 'default', $expire = 0) {
        if (!self::valid_key($key)) {
            return false;
        }
        $k = $this->full_key($key, $group);
        $exists = array_key_exists($k, $this->cache) || ($this->persistent($group) && ephpm_kv_exists($k));
        return $exists ? $this->set($key, $data, $group, $expire) : false;
    }

    public function delete($key, $group = 'default') {
        if (!self::valid_key($key)) {
            return false;
        }
        $k = $this->full_key($key, $group);
        $had = array_key_exists($k, $this->cache);
        unset($this->cache[$k]);
        if (!$this->persistent($group)) {
            return $had;
        }
        return ephpm_kv_del($k) > 0 || $had;
    }

    public function delete_multiple(array $keys, $group = 'default') {
        $out = array();
        foreach ($keys as $key) {
            $out[$key] = $this->delete($key, $group);
        }
        return $out;
    }

    public function incr($key, $offset = 1, $group = 'default') {
        if (!self::valid_key($key)) {
            return false;
        }
        $k = $this->full_key($key, $group);
        $current = $this->get($key, $group, true, $found);
        if (!$found) {
            return false;
        }
        $offset = (int) $offset;
        if ($this->persistent($group) && is_int($current)) {
            // Stored as a plain integer: INCRBY is atomic across requests.
            $value = ephpm_kv_incr_by($k, $offset);
            if (!is_int($value)) {
                return false;
            }
            if ($value < 0) {
                $value = 0;
                ephpm_kv_set($k, '0', max(0, ephpm_kv_ttl($k)));
            }
            $this->cache[$k] = $value;
            return $value;
        }
        $value = max(0, (is_numeric($current) ? (int) $current : 0) + $offset);
        $this->set($key, $value, $group);
        return $value;
    }

    public function decr($key, $offset = 1, $group = 'default') {
        return $this->incr($key, -(int) $offset, $group);
    }

    public function flush() {
        $this->cache = array();
        ephpm_kv_flush_prefix($this->prefix);
        return true;
    }

    public function flush_group($group) {
        $start = $this->prefix . ($group === '' ? 'default' : $group) . ':';
        foreach (array_keys($this->cache) as $k) {
            if (strncmp($k, $start, strlen($start)) === 0) {
                unset($this->cache[$k]);
            }
        }
        ephpm_kv_flush_prefix($start);
        return true;
    }

    public function flush_runtime() {
        $this->cache = array();
        return true;
    }

    public function stats() {
        echo '<p><strong>Cache Hits:</strong> ' . (int) $this->cache_hits . '<br />';
        echo '<strong>Cache Misses:</strong> ' . (int) $this->cache_misses . '<br />';
        echo '<strong>KV reads:</strong> ' . (int) $this->kv_reads . '</p>';
    }
}
