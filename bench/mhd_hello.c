/*
 * mhd_hello.c — the yardstick for bench/http.sh: a bare libmicrohttpd
 * "hello" server in the same threading mode as `mercato serve
 * --http-threads 1` (one internal epoll thread, MHD_USE_TURBO, no pool),
 * answering every request with a small persistent buffer.  Whatever mercato
 * costs beyond this is the price of our HTTP layer (request arena, routing,
 * request id, metrics, headers).
 *
 *   mhd_hello PORT        serves until SIGINT/SIGTERM
 */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char body[] = "{\"status\":\"ok\"}";

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **ctx)
{
    (void)cls, (void)url, (void)method, (void)version, (void)upload, (void)upload_size;
    static int first;
    if (*ctx == NULL) { /* headers only: answer on the next call, as mercato does */
        *ctx = &first;
        return MHD_YES;
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result rc = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: mhd_hello PORT\n");
        return 2;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO | MHD_USE_ERROR_LOG,
                                            (uint16_t)atoi(argv[1]), NULL, NULL, answer, NULL,
                                            MHD_OPTION_CONNECTION_LIMIT, 12000u, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
                                            MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    if (!d) {
        perror("MHD_start_daemon");
        return 1;
    }
    printf("listening on %s\n", argv[1]);
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    return 0;
}
