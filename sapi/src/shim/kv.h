/* The ephpm_kv_* PHP functions (kv.c), registered with the SAPI's. */
#ifndef EPHPM_KV_H
#define EPHPM_KV_H

#include <php.h>

extern const zend_function_entry ephpm_kv_functions[];

#endif
