<?php

namespace Ephpm\Octane\Commands;

use Ephpm\Octane\ServerProcessInspector;
use Ephpm\Octane\ServerStateFile;
use Illuminate\Console\Command;

/** octane:ephpm-status: whether the server octane:ephpm started is running. */
class StatusCommand extends Command
{
    public $signature = 'octane:ephpm-status';

    public $description = 'Report whether the ephpm Octane server is running';

    public function handle(): int
    {
        if ((new ServerProcessInspector(ServerStateFile::for(base_path())))->serverIsRunning()) {
            $this->info('Octane server is running.');

            return 0;
        }
        $this->info('Octane server is not running.');

        return 1;
    }
}
