<?php

// Octane::table() is declared to return Swoole\Table. Without the Swoole
// extension that class does not exist, so ephpm's KV-backed table stands
// in for it: the alias is made only when something asks for Swoole\Table
// and the extension has not defined it.
spl_autoload_register(static function (string $class): void {
    if ($class === 'Swoole\\Table' && function_exists('ephpm_kv_get')) {
        class_alias(\Ephpm\Octane\KvTable::class, 'Swoole\\Table');
    }
});
