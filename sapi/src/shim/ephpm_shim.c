/*
 * The C side of ephpm's PHP boundary. Every entry into the engine is
 * wrapped in zend_try/zend_catch here, so a bailout (fatal error, exit(),
 * timeout) longjmps only within this file and never across Rust frames.
 */
#include <php.h>
#include <php_main.h>
#include <SAPI.h>
#include <sapi/embed/php_embed.h>

ZEND_TSRMLS_CACHE_DEFINE()

typedef void (*ephpm_output_fn)(void *ctx, const char *data, size_t len);

/* Where the running request's output goes (one request per thread). */
static _Thread_local ephpm_output_fn out_fn;
static _Thread_local void *out_ctx;

static size_t ephpm_ub_write(const char *str, size_t len)
{
    if (out_fn) {
        out_fn(out_ctx, str, len);
    }
    return len;
}

static void ephpm_log_message(const char *message, int syslog_type)
{
    (void)syslog_type;
    fprintf(stderr, "php: %s\n", message);
}

/* Starts the engine once per process. Returns 0 on success. */
int ephpm_php_startup(void)
{
    php_embed_module.ub_write = ephpm_ub_write;
    php_embed_module.log_message = ephpm_log_message;
    php_embed_module.name = "ephpm";
    php_embed_module.pretty_name = "ephpm";
    if (php_embed_init(0, NULL) != SUCCESS) {
        return -1;
    }
    ZEND_TSRMLS_CACHE_UPDATE();
    /* php_embed_init opened a request; ours open and close their own. */
    php_request_shutdown(NULL);
    return 0;
}

/*
 * Runs one script as one request on the calling (startup) thread. Output
 * goes to fn(ctx, ...). Returns the exit status: exit(N) gives N, a fatal
 * error 255; -1 when the request could not start.
 */
int ephpm_php_run_script(const char *path, ephpm_output_fn fn, void *ctx)
{
    int status = 0;
    zend_file_handle fh;

    out_fn = fn;
    out_ctx = ctx;
    if (php_request_startup() == FAILURE) {
        out_fn = NULL;
        return -1;
    }
    zend_stream_init_filename(&fh, path);
    zend_first_try {
        php_execute_script(&fh);
        status = EG(exit_status);
    } zend_catch {
        status = EG(exit_status) ? EG(exit_status) : 255;
    } zend_end_try();
    zend_destroy_file_handle(&fh);
    zend_try {
        php_request_shutdown(NULL);
    } zend_end_try();
    out_fn = NULL;
    out_ctx = NULL;
    return status;
}

/* PHP_VERSION of the linked engine. */
const char *ephpm_php_version(void)
{
    return PHP_VERSION;
}
