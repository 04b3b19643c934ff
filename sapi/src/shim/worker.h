/* Worker mode (worker.c): ephpm_handle_request() and its FrankenPHP
 * aliases, registered with the SAPI's functions. */
#ifndef EPHPM_WORKER_H
#define EPHPM_WORKER_H

#include <php.h>

/* ephpm_handle_request. */
extern const zend_function_entry ephpm_worker_functions[];
/* frankenphp_handle_request and frankenphp_finish_request
 * (php.worker.frankenphp_compat). */
extern const zend_function_entry ephpm_frankenphp_functions[];

#endif
