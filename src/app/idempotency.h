/*
 * idempotency.h — Idempotency-Key for unsafe POSTs that create something.
 *
 * Behaviour (IETF httpapi idempotency-key draft, as Stripe does it): the
 * first request with a key runs and its response (status, content type,
 * body bytes) is stored; a retry with the same key and the same request
 * (method, path, body) gets that response again byte for byte with
 * "Idempotent-Replayed: true"; the same key with a different request is
 * 422; the same key while the first request is still running is 409 with
 * Retry-After.  Keys are scoped per caller (user, machine client, or for
 * anonymous callers the cart token or client address) and kept at least
 * 24 hours (purged after 48 by a recurring job).  5xx answers are not
 * stored, so a retry runs again.
 *
 * Exactly-once: a claim row is committed before the handler runs — or,
 * for routes flagged HTTP_ROUTE_IDEM_IN_TX, written first thing in the
 * handler's own transaction (idem_claim), which saves a transaction and its
 * wait per request: a concurrent duplicate then finds the key answered (or
 * waits for the first transaction, on PostgreSQL) instead of in flight, and
 * a claim never outlives its request.  Handlers
 * whose effect must not be repeated (orders, payments) store their response
 * inside their own transaction with idem_save(), so "order created" and
 * "key answered" commit together.  A claim whose request crashed before
 * committing expires after IDEM_LEASE_MS and the next retry runs it.
 * Other handlers are stored by the post-hook after they respond.
 */
#ifndef MERCATO_APP_IDEMPOTENCY_H
#define MERCATO_APP_IDEMPOTENCY_H

#include "db/db.h"
#include "http/http.h"
#include "jobs/runtime.h"

#define IDEM_LEASE_MS 60000
#define IDEM_KEY_MAX 255

/* Pre-handler step for routes flagged HTTP_ROUTE_IDEMPOTENT.  Returns 0 to
 * run the handler, 1 when it has answered (replay, 409, 422, 400). */
int idem_pre(http_req_t *req, int route_flags);
/* Post-handler step: stores the response unless the handler did. */
void idem_post(http_req_t *req, int route_flags);
/* Stores the response for this request's key with the caller's connection
 * (call inside the handler's transaction, then send exactly these bytes).
 * No-op (0) when the request carries no key.  <0 on database error. */
int idem_save(db_conn_t *c, http_req_t *req, int status, const char *content_type, const char *body);
/* After the db_tx whose fn called idem_save(): its result.  Non-zero means
 * the transaction (and the stored answer with it) rolled back, so the
 * post-hook stores or releases as for a handler that saved nothing (a fn
 * may have saved in a run that did not commit). */
void idem_tx_done(http_req_t *req, int rc);

/* For routes flagged HTTP_ROUTE_IDEM_IN_TX: call first in the handler's
 * transaction fn.  0: the key is this request's now (or the request has
 * none) — go on, and idem_save() the answer in the same transaction.
 * IDEM_TAKEN: another request claimed the key meanwhile — return it from
 * the fn (nothing written) and answer with idem_answer_taken() after the
 * transaction.  <0 on database error. */
#define IDEM_TAKEN 0x1de
int idem_claim(db_conn_t *c, http_req_t *req);
/* After a transaction fn returned IDEM_TAKEN: answers as a retry with the
 * key would be (the stored answer, 422, or 409 while in flight). */
void idem_answer_taken(http_req_t *req);

/* Registers the purge job (recurring). */
void idem_jobs(jobs_t *rt);

#endif
