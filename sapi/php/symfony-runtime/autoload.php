<?php

// For applications assembled without Composer: loads Runtime\Ephpm\*.
spl_autoload_register(static function (string $class): void {
    if (str_starts_with($class, 'Runtime\\Ephpm\\')) {
        $file = __DIR__ . '/src/' . str_replace('\\', '/', substr($class, strlen('Runtime\\Ephpm\\'))) . '.php';
        if (is_file($file)) {
            require $file;
        }
    }
});
