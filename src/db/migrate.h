/*
 * migrate.h — schema migrations per dialect.
 *
 * Migrations are the files migrations/<dialect>/NNNN_name.sql embedded in the
 * binary.  Each is applied in its own transaction, in order, and recorded in
 * schema_migrations(version, name, applied_at).  A database whose highest
 * recorded version is above the binary's newest migration is refused: an
 * older binary must not write to a schema it does not know.  On PostgreSQL
 * an advisory lock makes concurrent starts of several instances safe.
 */
#ifndef MERCATO_DB_MIGRATE_H
#define MERCATO_DB_MIGRATE_H

#include <stddef.h>

#include "db/db.h"

/* Applies pending migrations.  0 ok (*applied = how many); -1 with err. */
int db_migrate(db_t *db, int *applied, char *err, size_t errlen);

/* The database's current version and the binary's newest. */
int db_schema_version(db_t *db, int *db_version, int *binary_version);

#endif
