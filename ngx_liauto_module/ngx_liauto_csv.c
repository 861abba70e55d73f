
/*
 * Copyright (C) liauto
 *
 * CSV (RFC 4180, as real exports write it) to the JSON the import function
 * takes: {"header":["First Name",...],"rows":[["Ada",...],...]}.  Parsed
 * with libcsv: quoted fields with commas, quotes and newlines, CRLF or LF,
 * a UTF-8 byte order mark, and ';' or tab as the delimiter when the header
 * line says so (spreadsheet exports in many locales).
 */


#include <csv.h>

#include "ngx_liauto_csv.h"
#include "ngx_liauto_json.h"


typedef struct {
    u_char      *data;
    size_t       len;
    size_t       size;
    ngx_uint_t   row;          /* 0 is the header */
    ngx_uint_t   field;        /* fields written in the current row */
    ngx_uint_t   bad_row;      /* first row that is not UTF-8, 1-based */
    unsigned     nomem:1;
} ngx_liauto_csv_out_t;


static void ngx_liauto_csv_field(void *s, size_t len, void *data);
static void ngx_liauto_csv_row(int c, void *data);
static void ngx_liauto_csv_append(ngx_liauto_csv_out_t *out, u_char *s,
    size_t len);
static ngx_int_t ngx_liauto_csv_is_utf8(u_char *p, size_t len);
static u_char ngx_liauto_csv_delimiter(u_char *p, u_char *last);
static void ngx_liauto_csv_free(void *data);


ngx_int_t
ngx_liauto_csv_to_json(ngx_pool_t *pool, ngx_str_t *csv, ngx_str_t *json,
    ngx_str_t *error)
{
    u_char                *p, *last;
    struct csv_parser      parser;
    ngx_pool_cleanup_t    *cln;
    ngx_liauto_csv_out_t  *out;

    p = csv->data;
    last = p + csv->len;

    if (last - p >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
        p += 3;
    }

    /* the buffer is malloc()ed as it grows and freed with the pool */
    out = ngx_pcalloc(pool, sizeof(ngx_liauto_csv_out_t));
    if (out == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_liauto_csv_free;
    cln->data = out;

    if (csv_init(&parser, 0) != 0) {
        return NGX_ERROR;
    }

    csv_set_delim(&parser, ngx_liauto_csv_delimiter(p, last));

    ngx_liauto_csv_append(out, (u_char *) "{\"header\":[", 11);

    if (csv_parse(&parser, p, last - p, ngx_liauto_csv_field,
                  ngx_liauto_csv_row, out) != (size_t) (last - p)
        || csv_fini(&parser, ngx_liauto_csv_field, ngx_liauto_csv_row, out)
           != 0)
    {
        csv_free(&parser);
        ngx_str_set(error, "the CSV could not be parsed");
        return NGX_DECLINED;
    }

    csv_free(&parser);

    if (out->row == 0) {
        /* no header row: the file is empty */
        ngx_str_set(error, "the CSV has no header row");
        return NGX_DECLINED;
    }

    ngx_liauto_csv_append(out, (u_char *) (out->row == 1 ? "],\"rows\":[]}"
                                                          : "]]}"),
                          out->row == 1 ? 12 : 3);

    if (out->nomem) {
        return NGX_ERROR;
    }

    if (out->bad_row) {
        error->data = ngx_pnalloc(pool, 80);
        if (error->data == NULL) {
            return NGX_ERROR;
        }

        error->len = ngx_sprintf(error->data, "row %ui is not valid UTF-8 "
                                 "text (save the file as UTF-8)",
                                 out->bad_row - 1)
                     - error->data;
        return NGX_DECLINED;
    }

    json->data = out->data;
    json->len = out->len - 1;

    return NGX_OK;
}


static void
ngx_liauto_csv_field(void *s, size_t len, void *data)
{
    ngx_liauto_csv_out_t  *out = data;

    size_t  n;

    if (out->field++) {
        ngx_liauto_csv_append(out, (u_char *) ",", 1);

    } else if (out->row == 1) {
        ngx_liauto_csv_append(out, (u_char *) "],\"rows\":[[", 11);

    } else if (out->row > 1) {
        ngx_liauto_csv_append(out, (u_char *) "],[", 3);
    }

    if (!out->bad_row && ngx_liauto_csv_is_utf8(s, len) != NGX_OK) {
        out->bad_row = out->row + 1;
    }

    /* reserve the escaped length, then escape in place */
    n = len + ngx_escape_json(NULL, s, len);

    ngx_liauto_csv_append(out, (u_char *) "\"", 1);
    ngx_liauto_csv_append(out, NULL, n);

    if (!out->nomem) {
        ngx_escape_json(out->data + out->len - 1 - n, s, len);
    }

    ngx_liauto_csv_append(out, (u_char *) "\"", 1);
}


static void
ngx_liauto_csv_row(int c, void *data)
{
    ngx_liauto_csv_out_t  *out = data;

    if (out->field == 0) {
        /* a row with no fields at all: nothing to import */
        return;
    }

    out->row++;
    out->field = 0;
}


/*
 * Appends len bytes (or reserves them when s is NULL), keeping the text
 * NUL-terminated; out->len counts the terminator.
 */

static void
ngx_liauto_csv_append(ngx_liauto_csv_out_t *out, u_char *s, size_t len)
{
    u_char  *p;
    size_t   size;

    if (out->nomem) {
        return;
    }

    if (out->len == 0) {
        out->len = 1;
    }

    if (out->len + len > out->size) {
        size = ngx_max(out->size * 2, out->len + len + 4096);
        p = realloc(out->data, size);

        if (p == NULL) {
            out->nomem = 1;
            return;
        }

        out->data = p;
        out->size = size;
    }

    if (s) {
        ngx_memcpy(out->data + out->len - 1, s, len);
    }

    out->len += len;
    out->data[out->len - 1] = '\0';
}


/*
 * Text Postgres takes: well-formed UTF-8 without NUL (a UTF-16 export is
 * full of them; jsonb refuses the \u0000 they would become).
 */

static ngx_int_t
ngx_liauto_csv_is_utf8(u_char *p, size_t len)
{
    size_t   n;
    u_char  *last;

    last = p + len;

    for ( /* void */ ; p < last; p += n) {
        n = ngx_liauto_utf8_len(p, last);

        if (n == 0 || *p == '\0') {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* the most frequent of , ; and tab outside quotes on the first line */

static u_char
ngx_liauto_csv_delimiter(u_char *p, u_char *last)
{
    ngx_uint_t  comma, semicolon, tab, quoted;

    comma = 0;
    semicolon = 0;
    tab = 0;
    quoted = 0;

    for ( /* void */ ; p < last; p++) {
        if (*p == '"') {
            quoted = !quoted;
            continue;
        }

        if (quoted) {
            continue;
        }

        if (*p == '\n' || *p == '\r') {
            break;
        }

        comma += (*p == ',');
        semicolon += (*p == ';');
        tab += (*p == '\t');
    }

    if (semicolon > comma && semicolon >= tab) {
        return ';';
    }

    if (tab > comma && tab > semicolon) {
        return '\t';
    }

    return ',';
}


static void
ngx_liauto_csv_free(void *data)
{
    ngx_liauto_csv_out_t  *out = data;

    free(out->data);
}
