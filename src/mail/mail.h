/*
 * mail.h — outgoing email: templates, MIME, SMTP, and the "mail" job queue.
 *
 * DESIGN
 * A template is a pair of embedded files, templates/mail/NAME.txt (first
 * line "Subject: ...", a blank line, the plain-text body) and NAME.html.
 * "{{var}}" is replaced by a value from a JSON object of strings/integers;
 * values are HTML-escaped in the HTML part and stripped of line breaks in
 * the subject; an unknown {{var}} is an error, so a typo cannot mail
 * "Your code is {{cdoe}}".
 *
 * A message is multipart/alternative (text + HTML, UTF-8, base64 bodies,
 * RFC 2047 subject when not ASCII) sent with libcurl's SMTP client:
 * STARTTLS when the server offers it (CURLUSESSL_TRY) for smtp://, implicit
 * TLS for smtps://, credentials in the URL's userinfo.  Sending happens on
 * job worker threads, never on an HTTP event loop.
 *
 * With SMTP_URL empty, sending logs "mail disabled" with the template name
 * (never the recipient's content) and succeeds, so jobs complete.
 *
 * Never put secrets (one-time codes, reset links with tokens) into
 * mail_enqueue()'s vars: the payload is stored in the jobs table and shown
 * on the jobs dashboard.  Modules that mail secrets create the secret inside
 * their own job and call mail_render() + mail_send() there (see auth).
 */
#ifndef MERCATO_MAIL_MAIL_H
#define MERCATO_MAIL_MAIL_H

#include <jansson.h>
#include <stddef.h>

#include "app/app.h"
#include "db/db.h"
#include "jobs/runtime.h"

#define MAIL_QUEUE "mail"

/* Result of mail_send(). */
#define MAIL_OK 0
#define MAIL_ETEMP (-1)  /* worth retrying: connection, timeout, 4xx */
#define MAIL_EPERM (-2)  /* will not succeed: bad address, 5xx, bad template */

/* Sets the SMTP URL and From header ("Name <addr>" or "addr"); copied.
 * Call once at start-up before workers run.  -1 when mail_from has no
 * usable address. */
int mail_configure(const char *smtp_url, const char *mail_from);

typedef struct mail_msg {
    char *subject; /* UTF-8, one line */
    char *text;
    char *html;
} mail_msg_t;

/* Renders template `name` with vars (borrowed).  0 ok, filling *out (free
 * with mail_msg_free); -1 with a message in err for a missing template or
 * an unknown variable. */
int mail_render(const char *name, json_t *vars, mail_msg_t *out, char *err, size_t errlen);
void mail_msg_free(mail_msg_t *m);

/* Builds the RFC 5322 message (CRLF lines) for `to`; malloc'd, caller
 * frees.  NULL when `to` is not a plain address (CR, LF, <, >, space ...). */
char *mail_build(const char *from_header, const char *to, const mail_msg_t *m, size_t *len_out);

/* Sends one message to one recipient.  MAIL_OK, MAIL_ETEMP or MAIL_EPERM
 * with a reason in err (never the content). */
int mail_send(const char *to, const mail_msg_t *m, char *err, size_t errlen);

/* Enqueues a "mail" job (in the caller's transaction): payload
 * {"to","template","vars"}.  vars borrowed, may be NULL.  Returns the job
 * id or a negative DB_* error. */
int64_t mail_enqueue(db_conn_t *c, const char *to, const char *template_name, json_t *vars);

/* Registers the "mail" queue handler on the job runtime (and configures
 * mail from app->cfg when mail_configure() has not run, as in workers). */
void mail_jobs(jobs_t *rt, app_t *app);

#endif
