/*
 * The ephpm SAPI: engine start and stop, per-thread contexts, and one
 * request from php_request_startup to php_request_shutdown. Bailouts
 * (fatal errors, exit(), timeouts) are caught here with zend_try, so they
 * never longjmp across Rust frames.
 */
#include <php.h>
#include <php_main.h>
#include <php_variables.h>
#include <SAPI.h>
#include <ext/standard/info.h>

#include "ephpm_shim.h"
#include "ephpm_callbacks.h"
#include "kv.h"
#include "request.h"
#include "session.h"
#include "worker.h"


ZEND_TSRMLS_CACHE_DEFINE()

/* The running request's Rust context (one request per thread at a time). */
static _Thread_local void *req_ctx;
static _Thread_local const ephpm_request_info *req_info;
/* Peak PHP memory of this thread's last request. */
static _Thread_local size_t last_peak_memory;

/* The client is gone. A classic request lets PHP decide by
 * ignore_user_abort whether the script goes on (it may bail out from
 * here); a worker's request only notes it: a bailout would end the whole
 * worker, not just this request. */
static void client_gone(void)
{
    if (ephpm_worker_in_request()) {
        PG(connection_status) |= PHP_CONNECTION_ABORTED;
    } else {
        php_handle_aborted_connection();
    }
}

static size_t ephpm_ub_write(const char *str, size_t len)
{
    if (!req_ctx) {
        return len;
    }
    if (ephpm_rs_write(req_ctx, str, len) == 0 && len > 0) {
        client_gone();
    }
    return len;
}

static void ephpm_flush(void *server_context)
{
    if (!server_context) {
        return;
    }
    if (!SG(headers_sent)) {
        sapi_send_headers();
    }
    ephpm_rs_flush(server_context);
}

static int ephpm_send_headers(sapi_headers_struct *headers)
{
    if (!req_ctx) {
        return SAPI_HEADER_SENT_SUCCESSFULLY;
    }
    zend_llist_position pos;
    sapi_header_struct *h = zend_llist_get_first_ex(&headers->headers, &pos);
    while (h) {
        ephpm_rs_header(req_ctx, h->header, h->header_len);
        h = zend_llist_get_next_ex(&headers->headers, &pos);
    }
    ephpm_rs_headers_done(req_ctx, headers->http_response_code ? headers->http_response_code : 200);
    return SAPI_HEADER_SENT_SUCCESSFULLY;
}

static size_t ephpm_read_post(char *buf, size_t len)
{
    if (!req_ctx) {
        return 0;
    }
    size_t n = ephpm_rs_read_body(req_ctx, buf, len);
    /* A cut-off body is never passed off as complete. While the request
     * starts (PHP reading a form body) the script is simply not run (see
     * ephpm_request_run): bailing out of start-up would leave the engine
     * half set up. Later (php://input) the request is aborted, and PHP
     * bails out unless ignore_user_abort is set. */
    if (n < len && !PG(during_request_startup) && ephpm_rs_body_aborted(req_ctx)) {
        client_gone();
    }
    return n;
}

static char *ephpm_read_cookies(void)
{
    return req_info ? (char *)req_info->cookies : NULL;
}

static void ephpm_register_variables(zval *track_vars_array)
{
    if (!req_info) {
        return;
    }
    for (size_t i = 0; i < req_info->var_count; i++) {
        const ephpm_var *v = &req_info->vars[i];
        char *name = (char *)req_info->arena + v->name;
        char *val = (char *)req_info->arena + v->value;
        size_t new_len;
        /* The input filter (ext/filter) may replace the value, as in
         * php-fpm. */
        if (sapi_module.input_filter(PARSE_SERVER, name, &val, v->value_len, &new_len)) {
            php_register_variable_safe(name, val, new_len, track_vars_array);
        }
    }
}

static char *ephpm_getenv(const char *name, size_t len)
{
    return req_ctx ? (char *)ephpm_rs_getenv(req_ctx, name, len) : NULL;
}

static void ephpm_log_message(const char *message, int syslog_type)
{
    (void)syslog_type;
    ephpm_rs_log(req_ctx, message);
}

static zend_result ephpm_get_request_time(double *t)
{
    if (!req_info) {
        return FAILURE;
    }
    *t = req_info->request_time;
    return SUCCESS;
}

/* opcache enables itself only under SAPIs it knows (ZendAccelerator.c,
 * accel_find_sapi). Its check runs during extension startup, after
 * PHP_SAPI was registered and after php.ini was read, which is when PHP
 * calls this hook: the name it sees is php-fpm's, the name scripts see
 * (PHP_SAPI, php_sapi_name()) is ours once startup is over. */
static void ephpm_ini_defaults(HashTable *configuration_hash)
{
    (void)configuration_hash;
    sapi_module.name = "fpm-fcgi";
}

static int ephpm_startup(sapi_module_struct *module)
{
    return php_module_startup(module, NULL);
}

PHP_FUNCTION(ephpm_finish_request)
{
    ZEND_PARSE_PARAMETERS_NONE();
    if (!req_ctx) {
        RETURN_FALSE;
    }
    php_output_end_all();
    php_header();
    RETURN_BOOL(ephpm_rs_finish(req_ctx));
}

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_ephpm_finish_request, 0, 0, _IS_BOOL, 0)
ZEND_END_ARG_INFO()

static const zend_function_entry ephpm_functions[] = {
    ZEND_FE(ephpm_finish_request, arginfo_ephpm_finish_request)
    /* Frameworks (Symfony, Laravel) call this when it exists. */
    ZEND_FALIAS(fastcgi_finish_request, ephpm_finish_request, arginfo_ephpm_finish_request)
    ZEND_FE_END
};

