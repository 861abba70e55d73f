
/*
 * Copyright (C) liauto
 *
 * The XLSX report: SQL answers {"sheets": [{"name", "columns", "rows"}]}
 * and this file writes one worksheet per sheet with Debian's libxlsxwriter
 * (a header row of the column names, then the rows: numbers as numbers,
 * strings as text cells, which a spreadsheet never evaluates).
 *
 * libxlsxwriter 1.1.4 (bookworm) writes to a file only (its memory output
 * came in 1.1.5), so the workbook goes to a temporary file under nginx's
 * client_body_temp_path, deleted with the request, and is sent from there
 * like any file.  Writing it is blocking local I/O of a few kilobytes,
 * as for nginx's own temporary files; the CPU is one small workbook.
 */


#include <xlsxwriter.h>
#include <jansson.h>

#include "ngx_liauto_module.h"
#include "ngx_liauto_json.h"
#include "ngx_liauto_api.h"
#include "ngx_liauto_router.h"
#include "ngx_liauto_xlsx.h"


static ngx_int_t ngx_liauto_xlsx_build(ngx_http_request_t *r,
    json_t *sheets, ngx_file_t *file);
static ngx_int_t ngx_liauto_xlsx_sheet(lxw_workbook *wb, json_t *sheet,
    lxw_format *bold);
static lxw_error ngx_liauto_xlsx_cell(lxw_worksheet *ws, lxw_row_t row,
    lxw_col_t col, json_t *value);
static ngx_int_t ngx_liauto_xlsx_send(ngx_liauto_ctx_t *ctx,
    ngx_file_t *file);


