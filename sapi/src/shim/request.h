/* The running request as the SAPI sees it (engine.c), for the worker
 * loop (worker.c), which binds one request after another inside the
 * long-lived request of its worker script. */
#ifndef EPHPM_REQUEST_H
#define EPHPM_REQUEST_H

#include "ephpm_shim.h"

/* Makes info/ctx the request the SAPI callbacks serve (output, headers,
 * body, $_SERVER) and fills SG(request_info) from info. */
void ephpm_bind_request(const ephpm_request_info *info, void *ctx);

/* Forgets the bound request: output and headers go nowhere after this. */
void ephpm_unbind_request(void);

/* Shuts the engine's request down (php_request_shutdown), whatever is
 * bound receiving its last output, then unbinds. */
void ephpm_end_request(void);

/* Whether a worker-mode request is being handled on this thread: a gone
 * client then only marks the connection aborted, since bailing out would
 * end the whole worker, not just this request. */
int ephpm_worker_in_request(void);

#endif
