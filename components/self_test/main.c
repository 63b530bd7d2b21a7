/*
 * main.c - self_test: at start, checks that each Poukai service answers
 * correctly through its protocol, then reports the verdict to Core (which
 * prints it and records it for the boot-fallback logic) and ends.
 *
 * The checks, in order (docs/packages/self_test.md):
 *   msg0       the message server answers a ping;
 *   rng        rng_server answers a ping, two reads differ and its bytes
 *              pass a quick check (st_random_ok());
 *   log        log_server answers a ping and a record written reads back:
 *              same sequence number, app, level and text;
 *   key_store  key_store answers a ping, gives key KEY's Ed25519 public key,
 *              signs a random digest (digest mode), verifies the signature,
 *              and refuses it once a bit is flipped;
 *   ping       each protocol of the `ping` setting is granted and its server
 *              answers a ping.
 *
 * Settings (config:): server (default msg0); rng, log, key_store: check
 * (default) or skip; key (default identity); ping: PROTOCOL,PROTOCOL,...
 * (default none); timeout: how long each service may take to publish and
 * to answer each call (a duration, default 10s).
 *
 * A check that cannot run (a protocol not granted, a service that never
 * publishes) fails; nothing is skipped that the settings do not skip.
 */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <kos/keystore.h>
#include <kos/log.h>
#include <kos/logsrv.h>
#include <kos/msg.h>
#include <kos/rng.h>

#include "config_int.h"
#include "st.h"

#define DEFAULT_TIMEOUT_MS 10000
#define MAX_TIMEOUT_MS     600000 /* 10m */
#define RNG_READ           32u

struct ctx {
    kos_app_t *app;
    kos_dir_t *dir;
    const char *server;
    int timeout_ms;
    struct st_report rep;
};

/* Records one check's result and logs it. */
static void result(struct ctx *c, const char *name, bool ok, const char *why)
{
    if (ok)
        kos_log_info("check %s: ok%s%s%s", name, why && *why ? " (" : "", why ? why : "",
                     why && *why ? ")" : "");
    else
        kos_log_error("check %s: FAILED: %s", name, why);
    st_report_add(&c->rep, name, ok, why);
}

static void fail_st(struct ctx *c, const char *name, const char *what, kos_status_t st)
{
    char why[256];

    snprintf(why, sizeof(why), "%s: %s", what, kos_status_str(st));
    result(c, name, false, why);
}

static void check_server(struct ctx *c)
{
    kos_status_t st = kos_dir_ping(c->dir, c->timeout_ms);

    if (st)
        fail_st(c, c->server, "ping", st);
    else
        result(c, c->server, true, "ping");
}

static void check_rng(struct ctx *c)
{
    uint8_t a[RNG_READ], b[RNG_READ], bulk[ST_MONOBIT_BYTES];
    char why[160];
    unsigned ones;
    kos_rng_t *rng;
    kos_status_t st;

    st = kos_rng_open(c->dir, c->timeout_ms, &rng);
    if (st) {
        fail_st(c, "rng", "request " KOS_RNG_PROTOCOL, st);
        return;
    }
    if ((st = kos_token_ping(kos_rng_token(rng), c->timeout_ms))) {
        fail_st(c, "rng", "ping", st);
    } else if ((st = kos_rng_read(rng, a, sizeof(a))) || (st = kos_rng_read(rng, b, sizeof(b))) ||
               (st = kos_rng_read(rng, bulk, sizeof(bulk)))) {
        fail_st(c, "rng", "read", st);
    } else if (!st_random_ok(a, b, sizeof(a), bulk, sizeof(bulk), &ones, why, sizeof(why))) {
        result(c, "rng", false, why);
    } else {
        snprintf(why, sizeof(why), "reads differ, monobit %u/20000", ones);
        result(c, "rng", true, why);
    }
    explicit_bzero(a, sizeof(a));
    explicit_bzero(b, sizeof(b));
    explicit_bzero(bulk, sizeof(bulk));
    kos_rng_close(rng);
}

struct readback {
    uint64_t seq;
    const char *app;
    const char *text;
    bool found;
};

static void match_record(const struct kos_logsrv_record *r, void *arg)
{
    struct readback *rb = arg;

    if (r->seq == rb->seq && r->level == KOS_LOG_INFO && !strcmp(r->app, rb->app) &&
        r->text_len == strlen(rb->text) && !strcmp(r->text, rb->text))
        rb->found = true;
}

