/*
 * sched.h — the scheduling policy of the threads that do requests' and
 * jobs' work (see sched.c).
 */
#ifndef MERCATO_UTIL_SCHED_H
#define MERCATO_UTIL_SCHED_H

/* main, from --sched-batch, before any worker thread starts */
void sched_batch_enable(int on);

/* a handler, job worker or scheduler thread, at its start: SCHED_BATCH
 * when enabled */
void sched_batch_join(void);

/* around leading a SQLite group commit: the ordinary policy while this
 * thread holds the writer, SCHED_BATCH again after (no-ops for a thread
 * that did not join) */
void sched_lead_begin(void);
void sched_lead_end(void);

#endif
