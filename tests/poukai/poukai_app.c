/*
 * poukai_app.c - the test app of the Poukai layer's system tests
 * (t_poukai): one behaviour per argv[1], reporting on its console so the
 * test script can check every line, and verify signatures and derived keys
 * with the openssl command line.
 *
 *   keys-client PEER   every key_store operation the manifest allows it,
 *                      printing public keys, signatures and the derived key
 *                      in hex; then the operations it is not allowed
 *   keys-denied        granted kos_keystore_protocol but no key: every
 *                      operation is refused
 *   keys-stranger      not granted kos_keystore_protocol at all
 *   keys-abuse         malformed and unknown requests of every shape; every
 *                      reply payload is printed in hex ("abuse reply: ...")
 *                      so the test can look for private key bytes
 *   services           rng_server and log_server through their protocols;
 *                      then a request and a publish the manifest forbids
 *   forge              reports a self test without reports_self_test: true
 *   end                ends at once
 *
 * Each mode ends with "<mode>: done" and exit status 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kos/keystore.h>
#include <kos/log.h>
#include <kos/logsrv.h>
#include <kos/msg.h>
#include <kos/rng.h>

#define TIMEOUT_MS 15000

static kos_app_t *app;
static kos_dir_t *dir;

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
    out[2 * n] = '\0';
}

static bool unhex(const char *s, uint8_t *out, size_t n)
{
    if (strlen(s) != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return false;
        out[i] = (uint8_t)v;
    }
    return true;
}

static const char *type_name(int t)
{
    return t == KOS_KEYSTORE_ED25519 ? "ed25519" : t == KOS_KEYSTORE_X25519 ? "x25519" : "?";
}

static void show_public(kos_keystore_t *ks, const char *key)
{
    uint8_t pub[32];
    char h[65];
    int type = 0;
    kos_status_t st = kos_keystore_public_key(ks, key, pub, &type);

    if (st) {
        kos_log_info("public %s: %s", key, kos_status_str(st));
        return;
    }
    hex(pub, 32, h);
    kos_log_info("public %s: %s %s", key, type_name(type), h);
}

static int keys_client(const char *peer_hex)
{
    static const char msg[] = "KOS system test message";
    static const char label[] = "system test";
    uint8_t sig[64], peer[32], zero[32] = {0}, digest[64], derived[32];
    char h[129];
    bool valid;
    kos_keystore_t *ks;
    kos_status_t st;

    if (!peer_hex || !unhex(peer_hex, peer, 32)) {
        kos_log_error("keys-client: PEER must be 64 hex digits");
        return 2;
    }
    st = kos_keystore_open(dir, TIMEOUT_MS, &ks);
    if (st) {
        kos_log_error("keys-client: open: %s", kos_status_str(st));
        return 1;
    }
    kos_keystore_set_timeout(ks, TIMEOUT_MS);
    show_public(ks, "identity");
    show_public(ks, "tunnel");
    show_public(ks, "trusted_0");

    st = kos_keystore_sign(ks, "identity", msg, sizeof(msg) - 1, sig);
    hex(sig, 64, h);
    kos_log_info("sign pure: %s %s", kos_status_str(st), st ? "-" : h);
    st = kos_keystore_verify(ks, "identity", msg, sizeof(msg) - 1, sig, &valid);
    kos_log_info("verify pure: %s %s", kos_status_str(st), valid ? "valid" : "invalid");
    sig[0] ^= 1;
    st = kos_keystore_verify(ks, "identity", msg, sizeof(msg) - 1, sig, &valid);
    kos_log_info("verify tampered: %s %s", kos_status_str(st), valid ? "valid" : "invalid");
    st = kos_keystore_verify(ks, "trusted_0", msg, sizeof(msg) - 1, sig, &valid);
    kos_log_info("verify with the release key: %s %s", kos_status_str(st),
                 valid ? "valid" : "invalid");

    memset(digest, 0x5a, sizeof(digest));
    st = kos_keystore_sign_digest(ks, "identity", digest, sig);
    hex(sig, 64, h);
    kos_log_info("sign digest: %s %s", kos_status_str(st), st ? "-" : h);
    st = kos_keystore_verify_digest(ks, "identity", digest, sig, &valid);
    kos_log_info("verify digest: %s %s", kos_status_str(st), valid ? "valid" : "invalid");

    st = kos_keystore_agree(ks, "tunnel", peer, label, sizeof(label) - 1, derived, sizeof(derived));
    hex(derived, sizeof(derived), h);
    kos_log_info("agree: %s %s", kos_status_str(st), st ? "-" : h);
    st = kos_keystore_agree(ks, "tunnel", zero, label, sizeof(label) - 1, derived, sizeof(derived));
    kos_log_info("agree with a low-order point: %s", kos_status_str(st));

    /* What the manifest does not allow this app, or the key cannot do. */
    st = kos_keystore_sign(ks, "tunnel", msg, 3, sig);
    kos_log_info("refused: sign with tunnel: %s", kos_status_str(st));
    st = kos_keystore_agree(ks, "identity", peer, label, 3, derived, sizeof(derived));
    kos_log_info("refused: agree with identity: %s", kos_status_str(st));
    st = kos_keystore_sign(ks, "trusted_0", msg, 3, sig);
    kos_log_info("refused: sign with trusted_0: %s", kos_status_str(st));
    st = kos_keystore_sign(ks, "ghost", msg, 3, sig);
    kos_log_info("refused: sign with ghost: %s", kos_status_str(st));
    st = kos_keystore_verify(ks, "tunnel", msg, 3, sig, &valid);
    kos_log_info("refused: verify with tunnel: %s %s", kos_status_str(st),
                 valid ? "valid" : "invalid");
    explicit_bzero(derived, sizeof(derived));
    kos_keystore_close(ks);
    kos_log_info("keys-client: done");
    return 0;
}

