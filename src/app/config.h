/*
 * config.h — run-time configuration from environment and flags.
 *
 * One X-macro list defines every option: its flag, its environment variable,
 * its type, default, bounds and whether it is a secret.  The parser, the
 * help text and the start-up dump all come from that list, so they cannot
 * drift apart.  Precedence: flag > environment > default.
 */
#ifndef MERCATO_APP_CONFIG_H
#define MERCATO_APP_CONFIG_H

#include <stdio.h>

/* X(field, flag, env, type, default, min, max, secret, help)
 * secret: 0 plain; CFG_SECRET the whole value is secret ("***" in logs);
 * CFG_SECRET_URL a URL whose password is secret (only the password, in
 * user:pass@ or a password= query parameter, is masked, so the start-up line
 * still says which database or mail server is used). */
#define CFG_SECRET 1
#define CFG_SECRET_URL 2

#define CONFIG_OPTIONS(X)                                                                                   \
    X(host, "host", "MERCATO_HOST", STR, "127.0.0.1", 0, 0, 0, "IPv4 address to listen on")                  \
    X(port, "port", "MERCATO_PORT", INT, "8080", 0, 65535, 0, "TCP port (0 picks a free one)")               \
    X(http_threads, "http-threads", "MERCATO_HTTP_THREADS", INT, "0", 0, 256, 0,                              \
      "HTTP event-loop threads (0 = number of cores)")                                                       \
    X(handler_threads, "handler-threads", "MERCATO_HANDLER_THREADS", INT, "32", 0, 1024, 0,                   \
      "threads that run writing requests (POST, PUT, PATCH, DELETE) off the event loops, started as needed; " \
      "0 = on the event loops")                                                                              \
    X(database_url, "database-url", "DATABASE_URL", STR, "sqlite:./var/mercato.db", 0, 0, CFG_SECRET_URL,                  \
      "sqlite:PATH or postgres://user:pass@host:port/db")                                                    \
    X(db_pool, "db-pool", "MERCATO_DB_POOL", INT, "16", 1, 1024, 0, "PostgreSQL connection pool size")        \
    X(data_dir, "data-dir", "MERCATO_DATA_DIR", STR, "./var", 0, 0, 0, "directory for keys and local files")  \
    X(body_max, "body-max", "MERCATO_BODY_MAX", INT, "1048576", 1024, 1073741824, 0,                           \
      "request body cap in bytes (413 beyond)")                                                              \
    X(header_max, "header-max", "MERCATO_HEADER_MAX", INT, "16384", 1024, 1048576, 0,                          \
      "request header cap in bytes (431 beyond)")                                                            \
    X(conn_limit, "conn-limit", "MERCATO_CONN_LIMIT", INT, "12000", 1, 1000000, 0,                             \
      "simultaneous connections")                                                                            \
    X(idle_timeout, "idle-timeout", "MERCATO_IDLE_TIMEOUT", INT, "60", 1, 86400, 0,                            \
      "seconds before an idle or slow connection is closed")                                                 \
    X(cors_origins, "cors-origins", "MERCATO_CORS_ORIGINS", STR, "", 0, 0, 0,                                  \
      "allowed CORS origins: empty, * or a comma-separated list")                                             \
    X(shutdown_timeout, "shutdown-timeout", "MERCATO_SHUTDOWN_TIMEOUT", INT, "10", 0, 3600, 0,                 \
      "seconds to let in-flight requests and jobs finish on SIGTERM")                                          \
    X(log_level, "log-level", "MERCATO_LOG_LEVEL", STR, "info", 0, 0, 0, "debug, info, warn or error")        \
    X(sched_batch, "sched-batch", "MERCATO_SCHED_BATCH", BOOL, "true", 0, 1, 0,                                \
      "handler and job threads under SCHED_BATCH (do not preempt the SQLite writer when woken)")                \
    X(sched_writer_rt, "sched-writer-rt", "MERCATO_SCHED_WRITER_RT", BOOL, "false", 0, 1, 0,                    \
      "the SQLite writer runs as a real-time thread (SCHED_FIFO 1) while it leads a commit; needs CAP_SYS_NICE") \
    X(access_log, "access-log", "MERCATO_ACCESS_LOG", BOOL, "true", 0, 1, 0, "one JSON line per request")      \
    X(workers, "workers", "MERCATO_WORKERS", INT, "2", 0, 256, 0, "job worker threads inside serve (0 = none)") \
    X(job_batch, "job-batch", "MERCATO_JOB_BATCH", INT, "32", 1, 256, 0, "jobs claimed per worker round trip")  \
    X(job_lease, "job-lease", "MERCATO_JOB_LEASE", INT, "30", 1, 3600, 0,                                      \
      "seconds a claimed job stays leased without a heartbeat")                                              \
    X(job_poll_ms, "job-poll-ms", "MERCATO_JOB_POLL_MS", INT, "200", 5, 60000, 0,                              \
      "longest idle wait between job claims (ms)")                                                           \
    X(job_retention, "job-retention", "MERCATO_JOB_RETENTION", INT, "168", 1, 87600, 0,                         \
      "hours to keep finished jobs and consumed events")                                                     \
    X(worker_port, "worker-port", "MERCATO_WORKER_PORT", INT, "0", 0, 65535, 0,                                \
      "mercato worker: serve /healthz, /readyz, /metrics on this port (0 = no listener)")                   \
    X(admin_token, "admin-token", "MERCATO_ADMIN_TOKEN", STR, "", 0, 0, CFG_SECRET,                              \
      "static bearer token with admin rights for operations (empty = disabled)")                              \
    X(demo, "demo", "MERCATO_DEMO", BOOL, "false", 0, 1, 0, "load the small demo data set into an empty database") \
    X(smtp_url, "smtp-url", "SMTP_URL", STR, "", 0, 0, CFG_SECRET_URL, "smtp://host:port for outgoing mail (empty = log only)") \
    X(mail_from, "mail-from", "MERCATO_MAIL_FROM", STR, "mercato <no-reply@mercato.local>", 0, 0, 0,           \
      "From address of outgoing mail")                                                                        \
    X(public_url, "public-url", "MERCATO_PUBLIC_URL", STR, "http://127.0.0.1:8080", 0, 0, 0,                    \
      "external base URL used in links")                                                                      \
    X(shop_name, "shop-name", "MERCATO_SHOP_NAME", STR, "mercato", 0, 0, 0, "shop name used in emails")          \
    X(jwt_secret, "jwt-secret", "MERCATO_JWT_SECRET", STR, "", 0, 0, 1,                                          \
      "HS256 access-token key (>= 32 bytes; empty = key file in the data dir)")                                \
    X(jwt_kid, "jwt-kid", "MERCATO_JWT_KID", STR, "k1", 0, 0, 0, "key id of --jwt-secret")                        \
    X(jwt_key_file, "jwt-key-file", "MERCATO_JWT_KEY_FILE", STR, "", 0, 0, 0,                                    \
      "signing key file (empty = DATA_DIR/jwt.keys, created on first start)")                                 \
    X(access_ttl, "access-ttl", "MERCATO_ACCESS_TTL", INT, "900", 30, 86400, 0, "access token lifetime, seconds") \
    X(refresh_ttl, "refresh-ttl", "MERCATO_REFRESH_TTL", INT, "2592000", 60, 31536000, 0,                          \
      "refresh token (session) lifetime, seconds")                                                            \
    X(client_token_ttl, "client-token-ttl", "MERCATO_CLIENT_TOKEN_TTL", INT, "3600", 30, 86400, 0,                 \
      "machine client token lifetime, seconds")                                                               \
    X(code_ttl, "code-ttl", "MERCATO_CODE_TTL", INT, "900", 60, 86400, 0, "one-time email code lifetime, seconds") \
    X(code_attempts, "code-attempts", "MERCATO_CODE_ATTEMPTS", INT, "5", 1, 100, 0,                               \
      "wrong guesses allowed per one-time code")                                                              \
    X(pwhash_ops, "pwhash-ops", "MERCATO_PWHASH_OPS", INT, "2", 1, 16, 0, "argon2id passes")                       \
    X(pwhash_mem_kib, "pwhash-mem-kib", "MERCATO_PWHASH_MEM_KIB", INT, "19456", 8, 1048576, 0,                     \
      "argon2id memory per hash, KiB")                                                                        \
    X(rate_anon, "rate-anon", "MERCATO_RATE_ANON", INT, "300", 1, 1000000000, 0,                                  \
      "anonymous requests per minute per IP")                                                                 \
    X(rate_user, "rate-user", "MERCATO_RATE_USER", INT, "600", 1, 1000000000, 0,                                  \
      "requests per minute per signed-in user")                                                               \
    X(rate_tiers, "rate-tiers", "MERCATO_RATE_TIERS", STR, "basic=60,standard=600,premium=6000", 0, 0, 0,          \
      "machine client tiers: name=requests per minute, comma-separated")                                      \
    X(rate_login_pair, "rate-login-pair", "MERCATO_RATE_LOGIN_PAIR", INT, "10", 1, 1000000, 0,                     \
      "failed logins per account per IP per 15 minutes")                                                      \
    X(rate_login_account, "rate-login-account", "MERCATO_RATE_LOGIN_ACCOUNT", INT, "100", 1, 1000000, 0,           \
      "failed logins per account per hour, all IPs")                                                          \
    X(rate_auth_ip, "rate-auth-ip", "MERCATO_RATE_AUTH_IP", INT, "100", 1, 1000000, 0,                             \
      "per IP per 15 minutes: failed logins and codes, sign-ups, code emails")                                 \
    X(rate_code_account, "rate-code-account", "MERCATO_RATE_CODE_ACCOUNT", INT, "10", 1, 1000000, 0,               \
      "failed one-time code checks per account per 15 minutes")                                               \
    X(rate_mail_account, "rate-mail-account", "MERCATO_RATE_MAIL_ACCOUNT", INT, "5", 1, 1000000, 0,                \
      "code emails per account per hour")                                                                     \
    X(trusted_proxies, "trusted-proxies", "MERCATO_TRUSTED_PROXIES", STR, "", 0, 0, 0,                             \
      "proxy IPs whose X-Forwarded-For is believed (comma-separated; empty = socket address only)")           \
    X(deny_sync_ms, "deny-sync-ms", "MERCATO_DENY_SYNC_MS", INT, "1000", 50, 60000, 0,                              \
      "how often revoked tokens from other instances are picked up, ms")                               \
    X(catalog_cache_mb, "catalog-cache-mb", "MERCATO_CATALOG_CACHE_MB", INT, "48", 0, 65536, 0,                 \
      "rendered product JSON cache budget in MiB (0 disables)")                                                \
    X(conn_memory_kb, "conn-memory-kb", "MERCATO_CONN_MEMORY_KB", INT, "0", 0, 1048576, 0,                       \
      "per-connection HTTP memory pool, KiB (0 = header cap + 16; smaller saves RAM with many streams)")       \
    X(sse_heartbeat, "sse-heartbeat", "MERCATO_SSE_HEARTBEAT", INT, "15", 1, 3600, 0,                          \
      "seconds between SSE heartbeat comments (keeps proxies from closing idle streams)")                       \
    X(sse_retry_ms, "sse-retry-ms", "MERCATO_SSE_RETRY_MS", INT, "3000", 100, 600000, 0,                          \
      "reconnect delay hinted to SSE clients (retry: field), ms")                                               \
    X(sse_buffer_kb, "sse-buffer-kb", "MERCATO_SSE_BUFFER_KB", INT, "64", 1, 65536, 0,                             \
      "bytes an SSE client may fall behind, KiB, before it is told to reconnect")                               \
    X(sse_poll_ms, "sse-poll-ms", "MERCATO_SSE_POLL_MS", INT, "20", 1, 10000, 0,                                   \
      "how often the SSE tailer reads new events from the event log, ms")                                      \
    X(sse_max_streams, "sse-max-streams", "MERCATO_SSE_MAX_STREAMS", INT, "20000", 1, 1000000, 0,                   \
      "open SSE streams per instance (503 beyond; --conn-limit bounds them too)")                               \
    X(search_cache_mb, "search-cache-mb", "MERCATO_SEARCH_CACHE_MB", INT, "16", 0, 65536, 0,                    \
      "search and suggest answer cache budget in MiB (0 disables)")                                        \
    X(fulfilment_auto, "fulfilment-auto", "MERCATO_FULFILMENT_AUTO", BOOL, "true", 0, 1, 0,                      \
      "create shipments when an order is paid (false: admins move paid orders on by hand)")                 \
    X(fulfilment_carrier, "fulfilment-carrier", "MERCATO_FULFILMENT_CARRIER", STR, "demo", 0, 0, 0,             \
      "carrier assigned to new shipments (\"demo\" = the built-in carrier that advances them on a timer)")  \
    X(demo_carrier_step, "demo-carrier-step", "MERCATO_DEMO_CARRIER_STEP", INT, "20", 0, 86400, 0,              \
      "seconds between the demo carrier's tracking events")  \
    X(reservation_ttl, "reservation-ttl", "MERCATO_RESERVATION_TTL", INT, "900", 1, 604800, 0,                  \
      "seconds an unpaid order holds its stock before it is cancelled")                                      \
    X(cart_ttl, "cart-ttl", "MERCATO_CART_TTL", INT, "1209600", 60, 31536000, 0,                               \
      "seconds of inactivity after which a cart expires")                                                    \
    X(webhook_allow_private, "webhook-allow-private", "MERCATO_WEBHOOK_ALLOW_PRIVATE", BOOL, "false", 0, 1, 0,    \
      "let webhook endpoints be private, loopback or link-local addresses (tests, closed networks)")          \
    X(webhook_timeout, "webhook-timeout", "MERCATO_WEBHOOK_TIMEOUT", INT, "10", 1, 300, 0,                        \
      "seconds one webhook delivery attempt may take (connect at most 5)")                                    \
    X(webhook_max_attempts, "webhook-max-attempts", "MERCATO_WEBHOOK_MAX_ATTEMPTS", INT, "8", 1, 50, 0,           \
      "attempts per webhook delivery before it fails")                                                        \
    X(webhook_backoff_ms, "webhook-backoff-ms", "MERCATO_WEBHOOK_BACKOFF_MS", INT, "30000", 10, 3600000, 0,         \
      "first webhook retry delay in ms, doubled per attempt (+-20% jitter, at most 1 h)")                    \
    X(webhook_disable_after, "webhook-disable-after", "MERCATO_WEBHOOK_DISABLE_AFTER", INT, "5", 1, 1000, 0,      \
      "consecutive failed webhook deliveries that disable an endpoint")                                       \
    X(stripe_secret_key, "stripe-secret-key", "STRIPE_SECRET_KEY", STR, "", 0, 0, CFG_SECRET,                      \
      "Stripe secret API key (sk_...; empty = the stripe provider is not registered)")                        \
    X(stripe_webhook_secret, "stripe-webhook-secret", "STRIPE_WEBHOOK_SECRET", STR, "", 0, 0, CFG_SECRET,          \
      "Stripe webhook signing secret (whsec_...) for POST /v1/webhooks/stripe")                                \
    X(stripe_api_base, "stripe-api-base", "MERCATO_STRIPE_API_BASE", STR, "https://api.stripe.com", 0, 0, 0,       \
      "base URL of Stripe's REST API (a local server in tests)")                                              \
    X(stripe_timeout, "stripe-timeout", "MERCATO_STRIPE_TIMEOUT", INT, "30", 1, 300, 0,                            \
      "seconds one call to Stripe's API may take")

typedef struct config {
#define CFG_FIELD_STR char *
#define CFG_FIELD_INT long long
#define CFG_FIELD_BOOL int
#define X(field, flag, env, type, def, min, max, secret, help) CFG_FIELD_##type field;
    CONFIG_OPTIONS(X)
#undef X
} config_t;

/* Fills cfg from defaults, the environment, then argv (flags "--name value"
 * or "--name=value").  Unknown flags and bad values print a clear message to
 * stderr and return -1.  Positional arguments are left in *rest and *nrest.
 * Strings in cfg are owned by cfg (config_free). */
int config_load(config_t *cfg, int argc, char **argv, char ***rest, int *nrest);
void config_free(config_t *cfg);
/* Logs one line with every option, secrets masked. */
void config_log(const config_t *cfg);
/* Prints the option table (for `mercato help`). */
void config_print_help(FILE *out);
/* Copies url into out with its password masked: the userinfo password
 * ("postgres://u:***@h/db") and any password= query parameter
 * ("postgres://h/db?password=***").  Other URLs are copied unchanged. */
void config_mask_url(const char *url, char *out, size_t outlen);

#endif
