/*
 * fulfil.h — fulfilment: shipments of paid orders and the carrier events
 * that move them and, through them, the order.
 *
 * FLOW
 * 1. An order becomes paid (event order.status_changed with to = "paid").
 * 2. The shared event consumer "fulfilment", in its batch's transaction
 *    (fulfilment.ship jobs of older versions do the same): one shipment per seller of the order's
 *    lines (status pending, carrier from --fulfilment-carrier), events
 *    shipment.created, the order paid -> fulfilling, and for the built-in
 *    demo carrier the first carrier.demo job.
 * 3. A carrier — an OAuth2 machine client with scope shipments:write, or the
 *    demo carrier's jobs — reports events (POST /v1/shipments/{id}/events).
 *    fulfil_apply_event() records each once (idempotent by the carrier's
 *    event id), moves the shipment when the transition is allowed and the
 *    event is not older than the current status (shipment_state.h), writes
 *    shipment.status_changed, and rolls the order's status up from all its
 *    shipments (fulfilling -> shipped -> delivered; delivery_failed,
 *    returned), each order transition an order.status_changed event.
 *
 * Events carry the order id as subject and the customer as owner, so the
 * order's SSE stream and the customer's stream show the tracking timeline.
 */
#ifndef MERCATO_FULFIL_FULFIL_H
#define MERCATO_FULFIL_FULFIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "fulfil/shipment_state.h"
#include "http/router.h"
#include "jobs/runtime.h"
#include "util/id.h"

#define CARRIER_EVENT_ID_MAX 128
#define CARRIER_LOCATION_MAX 200
#define CARRIER_TRACKING_MAX 64
#define CARRIER_NOTE_MAX 500

/* A carrier's status report, validated. */
typedef struct carrier_event {
    char external_id[CARRIER_EVENT_ID_MAX + 1];
    ship_status_t status;
    int64_t occurred_at; /* epoch ms */
    char location[CARRIER_LOCATION_MAX + 1];       /* "" when absent */
    char tracking_number[CARRIER_TRACKING_MAX + 1]; /* "" when absent */
    char note[CARRIER_NOTE_MAX + 1];               /* "" when absent */
} carrier_event_t;

/* Validates a carrier event body ({id, status, occurred_at, location?,
 * tracking_number?, note?}).  now_ms bounds occurred_at (at most 10 minutes
 * ahead).  0 when valid; -1 after appending {field, message} objects to
 * errors. */
int fulfil_parse_event(json_t *body, int64_t now_ms, carrier_event_t *out, json_t *errors);

typedef struct fulfil_result {
    bool found;   /* the shipment exists */
    bool replay;  /* this carrier event id was already recorded: nothing changed */
    bool applied; /* the event moved the shipment */
    char event_id[ID_MAX]; /* sev_... of the recorded event */
} fulfil_result_t;

/* Records a carrier event for a shipment and applies it (see the file
 * comment).  Must run inside a write transaction.  0 or a negative DB error. */
int fulfil_apply_event(db_conn_t *c, const char *shipment_id, const char *source, const char *actor,
                       const carrier_event_t *ev, fulfil_result_t *out);

/* Creates the shipments of a paid order (idempotent).  Inside a write
 * transaction.  Returns the number of shipments created (0 when the order is
 * not paid or already has them), or a negative DB error. */
int fulfil_create_shipments(db_conn_t *c, const char *order_id, const char *carrier, int64_t demo_step_ms);

/* A shipment as JSON with its lines and, when with_events, its timeline.
 * NULL when absent. */
json_t *fulfil_render_shipment(db_conn_t *c, const char *shipment_id, bool with_events);

/* Routes, jobs and the event consumer. */
void fulfil_routes(router_t *r);
struct app;
void fulfil_jobs(jobs_t *rt, struct app *app);

#endif
