<?php

namespace Runtime\Ephpm;

use Symfony\Component\HttpKernel\HttpKernelInterface;
use Symfony\Component\Runtime\RunnerInterface;
use Symfony\Component\Runtime\SymfonyRuntime;

/**
 * A Symfony Runtime for ephpm.
 *
 * In ephpm's worker mode (php.worker.script names the front controller) the
 * kernel boots once per PHP thread and handles one request after another
 * through ephpm_handle_request(); anywhere else (classic mode, php-fpm, the
 * console) it is SymfonyRuntime.
 *
 * Options, beside SymfonyRuntime's: "ephpm_loop_max" (also the
 * EPHPM_LOOP_MAX variable): requests a worker handles before it ends and
 * ephpm boots it again; 0 (the default) leaves that to ephpm
 * (php.worker.max_requests).
 */
class Runtime extends SymfonyRuntime
{
    public function __construct(array $options = [])
    {
        $options['ephpm_loop_max'] = (int) ($options['ephpm_loop_max'] ?? $_SERVER['EPHPM_LOOP_MAX'] ?? $_ENV['EPHPM_LOOP_MAX'] ?? 0);
        parent::__construct($options);
    }

    public function getRunner(?object $application): RunnerInterface
    {
        if ($application instanceof HttpKernelInterface && self::inWorker()) {
            return new Runner($application, $this->options['ephpm_loop_max']);
        }

        return parent::getRunner($application);
    }

    /** Whether this script runs as an ephpm worker. */
    public static function inWorker(): bool
    {
        return '1' === (string) ($_SERVER['EPHPM_WORKER'] ?? '') && \function_exists('ephpm_handle_request');
    }
}
