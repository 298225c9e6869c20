/*
 * notify.h — in-app notifications and order emails from the event log.
 *
 * One table (NOTICE_LIST in notify.c) says which events concern a customer,
 * what notification they become and which email template, if any, goes
 * with them.  The "notifications" consumer applies it to every event once
 * (idempotent per event id) and enqueues the mail in the same transaction.
 */
#ifndef MERCATO_LIVE_NOTIFY_H
#define MERCATO_LIVE_NOTIFY_H

#include <jansson.h>

#include "db/db.h"
#include "http/router.h"
#include "jobs/events.h"

#define NOTIFY_CONSUMER "notifications"

/* The consumer: turns one event into a notification (and mail) when the
 * table maps it, writing with c inside the caller's transaction (the
 * consumer's batch).  0 handled (or not relevant); negative DB error to
 * retry.  public_url and shop are used in mail links; borrowed. */
int notify_apply(db_conn_t *c, const event_t *ev, const char *public_url, const char *shop);

/* The notification kind an event maps to, or NULL (for tests and docs). */
const char *notify_kind_for(const char *type, json_t *data);

/* Formats money in minor units as "12.34 EUR" (zero-decimal currencies
 * without a fraction) into out. */
void notify_money(char *out, size_t outlen, long long minor, const char *currency);

/* A user's notifications, newest first ($1 user, $2 before this event id,
 * $3 limit), all or the unread: their query plans are tested. */
extern const db_sql_t notify_sql_list;
extern const db_sql_t notify_sql_list_unread;

void notify_routes(router_t *r);

#endif
