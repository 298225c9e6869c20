/*
 * catalog.h — products, variants, categories and their moderation workflow.
 *
 * DESIGN
 * A product belongs to a seller (identity's usr_... id) and moves through one
 * state machine, defined once below as X-macro lists so that the status
 * names in SQL CHECKs, JSON, events and the allowed transitions cannot drift
 * apart:  draft -> pending_review -> published | rejected (with a reason),
 * and archived from any state but itself.  A rejected product returns to
 * draft when its seller edits it, and may be submitted again.
 *
 * Every write runs in one database transaction that also appends an event
 * to the event log (src/jobs/events.h) and keeps the search index current
 * (SQLite: FTS5 triggers; PostgreSQL: a generated tsvector; plus the
 * autocomplete vocabulary in src/search/terms.c).  After commit the local
 * product cache is invalidated; other instances learn from the event log
 * (catalog_cache_on_event in cache.h).
 *
 * Who may do what is decided here, not in HTTP handlers: callers pass a
 * catalog_actor_t built from the authenticated principal.  A seller acting
 * on another seller's product gets CAT_ENOTFOUND (the product's existence is
 * not revealed); a customer trying a seller action gets CAT_EFORBIDDEN.
 *
 * Money is integer minor units plus an ISO 4217 code; all variants of one
 * product share a currency.  Times are epoch milliseconds.
 */
#ifndef MERCATO_CATALOG_CATALOG_H
#define MERCATO_CATALOG_CATALOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "util/arena.h"

/* ---- product statuses: X(ENUM, "json name") ---- */
#define PRODUCT_STATUS_LIST(X)            \
    X(DRAFT, "draft")                     \
    X(PENDING_REVIEW, "pending_review")   \
    X(PUBLISHED, "published")             \
    X(REJECTED, "rejected")               \
    X(ARCHIVED, "archived")

typedef enum {
    PRODUCT_STATUS_NONE = 0,
#define X(e, s) PRODUCT_##e,
    PRODUCT_STATUS_LIST(X)
#undef X
    PRODUCT_STATUS_COUNT
} product_status_t;

#define PS_BIT(e) (1u << PRODUCT_##e)

/* Who may fire a transition. */
#define CAT_BY_OWNER 1 /* the product's seller */
#define CAT_BY_ADMIN 2

/* ---- transitions: X(ENUM, "action", allowed-from mask, to, who, "event type") ---- */
#define PRODUCT_TRANSITION_LIST(X)                                                                        \
    X(SUBMIT, "submit", PS_BIT(DRAFT) | PS_BIT(REJECTED), PRODUCT_PENDING_REVIEW, CAT_BY_OWNER,            \
      "product.submitted")                                                                                 \
    X(APPROVE, "approve", PS_BIT(PENDING_REVIEW), PRODUCT_PUBLISHED, CAT_BY_ADMIN, "product.published")   \
    X(REJECT, "reject", PS_BIT(PENDING_REVIEW), PRODUCT_REJECTED, CAT_BY_ADMIN, "product.rejected")        \
    X(ARCHIVE, "archive", PS_BIT(DRAFT) | PS_BIT(PENDING_REVIEW) | PS_BIT(PUBLISHED) | PS_BIT(REJECTED),   \
      PRODUCT_ARCHIVED, CAT_BY_OWNER | CAT_BY_ADMIN, "product.archived")

typedef enum {
    PRODUCT_ACTION_NONE = 0,
#define X(e, name, from, to, who, ev) PRODUCT_ACTION_##e,
    PRODUCT_TRANSITION_LIST(X)
#undef X
    PRODUCT_ACTION_COUNT
} product_action_t;

/* "draft" -> PRODUCT_DRAFT; PRODUCT_STATUS_NONE when unknown. */
product_status_t product_status_parse(const char *s);
/* Static JSON name; "unknown" for out-of-range values. */
const char *product_status_name(product_status_t s);
/* "approve" -> PRODUCT_ACTION_APPROVE; PRODUCT_ACTION_NONE when unknown. */
product_action_t product_action_parse(const char *s);
const char *product_action_name(product_action_t a);
/* The status an action leads to, and whether it may start from `from`. */
product_status_t product_action_target(product_action_t a);
bool product_action_allowed_from(product_action_t a, product_status_t from);
/* CAT_BY_OWNER / CAT_BY_ADMIN mask. */
int product_action_who(product_action_t a);
const char *product_action_event(product_action_t a);

/* ---- results ---- */
#define CAT_OK 0
#define CAT_ENOTFOUND (-10)  /* no such object, or not visible to this actor */
#define CAT_EFORBIDDEN (-11) /* the actor's role may not do this at all */
#define CAT_ECONFLICT (-12)  /* state does not allow it, or a unique key is taken */
#define CAT_EINVALID (-13)   /* input failed validation: see res->errors */
#define CAT_EDB (-14)        /* database failure (logged) */

