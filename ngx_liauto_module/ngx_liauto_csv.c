
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


/* a header line longer than this is not looked at further for delimiters */
#define NGX_LIAUTO_CSV_HEAD_MAX  65536


struct ngx_liauto_csv_s {
    struct csv_parser      parser;
    ngx_pool_t            *pool;
    ngx_liauto_csv_out_t   out;
    /* the bytes before the first line ends: they choose the delimiter */
    ngx_liauto_csv_out_t   head;
    size_t                 received;
    unsigned               started:1;
    unsigned               failed:1;
};


static ngx_int_t ngx_liauto_csv_start(ngx_liauto_csv_t *csv);
static void ngx_liauto_csv_parse(ngx_liauto_csv_t *csv, u_char *p,
    size_t len);
static void ngx_liauto_csv_field(void *s, size_t len, void *data);
static void ngx_liauto_csv_row(int c, void *data);
static void ngx_liauto_csv_append(ngx_liauto_csv_out_t *out, u_char *s,
    size_t len);
static ngx_int_t ngx_liauto_csv_is_utf8(u_char *p, size_t len);
static ngx_int_t ngx_liauto_csv_first_line(u_char *p, u_char *last,
    u_char *delimiter);
static void ngx_liauto_csv_free(void *data);


/* the whole file at once: a parser fed one buffer */

ngx_int_t
ngx_liauto_csv_to_json(ngx_pool_t *pool, ngx_str_t *csv, ngx_str_t *json,
    ngx_str_t *error)
{
    ngx_liauto_csv_t  *parser;

    parser = ngx_liauto_csv_create(pool);
    if (parser == NULL) {
        return NGX_ERROR;
    }

    if (ngx_liauto_csv_feed(parser, csv->data, csv->len) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_liauto_csv_finish(parser, json, error);
}


ngx_liauto_csv_t *
ngx_liauto_csv_create(ngx_pool_t *pool)
{
    ngx_liauto_csv_t    *csv;
    ngx_pool_cleanup_t  *cln;

    csv = ngx_pcalloc(pool, sizeof(ngx_liauto_csv_t));
    if (csv == NULL) {
        return NULL;
    }

    if (csv_init(&csv->parser, 0) != 0) {
        return NULL;
    }

    csv->pool = pool;

    /* libcsv and the growing buffers malloc(); freed with the pool */
    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        csv_free(&csv->parser);
        return NULL;
    }

    cln->handler = ngx_liauto_csv_free;
    cln->data = csv;

    ngx_liauto_csv_append(&csv->out, (u_char *) "{\"header\":[", 11);

    return csv;
}


/*
 * Takes the next bytes of the file, as they arrive.  Until the first line
 * has ended they are kept aside; from then on they go straight to libcsv,
 * which keeps only the field it is in the middle of.
 */

ngx_int_t
ngx_liauto_csv_feed(ngx_liauto_csv_t *csv, u_char *p, size_t len)
{
    u_char  delimiter;

    csv->received += len;

    if (csv->started) {
        ngx_liauto_csv_parse(csv, p, len);
        return csv->out.nomem ? NGX_ERROR : NGX_OK;
    }

    ngx_liauto_csv_append(&csv->head, p, len);

    if (csv->head.nomem) {
        return NGX_ERROR;
    }

    if (csv->head.len <= NGX_LIAUTO_CSV_HEAD_MAX
        && ngx_liauto_csv_first_line(csv->head.data,
                                     csv->head.data + csv->head.len - 1,
                                     &delimiter)
           == NGX_AGAIN)
    {
        return NGX_OK;
    }

    return ngx_liauto_csv_start(csv);
}


ngx_int_t
ngx_liauto_csv_finish(ngx_liauto_csv_t *csv, ngx_str_t *json,
    ngx_str_t *error)
{
    ngx_liauto_csv_out_t  *out;

    out = &csv->out;

    if (!csv->started && ngx_liauto_csv_start(csv) != NGX_OK) {
        return NGX_ERROR;
    }

    if (csv->failed
        || csv_fini(&csv->parser, ngx_liauto_csv_field, ngx_liauto_csv_row,
                    out)
           != 0)
    {
        ngx_str_set(error, "the CSV could not be parsed");
        return NGX_DECLINED;
    }

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
        error->data = ngx_pnalloc(csv->pool, 80);
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


/* bytes of the body received so far */

size_t
ngx_liauto_csv_received(ngx_liauto_csv_t *csv)
{
    return csv->received;
}


/* the first line is complete (or the file ended): parse what was kept */

static ngx_int_t
ngx_liauto_csv_start(ngx_liauto_csv_t *csv)
{
    u_char  *p, *last, delimiter;

    csv->started = 1;

    if (csv->head.data == NULL) {
        /* an empty body */
        return NGX_OK;
    }

    p = csv->head.data;
    last = p + csv->head.len - 1;

    if (last - p >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
        p += 3;
    }

    (void) ngx_liauto_csv_first_line(p, last, &delimiter);
    csv_set_delim(&csv->parser, delimiter);

    ngx_liauto_csv_parse(csv, p, last - p);

    free(csv->head.data);
    ngx_memzero(&csv->head, sizeof(ngx_liauto_csv_out_t));

    return csv->out.nomem ? NGX_ERROR : NGX_OK;
}


static void
ngx_liauto_csv_parse(ngx_liauto_csv_t *csv, u_char *p, size_t len)
{
    if (csv->failed) {
        return;
    }

    if (csv_parse(&csv->parser, p, len, ngx_liauto_csv_field,
                  ngx_liauto_csv_row, &csv->out)
        != len)
    {
        csv->failed = 1;
    }
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


/*
 * The most frequent of , ; and tab outside quotes on the first line;
 * NGX_AGAIN while that line has not ended.
 */

static ngx_int_t
ngx_liauto_csv_first_line(u_char *p, u_char *last, u_char *delimiter)
{
    ngx_int_t   rc;
    ngx_uint_t  comma, semicolon, tab, quoted;

    comma = 0;
    semicolon = 0;
    tab = 0;
    quoted = 0;
    rc = NGX_AGAIN;

    for ( /* void */ ; p < last; p++) {
        if (*p == '"') {
            quoted = !quoted;
            continue;
        }

        if (quoted) {
            continue;
        }

        if (*p == '\n' || *p == '\r') {
            rc = NGX_OK;
            break;
        }

        comma += (*p == ',');
        semicolon += (*p == ';');
        tab += (*p == '\t');
    }

    if (semicolon > comma && semicolon >= tab) {
        *delimiter = ';';

    } else if (tab > comma && tab > semicolon) {
        *delimiter = '\t';

    } else {
        *delimiter = ',';
    }

    return rc;
}


static void
ngx_liauto_csv_free(void *data)
{
    ngx_liauto_csv_t  *csv = data;

    csv_free(&csv->parser);
    free(csv->out.data);
    free(csv->head.data);
}
