/*
 * main.c - the key_store component: holds the device's keys, granted to it
 * as read-only resources, and publishes kos_keystore_protocol (or the
 * protocol its `protocol` setting names), letting each app do only the
 * operations its `allow` setting lists.
 *
 * Settings (the manifest entry's config:, see docs/packages/key_store.md):
 *   allow     "APP=KEY:OP,...;APP=..." with OP public|sign|sign_digest|
 *             verify|agree (default: nobody may do anything)
 *   allow.APP "KEY:OP,KEY:OP": what app APP may do, added to `allow`; one
 *             setting per app, so a manifest can change one app's rights by
 *             name over a base layer's
 *   keys      "NAME,NAME,..." the resources to load as keys or public items;
 *             each must be granted (default: identity, tunnel,
 *             identity_cert, server_ca, server and trusted_0..trusted_29,
 *             each if granted)
 *   protocol  the protocol to publish (default kos_keystore_protocol)
 *   server    the message server (default msg0)
 */
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <kos/log.h>
#include <kos/msg.h>

#include "component_int.h"
#include "config_int.h"
#include "ks.h"

#if defined(__SANITIZE_ADDRESS__)
#define KS_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KS_SANITIZER 1
#endif
#endif
#ifndef KS_SANITIZER
#define KS_SANITIZER 0
#endif

#define DEFAULT_TRUSTED 30
#define SECURE_HEAP     (64u << 10)

struct ctx {
    kos_app_t *app;
    int heap; /* what CRYPTO_secure_malloc_init() said */
    struct kstore ks;
    struct ks_acl acl; /* the allow list being built */
};

/* Loads resource `name` as a key. `required`: a missing resource is an
 * error, else it is skipped. Returns 0, or 1 after logging why. */
static int load_one(struct ctx *c, const char *name, bool required)
{
    char err[256];
    kos_status_t st;
    int fd;

    st = kos_app_resource(c->app, name, &fd, NULL);
    if (st == KOS_STATUS_NOT_FOUND && !required)
        return 0;
    if (st) {
        kos_log_error("keys: '%s' is not granted to key_store (devices: {%s: {path: FILE, "
                      "access: r}}): %s",
                      name, name, kos_status_str(st));
        return 1;
    }
    if (kstore_fd_is_item(fd) ? kstore_add_item_fd(&c->ks, name, fd, err, sizeof(err))
                              : kstore_add_fd(&c->ks, name, fd, err, sizeof(err))) {
        kos_log_error("%s", err);
        return 1;
    }
    return 0;
}