static int keys_denied(void)
{
    uint8_t sig[64], peer[32] = {9}, out[32];
    kos_keystore_t *ks;
    kos_status_t st = kos_keystore_open(dir, TIMEOUT_MS, &ks);

    if (st) {
        kos_log_error("keys-denied: open: %s", kos_status_str(st));
        return 1;
    }
    kos_keystore_set_timeout(ks, TIMEOUT_MS);
    show_public(ks, "identity");
    st = kos_keystore_sign(ks, "identity", "x", 1, sig);
    kos_log_info("sign with identity: %s", kos_status_str(st));
    st = kos_keystore_agree(ks, "tunnel", peer, "l", 1, out, sizeof(out));
    kos_log_info("agree with tunnel: %s", kos_status_str(st));
    kos_keystore_close(ks);
    kos_log_info("keys-denied: done");
    return 0;
}

static int keys_stranger(void)
{
    kos_keystore_t *ks;
    kos_status_t st = kos_keystore_open(dir, TIMEOUT_MS, &ks);

    kos_log_info("open kos_keystore_protocol: %s", kos_status_str(st));
    if (!st)
        kos_keystore_close(ks);
    kos_log_info("keys-stranger: done");
    return 0;
}

/* One raw request; prints its status and, if any, the reply's payload. */
static void abuse(kos_token_t *tok, const char *what, uint32_t label, uint64_t param,
                  const void *payload, uint32_t len, kos_token_t *pass)
{
    static char h[2 * KOS_MSG_MAX_PAYLOAD + 1];
    struct kos_msg req = {.label = label,
                          .param = param,
                          .payload = payload,
                          .len = len,
                          .token = pass},
                   reply;
    kos_status_t st = kos_msg_call(tok, &req, &reply, TIMEOUT_MS);

    if (st == KOS_STATUS_OK && reply.len) {
        hex(reply.payload, reply.len > KOS_MSG_MAX_PAYLOAD ? KOS_MSG_MAX_PAYLOAD : reply.len, h);
        kos_log_info("abuse reply: %s: param %llu payload %s", what,
                     (unsigned long long)reply.param, h);
    }
    kos_log_info("abuse: %s: %s", what, kos_status_str(st));
}

static int keys_abuse(void)
{
    static uint8_t p[KOS_MSG_MAX_PAYLOAD];
    static const char *const names[] = {"identity", "tunnel", "trusted_0"};
    char what[96];
    kos_keystore_t *ks;
    kos_token_t *tok;
    kos_status_t st = kos_keystore_open(dir, TIMEOUT_MS, &ks);

    if (st) {
        kos_log_error("keys-abuse: open: %s", kos_status_str(st));
        return 1;
    }
    tok = kos_keystore_token(ks);
    /* Every label 0..7, every key, with payloads of many lengths and a few
     * params: the good-looking ones reach the operations, the others must
     * be refused without a crash or a leak. */
    for (uint32_t label = 0; label <= 7; label++) {
        for (size_t k = 0; k < 3; k++) {
            static const uint64_t params[] = {0, 1, 16, 32, 64, 65, 1ull << 40};
            static const uint32_t lens[] = {0, 1, 33, 64, 97, 160, 4000, 4096};
            size_t nl = strlen(names[k]);

            for (size_t pi = 0; pi < sizeof(params) / sizeof(params[0]); pi++) {
                for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
                    uint32_t len = lens[li] < nl + 1 ? (uint32_t)(nl + 1) : lens[li];
                    memset(p, (int)(label * 31 + li), sizeof(p));
                    p[0] = (uint8_t)nl;
                    memcpy(p + 1, names[k], nl);
                    snprintf(what, sizeof(what), "label %u key %s param %llu len %u", label,
                             names[k], (unsigned long long)params[pi], len);
                    abuse(tok, what, label, params[pi], p, len, NULL);
                }
            }
        }
    }
    /* Broken names: empty, too long, bad characters, longer than the payload. */
    p[0] = 0;
    abuse(tok, "empty name", KOS_KEYSTORE_LABEL_PUBLIC_KEY, 0, p, 1, NULL);
    p[0] = 40;
    memset(p + 1, 'a', 40);
    abuse(tok, "long name", KOS_KEYSTORE_LABEL_PUBLIC_KEY, 0, p, 41, NULL);
    p[0] = 3;
    memcpy(p + 1, "I/D", 3);
    abuse(tok, "bad name", KOS_KEYSTORE_LABEL_PUBLIC_KEY, 0, p, 4, NULL);
    p[0] = 200;
    abuse(tok, "name past the payload", KOS_KEYSTORE_LABEL_PUBLIC_KEY, 0, p, 10, NULL);
    abuse(tok, "no payload", KOS_KEYSTORE_LABEL_SIGN, 0, NULL, 0, NULL);
    abuse(tok, "reserved label", KOS_MSG_LABEL_RESERVED + 1, 0, NULL, 0, NULL);
    p[0] = 8;
    memcpy(p + 1, "identity", 8);
    abuse(tok, "a token passed", KOS_KEYSTORE_LABEL_PUBLIC_KEY, 0, p, 9, tok);
    abuse(tok, "server still answers", KOS_KEYSTORE_LABEL_PUBLIC_KEY, 0, p, 9, NULL);
    kos_keystore_close(ks);
    kos_log_info("keys-abuse: done");
    return 0;
}

