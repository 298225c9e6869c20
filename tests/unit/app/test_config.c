/*
 * test_config.c — unit tests for configuration loading (config.c).
 *
 * Pins the contract of config.h: defaults, environment, flags in both
 * "--name value" and "--name=value" forms, precedence flag > environment >
 * default, a clear -1 for every bad value, unknown flags left for the
 * subcommand, and secrets masked in the start-up log line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/config.h"

static const char *const env_names[] = {
#define X(field, flag, env, type, def, min, max, secret, help) env,
    CONFIG_OPTIONS(X)
#undef X
};

static int clear_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof env_names / sizeof env_names[0]; i++) unsetenv(env_names[i]);
    return 0;
}

/* config_load with a NULL-terminated argv; returns its status. */
static int load(config_t *cfg, char ***rest, int *nrest, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, nrest);
    for (char *a; (a = va_arg(ap, char *)) != NULL;) argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    *rest = NULL;
    return config_load(cfg, argc, argv, rest, nrest);
}

static void test_defaults(void **state)
{
    (void)state;
    config_t c;
    char **rest;
    int nrest;
    assert_int_equal(load(&c, &rest, &nrest, "serve", NULL), 0);
    assert_string_equal(c.host, "127.0.0.1");
    assert_int_equal(c.port, 8080);
    assert_int_equal(c.http_threads, 0);
    assert_string_equal(c.database_url, "sqlite:./var/mercato.db");
    assert_int_equal(c.body_max, 1048576);
    assert_int_equal(c.access_log, 1);
    assert_int_equal(c.demo, 0);
    assert_string_equal(c.admin_token, "");
    assert_int_equal(nrest, 1);
    assert_string_equal(rest[0], "serve");
    free(rest);
    config_free(&c);
}

static void test_flags_both_forms(void **state)
{
    (void)state;
    config_t c;
    char **rest;
    int nrest;
    assert_int_equal(load(&c, &rest, &nrest, "serve", "--port", "9090", "--host=0.0.0.0", "--cors-origins=*",
                          "--database-url", "sqlite:/tmp/x.db", NULL),
                     0);
    assert_int_equal(c.port, 9090);
    assert_string_equal(c.host, "0.0.0.0");
    assert_string_equal(c.cors_origins, "*");
    assert_string_equal(c.database_url, "sqlite:/tmp/x.db");
    assert_int_equal(nrest, 1);
    free(rest);
    config_free(&c);
}

static void test_bool_flags(void **state)
{
    (void)state;
    config_t c;
    char **rest;
    int nrest;
    /* a bare boolean flag means true and does not eat the next argument */
    assert_int_equal(load(&c, &rest, &nrest, "serve", "--demo", "--access-log", "false", "extra", NULL), 0);
    assert_int_equal(c.demo, 1);
    assert_int_equal(c.access_log, 0);
    assert_int_equal(nrest, 2);
    assert_string_equal(rest[1], "extra");
    free(rest);
    config_free(&c);
    assert_int_equal(load(&c, &rest, &nrest, "--demo=off", "--access-log=on", NULL), 0);
    assert_int_equal(c.demo, 0);
    assert_int_equal(c.access_log, 1);
    free(rest);
    config_free(&c);
}

static void test_env_and_precedence(void **state)
{
    (void)state;
    setenv("MERCATO_PORT", "7000", 1);
    setenv("DATABASE_URL", "postgres://u:p@h/db", 1);
    setenv("MERCATO_ACCESS_LOG", "no", 1);
    config_t c;
    char **rest;
    int nrest;
    assert_int_equal(load(&c, &rest, &nrest, "serve", NULL), 0);
    assert_int_equal(c.port, 7000);
    assert_string_equal(c.database_url, "postgres://u:p@h/db");
    assert_int_equal(c.access_log, 0);
    free(rest);
    config_free(&c);
    /* the flag beats the environment */
    assert_int_equal(load(&c, &rest, &nrest, "serve", "--port", "7001", NULL), 0);
    assert_int_equal(c.port, 7001);
    assert_string_equal(c.database_url, "postgres://u:p@h/db");
    free(rest);
    config_free(&c);
}

static void expect_bad(const char *what, ...)
{
    char *argv[8];
    int argc = 0;
    va_list ap;
    va_start(ap, what);
    for (char *a; (a = va_arg(ap, char *)) != NULL;) argv[argc++] = a;
    va_end(ap);
    config_t c;
    char **rest = NULL;
    int nrest = 0;
    if (config_load(&c, argc, argv, &rest, &nrest) != -1) fail_msg("%s was accepted", what);
    config_free(&c);
}

static void test_bad_values(void **state)
{
    (void)state;
    expect_bad("non-numeric port", "--port", "abc", NULL);
    expect_bad("trailing junk", "--port=80x", NULL);
    expect_bad("empty integer", "--port=", NULL);
    expect_bad("port out of range", "--port", "65536", NULL);
    expect_bad("negative port", "--port", "-1", NULL);
    expect_bad("body cap below minimum", "--body-max", "10", NULL);
    expect_bad("integer overflow", "--port", "99999999999999999999999", NULL);
    expect_bad("bad boolean", "--access-log=maybe", NULL);
    expect_bad("bad log level", "--log-level", "loud", NULL);
    expect_bad("missing value", "--port", NULL);
    setenv("MERCATO_HTTP_THREADS", "many", 1);
    expect_bad("bad environment value", "serve", NULL);
    unsetenv("MERCATO_HTTP_THREADS");
    setenv("MERCATO_DEMO", "2", 1);
    expect_bad("bad environment boolean", "serve", NULL);
}

