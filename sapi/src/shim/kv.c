/*
 * ephpm_kv_*: PHP functions over the in-process KV store. Each builds a
 * Redis-style command, hands it to Rust (ephpm_rs_kv: in place for this
 * core's keys, over the mesh for others) and turns the reply into PHP
 * values. No serialization beyond that, no socket.
 */
#include <php.h>

#include "ephpm_callbacks.h"
#include "kv.h"

/* How a reply becomes a PHP value. */
enum shape { RAW, AS_BOOL, ASSOC };

static const unsigned char *decode(const unsigned char *p, const unsigned char *end, zval *out, int depth);

static uint64_t read_u64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Decodes one reply (see sapi/src/kv.rs for the encoding) into out. */
static const unsigned char *decode(const unsigned char *p, const unsigned char *end, zval *out, int depth)
{
    if (p >= end || depth > 8) {
        ZVAL_NULL(out);
        return end;
    }
    unsigned char tag = *p++;
    if (tag == 'n') {
        ZVAL_NULL(out);
        return p;
    }
    if (end - p < 8) {
        ZVAL_NULL(out);
        return end;
    }
    uint64_t n = read_u64(p);
    p += 8;
    switch (tag) {
    case 'i':
        ZVAL_LONG(out, (zend_long)n);
        return p;
    case 'd': {
        double d;
        memcpy(&d, &n, 8);
        ZVAL_DOUBLE(out, d);
        return p;
    }
    case 's':
    case 't':
    case 'e':
        if ((uint64_t)(end - p) < n) {
            ZVAL_NULL(out);
            return end;
        }
        if (tag == 'e') {
            php_error_docref(NULL, E_WARNING, "%.*s", (int)n, (const char *)p);
            ZVAL_FALSE(out);
        } else if (tag == 't') {
            ZVAL_TRUE(out);
        } else {
            ZVAL_STRINGL(out, (const char *)p, n);
        }
        return p + n;
    case 'a':
        array_init_size(out, (uint32_t)(n < 1024 ? n : 1024));
        for (uint64_t i = 0; i < n && p < end; i++) {
            zval item;
            p = decode(p, end, &item, depth + 1);
            add_next_index_zval(out, &item);
        }
        return p;
    }
    ZVAL_NULL(out);
    return end;
}

/* Runs the command argv[0..argc] and sets return_value by shape. */
static void kv_call(zval *return_value, int argc, const char **argv, const size_t *lens, enum shape shape)
{
    size_t len = 0;
    const unsigned char *buf = (const unsigned char *)ephpm_rs_kv(argc, argv, lens, &len);
    zval reply;
    decode(buf, buf + len, &reply, 0);
    if (shape == AS_BOOL) {
        bool truth = Z_TYPE(reply) == IS_TRUE || (Z_TYPE(reply) == IS_LONG && Z_LVAL(reply) > 0);
        zval_ptr_dtor(&reply);
        RETURN_BOOL(truth);
    }
    if (shape == ASSOC && Z_TYPE(reply) == IS_ARRAY) {
        /* [field, value, field, value, ...] → [field => value, ...] */
        zval assoc, *key = NULL, *v;
        array_init(&assoc);
        ZEND_HASH_FOREACH_VAL(Z_ARRVAL(reply), v) {
            if (!key) {
                key = v;
            } else {
                Z_TRY_ADDREF_P(v);
                zend_symtable_update(Z_ARRVAL(assoc), Z_STR_P(key), v);
                key = NULL;
            }
        } ZEND_HASH_FOREACH_END();
        zval_ptr_dtor(&reply);
        RETURN_COPY_VALUE(&assoc);
    }
    RETURN_COPY_VALUE(&reply);
}

PHP_FUNCTION(ephpm_kv_get)
{
    zend_string *key;
    ZEND_PARSE_PARAMETERS_START(1, 1) Z_PARAM_STR(key) ZEND_PARSE_PARAMETERS_END();
    const char *a[] = { "GET", ZSTR_VAL(key) };
    size_t l[] = { 3, ZSTR_LEN(key) };
    kv_call(return_value, 2, a, l, RAW);
}

