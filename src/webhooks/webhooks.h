/*
 * webhooks.h — outgoing webhooks (Standard Webhooks 1.0).
 *
 * DESIGN
 * Admins register endpoints (URL, event-type filter, secret whsec_...).  A
 * shared event-log consumer turns every event whose type matches an enabled
 * endpoint into one row of webhook_deliveries and one job on the queue
 * "webhooks.deliver", in one transaction; the unique key (endpoint_id,
 * msg_id) makes that exactly once per (endpoint, event) however often the
 * consumer replays the tail, on however many instances.  The job POSTs the
 * stored body with webhook-id / webhook-timestamp / webhook-signature
 * headers, logs the attempt, and retries with exponential backoff (or the
 * receiver's Retry-After) until the last attempt; 410 Gone disables the
 * endpoint at once, and so do too many consecutive failed deliveries.
 *
 * SSRF: every address curl is about to connect to (after DNS, so a
 * hostname that resolves to 127.0.0.1 is caught too) passes
 * webhook_addr_refused() unless --webhook-allow-private is set.  No proxy,
 * no redirects, http and https only.
 *
 * The pure parts (signing, address and URL checks, type filters, body
 * validation) are here for unit tests and the fuzz harness.
 */
#ifndef MERCATO_WEBHOOKS_WEBHOOKS_H
#define MERCATO_WEBHOOKS_WEBHOOKS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "db/db.h"
#include "http/router.h"
#include "jobs/events.h"

struct app;
struct jobs;

#define WEBHOOK_QUEUE "webhooks.deliver"
#define WEBHOOK_SECRET_MAX 96  /* "whsec_" + base64 of up to 64 bytes + NUL */
#define WEBHOOK_SIG_MAX 64     /* "v1," + 44 base64 chars + NUL */
#define WEBHOOK_URL_MAX 2048
#define WEBHOOK_TYPES_MAX 64   /* entries in an endpoint's event_types */
#define WEBHOOK_TYPE_MAX 100   /* bytes in one type pattern */
#define WEBHOOK_DESC_MAX 500

/* Writes a new secret "whsec_<base64 of 24 random bytes>" into out. */
void webhook_secret_new(char out[WEBHOOK_SECRET_MAX]);

/* Decodes the key of "whsec_<base64>" (the prefix is optional, as in the
 * reference libraries) into key (up to keymax bytes).  Returns the key
 * length, or -1 when the text is not base64 or the key is empty. */
int webhook_secret_decode(const char *secret, unsigned char *key, size_t keymax);

/* Standard Webhooks signature of one message: writes "v1,<base64 of
 * HMAC-SHA256(key, msg_id "." ts "." body)>" into out (WEBHOOK_SIG_MAX
 * bytes).  0 ok, -1 when the secret does not decode. */
int webhook_sign(char out[WEBHOOK_SIG_MAX], const char *secret, const char *msg_id, int64_t ts,
                 const char *body, size_t len);

/* Why connecting to this address is refused (a static string such as
 * "loopback", "private", "link-local", "multicast", "unspecified",
 * "reserved"), or NULL when it is a public unicast address.  IPv4-mapped,
 * IPv4-compatible and NAT64 IPv6 addresses are judged by their IPv4 part.
 * Families other than AF_INET/AF_INET6 are refused ("not an IP address"). */
const char *webhook_addr_refused(const struct sockaddr *sa);

/* Checks an endpoint URL: absolute http(s), a host, no user:password, no
 * fragment, at most WEBHOOK_URL_MAX bytes.  Unless allow_private, a
 * literal IP address of a refused kind and "localhost" are refused too (the
 * resolved address is checked again at every connection).  0 ok, -1 with a
 * message for people in err. */
int webhook_url_check(const char *url, int allow_private, char *err, size_t errlen);

/* True when type matches pattern: "*" (everything), "order.*" (the
 * prefix "order." and anything after), or an exact type. */
int webhook_type_matches(const char *pattern, const char *type);
/* True when any pattern of the JSON array text types_json matches type. */
int webhook_types_match(const char *types_json, const char *type);

/* An endpoint create/update body, validated.  Strings are borrowed from
 * the JSON body; types is a borrowed array. */
typedef struct webhook_input {
    const char *url;
    const char *description;
    json_t *types;
    int enabled;
    unsigned has_url : 1, has_description : 1, has_types : 1, has_enabled : 1;
} webhook_input_t;

/* Validates body (fields url, description, event_types, and enabled when
 * !creating).  Appends {field, message} objects to errors for every
 * problem and returns their count (0 = valid). */
int webhook_input_parse(json_t *body, int creating, int allow_private, webhook_input_t *out, json_t *errors);

/* The event consumer: turns ev into deliveries for the matching enabled
 * endpoints and enqueues their jobs, with c inside the caller's transaction
 * (the consumer's batch).  Idempotent.  0 ok, non-zero on a database error
 * (the event is offered again). */
int webhook_on_event(db_conn_t *c, const event_t *ev, void *ctx);

/* Delivery settings (from the configuration; the defaults until set). */
typedef struct webhook_settings {
    int allow_private;
    int max_attempts;
    int64_t backoff_ms;
    int64_t timeout_ms;
    int disable_after;  /* consecutive failed deliveries before disabling */
} webhook_settings_t;
void webhook_configure(const webhook_settings_t *s);

/* Enqueues the delivery job of delivery_id (in the caller's transaction). */
int64_t webhook_delivery_enqueue(db_conn_t *c, const char *delivery_id);

/* Registration: the admin API, the job handler and the consumer. */
void webhook_routes(router_t *r);
void webhook_jobs(struct jobs *rt, struct app *app);

#endif