void
ngx_liauto_xlsx_done(ngx_liauto_pg_query_t *q, PGresult *res)
{
    json_t              *answer;
    ngx_int_t            status, rc;
    ngx_file_t          *file;
    ngx_liauto_ctx_t    *ctx;
    ngx_http_request_t  *r;

    ctx = q->data;
    r = ctx->request;

    if (q->rc != NGX_OK || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQntuples(res) != 1 || PQnfields(res) != 2)
    {
        ngx_liauto_finalize(ctx, ngx_liauto_api_sql_error(ctx, q, res));
        return;
    }

    status = ngx_atoi((u_char *) PQgetvalue(res, 0, 0),
                      PQgetlength(res, 0, 0));

    if (status != NGX_HTTP_OK) {
        /* a refusal: the envelope, as any JSON route */
        ngx_liauto_api_done(q, res);
        return;
    }

    answer = json_loadb(PQgetvalue(res, 0, 1), PQgetlength(res, 0, 1), 0,
                        NULL);

    file = ngx_pcalloc(r->pool, sizeof(ngx_file_t));

    if (answer == NULL || file == NULL) {
        json_decref(answer);
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "liauto: %s: unreadable answer or out of memory",
                      ctx->route->function);
        ngx_liauto_finalize(ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_liauto_xlsx_build(r, json_object_get(answer, "sheets"),
                               file);
    json_decref(answer);

    if (rc != NGX_OK) {
        ngx_liauto_finalize(ctx, ngx_liauto_send_error(r,
                                NGX_HTTP_INTERNAL_SERVER_ERROR, NULL,
                                "internal error; it has been logged", NULL));
        return;
    }

    ngx_liauto_finalize(ctx, ngx_liauto_xlsx_send(ctx, file));
}


static ngx_int_t
ngx_liauto_xlsx_build(ngx_http_request_t *r, json_t *sheets,
    ngx_file_t *file)
{
    size_t                     i;
    u_char                    *tmpdir;
    lxw_error                  err;
    lxw_format                *bold;
    lxw_workbook              *wb;
    ngx_path_t                *path;
    lxw_workbook_options       options;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    path = clcf->client_body_temp_path;

    file->fd = NGX_INVALID_FILE;
    file->log = r->connection->log;

    /*
     * persistent: the name must stay for libxlsxwriter to open (and
     * truncate) it while this descriptor, sent from, sees what it wrote;
     * the pool's cleanup deletes the file with the request
     */
    if (ngx_create_temp_file(file, path, r->pool, 1, 1, 0600) != NGX_OK) {
        return NGX_ERROR;
    }

    tmpdir = ngx_pnalloc(r->pool, path->name.len + 1);
    if (tmpdir == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_cpystrn(tmpdir, path->name.data, path->name.len + 1);

    ngx_memzero(&options, sizeof(lxw_workbook_options));
    options.tmpdir = (char *) tmpdir;

    wb = workbook_new_opt((char *) file->name.data, &options);
    if (wb == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "liauto: could not start a workbook in \"%V\"",
                      &file->name);
        return NGX_ERROR;
    }

    bold = workbook_add_format(wb);
    if (bold) {
        format_set_bold(bold);
    }

    for (i = 0; i < json_array_size(sheets); i++) {
        if (ngx_liauto_xlsx_sheet(wb, json_array_get(sheets, i), bold)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "liauto: could not write sheet %uz of a report",
                          i);
            break;
        }
    }

    /* writes the file (and frees the workbook) even after a failed sheet */
    err = workbook_close(wb);

    if (i < json_array_size(sheets) || json_array_size(sheets) == 0) {
        return NGX_ERROR;
    }

    if (err != LXW_NO_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "liauto: could not write the workbook \"%V\": %s",
                      &file->name, lxw_strerror(err));
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_liauto_xlsx_sheet(lxw_workbook *wb, json_t *sheet, lxw_format *bold)
{
    size_t          i, j;
    json_t         *columns, *rows, *row;
    const char     *name;
    lxw_worksheet  *ws;

    name = json_string_value(json_object_get(sheet, "name"));
    columns = json_object_get(sheet, "columns");
    rows = json_object_get(sheet, "rows");

    if (name == NULL || !json_is_array(columns) || !json_is_array(rows)) {
        return NGX_ERROR;
    }

    ws = workbook_add_worksheet(wb, name);
    if (ws == NULL) {
        return NGX_ERROR;
    }

    for (j = 0; j < json_array_size(columns); j++) {
        if (worksheet_write_string(ws, 0, j,
                json_string_value(json_array_get(columns, j)), bold)
            != LXW_NO_ERROR)
        {
            return NGX_ERROR;
        }
    }

    for (i = 0; i < json_array_size(rows); i++) {
        row = json_array_get(rows, i);

        for (j = 0; j < json_array_size(columns); j++) {
            if (ngx_liauto_xlsx_cell(ws, i + 1, j, json_object_get(row,
                    json_string_value(json_array_get(columns, j))))
                != LXW_NO_ERROR)
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


/* a JSON null or an absent field is an empty cell */

static lxw_error
ngx_liauto_xlsx_cell(lxw_worksheet *ws, lxw_row_t row, lxw_col_t col,
    json_t *value)
{
    switch (json_typeof(value)) {

    case JSON_STRING:
        return worksheet_write_string(ws, row, col, json_string_value(value),
                                      NULL);

    case JSON_INTEGER:
    case JSON_REAL:
        return worksheet_write_number(ws, row, col, json_number_value(value),
                                      NULL);

    case JSON_TRUE:
    case JSON_FALSE:
        return worksheet_write_boolean(ws, row, col, json_is_true(value),
                                       NULL);

    default:
        return LXW_NO_ERROR;
    }
}


static ngx_int_t
ngx_liauto_xlsx_send(ngx_liauto_ctx_t *ctx, ngx_file_t *file)
{
    ngx_int_t            rc;
    ngx_buf_t           *b;
    ngx_chain_t          out;
    ngx_file_info_t      fi;
    ngx_table_elt_t     *h;
    ngx_http_request_t  *r;

    static ngx_str_t  type = ngx_string("application/"
                          "vnd.openxmlformats-officedocument.spreadsheetml"
                          ".sheet");

    r = ctx->request;

    if (ngx_fd_info(file->fd, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, ngx_errno,
                      ngx_fd_info_n " \"%V\" failed", &file->name);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h = ngx_list_push(&r->headers_out.headers);
    b = ngx_calloc_buf(r->pool);

    if (h == NULL || b == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Content-Disposition");
    ngx_str_set(&h->value, "attachment; filename=\"report.xlsx\"");

    ctx->responded = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = ngx_file_size(&fi);
    r->headers_out.content_type = type;
    r->headers_out.content_type_len = type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->in_file = 1;
    b->file = file;
    b->file_pos = 0;
    b->file_last = ngx_file_size(&fi);
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
