/*
 * mail.c — templates, MIME assembly, SMTP via libcurl and the "mail" job
 * handler (see mail.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "mail/mail.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs/jobq.h"
#include "util/buf.h"
#include "util/embed.h"
#include "util/id.h"
#include "util/log.h"
#include "util/mem.h"
#include "util/curl_once.h"

#define MAIL_MAX_BYTES (1 << 20)

static struct {
    char *smtp_url;
    char *from_header; /* as configured */
    char *from_addr;   /* the bare address for MAIL FROM */
} g;

static int plain_address(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 254 || !strchr(s, '@')) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '(' || c == ')' || c == ',' || c == ';' ||
            c == '"' || c == '\\')
            return 0;
    }
    return 1;
}

int mail_configure(const char *smtp_url, const char *mail_from)
{
    free(g.smtp_url);
    free(g.from_header);
    free(g.from_addr);
    memset(&g, 0, sizeof g);
    const char *lt = strrchr(mail_from, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    char *addr = lt && gt ? xstrndup(lt + 1, (size_t)(gt - lt - 1)) : xstrdup(mail_from);
    if (!plain_address(addr) || strpbrk(mail_from, "\r\n")) {
        free(addr);
        return -1;
    }
    g.from_addr = addr;
    g.from_header = xstrdup(mail_from);
    g.smtp_url = xstrdup(smtp_url ? smtp_url : "");
    return 0;
}

void mail_msg_free(mail_msg_t *m)
{
    free(m->subject);
    free(m->text);
    free(m->html);
    memset(m, 0, sizeof *m);
}

/* ---- templates ---- */

static int valid_name(const char *s)
{
    if (!*s || strlen(s) > 64) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_')) return 0;
    return 1;
}

static void html_escape(buf_t *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': buf_puts(b, "&amp;"); break;
        case '<': buf_puts(b, "&lt;"); break;
        case '>': buf_puts(b, "&gt;"); break;
        case '"': buf_puts(b, "&quot;"); break;
        case '\'': buf_puts(b, "&#39;"); break;
        default: buf_putc(b, *s);
        }
    }
}

enum { ESC_NONE, ESC_HTML, ESC_LINE };

/* Expands {{var}} in src[0..n) into b.  -1 with err on an unknown or
 * non-scalar variable or an unclosed tag. */
static int expand(buf_t *b, const char *src, size_t n, json_t *vars, int esc, char *err, size_t errlen)
{
    const char *p = src, *end = src + n;
    while (p < end) {
        const char *open = memmem(p, (size_t)(end - p), "{{", 2);
        if (!open) {
            buf_append(b, p, (size_t)(end - p));
            break;
        }
        buf_append(b, p, (size_t)(open - p));
        const char *close = memmem(open + 2, (size_t)(end - open - 2), "}}", 2);
        if (!close) return snprintf(err, errlen, "unclosed {{ in template"), -1;
        const char *ns = open + 2, *ne = close;
        while (ns < ne && *ns == ' ') ns++;
        while (ne > ns && ne[-1] == ' ') ne--;
        char name[64];
        if ((size_t)(ne - ns) >= sizeof name) return snprintf(err, errlen, "template variable name too long"), -1;
        memcpy(name, ns, (size_t)(ne - ns));
        name[ne - ns] = '\0';
        json_t *v = vars ? json_object_get(vars, name) : NULL;
        char num[32];
        const char *val;
        if (json_is_string(v)) val = json_string_value(v);
        else if (json_is_integer(v)) snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v)), val = num;
        else return snprintf(err, errlen, "template variable '%s' is not set", name), -1;
        if (esc == ESC_HTML) {
            html_escape(b, val);
        } else if (esc == ESC_LINE) {
            for (const char *q = val; *q; q++) buf_putc(b, (unsigned char)*q < 0x20 ? ' ' : *q);
        } else {
            buf_puts(b, val);
        }
        p = close + 2;
    }
    if (b->len >= MAIL_MAX_BYTES - 1) return snprintf(err, errlen, "rendered message too large"), -1;
    return 0;
}

