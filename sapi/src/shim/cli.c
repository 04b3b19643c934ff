/*
 * `ephpm php`: what php-cli does for tooling (a script with arguments,
 * -r code, -l lint, -v, -m, -i), from the same binary and engine build the
 * server uses. The SAPI is named "cli" so scripts behave as under php-cli;
 * STDIN, STDOUT and STDERR exist.
 */
#include <php.h>
#include <php_main.h>
#include <SAPI.h>
#include <main/php_streams.h>
#include <php_variables.h>
#include <ext/standard/info.h>
#include <zend_extensions.h>

#include "ephpm_shim.h"

#define CLI_INI \
    "html_errors=0\n" \
    "display_errors=1\n" \
    "implicit_flush=1\n" \
    "output_buffering=0\n" \
    "max_execution_time=0\n" \
    "max_input_time=-1\n" \
    "register_argc_argv=1\n"

static size_t cli_ub_write(const char *str, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(STDOUT_FILENO, str + done, len - done);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            php_handle_aborted_connection();
            break;
        }
        done += (size_t)n;
    }
    return len;
}

static void cli_flush(void *server_context)
{
    (void)server_context;
}

static void cli_log_message(const char *message, int syslog_type)
{
    (void)syslog_type;
    fprintf(stderr, "%s\n", message);
}

static int cli_startup(sapi_module_struct *module)
{
    return php_module_startup(module, NULL);
}

static void cli_register_variables(zval *track_vars_array)
{
    php_import_environment_variables(track_vars_array);
    const char *script = SG(request_info).path_translated;
    size_t len = strlen(script);
    php_register_variable_safe("PHP_SELF", (char *)script, len, track_vars_array);
    php_register_variable_safe("SCRIPT_NAME", (char *)script, len, track_vars_array);
    php_register_variable_safe("SCRIPT_FILENAME", (char *)script, len, track_vars_array);
    php_register_variable_safe("PATH_TRANSLATED", (char *)script, len, track_vars_array);
    php_register_variable_safe("DOCUMENT_ROOT", "", 0, track_vars_array);
}

static sapi_module_struct cli_module = {
    .name = "cli",
    .pretty_name = "Command Line Interface (ephpm)",
    .startup = cli_startup,
    .shutdown = php_module_shutdown_wrapper,
    .ub_write = cli_ub_write,
    .flush = cli_flush,
    .sapi_error = php_error,
    .register_server_variables = cli_register_variables,
    .log_message = cli_log_message,
    .php_ini_ignore_cwd = 1,
    .phpinfo_as_text = 1,
};

static int module_name_cmp(Bucket *f, Bucket *s)
{
    return strcasecmp(((zend_module_entry *)Z_PTR(f->val))->name, ((zend_module_entry *)Z_PTR(s->val))->name);
}

static int extension_name_cmp(const zend_llist_element **f, const zend_llist_element **s)
{
    return strcmp(((zend_extension *)(*f)->data)->name, ((zend_extension *)(*s)->data)->name);
}

static void print_extension_name(zend_extension *ext)
{
    php_printf("%s\n", ext->name);
}

/* -m: the loaded modules and Zend extensions, sorted, as php-cli lists them. */
static void print_modules(void)
{
    HashTable sorted;
    zend_module_entry *module;
    php_printf("[PHP Modules]\n");
    zend_hash_init(&sorted, 64, NULL, NULL, 0);
    zend_hash_copy(&sorted, &module_registry, NULL);
    zend_hash_sort(&sorted, module_name_cmp, 0);
    ZEND_HASH_MAP_FOREACH_PTR(&sorted, module) {
        php_printf("%s\n", module->name);
    } ZEND_HASH_FOREACH_END();
    zend_hash_destroy(&sorted);
    php_printf("\n[Zend Modules]\n");
    zend_llist exts;
    zend_llist_copy(&exts, &zend_extensions);
    exts.dtor = NULL;
    zend_llist_sort(&exts, extension_name_cmp);
    zend_llist_apply(&exts, (llist_apply_func_t)print_extension_name);
    zend_llist_destroy(&exts);
    php_printf("\n");
}

