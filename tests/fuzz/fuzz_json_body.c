/*
 * fuzz_json_body.c — libFuzzer harness for JSON request bodies.
 *
 * http_json_body() hands client bytes to jansson's json_loadb with
 * JSON_REJECT_DUPLICATES; this harness does the same, outside a server.
 * When the bytes parse, the value must survive a dump/reload round trip
 * (compact and ASCII-escaped) unchanged, which is what POST /v1/echo and
 * every handler that stores JSON rely on.  When they do not parse, the
 * error position reported to the client (400 problem with line, column and
 * byte) must lie inside the input.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

static void round_trip(json_t *j, size_t flags)
{
    char *s = json_dumps(j, flags | JSON_ENCODE_ANY);
    if (!s) abort();
    json_error_t err;
    json_t *k = json_loads(s, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (!k || !json_equal(j, k)) abort();
    json_decref(k);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t err;
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &err);
    if (!j) {
        if (err.position < 0 || (size_t)err.position > size) abort();
        if (err.line < -1 || err.column < -1) abort();
        return 0;
    }
    round_trip(j, JSON_COMPACT);
    round_trip(j, JSON_ENSURE_ASCII | JSON_SORT_KEYS | JSON_INDENT(2));
    json_decref(j);
    return 0;
}
