/*
 * curl_lazy.c — the libcurl functions mercato calls, loading libcurl on the
 * first one (see util/lazylib.h): a server that sends no mail, calls no
 * payment provider and delivers no webhook never maps it.
 */
#define CURL_DISABLE_TYPECHECK /* the type-checking macros would rename our definitions */
#include <curl/curl.h>
#include <stdarg.h>

#include "util/lazylib.h"

LAZYLIB(g_curl, "libcurl.so.4");

/* clang-format off */
LAZY_FN(g_curl, CURLcode, curl_global_init, (long flags), (flags))
LAZY_FN(g_curl, CURL *, curl_easy_init, (void), ())
LAZY_FN(g_curl, CURLcode, curl_easy_perform, (CURL *curl), (curl))
LAZY_FN(g_curl, void, curl_easy_cleanup, (CURL *curl), (curl))
LAZY_FN(g_curl, const char *, curl_easy_strerror, (CURLcode code), (code))
LAZY_FN(g_curl, char *, curl_easy_escape, (CURL *handle, const char *string, int length), (handle, string, length))
LAZY_FN(g_curl, void, curl_free, (void *p), (p))
LAZY_FN(g_curl, struct curl_slist *, curl_slist_append, (struct curl_slist *list, const char *data), (list, data))
LAZY_FN(g_curl, void, curl_slist_free_all, (struct curl_slist *list), (list))
LAZY_FN(g_curl, time_t, curl_getdate, (const char *p, const time_t *unused), (p, unused))
LAZY_FN(g_curl, CURLU *, curl_url, (void), ())
LAZY_FN(g_curl, void, curl_url_cleanup, (CURLU *handle), (handle))
LAZY_FN(g_curl, CURLUcode, curl_url_get, (CURLU *handle, CURLUPart what, char **part, unsigned int flags),
        (handle, what, part, flags))
LAZY_FN(g_curl, CURLUcode, curl_url_set, (CURLU *handle, CURLUPart what, const char *part, unsigned int flags),
        (handle, what, part, flags))
/* clang-format on */

/* The two variadic ones pass their one argument on with the type the
 * option's number range says it has, as libcurl itself reads it. */
CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...)
{
    static void *slot;
    CURLcode (*f)(CURL *, CURLoption, ...) =
        (CURLcode(*)(CURL *, CURLoption, ...))lazylib_fn(&g_curl, &slot, "curl_easy_setopt");
    va_list ap;
    va_start(ap, option);
    CURLcode rc;
    if (option < CURLOPTTYPE_OBJECTPOINT) {
        rc = f(curl, option, va_arg(ap, long));
    } else if (option < CURLOPTTYPE_FUNCTIONPOINT) {
        rc = f(curl, option, va_arg(ap, void *));
    } else if (option < CURLOPTTYPE_OFF_T) {
        rc = f(curl, option, va_arg(ap, void (*)(void))); /* any function pointer type */
    } else if (option < CURLOPTTYPE_BLOB) {
        rc = f(curl, option, va_arg(ap, curl_off_t));
    } else {
        rc = f(curl, option, va_arg(ap, void *));
    }
    va_end(ap);
    return rc;
}

CURLcode curl_easy_getinfo(CURL *curl, CURLINFO info, ...)
{
    static void *slot;
    CURLcode (*f)(CURL *, CURLINFO, ...) =
        (CURLcode(*)(CURL *, CURLINFO, ...))lazylib_fn(&g_curl, &slot, "curl_easy_getinfo");
    va_list ap;
    va_start(ap, info);
    void *out = va_arg(ap, void *); /* every CURLINFO takes a pointer to its result */
    va_end(ap);
    return f(curl, info, out);
}
