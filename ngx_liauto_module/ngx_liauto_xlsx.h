
/*
 * Copyright (C) liauto
 */


#ifndef _NGX_LIAUTO_XLSX_H_INCLUDED_
#define _NGX_LIAUTO_XLSX_H_INCLUDED_


#include "ngx_liauto_module.h"


/*
 * The handler of an XLSX route's query: its (200, {"sheets": [{"name",
 * "columns", "rows": [{column: value}]}]}) row is sent as a workbook with
 * one sheet each; any other answer as for a JSON route.
 */
void ngx_liauto_xlsx_done(ngx_liauto_pg_query_t *q, PGresult *res);


#endif /* _NGX_LIAUTO_XLSX_H_INCLUDED_ */
