/*
 * The C API of ephpm's PHP shim: what Rust calls. Bindings are generated
 * from this header by sapi/build.rs (bindgen). Every function that enters
 * the engine contains bailouts with zend_try, so no longjmp crosses Rust.
 */
#ifndef EPHPM_SHIM_H
#define EPHPM_SHIM_H

#include <stddef.h>
#include <stdint.h>

/* One $_SERVER entry: offsets into the request's arena of its
 * NUL-terminated name and of its value (value_len bytes, NUL after). */
typedef struct ephpm_var {
    uint32_t name;
    uint32_t value;
    uint32_t value_len;
} ephpm_var;

/* What a request is, as the SAPI needs it. Strings are NUL-terminated and
 * live for the whole request; optional ones are NULL when absent. */
typedef struct ephpm_request_info {
    const char *method;
    const char *request_uri;
    const char *query_string;
    const char *script_filename;
    const char *path_translated;
    const char *content_type;
    /* -1 when the request has no Content-Length. */
    int64_t content_length;
    /* 1000 for HTTP/1.0, 1001 for HTTP/1.1. */
    int proto_num;
    const char *authorization;
    const char *cookies;
    /* Unix time at which the request arrived. */
    double request_time;
    /* $_SERVER entries, registered by the shim (so that a PHP error while
     * registering never unwinds through Rust). */
    const char *arena;
    const ephpm_var *vars;
    size_t var_count;
} ephpm_request_info;

/* Starts the engine for serving, once per process, on the calling thread.
 * ini_entries: "key=value\n" lines applied over php.ini; frankenphp_compat:
 * also register FrankenPHP's worker functions. Returns 0 on success. */
int ephpm_engine_start(const char *ini_entries, int frankenphp_compat);

/* Shuts the engine down after every PHP thread has stopped. */
void ephpm_engine_stop(void);

/* Gives the calling thread its own engine context (TSRM). */
void ephpm_thread_start(void);

/* Frees the calling thread's engine context. */
void ephpm_thread_stop(void);

/* Runs one request on the calling PHP thread; ctx is handed back to the
 * ephpm_rs_* callbacks. Returns 0, or -1 when the request could not
 * start (the client should get 500). */
int ephpm_request_run(const ephpm_request_info *info, void *ctx);

/* How a worker script ended. */
enum {
    /* It returned (its loop ended: told to stop, or on its own). */
    EPHPM_WORKER_RETURNED = 0,
    /* It could not be opened or compiled, or the engine request failed. */
    EPHPM_WORKER_BOOT_FAILED = 1,
    /* A fatal error or an uncaught exception. */
    EPHPM_WORKER_CRASHED = 2,
    /* exit() inside a request handler. */
    EPHPM_WORKER_EXITED = 3,
    /* PHP's time limit (php.worker.boot_timeout, max_execution_time). */
    EPHPM_WORKER_TIMED_OUT = 4,
};

/* Runs the worker script boot->script_filename in one engine request on
 * the calling PHP thread, with boot's $_SERVER and a time limit of
 * boot_timeout seconds until it first waits for a request. w is handed to
 * ephpm_rs_worker_next/_done. Returns an EPHPM_WORKER_* code. */
int ephpm_worker_run(const ephpm_request_info *boot, void *w, long boot_timeout);

/* What `ephpm php` does, as php-cli's options. */
enum {
    /* Run the script argv[0] with its arguments. */
    EPHPM_CLI_SCRIPT = 0,
    /* -r: run code; argv[0] is "Standard input code". */
    EPHPM_CLI_CODE = 1,
    /* -v */
    EPHPM_CLI_VERSION = 2,
    /* -m */
    EPHPM_CLI_MODULES = 3,
    /* -i */
    EPHPM_CLI_INFO = 4,
    /* -l: check the syntax of argv[0]. */
    EPHPM_CLI_LINT = 5,
};

/* Runs as php-cli would, in mode (an EPHPM_CLI_* value); code is -r's
 * code (else NULL); argv[0] is the script (or a stand-in), the rest its
 * arguments. Output goes to stdout. Returns the exit status. */
int ephpm_cli_main(int mode, const char *code, int argc, char **argv, const char *ini_entries);

/* Peak PHP memory (bytes) of the calling thread's last request. */
size_t ephpm_request_peak_memory(void);

/* PHP_VERSION of the linked engine. */
const char *ephpm_php_version(void);

#endif
