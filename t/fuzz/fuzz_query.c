
/*
 * Copyright (C) liauto
 *
 * Query strings as the module takes them: ngx_liauto_json_query() on the
 * raw args, the C side of cursor decoding (the cursor, sort, order, limit
 * and filters reach api.decode_cursor() and the list functions as this
 * object's strings; sql/tests/0026_cursor_fuzz.sql hammers the SQL side).
 *
 * A query string it accepts is a JSON object of strings that jsonb takes:
 * no NUL byte in a key or a value (jsonb has no \u0000, so one would be a
 * 500).  One it refuses has a field and a reason that make a 400 envelope
 * which is itself valid JSON.
 */


#include "ngx_liauto_module.h"
#include "ngx_liauto_json.h"
#include "ngx_fuzz_support.h"


static void
ngx_fuzz_query_check_object(ngx_str_t *out, ngx_str_t *args)
{
    json_t      *json, *value;
    const char  *key;
    ngx_uint_t   n;

    ngx_fuzz_check(ngx_strlen(out->data) == out->len,
                   "the object is not NUL-terminated where it ends");

    json = json_loadb((char *) out->data, out->len, JSON_REJECT_DUPLICATES,
                      NULL);

    ngx_fuzz_check(json_is_object(json), "an accepted query string is not "
                   "a JSON object (or has a \\u0000)");

    json_object_foreach(json, key, value) {
        ngx_fuzz_check(json_is_string(value), "a value is not a string");
        ngx_fuzz_check(ngx_strlen(json_string_value(value))
                       == json_string_length(value),
                       "a value holds a NUL byte");
    }

    /* one key per '&'-separated part at most */
    n = 1;
    for (key = (char *) args->data; key < (char *) args->data + args->len;
         key++)
    {
        n += (*key == '&');
    }

    ngx_fuzz_check(json_object_size(json) <= n,
                   "more keys than parameters");

    json_decref(json);
}


static void
ngx_fuzz_query_check_refusal(ngx_pool_t *pool, ngx_liauto_json_refusal_t *why)
{
    u_char     *p;
    ngx_str_t   field, escaped, details, message, envelope;

    ngx_fuzz_check(why->message && why->field && why->reason,
                   "a refusal without its message, field or reason");

    field.data = why->field;
    field.len = ngx_strlen(why->field);

    ngx_fuzz_check(ngx_liauto_json_escape(pool, &field, &escaped) == NGX_OK,
                   "the field cannot be escaped");

    /* the details ngx_liauto_api_bad_request() sends */
    details.len = sizeof("{\"\":\"\"}") - 1 + escaped.len
                  + ngx_strlen(why->reason);
    p = ngx_pnalloc(pool, details.len);
    if (p == NULL) {
        ngx_fuzz_fail(__FILE__, __LINE__, "out of memory");
    }

    details.data = p;
    ngx_sprintf(p, "{\"%V\":\"%s\"}", &escaped, why->reason);

    message.data = (u_char *) why->message;
    message.len = ngx_strlen(why->message);

    ngx_fuzz_check(ngx_liauto_envelope(pool, 400, NULL, &message, &details,
                                       &envelope)
                   == NGX_OK, "no envelope");
    ngx_fuzz_check(ngx_fuzz_is_json_object(envelope.data, envelope.len),
                   "the 400 envelope is not JSON");
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_int_t                  rc;
    ngx_str_t                  args, out;
    ngx_pool_t                *pool;
    ngx_liauto_json_refusal_t  why;

    pool = ngx_fuzz_pool();

    /* exactly the input's bytes, as r->args points into the request line */
    args.len = size;
    args.data = ngx_pnalloc(pool, size);
    if (args.data == NULL && size) {
        ngx_fuzz_fail(__FILE__, __LINE__, "out of memory");
    }
    ngx_memcpy(args.data, data, size);

    ngx_memzero(&why, sizeof(why));

    rc = ngx_liauto_json_query(pool, &args, &out, &why);

    ngx_fuzz_check(rc == NGX_OK || rc == NGX_DECLINED,
                   "the parser failed with NGX_ERROR");

    if (rc == NGX_OK) {
        ngx_fuzz_query_check_object(&out, &args);

    } else {
        ngx_fuzz_query_check_refusal(pool, &why);
    }

    ngx_destroy_pool(pool);

    return 0;
}
