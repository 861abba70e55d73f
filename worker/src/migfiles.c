#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "errbuf.h"
#include "migfiles.h"

#define SQL_SUFFIX      ".sql"
#define SQL_SUFFIX_LEN  (sizeof(SQL_SUFFIX) - 1)


static int
has_sql_suffix(const char *name)
{
    size_t  len = strlen(name);

    return len >= SQL_SUFFIX_LEN
           && strcmp(name + len - SQL_SUFFIX_LEN, SQL_SUFFIX) == 0;
}


int
migration_parse_name(const char *name,
    char version[MIGRATION_VERSION_LEN + 1])
{
    size_t       i, len = strlen(name);
    const char  *p;

    /* NNNN + "_" + at least one character + ".sql" */
    if (len < MIGRATION_VERSION_LEN + 2 + SQL_SUFFIX_LEN
        || !has_sql_suffix(name))
    {
        return -1;
    }

    for (i = 0; i < MIGRATION_VERSION_LEN; i++) {
        if (name[i] < '0' || name[i] > '9') {
            return -1;
        }
    }

    if (name[MIGRATION_VERSION_LEN] != '_') {
        return -1;
    }

    for (p = name + MIGRATION_VERSION_LEN + 1;
         p < name + len - SQL_SUFFIX_LEN; p++)
    {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')
              || *p == '_'))
        {
            return -1;
        }
    }

    memcpy(version, name, MIGRATION_VERSION_LEN);
    version[MIGRATION_VERSION_LEN] = '\0';
    return 0;
}


static int
compare_versions(const void *a, const void *b)
{
    return strcmp(((const migration_t *) a)->version,
                  ((const migration_t *) b)->version);
}


int
migration_list_from_names(migration_list_t *list, char *const *names,
    size_t n, char *err, size_t errlen)
{
    size_t        i;
    migration_t  *m;

    list->items = calloc(n > 0 ? n : 1, sizeof(migration_t));
    list->n = 0;
    if (list->items == NULL) {
        errbuf_set(err, errlen, "out of memory");
        return -1;
    }

    for (i = 0; i < n; i++) {
        if (!has_sql_suffix(names[i])) {
            continue;
        }

        m = &list->items[list->n];
        if (migration_parse_name(names[i], m->version) != 0) {
            errbuf_set(err, errlen, "invalid migration file name \"%s\" "
                       "(expected NNNN_name.sql: 4 digits, \"_\", then "
                       "lowercase letters, digits or \"_\")", names[i]);
            goto failed;
        }

        m->name = strdup(names[i]);
        if (m->name == NULL) {
            errbuf_set(err, errlen, "out of memory");
            goto failed;
        }
        list->n++;
    }

    qsort(list->items, list->n, sizeof(migration_t), compare_versions);

    for (i = 1; i < list->n; i++) {
        if (compare_versions(&list->items[i - 1], &list->items[i]) == 0) {
            errbuf_set(err, errlen, "duplicate migration version %s: "
                       "\"%s\" and \"%s\"", list->items[i].version,
                       list->items[i - 1].name, list->items[i].name);
            goto failed;
        }
    }

    return 0;

failed:

    migration_list_free(list);
    return -1;
}


static int
read_names(const char *dir, char ***names, size_t *n, char *err,
    size_t errlen)
{
    DIR            *d;
    char          **grown;
    size_t          cap = 0;
    struct dirent  *de;

    *names = NULL;
    *n = 0;

    d = opendir(dir);
    if (d == NULL) {
        errbuf_set(err, errlen, "cannot open migrations directory \"%s\": %s",
                   dir, strerror(errno));
        return -1;
    }

    while ((de = readdir(d)) != NULL) {
        if (!has_sql_suffix(de->d_name)) {
            continue;
        }

        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            grown = realloc(*names, cap * sizeof(char *));
            if (grown == NULL) {
                break;
            }
            *names = grown;
        }

        (*names)[*n] = strdup(de->d_name);
        if ((*names)[*n] == NULL) {
            break;
        }
        (*n)++;
    }

    closedir(d);

    if (de != NULL) {
        errbuf_set(err, errlen, "out of memory listing \"%s\"", dir);
        return -1;
    }

    return 0;
}


static int
read_file(migration_t *m, const char *dir, char *err, size_t errlen)
{
    FILE         *f;
    char          path[4096];
    struct stat   st;

    snprintf(path, sizeof(path), "%s/%s", dir, m->name);

    f = fopen(path, "rb");
    if (f == NULL || fstat(fileno(f), &st) != 0) {
        errbuf_set(err, errlen, "cannot read migration \"%s\": %s", path,
                   strerror(errno));
        goto failed;
    }

    if (!S_ISREG(st.st_mode)) {
        errbuf_set(err, errlen, "migration \"%s\" is not a regular file",
                   path);
        goto failed;
    }

    m->len = (size_t) st.st_size;
    m->sql = malloc(m->len + 1);

    if (m->sql == NULL || fread(m->sql, 1, m->len, f) != m->len) {
        errbuf_set(err, errlen, "cannot read migration \"%s\"", path);
        goto failed;
    }

    fclose(f);
    f = NULL;
    m->sql[m->len] = '\0';

    /* The file goes to the server as one C string. */
    if (strlen(m->sql) != m->len) {
        errbuf_set(err, errlen, "migration \"%s\" contains a NUL byte", path);
        goto failed;
    }

    if (sha256_hex(m->sql, m->len, m->checksum) != 0) {
        errbuf_set(err, errlen, "cannot checksum migration \"%s\"", path);
        goto failed;
    }

    return 0;

failed:

    if (f != NULL) {
        fclose(f);
    }
    return -1;
}


int
migration_list_load(migration_list_t *list, const char *dir,
    char *err, size_t errlen)
{
    int      rc;
    char   **names;
    size_t   n, i;

    list->items = NULL;
    list->n = 0;

    rc = read_names(dir, &names, &n, err, errlen);

    if (rc == 0) {
        rc = migration_list_from_names(list, names, n, err, errlen);
    }

    for (i = 0; rc == 0 && i < list->n; i++) {
        rc = read_file(&list->items[i], dir, err, errlen);
    }

    if (rc != 0) {
        migration_list_free(list);
    }

    for (i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);

    return rc;
}


const migration_t *
migration_find(const migration_list_t *list, const char *version)
{
    size_t  i;

    for (i = 0; i < list->n; i++) {
        if (strcmp(list->items[i].version, version) == 0) {
            return &list->items[i];
        }
    }

    return NULL;
}


void
migration_list_free(migration_list_t *list)
{
    size_t  i;

    for (i = 0; i < list->n; i++) {
        free(list->items[i].name);
        free(list->items[i].sql);
    }

    free(list->items);
    list->items = NULL;
    list->n = 0;
}


long
migration_line_at(const char *sql, long pos)
{
    long                  line = 1, chars = 0;
    const unsigned char  *p;

    for (p = (const unsigned char *) sql; *p != '\0'; p++) {
        /* UTF-8 continuation bytes do not start a character. */
        if ((*p & 0xC0) == 0x80) {
            continue;
        }

        if (++chars >= pos) {
            break;
        }

        if (*p == '\n') {
            line++;
        }
    }

    return line;
}
