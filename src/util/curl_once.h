/*
 * curl_once.h — libcurl's global initialisation on first use.
 *
 * curl_global_init() initialises OpenSSL's TLS side and costs about 2 MB of
 * resident memory; a server that never sends mail, calls Stripe or delivers
 * a webhook should not pay it at start-up. Every curl_easy_init() in the
 * tree is preceded by curl_once(); pthread_once makes the first call the
 * only one, from whichever thread gets there first.
 */
#ifndef MERCATO_UTIL_CURL_ONCE_H
#define MERCATO_UTIL_CURL_ONCE_H

void curl_once(void);

#endif
