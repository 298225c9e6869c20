/*
 * validate.h — the rules for what an account's fields may contain.
 *
 * Pure functions (no I/O), unit-tested, used by the HTTP handlers and the
 * CLI alike so both accept exactly the same input.
 *
 * Emails: surrounding whitespace is trimmed and the whole address is
 * lowercased — the local part too.  RFC 5321 lets a server treat the local
 * part as case-sensitive, but no mainstream provider does, and two accounts
 * that differ only in case are a support problem or an impersonation
 * attempt.  Dots and "+tags" are kept (their meaning is provider-specific).
 * Only ASCII dot-atom addresses are accepted (no quoted local parts, no
 * IP literals, no internationalised addresses, which our SMTP path does not
 * announce SMTPUTF8 for); the domain needs at least two labels.
 *
 * Names: trimmed, 1..100 characters, and free of control characters and of
 * the invisible or direction-changing code points used to spoof text
 * (zero-width characters, bidi embeddings/overrides/isolates, BOM, tags).
 *
 * Passwords (strength floor, NIST SP 800-63B style, no composition rules):
 * 10..128 characters and at most 512 bytes, no control characters, at least
 * 5 distinct characters, not one of a list of common passwords, and not
 * containing the email's local part (when it is 4 characters or longer).
 */
#ifndef MERCATO_AUTH_VALIDATE_H
#define MERCATO_AUTH_VALIDATE_H

#include <stddef.h>

#define AUTH_EMAIL_MAX 254
#define AUTH_NAME_MAX_CHARS 100
#define AUTH_NAME_MAX_BYTES 400
#define AUTH_PASSWORD_MIN 10
#define AUTH_PASSWORD_MAX_CHARS 128
#define AUTH_PASSWORD_MAX_BYTES 512

/* Normalises an email into out (outlen >= AUTH_EMAIL_MAX + 1).  0 ok;
 * -1 with *why set to a static message for errors[].message. */
int auth_email_normalize(const char *in, char *out, size_t outlen, const char **why);

/* Checks and trims a display name into out (outlen >= AUTH_NAME_MAX_BYTES + 1).
 * in must be valid UTF-8 (jansson guarantees it).  0 ok; -1 with *why. */
int auth_name_check(const char *in, char *out, size_t outlen, const char **why);

/* Applies the strength floor to a password of len bytes (valid UTF-8);
 * email (normalised, may be NULL) is used for the local-part rule.
 * 0 ok; -1 with *why. */
int auth_password_check(const char *pw, size_t len, const char *email, const char **why);

#endif