int mail_render(const char *name, json_t *vars, mail_msg_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!valid_name(name)) return snprintf(err, errlen, "invalid template name"), -1;
    char path[128];
    snprintf(path, sizeof path, "templates/mail/%s.txt", name);
    const embed_file_t *txt = embed_find(path);
    snprintf(path, sizeof path, "templates/mail/%s.html", name);
    const embed_file_t *html = embed_find(path);
    if (!txt || !html) return snprintf(err, errlen, "no template '%s'", name), -1;
    if (strncmp(txt->data, "Subject: ", 9) != 0) return snprintf(err, errlen, "template %s.txt lacks a Subject line", name), -1;
    const char *nl = strchr(txt->data, '\n');
    if (!nl) return snprintf(err, errlen, "template %s.txt has no body", name), -1;
    const char *body = nl + 1;
    if (*body == '\n') body++;
    buf_t s = BUF_INIT(MAIL_MAX_BYTES), t = BUF_INIT(MAIL_MAX_BYTES), h = BUF_INIT(MAIL_MAX_BYTES);
    if (expand(&s, txt->data + 9, (size_t)(nl - txt->data - 9), vars, ESC_LINE, err, errlen) < 0 ||
        expand(&t, body, txt->len - (size_t)(body - txt->data), vars, ESC_NONE, err, errlen) < 0 ||
        expand(&h, html->data, html->len, vars, ESC_HTML, err, errlen) < 0) {
        buf_free(&s);
        buf_free(&t);
        buf_free(&h);
        return -1;
    }
    buf_putc(&s, '\0'); /* ensure allocation for empty strings */
    buf_putc(&t, '\0');
    buf_putc(&h, '\0');
    out->subject = buf_steal(&s, NULL);
    out->text = buf_steal(&t, NULL);
    out->html = buf_steal(&h, NULL);
    return 0;
}

/* ---- MIME ---- */

static void put_base64_lines(buf_t *b, const char *data, size_t n)
{
    /* 57 input bytes -> one 76-character line */
    for (size_t off = 0; off < n || off == 0; off += 57) {
        size_t k = n - off < 57 ? n - off : 57;
        char line[80];
        sodium_bin2base64(line, sizeof line, (const unsigned char *)data + off, k, sodium_base64_VARIANT_ORIGINAL);
        buf_puts(b, line);
        buf_puts(b, "\r\n");
        if (n == 0) break;
    }
}

static int is_ascii_line(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80 || (unsigned char)*s < 0x20) return 0;
    return 1;
}

/* RFC 2047 encoded words of at most 39 input bytes each (lines stay under 78), split on UTF-8
 * character boundaries, folded onto continuation lines. */
static void put_subject(buf_t *b, const char *s)
{
    buf_puts(b, "Subject: ");
    if (is_ascii_line(s)) {
        buf_puts(b, s);
        buf_puts(b, "\r\n");
        return;
    }
    size_t n = strlen(s), off = 0;
    int first = 1;
    while (off < n) {
        size_t k = n - off < 39 ? n - off : 39;
        while (off + k < n && ((unsigned char)s[off + k] & 0xc0) == 0x80) k--;
        char enc[80];
        sodium_bin2base64(enc, sizeof enc, (const unsigned char *)s + off, k, sodium_base64_VARIANT_ORIGINAL);
        if (!first) buf_puts(b, "\r\n ");
        buf_printf(b, "=?UTF-8?B?%s?=", enc);
        first = 0;
        off += k;
    }
    buf_puts(b, "\r\n");
}

