/*
 * category.h — the category tree.
 *
 * DESIGN
 * Categories form a tree stored with a materialised path ("/cat_a/cat_b/",
 * ancestors then self) so "this category and its descendants" is one range
 * on an index (path >= P AND path < P||'0', since '0' follows '/').
 * Products keep a copy of their category's path (products.category_path) so
 * list and search filters use the same range without a join; moving a
 * category rewrites the paths of its subtree and their products in the same
 * transaction.  Only admins change categories; every change is an event
 * (category.created / updated / deleted), and because product JSON embeds
 * the category's name and slug, those events clear the product cache.
 */
#ifndef MERCATO_CATALOG_CATEGORY_H
#define MERCATO_CATALOG_CATEGORY_H

#include <jansson.h>

#include "catalog/catalog.h"
#include "db/db.h"

#define CAT_CATEGORY_DEPTH_MAX 8
#define CAT_NAME_MAX 100

/* Creates a category from {name, slug?, parent_id?, position?} (body
 * borrowed).  Admins only (CAT_EFORBIDDEN).  CAT_EINVALID with field errors,
 * CAT_ECONFLICT when the slug is taken.  res->id is the new cat_ id. */
int category_create(db_t *db, const catalog_actor_t *actor, json_t *body, cat_result_t *res);

/* Renames, re-slugs, reorders or moves (parent_id, null = root) a category.
 * Moving under itself or a descendant, or deeper than
 * CAT_CATEGORY_DEPTH_MAX, is CAT_EINVALID. */
int category_update(db_t *db, const catalog_actor_t *actor, const char *id, json_t *body, cat_result_t *res);

/* Deletes a category that has no children and no products (CAT_ECONFLICT
 * otherwise). */
int category_delete(db_t *db, const catalog_actor_t *actor, const char *id, cat_result_t *res);

/* The whole tree as {"items":[{id, name, slug, parent_id, position,
 * children:[...]}]} (new reference, caller releases), or NULL on a database
 * error. */
json_t *category_tree_json(db_conn_t *c);

/* One category as JSON with its ancestors ("breadcrumbs"), by id or slug.
 * NULL with *rc = CAT_ENOTFOUND or CAT_EDB. */
json_t *category_get_json(db_conn_t *c, const char *id_or_slug, int *rc);

/* Resolves an id or slug to its path (copied into out, outlen bytes) for
 * descendant filters.  CAT_OK, CAT_ENOTFOUND or CAT_EDB. */
int category_resolve_path(db_conn_t *c, const char *id_or_slug, char *out, size_t outlen);

#endif
