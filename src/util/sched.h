/*
 * sched.h — the scheduling policy of the threads that do requests' and
 * jobs' work (see sched.c).
 */
#ifndef MERCATO_UTIL_SCHED_H
#define MERCATO_UTIL_SCHED_H

/* main, from --sched-batch, before any worker thread starts */
void sched_batch_enable(int on);

/* main, from --sched-writer-rt: a group leader switches to SCHED_FIFO
 * (priority 1) while it leads, when the process may (CAP_SYS_NICE); the
 * first refusal is logged and the leader keeps the ordinary policy */
void sched_writer_rt_enable(int on);

/* a handler, job worker or scheduler thread, at its start: SCHED_BATCH
 * when enabled */
void sched_batch_join(void);

/* around leading a SQLite group commit: the ordinary policy (or SCHED_FIFO,
 * see above) while this thread holds the writer, its own again after
 * (no-ops for a thread that did not join, without --sched-writer-rt) */
void sched_lead_begin(void);
void sched_lead_end(void);

#endif
