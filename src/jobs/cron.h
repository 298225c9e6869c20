/*
 * cron.h — 5-field cron expressions for the job queue's recurring schedules.
 *
 * Why: jobs_schedule() takes a cron expression and the scheduler fires the
 * job once per slot, so it needs "the first slot after t" for a text that an
 * operator wrote.  Parsing and the next-slot search are pure and live here,
 * apart from the queue, so they can be unit-tested and fuzzed alone.
 *
 * DESIGN
 * An expression is parsed once into bitsets, one per field; a slot is a whole
 * UTC minute whose minute, hour, month and day bits are set.  Syntax:
 *
 *   minute hour day-of-month month day-of-week      (spaces/tabs between)
 *
 * Each field is a comma list of items: '*', 'n' or 'a-b', where '*' and
 * 'a-b' may take a step '/s', and 'a/s' means 'a-max/s'.  Months may be
 * written JAN-DEC and days SUN-SAT (any case); day-of-week takes 0-7 with
 * both 0 and 7 meaning Sunday.  Macros: @yearly @annually @monthly @weekly
 * @daily @midnight @hourly.  A step runs from 1 to the field's largest value.
 * Leading and trailing spaces/tabs are ignored; any other stray byte (a
 * newline included) is an error, as is anything Quartz-like (L, W, #, ?).
 *
 * Day matching follows Vixie cron: when day-of-month and day-of-week are
 * both restricted, a day matches if EITHER matches; otherwise both must
 * match.  As in Vixie cron, a field counts as unrestricted when it begins
 * with '*', so "every other day" (a stepped star) in day-of-month combined
 * with "MON" means odd-numbered Mondays, not odd days plus Mondays.
 * In day-of-week, '*' and 'a/s' run to 6 (Saturday); 7 means Sunday only
 * where it is written ("7", "5-7"), and a range ending on the name SUN ends
 * on 7, so "FRI-SUN" is Friday to Sunday.
 *
 * cron_next() walks the calendar in plain UTC arithmetic (no time zone, no
 * libc time functions), skipping whole months, days and hours whose bits are
 * clear, so a search costs at most a few thousand cheap steps.
 */
#ifndef MERCATO_JOBS_CRON_H
#define MERCATO_JOBS_CRON_H

#include <stddef.h>
#include <stdint.h>

/* Longest accepted expression, in bytes (without the NUL). */
#define CRON_EXPR_MAX 256

/* How far cron_next() looks ahead before it gives up (5 years of 365.25
 * days, rounded up). */
#define CRON_HORIZON_DAYS 1827

typedef struct cron {
    uint64_t minute; /* bits 0-59 */
    uint32_t hour;   /* bits 0-23 */
    uint32_t dom;    /* bits 1-31 */
    uint16_t month;  /* bits 1-12 */
    uint8_t dow;     /* bits 0-6, 0 = Sunday (7 is folded into 0) */
    int dom_star, dow_star; /* the field began with '*' (see DESIGN) */
} cron_t;

/* Parses expr (NUL-terminated, at most CRON_EXPR_MAX bytes) into *out.
 * Returns 0, or -1 with *out zeroed and a one-line English message in err
 * (e.g. "minute field: 61 is out of range 0-59"); err may be NULL, and a
 * message longer than errlen is truncated.  Nothing is allocated. */
int cron_parse(cron_t *out, const char *expr, char *err, size_t errlen);

/* The first slot strictly after after_ms (epoch milliseconds, UTC), as epoch
 * milliseconds at second 0 of its minute.  Returns -1 when no slot exists
 * within CRON_HORIZON_DAYS (e.g. "0 0 30 2 *"), or when after_ms lies outside
 * the years 1-9999. */
int64_t cron_next(const cron_t *c, int64_t after_ms);

#endif
