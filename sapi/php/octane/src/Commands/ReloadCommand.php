<?php

namespace Ephpm\Octane\Commands;

use Ephpm\Octane\ServerProcessInspector;
use Ephpm\Octane\ServerStateFile;
use Illuminate\Console\Command;

/** octane:ephpm-reload: restart the workers one thread at a time, each after its request. */
class ReloadCommand extends Command
{
    public $signature = 'octane:ephpm-reload';

    public $description = 'Restart the ephpm Octane workers one thread at a time';

    public function handle(): int
    {
        $inspector = new ServerProcessInspector(ServerStateFile::for(base_path()));
        if (! $inspector->serverIsRunning()) {
            $this->error('Octane server is not running.');

            return 1;
        }
        $inspector->reloadServer();
        $this->info('Reloading workers...');

        return 0;
    }
}
