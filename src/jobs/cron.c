/*
 * cron.c — parsing 5-field cron expressions and finding the next slot
 * (see cron.h for the syntax and the day-matching rule).
 *
 * DESIGN
 * The parser is a single pass over the text with no allocation: the
 * expression is split on spaces/tabs into exactly five fields, and each field
 * is a comma list whose items set bits in a 64-bit scratch set; the first
 * error stops the parse with a message that names the field and the
 * offending text.  Numbers are read as whole tokens, so "61", "1x" and a
 * 40-digit number each get one precise message instead of a partial parse.
 *
 * cron_next() converts the start minute to a civil date once (Howard
 * Hinnant's days/civil algorithms, exact for the proleptic Gregorian
 * calendar) and then moves forward: a month without its bit jumps to the 1st
 * of the next month that has one, a non-matching day to the next day, and
 * hours and minutes are found with a count-trailing-zeros over the masked
 * bitset.  Each step moves at least one day or finishes, so the search is
 * bounded by the horizon (CRON_HORIZON_DAYS) plus at most 60 month jumps.
 */
#include "jobs/cron.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MINUTE_MS 60000
#define DAY_MINUTES 1440

/* Valid bits of each field, used to ignore stray bits in a hand-built cron_t. */
#define MINUTE_BITS ((UINT64_C(1) << 60) - 1)
#define HOUR_BITS ((UINT32_C(1) << 24) - 1)
#define DOM_BITS (((UINT32_C(1) << 31) - 1) << 1)
#define MONTH_BITS ((uint16_t)(((1u << 12) - 1) << 1))
#define DOW_BITS ((uint8_t)((1u << 7) - 1))

/* ---- parsing -------------------------------------------------------- */

