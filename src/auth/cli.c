/*
 * cli.c — identity commands of the mercato binary:
 *
 *   mercato user create [--admin|--seller] --email E --password P|- [--name N]
 *       creates a verified account (the first admin, or accounts for
 *       scripts).  "--password -" reads the password from the first line of
 *       standard input so it does not show in the process list.
 *   mercato auth rotate-key
 *       puts a fresh signing key first in the key file (old keys keep
 *       verifying until removed); restart the servers to use it.
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "auth/auth.h"
#include "auth/keys.h"
#include "auth/password.h"
#include "auth/validate.h"
#include "db/migrate.h"
#include "util/id.h"
#include "util/timeutil.h"

DB_SQL(q_cli_insert, "INSERT INTO users (id, email, password_hash, name, role, seller_status, status, "
                     "email_verified_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $7, $7)");

typedef struct cli_tx {
    const char *id, *email, *hash, *name, *role, *seller;
} cli_tx_t;

static int cli_fn(db_conn_t *c, void *ctx)
{
    cli_tx_t *t = ctx;
    int64_t n = db_exec(c, &q_cli_insert, "ssssssL", t->id, t->email, t->hash, t->name, t->role, t->seller,
                        (long long)time_now_ms());
    return n < 0 ? (int)n : 0;
}

static int usage_user(void)
{
    fprintf(stderr, "usage: mercato user create [--admin|--seller] --email EMAIL --password PASSWORD|- [--name NAME]\n");
    return 2;
}

int auth_cli_user(config_t *cfg, int nrest, char **rest)
{
    if (nrest < 2 || strcmp(rest[1], "create") != 0) return usage_user();
    const char *email_in = NULL, *pw_in = NULL, *name_in = NULL, *role = "customer", *seller = NULL;
    for (int i = 2; i < nrest; i++) {
        const char *a = rest[i];
        if (!strcmp(a, "--admin")) role = "admin";
        else if (!strcmp(a, "--seller")) role = "seller", seller = "approved";
        else if (!strcmp(a, "--email") && i + 1 < nrest) email_in = rest[++i];
        else if (!strcmp(a, "--password") && i + 1 < nrest) pw_in = rest[++i];
        else if (!strcmp(a, "--name") && i + 1 < nrest) name_in = rest[++i];
        else {
            fprintf(stderr, "mercato: unknown argument '%s'\n", a);
            return usage_user();
        }
    }
    if (!email_in || !pw_in) return usage_user();
    char pwbuf[AUTH_PASSWORD_MAX_BYTES + 2];
    if (!strcmp(pw_in, "-")) {
        if (!fgets(pwbuf, sizeof pwbuf, stdin)) {
            fprintf(stderr, "mercato: no password on standard input\n");
            return 2;
        }
        pwbuf[strcspn(pwbuf, "\r\n")] = '\0';
        pw_in = pwbuf;
    }
    char email[AUTH_EMAIL_MAX + 1], name[AUTH_NAME_MAX_BYTES + 1];
    const char *why;
    if (auth_email_normalize(email_in, email, sizeof email, &why) < 0) {
        fprintf(stderr, "mercato: email %s\n", why);
        return 2;
    }
    if (auth_name_check(name_in ? name_in : (strcmp(role, "admin") ? "User" : "Administrator"), name, sizeof name, &why) < 0) {
        fprintf(stderr, "mercato: name %s\n", why);
        return 2;
    }
    if (auth_password_check(pw_in, strlen(pw_in), email, &why) < 0) {
        fprintf(stderr, "mercato: password %s\n", why);
        sodium_memzero(pwbuf, sizeof pwbuf);
        return 2;
    }
    if (password_setup((unsigned long long)cfg->pwhash_ops, (size_t)cfg->pwhash_mem_kib * 1024, 1) < 0) {
        fprintf(stderr, "mercato: argon2id parameters out of range\n");
        return 2;
    }
    char hash[PASSWORD_HASH_MAX];
    int hrc = password_hash(hash, pw_in, strlen(pw_in));
    sodium_memzero(pwbuf, sizeof pwbuf);
    if (hrc < 0) {
        fprintf(stderr, "mercato: could not hash the password\n");
        return 1;
    }
    db_t *db;
    char err[512];
    db_opts_t o = { .pool_size = 2, .busy_timeout_ms = 5000 };
    int applied;
    if (db_open(&db, cfg->database_url, &o, err, sizeof err) < 0 || db_migrate(db, &applied, err, sizeof err) < 0) {
        fprintf(stderr, "mercato: database: %s\n", err);
        return 1;
    }
    char id[ID_MAX];
    id_new(id, "usr");
    cli_tx_t t = { id, email, hash, name, role, seller };
    int rc = db_tx(db, cli_fn, &t);
    sodium_memzero(hash, sizeof hash);
    db_close(db);
    if (rc == DB_ECONSTRAINT) {
        fprintf(stderr, "mercato: an account with email %s already exists\n", email);
        return 1;
    }
    if (rc < 0) {
        fprintf(stderr, "mercato: could not create the account (database error %d)\n", rc);
        return 1;
    }
    printf("{\"id\":\"%s\",\"email\":\"%s\",\"role\":\"%s\"}\n", id, email, role);
    return 0;
}

int auth_cli_auth(config_t *cfg, int nrest, char **rest)
{
    if (nrest != 2 || strcmp(rest[1], "rotate-key") != 0) {
        fprintf(stderr, "usage: mercato auth rotate-key\n");
        return 2;
    }
    if (cfg->jwt_secret[0]) {
        fprintf(stderr, "mercato: keys come from --jwt-secret here; rotate by changing it (and --jwt-kid)\n");
        return 2;
    }
    char path[1024], kid[KEY_KID_MAX], err[512];
    if (cfg->jwt_key_file[0]) snprintf(path, sizeof path, "%s", cfg->jwt_key_file);
    else snprintf(path, sizeof path, "%s/jwt.keys", cfg->data_dir);
    if (keyring_rotate_file(path, kid, err, sizeof err) < 0) {
        fprintf(stderr, "mercato: %s\n", err);
        return 1;
    }
    printf("new signing key %s is first in %s; restart the servers to sign with it\n", kid, path);
    return 0;
}