static sapi_module_struct ephpm_module = {
    .name = "ephpm",
    .pretty_name = "ephpm",
    .startup = ephpm_startup,
    .shutdown = php_module_shutdown_wrapper,
    .ub_write = ephpm_ub_write,
    .flush = ephpm_flush,
    .getenv = ephpm_getenv,
    .sapi_error = php_error,
    .send_headers = ephpm_send_headers,
    .read_post = ephpm_read_post,
    .read_cookies = ephpm_read_cookies,
    .register_server_variables = ephpm_register_variables,
    .log_message = ephpm_log_message,
    .get_request_time = ephpm_get_request_time,
    .ini_defaults = ephpm_ini_defaults,
    .php_ini_ignore_cwd = 1,
};

static char *ini_copy;
static zend_function_entry *all_functions;

static size_t count_functions(const zend_function_entry *t)
{
    size_t n = 0;
    while (t[n].fname) {
        n++;
    }
    return n;
}

/* The SAPI's own functions, the worker functions (with FrankenPHP's names
 * when asked), then the KV functions, as one table. */
static const zend_function_entry *function_table(int frankenphp_compat)
{
    const zend_function_entry *parts[] = {
        ephpm_functions, ephpm_worker_functions, frankenphp_compat ? ephpm_frankenphp_functions : NULL,
        ephpm_kv_functions,
    };
    size_t total = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        total += parts[i] ? count_functions(parts[i]) : 0;
    }
    all_functions = calloc(total + 1, sizeof(zend_function_entry));
    size_t at = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (parts[i]) {
            size_t n = count_functions(parts[i]);
            memcpy(all_functions + at, parts[i], n * sizeof(zend_function_entry));
            at += n;
        }
    }
    return all_functions;
}

int ephpm_engine_start(const char *ini_entries, int frankenphp_compat)
{
#if defined(SIGPIPE) && defined(SIG_IGN)
    signal(SIGPIPE, SIG_IGN);
#endif
    php_tsrm_startup();
    ZEND_TSRMLS_CACHE_UPDATE();
    /* Before start-up, so that session.save_handler = ephpm in the ini
     * settings finds it. */
    ephpm_session_register();
    sapi_startup(&ephpm_module);
    /* sapi_startup reset these; PHP keeps the pointer, so keep the copy. */
    ini_copy = strdup(ini_entries ? ini_entries : "");
    sapi_module.ini_entries = ini_copy;
    sapi_module.additional_functions = function_table(frankenphp_compat);
    if (sapi_module.startup(&sapi_module) == FAILURE) {
        return -1;
    }
    sapi_module.name = "ephpm";
    return 0;
}

void ephpm_engine_stop(void)
{
    php_module_shutdown();
    sapi_shutdown();
    tsrm_shutdown();
    free(ini_copy);
    ini_copy = NULL;
    free(all_functions);
    all_functions = NULL;
}

void ephpm_thread_start(void)
{
    (void)ts_resource(0);
    ZEND_TSRMLS_CACHE_UPDATE();
}

void ephpm_thread_stop(void)
{
    ts_free_thread();
}

static void init_request_info(const ephpm_request_info *info, void *ctx)
{
    SG(server_context) = ctx;
    SG(request_info).request_method = info->method;
    SG(request_info).request_uri = (char *)info->request_uri;
    SG(request_info).query_string = (char *)info->query_string;
    SG(request_info).path_translated = (char *)info->script_filename;
    SG(request_info).content_type = info->content_type;
    SG(request_info).content_length = info->content_length;
    SG(request_info).proto_num = info->proto_num;
    SG(sapi_headers).http_response_code = 200;
    /* Basic and Digest credentials become PHP_AUTH_*, as in php-fpm. */
    php_handle_auth_data(info->authorization);
}

void ephpm_bind_request(const ephpm_request_info *info, void *ctx)
{
    req_ctx = ctx;
    req_info = info;
    init_request_info(info, ctx);
}

void ephpm_unbind_request(void)
{
    SG(server_context) = NULL;
    req_ctx = NULL;
    req_info = NULL;
}

/* Shuts the request down (output flushed, headers sent, shutdown
 * functions and destructors run, memory freed: the next request starts
 * clean) and forgets it. */
void ephpm_end_request(void)
{
    /* Read before shutdown resets the memory manager's peak. */
    last_peak_memory = zend_memory_peak_usage(false);
    zend_try {
        php_request_shutdown(NULL);
    } zend_end_try();
    ephpm_unbind_request();
}

int ephpm_request_run(const ephpm_request_info *info, void *ctx)
{
    zend_file_handle fh;

    ephpm_bind_request(info, ctx);
    if (php_request_startup() == FAILURE) {
        /* Start-up bailed out part-way (an aborted or broken body, a fatal
         * error while parsing it): shut down what started. */
        ephpm_end_request();
        return -1;
    }
    if (ephpm_rs_body_aborted(ctx)) {
        /* The body broke while PHP read it: the client is gone or gets an
         * error from the connection; the script must not act on half a
         * form. */
        PG(connection_status) = PHP_CONNECTION_ABORTED;
    } else {
        zend_stream_init_filename(&fh, info->script_filename);
        fh.primary_script = 1;
        zend_first_try {
            php_execute_script(&fh);
        } zend_end_try();
        zend_destroy_file_handle(&fh);
    }
    ephpm_end_request();
    return 0;
}

size_t ephpm_request_peak_memory(void)
{
    return last_peak_memory;
}

const char *ephpm_php_version(void)
{
    return PHP_VERSION;
}
