#ifndef LIAUTO_MIGRATE_H
#define LIAUTO_MIGRATE_H

#include "config.h"

/*
 * `liauto-worker migrate`: applies the pending files of
 * LIAUTO_MIGRATIONS_DIR in version order, each in its own transaction,
 * recorded in public.schema_migrations with its SHA-256. Refuses to do
 * anything if an applied migration's file was changed or removed. Returns
 * the process exit code.
 */
int migrate_run(const liauto_config_t *cf);

#endif