static void set_common(INTERNAL_FUNCTION_PARAMETERS, bool nx)
{
    zend_string *key, *value;
    zend_long ttl = 0;
    ZEND_PARSE_PARAMETERS_START(2, 3)
        Z_PARAM_STR(key) Z_PARAM_STR(value) Z_PARAM_OPTIONAL Z_PARAM_LONG(ttl)
    ZEND_PARSE_PARAMETERS_END();
    char ttl_s[24];
    snprintf(ttl_s, sizeof ttl_s, ZEND_LONG_FMT, ttl);
    const char *a[6] = { "SET", ZSTR_VAL(key), ZSTR_VAL(value) };
    size_t l[6] = { 3, ZSTR_LEN(key), ZSTR_LEN(value) };
    int n = 3;
    if (nx) {
        a[n] = "NX";
        l[n++] = 2;
    }
    if (ttl > 0) {
        a[n] = "EX";
        l[n++] = 2;
        a[n] = ttl_s;
        l[n++] = strlen(ttl_s);
    }
    kv_call(return_value, n, a, l, AS_BOOL);
}

PHP_FUNCTION(ephpm_kv_set) { set_common(INTERNAL_FUNCTION_PARAM_PASSTHRU, false); }
PHP_FUNCTION(ephpm_kv_setnx) { set_common(INTERNAL_FUNCTION_PARAM_PASSTHRU, true); }

/* One key, no other argument. */
#define KEY_ONLY(fn, cmd, shape)                                              \
    PHP_FUNCTION(fn)                                                          \
    {                                                                         \
        zend_string *key;                                                     \
        ZEND_PARSE_PARAMETERS_START(1, 1) Z_PARAM_STR(key) ZEND_PARSE_PARAMETERS_END(); \
        const char *a[] = { cmd, ZSTR_VAL(key) };                             \
        size_t l[] = { strlen(cmd), ZSTR_LEN(key) };                          \
        kv_call(return_value, 2, a, l, shape);                                \
    }

/* A key and one string. */
#define KEY_STR(fn, cmd, shape)                                               \
    PHP_FUNCTION(fn)                                                          \
    {                                                                         \
        zend_string *key, *s;                                                 \
        ZEND_PARSE_PARAMETERS_START(2, 2) Z_PARAM_STR(key) Z_PARAM_STR(s) ZEND_PARSE_PARAMETERS_END(); \
        const char *a[] = { cmd, ZSTR_VAL(key), ZSTR_VAL(s) };                \
        size_t l[] = { strlen(cmd), ZSTR_LEN(key), ZSTR_LEN(s) };             \
        kv_call(return_value, 3, a, l, shape);                                \
    }

/* A key and two integers. */
#define KEY_LONG_LONG(fn, cmd)                                                \
    PHP_FUNCTION(fn)                                                          \
    {                                                                         \
        zend_string *key;                                                     \
        zend_long x, y;                                                       \
        ZEND_PARSE_PARAMETERS_START(3, 3) Z_PARAM_STR(key) Z_PARAM_LONG(x) Z_PARAM_LONG(y) ZEND_PARSE_PARAMETERS_END(); \
        char xs[24], ys[24];                                                  \
        snprintf(xs, sizeof xs, ZEND_LONG_FMT, x);                            \
        snprintf(ys, sizeof ys, ZEND_LONG_FMT, y);                            \
        const char *a[] = { cmd, ZSTR_VAL(key), xs, ys };                     \
        size_t l[] = { strlen(cmd), ZSTR_LEN(key), strlen(xs), strlen(ys) };  \
        kv_call(return_value, 4, a, l, RAW);                                  \
    }

