<?php

namespace Ephpm\Octane\Commands;

use Ephpm\Octane\ServerProcessInspector;
use Ephpm\Octane\ServerStateFile;
use Illuminate\Console\Command;

/** octane:ephpm-stop: stop the server; requests in flight finish first. */
class StopCommand extends Command
{
    public $signature = 'octane:ephpm-stop';

    public $description = 'Stop the ephpm Octane server';

    public function handle(): int
    {
        $state = ServerStateFile::for(base_path());
        if (! (new ServerProcessInspector($state))->stopServer()) {
            $this->error('Octane server is not running.');

            return 1;
        }
        $state->delete();
        $this->info('Octane server stopped.');

        return 0;
    }
}