/* Writes a record and reads it back; on failure `why` says what failed. */
static bool log_steps(struct ctx *c, kos_logsrv_t *ls, const char *text, char *why, size_t len)
{
    struct readback rb = {.app = kos_app_name(c->app), .text = text};
    struct kos_logsrv_query q = {.max_count = 1, .min_level = KOS_LOG_INFO, .app = rb.app};
    kos_status_t st;

    if ((st = kos_token_ping(kos_logsrv_token(ls), c->timeout_ms))) {
        snprintf(why, len, "ping: %s", kos_status_str(st));
        return false;
    }
    if ((st = kos_logsrv_write(ls, KOS_LOG_INFO, text, &rb.seq))) {
        snprintf(why, len, "write: %s", kos_status_str(st));
        return false;
    }
    q.cursor = rb.seq;
    if ((st = kos_logsrv_query(ls, &q, match_record, &rb, NULL, NULL))) {
        snprintf(why, len, "query: %s", kos_status_str(st));
        return false;
    }
    if (!rb.found) {
        snprintf(why, len, "record %llu ('%s') did not read back", (unsigned long long)rb.seq,
                 text);
        return false;
    }
    snprintf(why, len, "record %llu read back", (unsigned long long)rb.seq);
    return true;
}

static void check_log(struct ctx *c)
{
    char text[64], hex[17], why[160];
    uint8_t nonce[8];
    kos_logsrv_t *ls;
    kos_status_t st;

    if (getrandom(nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce)) {
        result(c, "log", false, "no nonce from getrandom()");
        return;
    }
    st_hex(nonce, sizeof(nonce), hex);
    snprintf(text, sizeof(text), "self test %s", hex);
    st = kos_logsrv_open(c->dir, c->timeout_ms, &ls);
    if (st) {
        fail_st(c, "log", "request " KOS_LOG_PROTOCOL, st);
        return;
    }
    result(c, "log", log_steps(c, ls, text, why, sizeof(why)), why);
    kos_logsrv_close(ls);
}

/* Gets key's public key, signs a random digest with it, verifies the
 * signature, and checks that a tampered one is refused; on failure `why`
 * says which step failed. */
static bool keystore_steps(struct ctx *c, kos_keystore_t *ks, const char *key, char *why,
                           size_t len)
{
    uint8_t pub[KOS_KEYSTORE_PUBLIC_KEY_LEN], digest[KOS_KEYSTORE_DIGEST_LEN];
    uint8_t sig[KOS_KEYSTORE_SIGNATURE_LEN];
    bool valid = false;
    kos_status_t st;
    char hex[17];
    int type = 0;

    if (getrandom(digest, sizeof(digest), 0) != (ssize_t)sizeof(digest)) {
        snprintf(why, len, "no random digest from getrandom()");
        return false;
    }
    if ((st = kos_token_ping(kos_keystore_token(ks), c->timeout_ms))) {
        snprintf(why, len, "ping: %s", kos_status_str(st));
        return false;
    }
    if ((st = kos_keystore_public_key(ks, key, pub, &type))) {
        snprintf(why, len, "public key of '%s': %s%s", key, kos_status_str(st),
                 st == KOS_STATUS_NOT_FOUND
                     ? " (provision the device's keys: kos-tool run --keys DIR)"
                     : "");
        return false;
    }
    if (type != KOS_KEYSTORE_ED25519) {
        snprintf(why, len, "key '%s' is not an Ed25519 key", key);
        return false;
    }
    if ((st = kos_keystore_sign_digest(ks, key, digest, sig))) {
        snprintf(why, len, "sign with '%s': %s", key, kos_status_str(st));
        return false;
    }
    if ((st = kos_keystore_verify_digest(ks, key, digest, sig, &valid)) || !valid) {
        snprintf(why, len, "verify with '%s': %s", key,
                 st ? kos_status_str(st) : "the signature key_store made does not verify");
        return false;
    }
    sig[7] ^= 0x10;
    if ((st = kos_keystore_verify_digest(ks, key, digest, sig, &valid)) || valid) {
        snprintf(why, len, "verify with '%s': %s", key,
                 st ? kos_status_str(st) : "a tampered signature verifies");
        return false;
    }
    st_hex(pub, 8, hex);
    snprintf(why, len, "'%s' %s... signs and verifies", key, hex);
    return true;
}