KEY_ONLY(ephpm_kv_del, "DEL", RAW)
KEY_ONLY(ephpm_kv_exists, "EXISTS", AS_BOOL)
KEY_ONLY(ephpm_kv_ttl, "TTL", RAW)
KEY_ONLY(ephpm_kv_pttl, "PTTL", RAW)
KEY_ONLY(ephpm_kv_hgetall, "HGETALL", ASSOC)
KEY_ONLY(ephpm_kv_rpop, "RPOP", RAW)
KEY_ONLY(ephpm_kv_smembers, "SMEMBERS", RAW)
KEY_ONLY(ephpm_kv_scard, "SCARD", RAW)
/* Not a key but a prefix: deletes every key that starts with it, on every core. */
KEY_ONLY(ephpm_kv_flush_prefix, "FLUSHPREFIX", RAW)
/* Not a key but a URL, a prefix ending in '*', or "*": removes those
   responses from the page cache of every core. */
KEY_ONLY(ephpm_cache_purge, "CACHEPURGE", RAW)
KEY_STR(ephpm_kv_hget, "HGET", RAW)
KEY_STR(ephpm_kv_hdel, "HDEL", RAW)
KEY_STR(ephpm_kv_lpush, "LPUSH", RAW)
KEY_STR(ephpm_kv_sadd, "SADD", RAW)
KEY_STR(ephpm_kv_srem, "SREM", RAW)
KEY_LONG_LONG(ephpm_kv_lrange, "LRANGE")
KEY_LONG_LONG(ephpm_kv_zrange, "ZRANGE")

/* A key and an integer argument. */
static void key_long(zval *return_value, const char *cmd, zend_string *key, zend_long n, enum shape shape)
{
    char s[24];
    snprintf(s, sizeof s, ZEND_LONG_FMT, n);
    const char *a[] = { cmd, ZSTR_VAL(key), s };
    size_t l[] = { strlen(cmd), ZSTR_LEN(key), strlen(s) };
    kv_call(return_value, 3, a, l, shape);
}

PHP_FUNCTION(ephpm_kv_incr_by)
{
    zend_string *key;
    zend_long by = 1;
    ZEND_PARSE_PARAMETERS_START(1, 2) Z_PARAM_STR(key) Z_PARAM_OPTIONAL Z_PARAM_LONG(by) ZEND_PARSE_PARAMETERS_END();
    key_long(return_value, "INCRBY", key, by, RAW);
}

PHP_FUNCTION(ephpm_kv_expire)
{
    zend_string *key;
    zend_long secs;
    ZEND_PARSE_PARAMETERS_START(2, 2) Z_PARAM_STR(key) Z_PARAM_LONG(secs) ZEND_PARSE_PARAMETERS_END();
    key_long(return_value, "EXPIRE", key, secs, AS_BOOL);
}

PHP_FUNCTION(ephpm_kv_hset)
{
    zend_string *key, *field, *value;
    ZEND_PARSE_PARAMETERS_START(3, 3) Z_PARAM_STR(key) Z_PARAM_STR(field) Z_PARAM_STR(value) ZEND_PARSE_PARAMETERS_END();
    const char *a[] = { "HSET", ZSTR_VAL(key), ZSTR_VAL(field), ZSTR_VAL(value) };
    size_t l[] = { 4, ZSTR_LEN(key), ZSTR_LEN(field), ZSTR_LEN(value) };
    kv_call(return_value, 4, a, l, RAW);
}

PHP_FUNCTION(ephpm_kv_hincr_by)
{
    zend_string *key, *field;
    zend_long by = 1;
    ZEND_PARSE_PARAMETERS_START(2, 3)
        Z_PARAM_STR(key) Z_PARAM_STR(field) Z_PARAM_OPTIONAL Z_PARAM_LONG(by)
    ZEND_PARSE_PARAMETERS_END();
    char s[24];
    snprintf(s, sizeof s, ZEND_LONG_FMT, by);
    const char *a[] = { "HINCRBY", ZSTR_VAL(key), ZSTR_VAL(field), s };
    size_t l[] = { 7, ZSTR_LEN(key), ZSTR_LEN(field), strlen(s) };
    kv_call(return_value, 4, a, l, RAW);
}