/* The outcome of a write.  errors (when set) is a JSON array of
 * {field, message} owned by the result: release with cat_result_clear().
 * detail is a static string or points into text, for the problem body (an
 * arena string would not outlive the write's own arena). */
typedef struct cat_result {
    int code;
    const char *detail;
    json_t *errors;
    char id[48];      /* id of the created / changed object */
    char text[160];   /* storage for a formatted detail (detail may point here) */
    int64_t event_id; /* the event appended, when one was */
} cat_result_t;

void cat_result_clear(cat_result_t *r);
/* Adds {field, message} (both copied) to r->errors and sets CAT_EINVALID. */
void cat_result_field(cat_result_t *r, const char *field, const char *message);

/* Who is acting (built from the request's principal by the HTTP layer). */
typedef struct catalog_actor {
    const char *id;   /* usr_... (or "operator"); NULL when anonymous */
    bool seller;      /* role seller */
    bool admin;       /* role admin or operator token */
} catalog_actor_t;

/* ---- limits ---- */
#define CAT_TITLE_MAX 200
#define CAT_DESC_MAX 20000
#define CAT_HANDLE_MAX 120
#define CAT_TAG_MAX 32
#define CAT_TAGS_MAX 20
#define CAT_ATTRS_MAX 30
#define CAT_ATTR_KEY_MAX 40
#define CAT_ATTR_VAL_MAX 200
#define CAT_VARIANTS_MAX 100
#define CAT_SKU_MAX 64
#define CAT_OPTIONS_MAX 5
#define CAT_PRICE_MAX 100000000000LL /* 1e11 minor units */

/* ---- products: writes ---- */

/* Creates a draft owned by the actor (a seller or an admin) from a JSON
 * object body: {title, description?, handle?, category_id?, tags?,
 * attributes?, variants?: [{sku, title?, options?, price:{amount,currency},
 * weight_grams?}]}.  body is borrowed.  On success res->id is the new
 * prod_ id.  Errors: CAT_EFORBIDDEN (not a seller/admin), CAT_EINVALID
 * (res->errors), CAT_ECONFLICT (handle or SKU taken), CAT_EDB. */
int product_create(db_t *db, const catalog_actor_t *actor, json_t *body, cat_result_t *res);

/* Applies a partial update (same fields as create; "variants" replaces the
 * list, keeping the ids of entries that name an existing "id").  Owners may
 * edit draft, rejected (which returns to draft) and published products;
 * admins any but archived.  Errors as product_create, plus CAT_ENOTFOUND and
 * CAT_ECONFLICT for a pending or archived product.  A non-NULL if_version
 * must equal the stored version (optimistic concurrency) or CAT_ECONFLICT. */
int product_update(db_t *db, const catalog_actor_t *actor, const char *product_id, json_t *body,
                   const int64_t *if_version, cat_result_t *res);

/* Fires a workflow action.  reason is required (1..1000 chars) for REJECT
 * and ignored otherwise.  Submitting needs a category and at least one
 * variant (CAT_EINVALID otherwise).  Errors: CAT_ENOTFOUND, CAT_EFORBIDDEN
 * (wrong role for the action), CAT_ECONFLICT (not allowed from the current
 * status; res->detail says why), CAT_EDB. */
int product_transition(db_t *db, const catalog_actor_t *actor, const char *product_id,
                       product_action_t action, const char *reason, cat_result_t *res);

/* ---- products: reads ---- */

/* Renders the product's public JSON (id or handle) into a new malloc'd
 * NUL-terminated string (caller frees) with its status and seller copied
 * into the out fields.  Returns 0, CAT_ENOTFOUND or CAT_EDB. */
typedef struct product_doc {
    char *json;
    size_t len;
    product_status_t status;
    char id[48];
    char seller_id[48];
} product_doc_t;
int product_render(db_conn_t *c, const char *id_or_handle, product_doc_t *out);

/* True when the actor may see a product with this status and seller. */
bool product_visible_to(const catalog_actor_t *actor, product_status_t status, const char *seller_id);

/* True when s is a syntactically valid handle ([a-z0-9-], 1..120, no leading,
 * trailing or doubled '-').  Handles are the product's URL name. */
bool catalog_handle_valid(const char *s);
/* Writes a handle derived from a title into out (size >= CAT_HANDLE_MAX+1):
 * lower-case ASCII letters and digits, other runs become '-', diacritics of
 * Latin letters folded.  Returns out; "product" when nothing is left. */
char *catalog_handle_from_title(char *out, size_t outlen, const char *title);
/* Normalises a tag into out (size >= CAT_TAG_MAX+1): lower case, [a-z0-9-].
 * Returns 0, or -1 when nothing valid is left or it is too long. */
int catalog_tag_normalize(char *out, size_t outlen, const char *tag);
/* True for a three-letter upper-case ISO 4217-shaped code. */
bool catalog_currency_valid(const char *s);

#endif
