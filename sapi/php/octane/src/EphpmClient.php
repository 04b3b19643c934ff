<?php

namespace Ephpm\Octane;

use Illuminate\Foundation\Application;
use Illuminate\Http\Request;
use Laravel\Octane\Contracts\Client;
use Laravel\Octane\Contracts\StoppableClient;
use Laravel\Octane\Octane;
use Laravel\Octane\OctaneResponse;
use Laravel\Octane\RequestContext;
use Symfony\Component\HttpFoundation\BinaryFileResponse;
use Symfony\Component\HttpFoundation\Response;
use Symfony\Component\HttpFoundation\StreamedResponse;
use Throwable;

/** Octane's client for ephpm: requests come from the SAPI's superglobals, responses go out through it. */
class EphpmClient implements Client, StoppableClient
{
    /** Whether the worker should leave its loop after this request. */
    protected bool $stopping = false;

    /** Marshal the current request (the superglobals ephpm set) into an Illuminate request. */
    public function marshalRequest(RequestContext $context): array
    {
        return [Request::createFromGlobals(), $context];
    }

    /** Send the response through the SAPI; output the application echoed comes first. */
    public function respond(RequestContext $context, OctaneResponse $octaneResponse): void
    {
        $response = $octaneResponse->response;
        $output = (string) $octaneResponse->outputBuffer;

        if ($output !== '' && ! $response instanceof StreamedResponse && ! $response instanceof BinaryFileResponse) {
            $response->setContent($output.$response->getContent());
            $output = '';
        }

        if ($output !== '') {
            $response->sendHeaders();
            echo $output;
            $response->sendContent();

            return;
        }

        $response->send();
    }

    /** Send a 500 for an error the application did not turn into a response. */
    public function error(Throwable $e, Application $app, Request $request, RequestContext $context): void
    {
        $this->plain(500, Octane::formatExceptionForClient($e, (bool) $app->make('config')->get('app.debug')));
    }

    /** A 500 for an error outside the application (marshalling the request). */
    public function internalError(): void
    {
        $this->plain(500, 'Internal server error.');
    }

    /** Ask the worker to stop after this request; ephpm boots a fresh one. */
    public function stop(): void
    {
        $this->stopping = true;
    }

    /** Whether stop() was called. */
    public function stopping(): bool
    {
        return $this->stopping;
    }

    protected function plain(int $status, string $body): void
    {
        if (headers_sent()) {
            return;
        }

        (new Response($body, $status, ['Content-Type' => 'text/plain; charset=utf-8']))->send();
    }
}