/* Runs what mode asks inside the started request; returns the status. */
static int run_mode(int mode, const char *code, char *path)
{
    zend_file_handle fh;
    switch (mode) {
    case EPHPM_CLI_VERSION:
        php_print_version(&sapi_module);
        return 0;
    case EPHPM_CLI_MODULES:
        print_modules();
        return 0;
    case EPHPM_CLI_INFO:
        php_print_info(PHP_INFO_ALL & ~PHP_INFO_CREDITS);
        php_output_end_all();
        return 0;
    case EPHPM_CLI_CODE:
        zend_eval_string_ex((char *)code, NULL, "Command line code", 1);
        return EG(exit_status);
    case EPHPM_CLI_LINT: {
        zend_stream_init_filename(&fh, path);
        CG(skip_shebang) = 1;
        int ok = php_lint_script(&fh) == SUCCESS;
        zend_destroy_file_handle(&fh);
        if (ok) {
            zend_printf("No syntax errors detected in %s\n", path);
            return 0;
        }
        zend_printf("Errors parsing %s\n", path);
        return 255;
    }
    default:
        zend_stream_init_filename(&fh, path);
        fh.primary_script = 1;
        /* A "#!/usr/bin/env php" first line is not output, as php-cli does (artisan has one). */
        CG(skip_shebang) = 1;
        php_execute_script(&fh);
        zend_destroy_file_handle(&fh);
        return EG(exit_status);
    }
}

/* Defines STDIN, STDOUT and STDERR as php-cli does. */
static void register_std_handles(void)
{
    static const struct { const char *name; const char *url; const char *mode; } handles[] = {
        { "STDIN", "php://stdin", "rb" },
        { "STDOUT", "php://stdout", "wb" },
        { "STDERR", "php://stderr", "wb" },
    };
    for (size_t i = 0; i < 3; i++) {
        php_stream *s = php_stream_open_wrapper_ex(handles[i].url, handles[i].mode, 0, NULL, NULL);
        if (!s) {
            continue;
        }
        s->flags |= PHP_STREAM_FLAG_NO_CLOSE;
        zend_constant c;
        php_stream_to_zval(s, &c.value);
        Z_CONSTANT_FLAGS(c.value) = 0;
        ZEND_CONSTANT_SET_FLAGS(&c, CONST_CS, 0);
        c.name = zend_string_init_interned(handles[i].name, strlen(handles[i].name), 0);
        zend_register_constant(&c);
    }
}

int ephpm_cli_main(int mode, const char *code, int argc, char **argv, const char *ini_entries)
{
    int status = 0;
    size_t ini_len = strlen(CLI_INI) + (ini_entries ? strlen(ini_entries) : 0) + 1;
    char *ini = malloc(ini_len);

    snprintf(ini, ini_len, "%s%s", CLI_INI, ini_entries ? ini_entries : "");
#if defined(SIGPIPE) && defined(SIG_IGN)
    signal(SIGPIPE, SIG_IGN);
#endif
    php_tsrm_startup();
    ZEND_TSRMLS_CACHE_UPDATE();
    sapi_startup(&cli_module);
    sapi_module.ini_entries = ini;
    if (sapi_module.startup(&sapi_module) == FAILURE) {
        free(ini);
        return 1;
    }
    SG(options) |= SAPI_OPTION_NO_CHDIR;
    SG(request_info).argc = argc;
    SG(request_info).argv = argv;
    SG(request_info).path_translated = argv[0];
    zend_first_try {
        if (php_request_startup() == FAILURE) {
            status = 1;
        } else {
            SG(headers_sent) = 1;
            SG(request_info).no_headers = 1;
            register_std_handles();
            status = run_mode(mode, code, argv[0]);
        }
    } zend_catch {
        status = EG(exit_status) ? EG(exit_status) : 255;
    } zend_end_try();
    zend_try {
        php_request_shutdown(NULL);
    } zend_end_try();
    php_module_shutdown();
    sapi_shutdown();
    tsrm_shutdown();
    free(ini);
    return status;
}
