/*
 * session.save_handler = ephpm: PHP sessions in the in-process KV store.
 * The data lives under "PHPSESSION:<id>" with session.gc_maxlifetime as
 * its TTL (so no gc pass is needed), and a request holds the session's
 * lock ("PHPSESSION-LOCK:<id>", taken with SET NX PX) from read to close,
 * as the files handler holds its flock: a second request for the same
 * session waits for the first.
 */
#include <php.h>
#include <ext/session/php_session.h>

#include "ephpm_callbacks.h"
#include "session.h"

/* Longest a request waits for a session lock. A lock lives at most as
 * long as its request may run (max_execution_time, plus a margin; 10
 * minutes without a limit) in case its holder never releases it. */
#define LOCK_WAIT_MS 30000

/* A decoded reply: its tag ('n', 's', 't', 'i', 'e', 'a') and bytes. */
struct reply {
    char tag;
    const char *data;
    size_t len;
};

static struct reply kv(int argc, const char **argv, const size_t *lens)
{
    size_t len = 0;
    const char *buf = ephpm_rs_kv(argc, argv, lens, &len);
    struct reply r = { 'n', NULL, 0 };
    if (len == 0) {
        return r;
    }
    r.tag = buf[0];
    if ((r.tag == 's' || r.tag == 't' || r.tag == 'e') && len >= 9) {
        uint64_t n;
        memcpy(&n, buf + 1, 8);
        if (n <= len - 9) {
            r.data = buf + 9;
            r.len = (size_t)n;
        }
    }
    return r;
}

/* What one request keeps between open and close. */
struct ephpm_session {
    zend_string *lock_key;
    char token[64];
};

static zend_string *key_of(const char *prefix, zend_string *id)
{
    return zend_strpprintf(0, "%s:%s", prefix, ZSTR_VAL(id));
}

PS_OPEN_FUNC(ephpm)
{
    struct ephpm_session *s = ecalloc(1, sizeof *s);
    PS_SET_MOD_DATA(s);
    return SUCCESS;
}

static void unlock(struct ephpm_session *s)
{
    if (!s->lock_key) {
        return;
    }
    /* Only our own lock is released (it may have expired and been taken):
     * one compare-and-delete on the key's core. */
    const char *del[] = { "DELIFEQ", ZSTR_VAL(s->lock_key), s->token };
    size_t del_l[] = { 7, ZSTR_LEN(s->lock_key), strlen(s->token) };
    kv(3, del, del_l);
    zend_string_release(s->lock_key);
    s->lock_key = NULL;
}

PS_CLOSE_FUNC(ephpm)
{
    struct ephpm_session *s = PS_GET_MOD_DATA();
    if (s) {
        unlock(s);
        efree(s);
        PS_SET_MOD_DATA(NULL);
    }
    return SUCCESS;
}

/* Takes the session's lock, waiting while another request holds it. */
static zend_result lock(struct ephpm_session *s, zend_string *id)
{
    static _Atomic unsigned long counter;
    snprintf(s->token, sizeof s->token, "%lx-%lx", (unsigned long)getpid(), ++counter);
    s->lock_key = key_of("PHPSESSION-LOCK", id);
    zend_long limit = INI_INT("max_execution_time");
    char ttl[24];
    snprintf(ttl, sizeof ttl, ZEND_LONG_FMT, limit > 0 ? (limit + 30) * 1000 : 600000);
    const char *set[] = { "SET", ZSTR_VAL(s->lock_key), s->token, "NX", "PX", ttl };
    size_t set_l[] = { 3, ZSTR_LEN(s->lock_key), strlen(s->token), 2, 2, strlen(ttl) };
    for (int waited = 0; waited < LOCK_WAIT_MS; waited += 2) {
        struct reply r = kv(6, set, set_l);
        if (r.tag == 't') {
            return SUCCESS;
        }
        if (r.tag == 'e') {
            break;
        }
        usleep(2000);
    }
    zend_string_release(s->lock_key);
    s->lock_key = NULL;
    php_error_docref(NULL, E_WARNING, "Timed out waiting for the lock of session %s", ZSTR_VAL(id));
    return FAILURE;
}

PS_READ_FUNC(ephpm)
{
    struct ephpm_session *s = PS_GET_MOD_DATA();
    if (!s->lock_key && lock(s, key) == FAILURE) {
        return FAILURE;
    }
    zend_string *k = key_of("PHPSESSION", key);
    const char *get[] = { "GET", ZSTR_VAL(k) };
    size_t get_l[] = { 3, ZSTR_LEN(k) };
    struct reply r = kv(2, get, get_l);
    zend_string_release(k);
    if (r.tag == 's') {
        *val = zend_string_init(r.data, r.len, 0);
    } else {
        *val = ZSTR_EMPTY_ALLOC();
    }
    return SUCCESS;
}

PS_WRITE_FUNC(ephpm)
{
    zend_string *k = key_of("PHPSESSION", key);
    char ttl[24];
    snprintf(ttl, sizeof ttl, ZEND_LONG_FMT, maxlifetime > 0 ? maxlifetime : 1440);
    const char *set[] = { "SET", ZSTR_VAL(k), ZSTR_VAL(val), "EX", ttl };
    size_t set_l[] = { 3, ZSTR_LEN(k), ZSTR_LEN(val), 2, strlen(ttl) };
    struct reply r = kv(5, set, set_l);
    zend_string_release(k);
    return r.tag == 't' ? SUCCESS : FAILURE;
}

PS_DESTROY_FUNC(ephpm)
{
    zend_string *k = key_of("PHPSESSION", key);
    const char *del[] = { "DEL", ZSTR_VAL(k) };
    size_t del_l[] = { 3, ZSTR_LEN(k) };
    kv(2, del, del_l);
    zend_string_release(k);
    return SUCCESS;
}

PS_GC_FUNC(ephpm)
{
    /* Expired sessions are removed by their TTL. */
    *nrdels = 0;
    return 0;
}

PS_CREATE_SID_FUNC(ephpm)
{
    return php_session_create_id(mod_data);
}

/* session.use_strict_mode: only ids of existing sessions are accepted. */
PS_VALIDATE_SID_FUNC(ephpm)
{
    zend_string *k = key_of("PHPSESSION", key);
    const char *ex[] = { "EXISTS", ZSTR_VAL(k) };
    size_t ex_l[] = { 6, ZSTR_LEN(k) };
    size_t len = 0;
    const char *buf = ephpm_rs_kv(2, ex, ex_l, &len);
    zend_string_release(k);
    int64_t n = 0;
    if (len >= 9 && buf[0] == 'i') {
        memcpy(&n, buf + 1, 8);
    }
    return n > 0 ? SUCCESS : FAILURE;
}

/* session.lazy_write skipped the write: keep the session alive anyway. */
PS_UPDATE_TIMESTAMP_FUNC(ephpm)
{
    zend_string *k = key_of("PHPSESSION", key);
    char ttl[24];
    snprintf(ttl, sizeof ttl, ZEND_LONG_FMT, maxlifetime > 0 ? maxlifetime : 1440);
    const char *ex[] = { "EXPIRE", ZSTR_VAL(k), ttl };
    size_t ex_l[] = { 6, ZSTR_LEN(k), strlen(ttl) };
    kv(3, ex, ex_l);
    zend_string_release(k);
    return SUCCESS;
}

static const ps_module ps_mod_ephpm = { PS_MOD_UPDATE_TIMESTAMP(ephpm) };

void ephpm_session_register(void)
{
    php_session_register_module(&ps_mod_ephpm);
}