char *mail_build(const char *from_header, const char *to, const mail_msg_t *m, size_t *len_out)
{
    if (!plain_address(to) || strpbrk(from_header, "\r\n")) return NULL;
    char boundary[ID_MAX], msgid[ID_MAX], date[64];
    id_new(boundary, "b");
    id_new(msgid, "msg");
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char *const mons[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    snprintf(date, sizeof date, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
             mons[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    const char *at = g.from_addr ? strchr(g.from_addr, '@') : NULL;
    buf_t b = BUF_INIT(4 * MAIL_MAX_BYTES);
    buf_printf(&b, "From: %s\r\nTo: <%s>\r\n", from_header, to);
    put_subject(&b, m->subject);
    buf_printf(&b, "Date: %s\r\nMessage-ID: <%s@%s>\r\nMIME-Version: 1.0\r\nAuto-Submitted: auto-generated\r\n", date,
               msgid, at ? at + 1 : "mercato.local");
    buf_printf(&b, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", boundary);
    buf_printf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n",
               boundary);
    put_base64_lines(&b, m->text, strlen(m->text));
    buf_printf(&b, "--%s\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n",
               boundary);
    put_base64_lines(&b, m->html, strlen(m->html));
    if (buf_printf(&b, "--%s--\r\n", boundary) < 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, len_out);
}

/* ---- SMTP ---- */

typedef struct upload {
    const char *data;
    size_t len, pos;
} upload_t;

static size_t read_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    upload_t *u = ud;
    size_t room = size * nmemb, left = u->len - u->pos;
    size_t n = left < room ? left : room;
    memcpy(ptr, u->data + u->pos, n);
    u->pos += n;
    return n;
}

int mail_send(const char *to, const mail_msg_t *m, char *err, size_t errlen)
{
    if (!g.from_addr) return snprintf(err, errlen, "mail is not configured"), MAIL_EPERM;
    size_t len = 0;
    char *msg = mail_build(g.from_header, to, m, &len);
    if (!msg) return snprintf(err, errlen, "invalid recipient address"), MAIL_EPERM;
    if (!g.smtp_url[0]) {
        free(msg);
        /* once, not a line per message (one per order and status change
         * under load); each message at debug */
        static int told;
        if (!__atomic_exchange_n(&told, 1, __ATOMIC_RELAXED))
            log_warn("mail", "mail is disabled (--smtp-url is empty): messages are dropped, not sent");
        log_debug("mail", "mail disabled (--smtp-url is empty): message not sent");
        return MAIL_OK;
    }
    curl_once();
    CURL *h = curl_easy_init();
    if (!h) {
        free(msg);
        return snprintf(err, errlen, "curl_easy_init failed"), MAIL_ETEMP;
    }
    char from[300], rcpt[300];
    snprintf(from, sizeof from, "<%s>", g.from_addr);
    snprintf(rcpt, sizeof rcpt, "<%s>", to);
    struct curl_slist *rcpts = curl_slist_append(NULL, rcpt);
    upload_t up = { msg, len, 0 };
    curl_easy_setopt(h, CURLOPT_URL, g.smtp_url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpts);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(h, CURLOPT_READDATA, &up);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(rcpts);
    curl_easy_cleanup(h);
    sodium_memzero(msg, len);
    free(msg);
    if (rc == CURLE_OK) return MAIL_OK;
    snprintf(err, errlen, "smtp: %s (last reply %ld)", curl_easy_strerror(rc), code);
    return code >= 500 && code < 600 ? MAIL_EPERM : MAIL_ETEMP;
}

/* ---- queue ---- */

int64_t mail_enqueue(db_conn_t *c, const char *to, const char *template_name, json_t *vars)
{
    json_t *p = json_object();
    json_object_set_new(p, "to", json_string(to));
    json_object_set_new(p, "template", json_string(template_name));
    json_object_set_new(p, "vars", vars ? json_incref(vars) : json_object());
    jobq_opts_t o = { .max_attempts = 8, .backoff_ms = 5000 };
    int64_t id = jobq_enqueue(c, MAIL_QUEUE, p, &o);
    json_decref(p);
    return id;
}

static int mail_job(job_run_t *run, const job_t *job, void *ctx)
{
    (void)ctx;
    const char *to = json_string_value(json_object_get(job->payload, "to"));
    const char *tpl = json_string_value(json_object_get(job->payload, "template"));
    if (!to || !tpl) {
        jobs_fail(run, "mail job payload needs \"to\" and \"template\"");
        return JOB_DEAD;
    }
    mail_msg_t m;
    char err[256];
    if (mail_render(tpl, json_object_get(job->payload, "vars"), &m, err, sizeof err) < 0) {
        jobs_fail(run, "%s", err);
        return JOB_DEAD;
    }
    int rc = mail_send(to, &m, err, sizeof err);
    mail_msg_free(&m);
    if (rc == MAIL_OK) return JOB_OK;
    jobs_fail(run, "%s", err);
    return rc == MAIL_EPERM ? JOB_DEAD : JOB_RETRY;
}

void mail_jobs(jobs_t *rt, app_t *app)
{
    /* worker-only processes configure mail here */
    if (!g.from_addr && mail_configure(app->cfg->smtp_url, app->cfg->mail_from) < 0)
        log_error("mail", "--mail-from has no usable address: mail jobs will fail");
    jobs_register(rt, MAIL_QUEUE, mail_job, NULL);
}