static const char *const month_names[] = { "JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                           "JUL", "AUG", "SEP", "OCT", "NOV", "DEC" };
static const char *const day_names[] = { "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT" };

typedef struct field {
    const char *name;
    int lo, hi;       /* values that may be written */
    int star_hi;      /* where '*' and 'a/s' end (6 for day-of-week, 7 being an alias) */
    const char *const *names; /* three-letter names for lo.. (NULL: numbers only) */
    int nnames;
    int names_base;   /* value of names[0] */
} field_t;

static const field_t fields[5] = {
    { "minute", 0, 59, 59, NULL, 0, 0 },
    { "hour", 0, 23, 23, NULL, 0, 0 },
    { "day-of-month", 1, 31, 31, NULL, 0, 0 },
    { "month", 1, 12, 12, month_names, 12, 1 },
    { "day-of-week", 0, 7, 6, day_names, 7, 0 },
};

typedef struct parser {
    const char *p, *end; /* the rest of the current field */
    const field_t *f;
    char *err;
    size_t errlen;
} parser_t;

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

static int is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static int is_alpha(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static char upper(char ch)
{
    return ch >= 'a' && ch <= 'z' ? (char)(ch - 'a' + 'A') : ch;
}

/* A message about the character at ps->p: printable ones are quoted, others
 * are shown as a byte value so the message stays one clean line. */
static int fail_unexpected(parser_t *ps)
{
    if (ps->p >= ps->end)
        return fail(ps->err, ps->errlen, "%s field: unexpected end of field", ps->f->name);
    unsigned char ch = (unsigned char)*ps->p;
    if (ch >= 0x21 && ch < 0x7f)
        return fail(ps->err, ps->errlen, "%s field: unexpected character '%c'", ps->f->name, ch);
    return fail(ps->err, ps->errlen, "%s field: unexpected byte 0x%02X", ps->f->name, ch);
}

/* Reads a run of digits as a number; more than 9 digits is simply too big
 * (reported by the caller with the text as written). */
static void read_number(parser_t *ps, int *out, const char **tok, int *toklen)
{
    const char *s = ps->p;
    int64_t v = 0;
    while (ps->p < ps->end && is_digit(*ps->p)) {
        if (v < 1000000000) v = v * 10 + (*ps->p - '0');
        ps->p++;
    }
    *tok = s;
    *toklen = (int)(ps->p - s);
    *out = v > 1000000000 ? 1000000000 : (int)v;
}

/* printf arguments for "%.*s%s": a token as written, cut at 16 bytes. */
#define TOKEN_ARGS(len, tok) ((len) > 16 ? 16 : (len)), (tok), ((len) > 16 ? "..." : "")

/* One value: a number in lo..hi, or a name where the field has names. */
static int parse_value(parser_t *ps, int *out)
{
    const field_t *f = ps->f;
    const char *tok;
    int len;
    if (ps->p < ps->end && is_digit(*ps->p)) {
        read_number(ps, out, &tok, &len);
        if (*out < f->lo || *out > f->hi)
            return fail(ps->err, ps->errlen, "%s field: %.*s%s is out of range %d-%d", f->name,
                        TOKEN_ARGS(len, tok), f->lo, f->hi);
        return 0;
    }
    if (ps->p < ps->end && is_alpha(*ps->p)) {
        tok = ps->p;
        while (ps->p < ps->end && is_alpha(*ps->p)) ps->p++;
        len = (int)(ps->p - tok);
        if (!f->names)
            return fail(ps->err, ps->errlen, "%s field: names are not allowed here (\"%.*s%s\")", f->name,
                        TOKEN_ARGS(len, tok));
        if (len == 3) {
            for (int i = 0; i < f->nnames; i++) {
                const char *n = f->names[i];
                if (upper(tok[0]) == n[0] && upper(tok[1]) == n[1] && upper(tok[2]) == n[2]) {
                    *out = f->names_base + i;
                    return 0;
                }
            }
        }
        return fail(ps->err, ps->errlen, "%s field: unknown name \"%.*s%s\"", f->name, TOKEN_ARGS(len, tok));
    }
    /* parse_item has ruled out an empty item, so this is "a-" */
    if (ps->p >= ps->end || *ps->p == ',')
        return fail(ps->err, ps->errlen, "%s field: range is missing its end", f->name);
    return fail_unexpected(ps);
}

/* One list item: '*', 'a' or 'a-b', optionally followed by '/step'. */
static int parse_item(parser_t *ps, uint64_t *bits)
{
    const field_t *f = ps->f;
    int a, b, step = 1, single = 0;
    if (ps->p >= ps->end || *ps->p == ',')
        return fail(ps->err, ps->errlen, "%s field: empty item in list", f->name);
    if (*ps->p == '*') {
        ps->p++;
        a = f->lo;
        b = f->star_hi;
    } else {
        if (parse_value(ps, &a) < 0) return -1;
        if (ps->p < ps->end && *ps->p == '-') {
            ps->p++;
            const char *end_text = ps->p;
            if (parse_value(ps, &b) < 0) return -1;
            /* "FRI-SUN": a range that ends on the name SUN ends on 7 */
            if (b == 0 && f->names == day_names && is_alpha(*end_text)) b = 7;
            if (b < a)
                return fail(ps->err, ps->errlen, "%s field: range %d-%d is reversed", f->name, a, b);
        } else {
            b = a;
            single = 1;
        }
    }
    if (ps->p < ps->end && *ps->p == '/') {
        ps->p++;
        if (ps->p >= ps->end || !is_digit(*ps->p))
            return fail(ps->err, ps->errlen, "%s field: '/' must be followed by a step number", f->name);
        const char *tok;
        int len;
        read_number(ps, &step, &tok, &len);
        if (step == 0) return fail(ps->err, ps->errlen, "%s field: step 0 is not allowed", f->name);
        if (step > f->hi)
            return fail(ps->err, ps->errlen, "%s field: step %.*s%s is out of range 1-%d", f->name,
                        TOKEN_ARGS(len, tok), f->hi);
        if (single && a < f->star_hi) b = f->star_hi; /* "a/s" means "a-max/s" */
    }
    if (ps->p < ps->end && *ps->p != ',') return fail_unexpected(ps);
    for (int v = a; v <= b; v += step) *bits |= UINT64_C(1) << v;
    return 0;
}

static int parse_field(parser_t *ps, uint64_t *bits)
{
    *bits = 0;
    for (;;) {
        if (parse_item(ps, bits) < 0) return -1;
        if (ps->p >= ps->end) return 0;
        ps->p++; /* the ',' that parse_item stopped at */
    }
}

static const struct {
    const char *name;
    const char *expansion;
} macros[] = {
    { "@yearly", "0 0 1 1 *" },  { "@annually", "0 0 1 1 *" }, { "@monthly", "0 0 1 * *" },
    { "@weekly", "0 0 * * 0" },  { "@daily", "0 0 * * *" },    { "@midnight", "0 0 * * *" },
    { "@hourly", "0 * * * *" },
};

int cron_parse(cron_t *out, const char *expr, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (err && errlen > 0) err[0] = '\0';
    if (!expr) return fail(err, errlen, "no cron expression");
    size_t n = strnlen(expr, CRON_EXPR_MAX + 1);
    if (n > CRON_EXPR_MAX)
        return fail(err, errlen, "cron expression is longer than %d bytes", CRON_EXPR_MAX);
    const char *s = expr, *end = expr + n;
    while (s < end && is_blank(*s)) s++;
    while (end > s && is_blank(end[-1])) end--;
    if (s == end) return fail(err, errlen, "cron expression is empty");

    if (*s == '@') {
        const char *e = s;
        while (e < end && !is_blank(*e)) e++;
        if (e != end) return fail(err, errlen, "%.*s%s takes no fields after it", TOKEN_ARGS((int)(e - s), s));
        size_t len = (size_t)(e - s);
        for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++) {
            if (strlen(macros[i].name) != len) continue;
            size_t k = 0;
            while (k < len && upper(s[k]) == upper(macros[i].name[k])) k++;
            if (k == len) return cron_parse(out, macros[i].expansion, err, errlen);
        }
        return fail(err, errlen, "unknown macro \"%.*s%s\"", TOKEN_ARGS((int)len, s));
    }

    /* split into fields first, so a wrong count is reported as such rather
     * than as an error inside a field that was never meant to be there */
    const char *fs[5], *fe[5];
    int count = 0;
    for (const char *p = s; p < end;) {
        const char *q = p;
        while (q < end && !is_blank(*q)) q++;
        if (count < 5) {
            fs[count] = p;
            fe[count] = q;
        }
        count++;
        while (q < end && is_blank(*q)) q++;
        p = q;
    }
    if (count != 5)
        return fail(err, errlen, "expected 5 fields (minute hour day-of-month month day-of-week), got %d", count);

    uint64_t bits[5];
    for (int i = 0; i < 5; i++) {
        parser_t ps = { fs[i], fe[i], &fields[i], err, errlen };
        if (parse_field(&ps, &bits[i]) < 0) {
            memset(out, 0, sizeof *out);
            return -1;
        }
    }
    out->minute = bits[0];
    out->hour = (uint32_t)bits[1];
    out->dom = (uint32_t)bits[2];
    out->month = (uint16_t)bits[3];
    out->dow = (uint8_t)((bits[4] | (bits[4] >> 7)) & DOW_BITS); /* 7 is Sunday */
    out->dom_star = *fs[2] == '*';
    out->dow_star = *fs[4] == '*';
    return 0;
}

/* ---- next slot ------------------------------------------------------ */

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), Howard Hinnant's
 * days_from_civil. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The inverse: y-m-d of a day number (Hinnant's civil_from_days). */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m)
{
    static const int n[13] = { 0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return n[m];
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Vixie cron's rule (cron.h): OR when both day fields are restricted. */
static int day_matches(const cron_t *c, int d, int64_t day)
{
    int dow = (int)(((day % 7) + 11) % 7); /* day 0 was a Thursday */
    int dom_ok = (c->dom >> d) & 1, dow_ok = (c->dow >> dow) & 1;
    if (c->dom_star || c->dow_star) return dom_ok && dow_ok;
    return dom_ok || dow_ok;
}

/* 0001-01-01T00:00:00Z and 10000-01-01T00:00:00Z in epoch milliseconds. */
#define AFTER_MIN_MS INT64_C(-62135596800000)
#define AFTER_END_MS INT64_C(253402300800000)

int64_t cron_next(const cron_t *c, int64_t after_ms)
{
    if (after_ms < AFTER_MIN_MS || after_ms >= AFTER_END_MS) return -1;
    uint64_t minutes = c->minute & MINUTE_BITS;
    uint32_t hours = c->hour & HOUR_BITS;
    uint16_t months = c->month & MONTH_BITS;
    if (!minutes || !hours || !months || !(c->dom & DOM_BITS) || !(c->dow & DOW_BITS)) return -1;

    int64_t after_min = floor_div(after_ms, MINUTE_MS);
    int64_t limit_min = after_min + (int64_t)CRON_HORIZON_DAYS * DAY_MINUTES;
    int64_t start = after_min + 1; /* first candidate: strictly after */
    int64_t day = floor_div(start, DAY_MINUTES);
    int rem = (int)(start - day * DAY_MINUTES);
    int h = rem / 60, mi = rem % 60;
    int64_t y;
    int m, d;
    civil_from_days(day, &y, &m, &d);

    while (day * DAY_MINUTES <= limit_min) {
        if (!((months >> m) & 1)) {
            do {
                if (++m > 12) {
                    m = 1;
                    y++;
                }
            } while (!((months >> m) & 1));
            d = 1;
            day = days_from_civil(y, m, 1);
            h = mi = 0;
            continue;
        }
        uint32_t hb = hours & (~UINT32_C(0) << h);
        if (day_matches(c, d, day) && hb) {
            int nh = __builtin_ctz(hb);
            if (nh != h) mi = 0;
            h = nh;
            uint64_t mb = minutes & (~UINT64_C(0) << mi);
            if (mb) {
                int64_t slot = day * DAY_MINUTES + h * 60 + __builtin_ctzll(mb);
                return slot <= limit_min ? slot * MINUTE_MS : -1;
            }
            if (h < 23) {
                h++;
                mi = 0;
                continue; /* the next matching hour of this day, if any */
            }
        }
        /* the next day */
        h = mi = 0;
        day++;
        if (++d > days_in_month(y, m)) {
            d = 1;
            if (++m > 12) {
                m = 1;
                y++;
            }
        }
    }
    return -1;
}
