/* curl_once.c — see curl_once.h */
#include "util/curl_once.h"

#include <curl/curl.h>
#include <pthread.h>

static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

void curl_once(void) { pthread_once(&g_once, init); }