static int load_keys(struct ctx *c)
{
    const char *list = kos__cfg_str(c->app, "keys", NULL);
    char name[64];

    if (!list) {
        if (load_one(c, "identity", false) || load_one(c, "tunnel", false) ||
            load_one(c, "identity_cert", false) || load_one(c, "server_ca", false) ||
            load_one(c, "server", false))
            return 1;
        for (int i = 0; i < DEFAULT_TRUSTED; i++) {
            snprintf(name, sizeof(name), "trusted_%d", i);
            if (load_one(c, name, false))
                return 1;
        }
        return 0;
    }
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        size_t a = 0, b = n;

        while (a < b && p[a] == ' ')
            a++;
        while (b > a && p[b - 1] == ' ')
            b--;
        if (b - a == 0 || b - a > KOS_KEYSTORE_KEY_NAME_MAX || !kos__ks_name_valid(p + a, b - a)) {
            kos_log_error("keys: expected NAME,NAME,... (names of 1-31 characters from "
                          "[a-z0-9_]) at offset %zu ('%.24s')",
                          (size_t)(p - list), p);
            return 1;
        }
        memcpy(name, p + a, b - a);
        name[b - a] = '\0';
        if (load_one(c, name, true))
            return 1;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* Logs each key by its id: the first 8 bytes of the SHA-256 of its raw
 * public key, as kos-tool and Core name keys (docs/keys.md), so one key has
 * one spelling everywhere. */
static void log_keys(const struct ctx *c)
{
    for (size_t i = 0; i < c->ks.n_keys; i++) {
        const struct ks_key *k = &c->ks.keys[i];
        unsigned char md[SHA256_DIGEST_LENGTH];
        char id[17];
        SHA256(k->pub, sizeof(k->pub), md);
        for (int j = 0; j < 8; j++)
            snprintf(id + 2 * j, 3, "%02x", md[j]);
        kos_log_info("key '%s': %s %s %s", k->name,
                     k->type == KOS_KEYSTORE_ED25519 ? "ed25519" : "x25519",
                     k->private_key ? "private" : "public", id);
    }
    for (size_t i = 0; i < c->ks.n_items; i++)
        kos_log_info("item '%s': %s, %zu bytes", c->ks.items[i].name,
                     c->ks.items[i].type == KOS_KEYSTORE_ITEM_X509 ? "x509" : "text",
                     c->ks.items[i].len);
}

/* Builds the allow list from `allow` and every allow.APP setting. Returns 0,
 * or 1 after logging why (a bad setting grants nothing). Sets *any when some
 * setting grants something. */
static int load_acl(struct ctx *c, struct ks_acl *acl, bool *any)
{
    const char *key, *value;
    char err[256], app[KS_APP_NAME_MAX + 2];
    size_t klen;

    if (ks_acl_parse(acl, kos__cfg_str(c->app, "allow", NULL), err, sizeof(err))) {
        kos_log_error("%s", err);
        return 1;
    }
    for (size_t i = 0; kos_app_config_at(c->app, i, &key, &klen, &value); i++) {
        if (klen < 6 || memcmp(key, "allow.", 6) != 0)
            continue;
        if (klen - 6 >= sizeof(app)) {
            kos_log_error("allow.%.*s...: not an app name (at most 63 characters)", 20, key + 6);
            return 1;
        }
        memcpy(app, key + 6, klen - 6);
        app[klen - 6] = '\0';
        if (ks_acl_add(acl, app, value, err, sizeof(err))) {
            kos_log_error("%s", err);
            return 1;
        }
    }
    *any = acl->n > 0;
    return 0;
}

/* One request: checked against the allow list and carried out; what the
 * reply held is wiped once it is sent. */
static void on_request(void *arg, kos_endpoint_t *ep, const struct kos_msg *m,
                       const struct kos_caller *from)
{
    struct ctx *c = arg;
    struct kos_msg reply = {0};
    kos_status_t st;

    if (m->token) { /* this protocol takes no tokens */
        kos_token_close(m->token);
        st = KOS_STATUS_PROTOCOL;
    } else {
        st = kstore_handle(&c->ks, from->app, m, &reply);
    }
    kos__component_reply(ep, from, st, &reply);
    kstore_after_reply(&c->ks);
}

/* Reads the settings: loads the keys and builds the allow list. */
static kos_status_t start(void *arg, kos_app_t *app)
{
    struct ctx *c = arg;
    char err[256], warn[512];
    bool any = false;
    kos_status_t st;

    c->app = app;
    if (c->heap == 0)
        kos_log_warn("no secure heap: private keys are in ordinary memory (still wiped)");
    else if (c->heap == 1)
        kos_log_info("secure heap of %u KiB locked in memory", SECURE_HEAP >> 10);
    else if (c->heap == 2)
        kos_log_info("secure heap not locked in memory (mlock refused); keys are still "
                     "guarded, excluded from core dumps and wiped");
    if ((st = kstore_init(&c->ks))) {
        kos_log_error("cannot set up OpenSSL: %s", kos_status_str(st));
        return st;
    }
    if (load_keys(c))
        return KOS_STATUS_INVALID_ARGUMENT;
    if (c->ks.n_keys == 0 && c->ks.n_items == 0)
        kos_log_warn("no keys granted: every operation will fail (provision the device with "
                     "kos-tool run --keys DIR)");
    if (load_acl(c, &c->acl, &any))
        return KOS_STATUS_INVALID_ARGUMENT;
    if (kstore_set_acl(&c->ks, &c->acl, err, sizeof(err), warn, sizeof(warn))) {
        kos_log_error("%s", err);
        return KOS_STATUS_INVALID_ARGUMENT;
    }
    if (warn[0] && c->ks.n_keys > 0) /* with no key at all, the warning above said it */
        kos_log_warn("allow: %s", warn);
    if (!any)
        kos_log_warn("no 'allow' or 'allow.APP' setting grants anything: every operation will "
                     "be refused");
    log_keys(c);
    return KOS_STATUS_OK;
}

static void stopped(void *arg, char *buf, size_t len)
{
    struct ctx *c = arg;

    snprintf(buf, len, "%llu operations, %llu denied, %llu failed", (unsigned long long)c->ks.n_ok,
             (unsigned long long)c->ks.n_denied, (unsigned long long)c->ks.n_failed);
}

static void fini(void *arg)
{
    struct ctx *c = arg;

    kstore_fini(&c->ks);
}

int main(void)
{
    static const struct kos__component key_store = {
        .protocol = KOS_KEYSTORE_PROTOCOL,
        .renamable = true,
        .start = start,
        .serve = {.request = on_request},
        .stopped = stopped,
        .fini = fini,
    };
    struct ctx *c;
    int heap, rc = 1;

    /* Read no OpenSSL configuration: a component's whole configuration comes
     * from its manifest entry (and the sandbox has no files to read). */
    if (!OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL))
        return 1;
    /* Private keys go to OpenSSL's secure heap: guarded, excluded from core
     * dumps, and locked in memory when the sandbox allows mlock. */
    heap = CRYPTO_secure_malloc_init(SECURE_HEAP, 32);
    c = calloc(1, sizeof(*c));
    if (c) {
#if !KS_SANITIZER
        /* No core dumps and no ptrace by other processes of the same user:
         * the private keys are in this address space. (LeakSanitizer needs
         * to ptrace its own process, so sanitizer builds keep the default.) */
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
        c->heap = heap;
        rc = kos__component_main(&key_store, c);
        free(c);
    }
    if (heap)
        CRYPTO_secure_malloc_done();
    return rc;
}