PHP_FUNCTION(ephpm_kv_hincr_by_float)
{
    zend_string *key, *field;
    double by;
    ZEND_PARSE_PARAMETERS_START(3, 3) Z_PARAM_STR(key) Z_PARAM_STR(field) Z_PARAM_DOUBLE(by) ZEND_PARSE_PARAMETERS_END();
    char s[40];
    snprintf(s, sizeof s, "%.17g", by);
    const char *a[] = { "HINCRBYFLOAT", ZSTR_VAL(key), ZSTR_VAL(field), s };
    size_t l[] = { 12, ZSTR_LEN(key), ZSTR_LEN(field), strlen(s) };
    kv_call(return_value, 4, a, l, RAW);
    /* The reply is a bulk string, as Redis's. */
    if (Z_TYPE_P(return_value) == IS_STRING) {
        double d = zend_strtod(Z_STRVAL_P(return_value), NULL);
        zval_ptr_dtor(return_value);
        ZVAL_DOUBLE(return_value, d);
    }
}

/* HSET key f1 v1 f2 v2 ...: every field of the array in one command, so
   another reader sees all of them or none. */
PHP_FUNCTION(ephpm_kv_hmset)
{
    zend_string *key;
    HashTable *fields;
    ZEND_PARSE_PARAMETERS_START(2, 2) Z_PARAM_STR(key) Z_PARAM_ARRAY_HT(fields) ZEND_PARSE_PARAMETERS_END();
    uint32_t n = zend_hash_num_elements(fields);
    if (n == 0) {
        zend_argument_value_error(2, "must not be empty");
        RETURN_THROWS();
    }
    int argc = 2 + 2 * (int)n;
    const char **a = emalloc(sizeof(char *) * argc);
    size_t *l = emalloc(sizeof(size_t) * argc);
    zend_string **owned = emalloc(sizeof(zend_string *) * 2 * n);
    int k = 0;
    a[0] = "HSET";
    l[0] = 4;
    a[1] = ZSTR_VAL(key);
    l[1] = ZSTR_LEN(key);
    int i = 2;
    zend_string *fkey;
    zend_ulong idx;
    zval *v;
    ZEND_HASH_FOREACH_KEY_VAL(fields, idx, fkey, v) {
        zend_string *f = fkey ? zend_string_copy(fkey) : zend_long_to_str((zend_long)idx);
        zend_string *val = zval_get_string(v);
        owned[k++] = f;
        owned[k++] = val;
        a[i] = ZSTR_VAL(f);
        l[i++] = ZSTR_LEN(f);
        a[i] = ZSTR_VAL(val);
        l[i++] = ZSTR_LEN(val);
    } ZEND_HASH_FOREACH_END();
    kv_call(return_value, argc, a, l, RAW);
    for (int j = 0; j < k; j++) {
        zend_string_release(owned[j]);
    }
    efree(owned);
    efree(l);
    efree(a);
}

PHP_FUNCTION(ephpm_kv_zadd)
{
    zend_string *key, *member;
    double score;
    ZEND_PARSE_PARAMETERS_START(3, 3) Z_PARAM_STR(key) Z_PARAM_DOUBLE(score) Z_PARAM_STR(member) ZEND_PARSE_PARAMETERS_END();
    char s[40];
    snprintf(s, sizeof s, "%.17g", score);
    const char *a[] = { "ZADD", ZSTR_VAL(key), s, ZSTR_VAL(member) };
    size_t l[] = { 4, ZSTR_LEN(key), strlen(s), ZSTR_LEN(member) };
    kv_call(return_value, 4, a, l, RAW);
}

ZEND_BEGIN_ARG_INFO_EX(arginfo_kv_1, 0, 0, 1)
    ZEND_ARG_INFO(0, key)
ZEND_END_ARG_INFO()
ZEND_BEGIN_ARG_INFO_EX(arginfo_cache_purge, 0, 0, 1)
    ZEND_ARG_INFO(0, url_or_prefix)
ZEND_END_ARG_INFO()
ZEND_BEGIN_ARG_INFO_EX(arginfo_kv_2, 0, 0, 2)
    ZEND_ARG_INFO(0, key)
    ZEND_ARG_INFO(0, arg)
