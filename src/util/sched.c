/*
 * sched.c — SCHED_BATCH for the threads that do requests' and jobs' work,
 * the ordinary policy for the one that holds the SQLite writer.
 *
 * On a 2-core machine under checkout load the SQLite group leader held the
 * write lock ~1.2 ms per group but ran only ~0.8 ms of it: about two
 * preemptions per group, each a thread woken by a futex or a socket (a
 * handler thread given a request, a caller woken by the previous commit, a
 * job worker) that the kernel let run at once.  Everything waits for the
 * writer, so those preemptions cost throughput.  A thread under SCHED_BATCH
 * does not preempt the running thread when it wakes (it waits for the
 * running one's time slice or sleep) and is otherwise scheduled as usual;
 * leaving and re-entering it needs no privilege.  The leader switches to
 * the ordinary policy for the group it leads and back after.
 * bench/checkout.sh, nine interleaved pairs with and without: +2 to +9% in
 * six, -3 to -5% in three, +3% on average, CPU per order down about as much
 * (bench/README.md): a small gain, within the noise of single runs.
 * --sched-batch=false turns it off.
 */
#include "util/sched.h"

#include <pthread.h>
#include <sched.h>

static int g_on;
static __thread int t_batch; /* this thread joined */

static void set_policy(int policy)
{
    struct sched_param sp = { .sched_priority = 0 };
    pthread_setschedparam(pthread_self(), policy, &sp);
}

void sched_batch_enable(int on) { g_on = on; }

void sched_batch_join(void)
{
    if (!g_on) return;
    struct sched_param sp = { .sched_priority = 0 };
    t_batch = pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp) == 0;
}

void sched_lead_begin(void)
{
    if (t_batch) set_policy(SCHED_OTHER);
}

void sched_lead_end(void)
{
    if (t_batch) set_policy(SCHED_BATCH);
}
