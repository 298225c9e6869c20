/*
 * validate.c — email, name and password rules (see validate.h).
 */
#include "auth/validate.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

static int is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

static int atext(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+/=?^_`{|}~-", c) != NULL);
}

int auth_email_normalize(const char *in, char *out, size_t outlen, const char **why)
{
    size_t n = strlen(in);
    while (n && is_space((unsigned char)in[n - 1])) n--;
    while (n && is_space((unsigned char)*in)) in++, n--;
    if (n == 0) return *why = "must not be empty", -1;
    if (n > AUTH_EMAIL_MAX || n + 1 > outlen) return *why = "must be at most 254 characters", -1;
    const char *at = NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c >= 0x80) return *why = "must contain only ASCII characters", -1;
        if (c <= 0x20 || c == 0x7f) return *why = "must not contain spaces or control characters", -1;
        if (c == '@') {
            if (at) return *why = "must contain exactly one @", -1;
            at = in + i;
        }
    }
    if (!at) return *why = "must contain an @", -1;
    size_t ll = (size_t)(at - in), dl = n - ll - 1;
    if (ll == 0 || ll > 64) return *why = "the part before @ must be 1 to 64 characters", -1;
    if (dl == 0) return *why = "must have a domain after @", -1;
    for (size_t i = 0; i < ll; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '.') {
            if (i == 0 || i == ll - 1 || in[i - 1] == '.') return *why = "has a misplaced dot before @", -1;
        } else if (!atext(c)) {
            return *why = "contains a character not allowed before @", -1;
        }
    }
    const char *d = at + 1;
    int labels = 0;
    size_t lab = 0;
    const char *last = d;
    for (size_t i = 0; i <= dl; i++) {
        unsigned char c = i < dl ? (unsigned char)d[i] : '.';
        if (c == '.') {
            if (lab == 0 || lab > 63) return *why = "has an invalid domain", -1;
            if (d[i - 1] == '-' || d[i - lab] == '-') return *why = "has an invalid domain", -1;
            labels++;
            lab = 0;
            if (i < dl) last = d + i + 1;
        } else if (isalnum(c) || c == '-') {
            lab++;
        } else {
            return *why = "has an invalid domain", -1;
        }
    }
    if (labels < 2) return *why = "must have a domain with a dot, like example.com", -1;
    int tld_alpha = 0;
    for (const char *p = last; p < d + dl; p++)
        if (isalpha((unsigned char)*p)) tld_alpha = 1;
    if (!tld_alpha) return *why = "has an invalid top-level domain", -1;
    for (size_t i = 0; i < n; i++) out[i] = (char)tolower((unsigned char)in[i]);
    out[n] = '\0';
    return 0;
}

/* Decodes one UTF-8 sequence (input is known valid); returns its length. */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
    if (s[0] < 0x80) return *cp = s[0], 1;
    if ((s[0] & 0xe0) == 0xc0) return *cp = ((uint32_t)(s[0] & 0x1f) << 6) | (s[1] & 0x3f), 2;
    if ((s[0] & 0xf0) == 0xe0)
        return *cp = ((uint32_t)(s[0] & 0x0f) << 12) | ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f), 3;
    *cp = ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3f) << 12) | ((uint32_t)(s[2] & 0x3f) << 6) |
          (s[3] & 0x3f);
    return 4;
}

static int cp_control(uint32_t c) { return c < 0x20 || (c >= 0x7f && c <= 0x9f); }

/* Invisible or text-direction code points used for spoofing. */
static int cp_trick(uint32_t c)
{
    return (c >= 0x200b && c <= 0x200f) || (c >= 0x202a && c <= 0x202e) || (c >= 0x2060 && c <= 0x2069) ||
           c == 0xfeff || c == 0x00ad || c == 0x061c || c == 0x180e || (c >= 0xfff9 && c <= 0xfffb) ||
           (c >= 0xe0000 && c <= 0xe007f) || c == 0x2028 || c == 0x2029;
}

int auth_name_check(const char *in, char *out, size_t outlen, const char **why)
{
    size_t n = strlen(in);
    while (n && is_space((unsigned char)in[n - 1])) n--;
    while (n && is_space((unsigned char)*in)) in++, n--;
    if (n == 0) return *why = "must not be empty", -1;
    if (n > AUTH_NAME_MAX_BYTES || n + 1 > outlen) return *why = "must be at most 100 characters", -1;
    const unsigned char *s = (const unsigned char *)in;
    size_t chars = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += utf8_next(s + i, &cp);
        if (cp_control(cp)) return *why = "must not contain control characters", -1;
        if (cp_trick(cp)) return *why = "must not contain invisible or text-direction characters", -1;
        chars++;
    }
    if (chars > AUTH_NAME_MAX_CHARS) return *why = "must be at most 100 characters", -1;
    memcpy(out, in, n);
    out[n] = '\0';
    return 0;
}

static const char *const common_passwords[] = {
    "1234567890", "12345678910", "123456789a", "0123456789", "1111111111", "0987654321", "1q2w3e4r5t",
    "1qaz2wsx3edc", "abcdefghij", "administrator", "asdfghjkl;", "iloveyou123", "letmein123", "passw0rd123",
    "password", "password1", "password12", "password123", "password1234", "password!", "qwerty1234",
    "qwerty12345", "qwertyuiop", "qwertyuiop123", "starwars123", "welcome123", "whatever123",
    "zaq12wsxcvb", "football123", "baseball123", "princess123", "sunshine123", "trustno1234",
    "changeme123", "monkey12345", "dragon12345", "mercato123", "mercato1234", "letmein1234",
    "qazwsxedc123", "123qweasdzxc", "1234qwerasdf", "aaaaaaaaaa", "superman123", "michael123",
};

int auth_password_check(const char *pw, size_t len, const char *email, const char **why)
{
    if (len > AUTH_PASSWORD_MAX_BYTES) return *why = "must be at most 128 characters", -1;
    const unsigned char *s = (const unsigned char *)pw;
    size_t chars = 0;
    uint32_t seen[64];
    size_t nseen = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += utf8_next(s + i, &cp);
        if (cp_control(cp)) return *why = "must not contain control characters", -1;
        chars++;
        size_t k = 0;
        while (k < nseen && seen[k] != cp) k++;
        if (k == nseen && nseen < 64) seen[nseen++] = cp;
    }
    if (chars < AUTH_PASSWORD_MIN) return *why = "must be at least 10 characters", -1;
    if (chars > AUTH_PASSWORD_MAX_CHARS) return *why = "must be at most 128 characters", -1;
    if (nseen < 5) return *why = "is too repetitive (use at least 5 different characters)", -1;
    for (size_t i = 0; i < sizeof common_passwords / sizeof common_passwords[0]; i++)
        if (strlen(common_passwords[i]) == len && strncasecmp(common_passwords[i], pw, len) == 0)
            return *why = "is too common", -1;
    if (email) {
        const char *at = strchr(email, '@');
        size_t ll = at ? (size_t)(at - email) : 0;
        if (ll >= 4) {
            for (size_t i = 0; i + ll <= len; i++)
                if (strncasecmp(pw + i, email, ll) == 0) return *why = "must not contain your email address", -1;
        }
    }
    return 0;
}