ZEND_END_ARG_INFO()
ZEND_BEGIN_ARG_INFO_EX(arginfo_kv_3, 0, 0, 3)
    ZEND_ARG_INFO(0, key)
    ZEND_ARG_INFO(0, arg1)
    ZEND_ARG_INFO(0, arg2)
ZEND_END_ARG_INFO()
ZEND_BEGIN_ARG_INFO_EX(arginfo_kv_set, 0, 0, 2)
    ZEND_ARG_INFO(0, key)
    ZEND_ARG_INFO(0, value)
    ZEND_ARG_INFO(0, ttl)
ZEND_END_ARG_INFO()
ZEND_BEGIN_ARG_INFO_EX(arginfo_kv_hincr, 0, 0, 2)
    ZEND_ARG_INFO(0, key)
    ZEND_ARG_INFO(0, field)
    ZEND_ARG_INFO(0, by)
ZEND_END_ARG_INFO()
ZEND_BEGIN_ARG_INFO_EX(arginfo_kv_hincr_float, 0, 0, 3)
    ZEND_ARG_INFO(0, key)
    ZEND_ARG_INFO(0, field)
    ZEND_ARG_INFO(0, by)
ZEND_END_ARG_INFO()
ZEND_BEGIN_ARG_INFO_EX(arginfo_kv_hmset, 0, 0, 2)
    ZEND_ARG_INFO(0, key)
    ZEND_ARG_ARRAY_INFO(0, fields, 0)
ZEND_END_ARG_INFO()
ZEND_BEGIN_ARG_INFO_EX(arginfo_kv_incr, 0, 0, 1)
    ZEND_ARG_INFO(0, key)
    ZEND_ARG_INFO(0, by)
ZEND_END_ARG_INFO()

const zend_function_entry ephpm_kv_functions[] = {
    ZEND_FE(ephpm_kv_get, arginfo_kv_1)
    ZEND_FE(ephpm_kv_set, arginfo_kv_set)
    ZEND_FE(ephpm_kv_setnx, arginfo_kv_set)
    ZEND_FE(ephpm_kv_del, arginfo_kv_1)
    ZEND_FE(ephpm_kv_exists, arginfo_kv_1)
    ZEND_FE(ephpm_kv_incr_by, arginfo_kv_incr)
    ZEND_FE(ephpm_kv_expire, arginfo_kv_2)
    ZEND_FE(ephpm_kv_ttl, arginfo_kv_1)
    ZEND_FE(ephpm_kv_pttl, arginfo_kv_1)
    ZEND_FE(ephpm_kv_hset, arginfo_kv_3)
    ZEND_FE(ephpm_kv_hget, arginfo_kv_2)
    ZEND_FE(ephpm_kv_hdel, arginfo_kv_2)
    ZEND_FE(ephpm_kv_hincr_by, arginfo_kv_hincr)
    ZEND_FE(ephpm_kv_hincr_by_float, arginfo_kv_hincr_float)
    ZEND_FE(ephpm_kv_hmset, arginfo_kv_hmset)
    ZEND_FE(ephpm_kv_hgetall, arginfo_kv_1)
    ZEND_FE(ephpm_kv_lpush, arginfo_kv_2)
    ZEND_FE(ephpm_kv_rpop, arginfo_kv_1)
    ZEND_FE(ephpm_kv_lrange, arginfo_kv_3)
    ZEND_FE(ephpm_kv_sadd, arginfo_kv_2)
    ZEND_FE(ephpm_kv_srem, arginfo_kv_2)
    ZEND_FE(ephpm_kv_smembers, arginfo_kv_1)
    ZEND_FE(ephpm_kv_scard, arginfo_kv_1)
    ZEND_FE(ephpm_kv_zadd, arginfo_kv_3)
    ZEND_FE(ephpm_kv_zrange, arginfo_kv_3)
    ZEND_FE(ephpm_kv_flush_prefix, arginfo_kv_1)
    ZEND_FE(ephpm_cache_purge, arginfo_cache_purge)
    ZEND_FE_END
};