static void check_keystore(struct ctx *c, const char *key)
{
    char why[256];
    kos_keystore_t *ks;
    kos_status_t st;

    st = kos_keystore_open(c->dir, c->timeout_ms, &ks);
    if (st) {
        fail_st(c, "key_store", "request " KOS_KEYSTORE_PROTOCOL, st);
        return;
    }
    kos_keystore_set_timeout(ks, c->timeout_ms);
    result(c, "key_store", keystore_steps(c, ks, key, why, sizeof(why)), why);
    kos_keystore_close(ks);
}

/* Pings the server of each protocol in the comma-separated list. */
static void check_pings(struct ctx *c, const char *list)
{
    char proto[KOS_PROTOCOL_NAME_MAX + 1], name[KOS_PROTOCOL_NAME_MAX + 8];

    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        size_t a = 0, b = n;
        kos_token_t *tok;
        kos_status_t st;

        while (a < b && p[a] == ' ')
            a++;
        while (b > a && p[b - 1] == ' ')
            b--;
        if (b > a) {
            if (b - a > KOS_PROTOCOL_NAME_MAX) {
                result(c, "ping", false, "a protocol name in 'ping' is too long");
                return;
            }
            memcpy(proto, p + a, b - a);
            proto[b - a] = '\0';
            snprintf(name, sizeof(name), "ping %s", proto);
            st = kos_dir_request(c->dir, proto, c->timeout_ms, &tok);
            if (st) {
                fail_st(c, name, "request", st);
            } else {
                st = kos_token_ping(tok, c->timeout_ms);
                if (st)
                    fail_st(c, name, "ping", st);
                else
                    result(c, name, true, NULL);
                kos_token_close(tok);
            }
        }
        p += n;
        if (*p == ',')
            p++;
    }
}

/* Reads the settings; a bad one is a failed check, so a misconfigured self
 * test never passes. */
static bool settings(struct ctx *c, bool *rng, bool *log, bool *keys)
{
    static const char *const names[] = {"rng", "log", "key_store"};
    bool *want[] = {rng, log, keys};
    char why[KOS__CFG_ERR_MAX];
    const char *v;
    uint64_t ms;
    bool ok;

    c->server = kos_app_config(c->app, "server");
    if (!c->server)
        c->server = "msg0";
    v = kos_app_config(c->app, "timeout");
    if (v && kos__cfg_parse_duration_ms("timeout", v, 1, MAX_TIMEOUT_MS, &ms, why, sizeof(why))) {
        result(c, "settings", false, why);
        return false;
    }
    c->timeout_ms = v ? (int)ms : DEFAULT_TIMEOUT_MS;
    for (size_t i = 0; i < 3; i++) {
        v = kos_app_config(c->app, names[i]);
        *want[i] = st_check_wanted(v, &ok);
        if (!ok) {
            snprintf(why, sizeof(why), "setting %s='%.40s': expected check or skip", names[i], v);
            result(c, "settings", false, why);
            return false;
        }
    }
    return true;
}

int main(void)
{
    struct ctx c = {0};
    bool rng = true, log = true, keys = true, passed;
    const char *key, *pings;
    kos_status_t st;

    if (kos_app_open(&c.app))
        return 1;
    st_report_init(&c.rep);
    if (kos_app_ready(c.app))
        kos_log_warn("could not report readiness");
    if (settings(&c, &rng, &log, &keys)) {
        st = kos_app_dir(c.app, c.server, &c.dir);
        if (st) {
            fail_st(&c, c.server, "no protocol granted on this message server", st);
        } else {
            key = kos_app_config(c.app, "key");
            pings = kos_app_config(c.app, "ping");
            check_server(&c);
            if (rng)
                check_rng(&c);
            if (log)
                check_log(&c);
            if (keys)
                check_keystore(&c, key ? key : "identity");
            if (pings)
                check_pings(&c, pings);
        }
    }
    passed = st_report_passed(&c.rep);
    if (c.rep.checks == 0)
        st_report_add(&c.rep, "self_test", false, "no check ran");
    kos_log_info("self test %s: %u checks, %u failed", passed ? "passed" : "FAILED",
                 (unsigned)c.rep.checks, (unsigned)c.rep.failed);
    st = kos_app_report_self_test(c.app, passed, c.rep.checks, c.rep.failed, c.rep.summary);
    if (st)
        kos_log_error("cannot report to Core: %s", kos_status_str(st));
    kos_app_close(c.app);
    return st ? 1 : 0;
}
