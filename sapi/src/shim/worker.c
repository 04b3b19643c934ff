/*
 * Worker mode: the worker script runs once, inside one long engine request,
 * and loops on ephpm_handle_request(). Each call waits for the thread's
 * next HTTP request (from Rust), binds it to the SAPI, re-imports the
 * superglobals, runs the handler, then sends the response and resets what
 * belongs to one request: headers, status, output buffers, the session
 * module, uploaded files, the request body.
 *
 * A fatal error, an uncaught exception or exit() inside the handler ends
 * the worker script: the bound request gets what was produced (500 for a
 * fatal error before any output, as PHP sets it) when the outer request
 * shuts down, and Rust boots the script again. Bailouts are caught with
 * zend_try around the script, never across Rust frames.
 */
#include <php.h>
#include <php_main.h>
#include <php_variables.h>
#include <php_output.h>
#include <SAPI.h>
#include <zend_exceptions.h>
#include <zend_execute.h>

#include "ephpm_shim.h"
#include "ephpm_callbacks.h"
#include "request.h"
#include "worker.h"

/* The Rust worker of this thread while its script runs, else NULL. */
static _Thread_local void *worker;
/* A request is bound and its handler runs. */
static _Thread_local int in_request;
/* How the worker script ended (EPHPM_WORKER_* of ephpm_shim.h). */
static _Thread_local int outcome;

int ephpm_worker_in_request(void)
{
    return in_request;
}

/* Modules whose request state lives per HTTP request, not per worker:
 * ended after each request and started again before the next, as
 * FrankenPHP does. The session module writes and closes its session here;
 * the filter module re-reads its input. */
static const char *const per_request_modules[] = { "session", "filter", NULL };

static void modules_request(int start)
{
    for (const char *const *name = per_request_modules; *name; name++) {
        zend_module_entry *m = zend_hash_str_find_ptr(&module_registry, *name, strlen(*name));
        if (!m) {
            continue;
        }
        if (start && m->request_startup_func) {
            m->request_startup_func(m->type, m->module_number);
        } else if (!start && m->request_shutdown_func) {
            m->request_shutdown_func(m->type, m->module_number);
        }
    }
}

/* Builds $_GET, $_POST, $_COOKIE, $_FILES, $_SERVER and $_REQUEST for the
 * bound request. Running every auto global's callback (the just-in-time
 * ones too: the handler was compiled long ago, so compile-time arming
 * would never happen again) replaces each array; $_ENV stays the
 * process's. $_FILES is emptied first: the upload parser adds to an
 * existing array. */
static void import_superglobals(void)
{
    zval *files = &PG(http_globals)[TRACK_VARS_FILES];
    zval_ptr_dtor_nogc(files);
    ZVAL_UNDEF(files);

    zend_string *env = ZSTR_KNOWN(ZEND_STR_AUTOGLOBAL_ENV);
    zend_auto_global *ag;
    ZEND_HASH_MAP_FOREACH_PTR(CG(auto_globals), ag) {
        if (zend_string_equals(ag->name, env)) {
            continue;
        }
        ag->armed = ag->auto_global_callback ? ag->auto_global_callback(ag->name) : 0;
    } ZEND_HASH_FOREACH_END();
}

/* What php_request_startup does per request, inside the worker's request:
 * output layer, SAPI state (reads a form body, cookies), the headers PHP
 * adds, output buffering, superglobals, per-request modules. */
static zend_result request_startup(const ephpm_request_info *info, void *ctx)
{
    zend_result ok = SUCCESS;
    ephpm_bind_request(info, ctx);
    zend_try {
        php_output_activate();
        PG(header_is_being_sent) = 0;
        PG(connection_status) = PHP_CONNECTION_NORMAL;
        sapi_activate();
        SG(request_info).proto_num = info->proto_num;
        SG(sapi_headers).http_response_code = 200;
        if (PG(expose_php)) {
            sapi_add_header(SAPI_PHP_VERSION_HEADER, sizeof(SAPI_PHP_VERSION_HEADER) - 1, 1);
        }
        if (PG(output_handler) && PG(output_handler)[0]) {
            zval oh;
            ZVAL_STRING(&oh, PG(output_handler));
            php_output_start_user(&oh, 0, PHP_OUTPUT_HANDLER_STDFLAGS);
            zval_ptr_dtor(&oh);
        } else if (PG(output_buffering)) {
            php_output_start_user(NULL, PG(output_buffering) > 1 ? PG(output_buffering) : 0, PHP_OUTPUT_HANDLER_STDFLAGS);
        } else if (PG(implicit_flush)) {
            php_output_set_implicit_flush(1);
        }
        import_superglobals();
        modules_request(1);
    } zend_catch {
        ok = FAILURE;
    } zend_end_try();
    return ok;
}

/* Ends the bound request: output buffers flushed, headers sent, the
 * per-request modules ended, SAPI state freed (headers, uploaded temp
 * files, the request body), the memory limit restored. */
static void request_shutdown(void)
{
    zend_try {
        php_output_end_all();
    } zend_end_try();
    zend_try {
        modules_request(0);
    } zend_end_try();
    zend_try {
        php_output_deactivate();
    } zend_end_try();
    /* The body's temporary stream would otherwise live as long as the
     * worker; a php://input handle does not outlive its request. */
    if (SG(request_info).request_body) {
        php_stream_close(SG(request_info).request_body);
        SG(request_info).request_body = NULL;
    }
    zend_try {
        sapi_deactivate();
    } zend_end_try();
    /* sapi_deactivate frees these without forgetting them, and the next
     * sapi_activate resets content_type_dup only for a request that is not
     * a POST: left alone, the worker's own request end (a restart) would
     * free a POST's content type a second time and corrupt the heap. */
    SG(request_info).content_type_dup = NULL;
    SG(request_info).current_user = NULL;
    ephpm_unbind_request();
    zend_set_memory_limit(PG(memory_limit));
}

