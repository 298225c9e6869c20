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
 *
 * A time-sharing thread is still preempted when its slice ends and another
 * thread is runnable on its core: ~1.3 times per group in the same bench
 * (getrusage: involuntary switches), the leader on the CPU for ~75% of the
 * time it held the write lock.  With --sched-writer-rt the leader runs as a
 * real-time thread (SCHED_FIFO, priority 1) while it leads: nothing but
 * the kernel preempts it (wall time per group ~1.03 x its CPU time, ~1.28
 * without; stop 15: +2 to +15% orders/s in three pairs, groups of ~4
 * instead of ~11).
 * That takes CAP_SYS_NICE (root, or the capability given to the binary or
 * container), so it is off by default; the kernel's real-time throttling
 * (95% of each second by default) bounds a runaway.  Measured in
 * bench/README.md.
 */
#include "util/sched.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "util/log.h"

static int g_on;
static int g_rt; /* try SCHED_FIFO while leading; cleared at the first refusal */
static __thread int t_batch; /* this thread joined */
static __thread int t_rt;    /* this thread leads under SCHED_FIFO now */

static void set_policy(int policy)
{
    struct sched_param sp = { .sched_priority = 0 };
    pthread_setschedparam(pthread_self(), policy, &sp);
}

void sched_batch_enable(int on) { g_on = on; }

void sched_writer_rt_enable(int on) { __atomic_store_n(&g_rt, on, __ATOMIC_RELAXED); }

void sched_batch_join(void)
{
    if (!g_on) return;
    struct sched_param sp = { .sched_priority = 0 };
    t_batch = pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp) == 0;
}

void sched_lead_begin(void)
{
    if (__atomic_load_n(&g_rt, __ATOMIC_RELAXED)) {
        struct sched_param sp = { .sched_priority = 1 };
        int rc = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
        if (rc == 0) {
            t_rt = 1;
            return;
        }
        if (__atomic_exchange_n(&g_rt, 0, __ATOMIC_RELAXED))
            log_warn("sched", "--sched-writer-rt: SCHED_FIFO refused (%s; it needs CAP_SYS_NICE): "
                              "the writer keeps the ordinary policy", strerror(rc));
    }
    if (t_batch) set_policy(SCHED_OTHER);
}

void sched_lead_end(void)
{
    if (t_rt) {
        t_rt = 0;
        set_policy(t_batch ? SCHED_BATCH : SCHED_OTHER);
    } else if (t_batch) {
        set_policy(SCHED_BATCH);
    }
}