static void test_unknown_flags_left_for_subcommand(void **state)
{
    (void)state;
    config_t c;
    char **rest;
    int nrest;
    assert_int_equal(load(&c, &rest, &nrest, "serve", "--bogus-flag", "--port", "1", "--", NULL), 0);
    assert_int_equal(nrest, 3);
    assert_string_equal(rest[1], "--bogus-flag");
    assert_string_equal(rest[2], "--");
    /* a flag that only shares a prefix with a real one is unknown */
    free(rest);
    config_free(&c);
    assert_int_equal(load(&c, &rest, &nrest, "--por", "1", NULL), 0);
    assert_int_equal(c.port, 8080);
    assert_int_equal(nrest, 2);
    free(rest);
    config_free(&c);
}

static void test_mask_url(void **state)
{
    (void)state;
    char out[256];
    config_mask_url("postgres://mercato:s3cret@db.example:5432/shop", out, sizeof out);
    assert_string_equal(out, "postgres://mercato:***@db.example:5432/shop");
    config_mask_url("postgres://mercato@db.example/shop", out, sizeof out);
    assert_string_equal(out, "postgres://mercato@db.example/shop");
    config_mask_url("sqlite:./var/mercato.db", out, sizeof out);
    assert_string_equal(out, "sqlite:./var/mercato.db");
    config_mask_url("smtp://user:pa:ss@mail:25", out, sizeof out);
    assert_string_equal(out, "smtp://user:***@mail:25");
    config_mask_url("postgres://db.example:5432/shop", out, sizeof out);
    assert_string_equal(out, "postgres://db.example:5432/shop");
    config_mask_url("postgres://h/db?sslmode=require&password=qwerty&x=1", out, sizeof out);
    assert_string_equal(out, "postgres://h/db?sslmode=require&password=***&x=1");
    config_mask_url("postgres://u:pw@h/db?PASSWORD=qwerty", out, sizeof out);
    assert_string_equal(out, "postgres://u:***@h/db?PASSWORD=***");
    config_mask_url("postgres://h/db?password=", out, sizeof out);
    assert_string_equal(out, "postgres://h/db?password=");
    /* an '@' in the path is not userinfo */
    config_mask_url("smtp://relay:25/x:y@z", out, sizeof out);
    assert_string_equal(out, "smtp://relay:25/x:y@z");
    config_mask_url("postgres://u:p@h/db", out, 8); /* truncation stays terminated */
    assert_int_equal(strlen(out), 7);
}

/* Captures what config_log writes to stderr. */
static char *capture_log(const config_t *c)
{
    fflush(stderr);
    int saved = dup(2);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    dup2(fileno(tmp), 2);
    config_log(c);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long n = ftell(tmp);
    if (n <= 0) n = lseek(fileno(tmp), 0, SEEK_END);
    char *s = calloc(1, (size_t)n + 1);
    lseek(fileno(tmp), 0, SEEK_SET);
    assert_int_equal(read(fileno(tmp), s, (size_t)n), n);
    fclose(tmp);
    return s;
}

static void test_log_masks_secrets(void **state)
{
    (void)state;
    setenv("DATABASE_URL", "postgres://mercato:hunter2pw@db:5432/shop", 1);
    setenv("MERCATO_ADMIN_TOKEN", "adm_supersecrettoken", 1);
    setenv("SMTP_URL", "smtp://mailer:mailpw@mail:25", 1);
    config_t c;
    char **rest;
    int nrest;
    assert_int_equal(load(&c, &rest, &nrest, "serve", NULL), 0);
    char *line = capture_log(&c);
    assert_null(strstr(line, "hunter2pw"));
    assert_null(strstr(line, "supersecret"));
    assert_null(strstr(line, "mailpw"));
    assert_non_null(strstr(line, "\"database_url\":\"postgres://mercato:***@db:5432/shop\""));
    assert_non_null(strstr(line, "\"admin_token\":\"***\""));
    assert_non_null(strstr(line, "\"msg\":\"configuration\""));
    assert_non_null(strstr(line, "\"port\":8080"));
    assert_non_null(strstr(line, "\"access_log\":true"));
    free(line);
    free(rest);
    config_free(&c);
    /* a database URL without credentials stays readable */
    unsetenv("DATABASE_URL");
    assert_int_equal(load(&c, &rest, &nrest, "serve", "--database-url", "sqlite:/srv/shop.db", NULL), 0);
    line = capture_log(&c);
    assert_non_null(strstr(line, "\"database_url\":\"sqlite:/srv/shop.db\""));
    free(line);
    free(rest);
    config_free(&c);
}

static void test_help_lists_every_option(void **state)
{
    (void)state;
    char buf[8192] = { 0 };
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    config_print_help(f);
    fclose(f);
    for (size_t i = 0; i < sizeof env_names / sizeof env_names[0]; i++)
        if (!strstr(buf, env_names[i])) fail_msg("help lacks %s", env_names[i]);
    assert_non_null(strstr(buf, "--shutdown-timeout"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clear_env),
        cmocka_unit_test_setup(test_flags_both_forms, clear_env),
        cmocka_unit_test_setup(test_bool_flags, clear_env),
        cmocka_unit_test_setup(test_env_and_precedence, clear_env),
        cmocka_unit_test_setup(test_bad_values, clear_env),
        cmocka_unit_test_setup(test_unknown_flags_left_for_subcommand, clear_env),
        cmocka_unit_test_setup(test_mask_url, clear_env),
        cmocka_unit_test_setup(test_log_masks_secrets, clear_env),
        cmocka_unit_test_setup(test_help_lists_every_option, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