/* Runs the handler; returns with EG(exception) set if it threw. */
static void call_handler(zend_fcall_info *fci, zend_fcall_info_cache *fcc)
{
    zval retval;
    ZVAL_UNDEF(&retval);
    fci->retval = &retval;
    if (zend_call_function(fci, fcc) == SUCCESS) {
        zval_ptr_dtor(&retval);
    }
}

static void handle_request(INTERNAL_FUNCTION_PARAMETERS)
{
    zend_fcall_info fci;
    zend_fcall_info_cache fcc;
    ZEND_PARSE_PARAMETERS_START(1, 1)
        Z_PARAM_FUNC(fci, fcc)
    ZEND_PARSE_PARAMETERS_END();

    if (!worker) {
        zend_throw_error(NULL, "%s() works only in a worker script (php.worker.script)",
                         get_active_function_name());
        RETURN_THROWS();
    }
    if (in_request) {
        zend_throw_error(NULL, "%s() cannot be called from inside a request handler", get_active_function_name());
        RETURN_THROWS();
    }
    /* No time limit while waiting for a request. */
    zend_unset_timeout();
    const ephpm_request_info *info = NULL;
    void *ctx = NULL;
    if (!ephpm_rs_worker_next(worker, &info, &ctx)) {
        RETURN_FALSE;
    }
    in_request = 1;
    if (request_startup(info, ctx) == FAILURE) {
        /* A fatal error while reading the form body: the worker's state is
         * unknown, so the script ends and the request is answered. */
        outcome = EPHPM_WORKER_CRASHED;
        zend_bailout();
    }
    zend_set_timeout(zend_ini_long("max_execution_time", sizeof("max_execution_time") - 1, 0), 0);
    call_handler(&fci, &fcc);
    if (EG(exception)) {
        if (zend_is_unwind_exit(EG(exception)) || zend_is_graceful_exit(EG(exception))) {
            /* exit(): the script unwinds and ends; the request, still
             * bound, is finished when the worker's request shuts down. */
            outcome = EPHPM_WORKER_EXITED;
            RETURN_FALSE;
        }
        /* As an uncaught exception at the top of a script: logged, 500. */
        outcome = EPHPM_WORKER_CRASHED;
        zend_exception_error(EG(exception), E_ERROR);
        zend_bailout();
    }
    zend_unset_timeout();
    size_t memory = zend_memory_usage(false);
    request_shutdown();
    in_request = 0;
    RETURN_BOOL(ephpm_rs_worker_done(worker, memory));
}

PHP_FUNCTION(ephpm_handle_request)
{
    handle_request(INTERNAL_FUNCTION_PARAM_PASSTHRU);
}

PHP_FUNCTION(frankenphp_handle_request)
{
    handle_request(INTERNAL_FUNCTION_PARAM_PASSTHRU);
}

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_handle_request, 0, 1, _IS_BOOL, 0)
    ZEND_ARG_TYPE_INFO(0, handler, IS_CALLABLE, 0)
ZEND_END_ARG_INFO()

ZEND_BEGIN_ARG_WITH_RETURN_TYPE_INFO_EX(arginfo_finish_request, 0, 0, _IS_BOOL, 0)
ZEND_END_ARG_INFO()

ZEND_FUNCTION(ephpm_finish_request);

const zend_function_entry ephpm_worker_functions[] = {
    ZEND_FE(ephpm_handle_request, arginfo_handle_request)
    ZEND_FE_END
};

const zend_function_entry ephpm_frankenphp_functions[] = {
    ZEND_FE(frankenphp_handle_request, arginfo_handle_request)
    ZEND_FALIAS(frankenphp_finish_request, ephpm_finish_request, arginfo_finish_request)
    ZEND_FE_END
};

/* True when the last error is PHP's time limit ("Maximum execution time
 * of N seconds exceeded"). */
static int timed_out(void)
{
    return PG(last_error_message) && strstr(ZSTR_VAL(PG(last_error_message)), "Maximum execution time") != NULL;
}

int ephpm_worker_run(const ephpm_request_info *boot, void *w, long boot_timeout)
{
    zend_file_handle fh;
    bool ok = false;

    worker = w;
    in_request = 0;
    outcome = EPHPM_WORKER_RETURNED;
    /* The script boots with no client: its output goes nowhere and its
     * $_SERVER comes from the boot request's variables. */
    ephpm_bind_request(boot, NULL);
    if (php_request_startup() == FAILURE) {
        ephpm_end_request();
        worker = NULL;
        return EPHPM_WORKER_BOOT_FAILED;
    }
    zend_set_timeout(boot_timeout, 0);
    zend_stream_init_filename(&fh, boot->script_filename);
    fh.primary_script = 1;
    /* php_execute_script catches bailouts itself and returns false. */
    zend_first_try {
        ok = php_execute_script(&fh);
    } zend_end_try();
    zend_destroy_file_handle(&fh);
    if (!ok) {
        if (timed_out()) {
            outcome = EPHPM_WORKER_TIMED_OUT;
        } else if (outcome == EPHPM_WORKER_RETURNED) {
            outcome = in_request ? EPHPM_WORKER_CRASHED : EPHPM_WORKER_BOOT_FAILED;
        }
    }
    /* A request still bound (the script died in its handler) receives
     * the output so far and the headers as the engine shuts down. */
    in_request = 0;
    ephpm_end_request();
    worker = NULL;
    return outcome;
}
