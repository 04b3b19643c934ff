<?php

namespace Runtime\Ephpm;

use Symfony\Component\HttpFoundation\Request;
use Symfony\Component\HttpFoundation\Response;
use Symfony\Component\HttpKernel\HttpKernelInterface;
use Symfony\Component\HttpKernel\TerminableInterface;
use Symfony\Component\Runtime\RunnerInterface;

/**
 * Handles requests with a booted kernel until ephpm says stop.
 *
 * Each request's Request comes from the superglobals ephpm set for it; the
 * kernel resets its services between requests itself (services_resetter).
 * kernel.terminate listeners run after the response has been sent, as
 * under php-fpm's fastcgi_finish_request().
 */
class Runner implements RunnerInterface
{
    public function __construct(
        private readonly HttpKernelInterface $kernel,
        private readonly int $loopMax = 0,
    ) {
    }

    public function run(): int
    {
        // A client that goes away must not end the worker.
        ignore_user_abort(true);
        // What the worker booted with (the environment, what Dotenv loaded)
        // is merged under each request's own variables.
        $boot = array_filter($_SERVER, static fn (string $key): bool => !str_starts_with($key, 'HTTP_'), \ARRAY_FILTER_USE_KEY);
        $boot['APP_RUNTIME_MODE'] = 'web=1&worker=1';

        $request = null;
        $response = null;
        $handler = function () use ($boot, &$request, &$response): void {
            $_SERVER += $boot;
            $request = Request::createFromGlobals();
            $response = $this->kernel->handle($request);
            $response->send();
        };

        $loops = 0;
        do {
            $request = $response = null;
            $more = \ephpm_handle_request($handler);
            if ($this->kernel instanceof TerminableInterface && $request instanceof Request && $response instanceof Response) {
                $this->kernel->terminate($request, $response);
            }
            gc_collect_cycles();
        } while ($more && (0 >= $this->loopMax || ++$loops < $this->loopMax));

        return 0;
    }
}
