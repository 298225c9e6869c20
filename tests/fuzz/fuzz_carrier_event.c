/*
 * fuzz_carrier_event.c — libFuzzer harness for the carrier event body
 * (POST /v1/shipments/{id}/events): JSON as the HTTP layer parses it, then
 * fulfil_parse_event().  A valid event must come out with its invariants
 * (a carrier status, bounded NUL-terminated strings, a sane time).  The
 * corpus in tests/fuzz/corpus/fuzz_carrier_event replays in the ordinary
 * suite.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fulfil/fulfil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!body) return 0;
    json_t *errors = json_array();
    carrier_event_t ev;
    int rc = fulfil_parse_event(body, 1800000000000LL, &ev, errors);
    if (rc == 0) {
        if (json_array_size(errors) != 0) abort();
        if (ev.status <= SHIP_PENDING || ev.status >= SHIP_NSTATUS) abort();
        if (strlen(ev.external_id) == 0 || strlen(ev.external_id) > CARRIER_EVENT_ID_MAX) abort();
        if (strlen(ev.location) > CARRIER_LOCATION_MAX || strlen(ev.note) > CARRIER_NOTE_MAX) abort();
        if (strlen(ev.tracking_number) > CARRIER_TRACKING_MAX) abort();
        if (ev.occurred_at > 1800000000000LL + 600000) abort();
    } else if (json_array_size(errors) == 0) {
        abort();
    }
    json_decref(errors);
    json_decref(body);
    return 0;
}
