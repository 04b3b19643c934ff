/*
 * What the shim calls back into Rust (sapi/src/callbacks.rs). ctx is the
 * pointer given to ephpm_request_run. None of these unwinds or longjmps.
 */
#ifndef EPHPM_CALLBACKS_H
#define EPHPM_CALLBACKS_H

#include <stddef.h>

#include "ephpm_shim.h"

/* Output from the script. Returns len, or 0 when the client is gone. */
size_t ephpm_rs_write(void *ctx, const char *data, size_t len);
/* flush(): send what has been written so far. */
void ephpm_rs_flush(void *ctx);
/* One response header line ("Name: value"), in order. */
void ephpm_rs_header(void *ctx, const char *line, size_t len);
/* The headers are complete; status is the response code. */
void ephpm_rs_headers_done(void *ctx, int status);
/* Reads up to len bytes of the request body, fewer only at its end. */
size_t ephpm_rs_read_body(void *ctx, char *buf, size_t len);
/* Whether the body ended because it broke (client gone, timeout, too
 * large) rather than because it was complete. */
int ephpm_rs_body_aborted(void *ctx);
/* The request variable called name (getenv() in PHP), or NULL. */
const char *ephpm_rs_getenv(void *ctx, const char *name, size_t len);
/* A message for the server's log (error_log without a file). */
void ephpm_rs_log(void *ctx, const char *message);
/* ephpm_finish_request(): the response is complete. Returns 1 if this call
 * finished it, 0 if it was already finished. */
int ephpm_rs_finish(void *ctx);

/* Worker mode: waits for the thread's next request and sets *info and
 * *ctx for it (ctx then goes to the callbacks above). Returns 0 when the
 * worker must stop instead (shutdown, restart). */
int ephpm_rs_worker_next(void *worker, const ephpm_request_info **info, void **ctx);
/* Worker mode: the bound request's response is complete; memory is the
 * PHP memory in use after it. Returns 0 when the worker must stop now
 * (max_requests, max_memory, restart). */
int ephpm_rs_worker_done(void *worker, size_t memory);

/* Runs a KV command (argv[0] is its upper-case name) for the calling PHP
 * thread; returns the encoded reply (valid until the thread's next call)
 * and its length in *out_len. */
const char *ephpm_rs_kv(int argc, const char **argv, const size_t *lens, size_t *out_len);

#endif