struct found {
    uint64_t seq;
    bool ok;
};

static void find_seq(const struct kos_logsrv_record *r, void *arg)
{
    struct found *f = arg;

    if (r->seq == f->seq && !strcmp(r->text, "services: a record") &&
        !strcmp(r->app, kos_app_name(app)))
        f->ok = true;
}

static int services(void)
{
    uint8_t a[32], b[32];
    struct kos_rng_stats stats;
    struct found f = {0};
    kos_rng_t *rng;
    kos_logsrv_t *ls;
    kos_endpoint_t *ep;
    kos_token_t *tok;
    kos_status_t st;

    st = kos_rng_open(dir, TIMEOUT_MS, &rng);
    if (st) {
        kos_log_error("services: rng open: %s", kos_status_str(st));
        return 1;
    }
    if (kos_rng_read(rng, a, 32) || kos_rng_read(rng, b, 32) || kos_rng_stats(rng, &stats)) {
        kos_log_error("services: rng read failed");
        return 1;
    }
    kos_log_info("rng: reads differ: %s; served %llu bytes", memcmp(a, b, 32) ? "yes" : "no",
                 (unsigned long long)stats.bytes);
    kos_rng_close(rng);

    st = kos_logsrv_open(dir, TIMEOUT_MS, &ls);
    if (st) {
        kos_log_error("services: log open: %s", kos_status_str(st));
        return 1;
    }
    st = kos_logsrv_write(ls, KOS_LOG_INFO, "services: a record", &f.seq);
    kos_log_info("log: write: %s", kos_status_str(st));
    struct kos_logsrv_query q = {.cursor = f.seq, .app = kos_app_name(app)};
    st = kos_logsrv_query(ls, &q, find_seq, &f, NULL, NULL);
    kos_log_info("log: read back: %s %s", kos_status_str(st), f.ok ? "found" : "missing");
    struct kos_logsrv_query other = {.app = "self_test"};
    st = kos_logsrv_query(ls, &other, find_seq, &f, NULL, NULL);
    kos_log_info("log: read self_test's records: %s", kos_status_str(st));
    kos_logsrv_close(ls);

    /* The manifest grants no request of kos_keystore_protocol and no
     * publish of kos_log_protocol to this app. */
    st = kos_dir_request(dir, KOS_KEYSTORE_PROTOCOL, 1000, &tok);
    kos_log_info("request kos_keystore_protocol: %s", kos_status_str(st));
    if (!st)
        kos_token_close(tok);
    st = kos_dir_publish(dir, KOS_LOG_PROTOCOL, &ep);
    kos_log_info("publish kos_log_protocol: %s", kos_status_str(st));
    if (!st)
        kos_endpoint_close(ep);
    kos_log_info("services: done");
    return 0;
}

static int forge(void)
{
    kos_status_t st = kos_app_report_self_test(app, true, 1, 0, "forged: all is well");

    kos_log_info("forge: report sent: %s", kos_status_str(st));
    kos_log_info("forge: done");
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    int rc = 2;

    if (kos_app_open(&app))
        return 1;
    if (kos_app_dir(app, "msg0", &dir) != KOS_STATUS_OK && strcmp(mode, "forge") != 0 &&
        strcmp(mode, "end") != 0) {
        kos_log_error("no msg0");
        return 1;
    }
    if (kos_app_ready(app))
        kos_log_warn("could not report readiness");
    if (!strcmp(mode, "keys-client"))
        rc = keys_client(argc > 2 ? argv[2] : NULL);
    else if (!strcmp(mode, "keys-denied"))
        rc = keys_denied();
    else if (!strcmp(mode, "keys-stranger"))
        rc = keys_stranger();
    else if (!strcmp(mode, "keys-abuse"))
        rc = keys_abuse();
    else if (!strcmp(mode, "services"))
        rc = services();
    else if (!strcmp(mode, "forge"))
        rc = forge();
    else if (!strcmp(mode, "end"))
        rc = 0;
    else
        kos_log_error("unknown mode '%s'", mode);
    kos_app_close(app);
    return rc;
}
