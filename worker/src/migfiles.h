#ifndef LIAUTO_MIGFILES_H
#define LIAUTO_MIGFILES_H

#include <stddef.h>

#include "checksum.h"

/*
 * The migration files on disk: NNNN_name.sql in one directory, validated,
 * sorted by version, read into memory and checksummed. No database here.
 */

#define MIGRATION_VERSION_LEN  4

typedef struct {
    char     version[MIGRATION_VERSION_LEN + 1];
    char    *name;                     /* file name, e.g. 0001_core.sql */
    char    *sql;                      /* contents, NUL-terminated */
    size_t   len;
    char     checksum[SHA256_HEX_LEN + 1];
} migration_t;

typedef struct {
    migration_t  *items;
    size_t        n;
} migration_list_t;

/*
 * Returns 0 if name matches ^[0-9]{4}_[a-z0-9_]+\.sql$ and copies its
 * version; -1 otherwise.
 */
int migration_parse_name(const char *name,
    char version[MIGRATION_VERSION_LEN + 1]);

/*
 * Builds a sorted list from file names (contents not read): every *.sql
 * name must be valid, versions must be unique; other names are skipped.
 */
int migration_list_from_names(migration_list_t *list, char *const *names,
    size_t n, char *err, size_t errlen);

/* Lists dir, validates names, reads and checksums every file. */
int migration_list_load(migration_list_t *list, const char *dir,
    char *err, size_t errlen);

const migration_t *migration_find(const migration_list_t *list,
    const char *version);

void migration_list_free(migration_list_t *list);

/* 1-based line of the 1-based character position pos (UTF-8) in sql. */
long migration_line_at(const char *sql, long pos);

#endif
