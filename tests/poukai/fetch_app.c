/*
 * fetch_app.c - the test app of the tunnel's fetch tests (t_fetch): it
 * fetches blobs with kos_tunnel_fetch() into a pipe, as admin does for
 * Core, reads the pipe to its end, and says on its console what came.
 *
 *   fetcher SPEC...   for each SPEC "SHA256:FROM:TO[:slow|deaf|once]", one fetch:
 *                     "fetcher: info: fetch N: STATUS, W written, R read,
 *                     sha256 H: WHY" (H the SHA-256 of the R bytes read;
 *                     slow: the pipe is not read for a while, so the
 *                     tunnel must wait for room; deaf: the pipe's read
 *                     end is closed at once); the first also tries a
 *                     second fetch at once ("second fetch: busy"), unless
 *                     it says once (a fetch that may have ended by then,
 *                     so that the second would start). Then
 *                     the link's status ("status: ok"), and "done"; runs
 *                     until stopped.
 *   quitter SPEC      starts the fetch and, half a second later, ends
 *                     without closing anything ("quitting")
 *   outsider SPEC     tries a fetch the allow setting does not give it
 *                     ("fetch: unauthorized"), then ends
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <kos/log.h>
#include <kos/msg.h>
#include <kos/tunnel.h>

struct spec {
    uint8_t sha[32];
    uint64_t from, to;
    bool slow, deaf, once;
};

static bool parse_spec(const char *s, struct spec *sp)
{
    char slow[8] = "";
    unsigned long long from, to;
    int used = 0;

    for (int i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return false;
        sp->sha[i] = (uint8_t)v;
    }
    if (sscanf(s + 64, ":%llu:%llu%n:%7s", &from, &to, &used, slow) < 2)
        return false;
    sp->from = from;
    sp->to = to;
    sp->slow = strcmp(slow, "slow") == 0;
    sp->deaf = strcmp(slow, "deaf") == 0;
    sp->once = strcmp(slow, "once") == 0;
    return true;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* One fetch into a pipe, read to its end; says what came. */
static void fetch_one(kos_tunnel_t *t, unsigned n, const struct spec *sp, bool try_second)
{
    static uint8_t buf[65536];
    char why[KOS_TUNNEL_WHY_MAX + 1], hex[65];
    unsigned char md[32];
    unsigned int mdlen = 0;
    uint64_t got = 0, written = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ended = false;
    kos_status_t st;
    int p[2];

    if (!ctx || pipe(p) != 0) {
        kos_log_error("fetch %u: no pipe: %s", n, strerror(errno));
        EVP_MD_CTX_free(ctx);
        return;
    }
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    st = kos_tunnel_fetch(t, sp->sha, sp->from, sp->to, p[1]);
    close(p[1]); /* the tunnel holds its own */
    if (st) {
        kos_log_info("fetch %u: %s", n, kos_status_str(st));
        close(p[0]);
        EVP_MD_CTX_free(ctx);
        return;
    }
    if (try_second && !sp->once) {
        int q[2];
        if (pipe(q) == 0) {
            kos_status_t s2 = kos_tunnel_fetch(t, sp->sha, sp->from, sp->to, q[1]);
            kos_log_info("second fetch: %s", s2 == KOS_STATUS_BUSY ? "busy" : kos_status_str(s2));
            close(q[0]);
            close(q[1]);
        }
    }
    if (sp->slow)
        pause_ms(1500); /* the pipe fills; the tunnel must wait for room */
    if (sp->deaf) {
        close(p[0]); /* nobody reads: the tunnel's writes fail */
        p[0] = -1;
    }
    while (p[0] >= 0) {
        ssize_t k = read(p[0], buf, sizeof(buf));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        EVP_DigestUpdate(ctx, buf, (size_t)k);
        got += (uint64_t)k;
    }
    if (p[0] >= 0)
        close(p[0]);
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    /* The pipe's end came with the fetch's; its news says so too. */
    for (int tries = 0; tries < 600 && !ended; tries++) {
        struct pollfd pf = {.fd = kos_tunnel_fd(t), .events = POLLIN};
        int changed;
        if (poll(&pf, 1, 100) > 0 && (kos_tunnel_news(t, &changed) & KOS_TUNNEL_NEWS_FETCH))
            ended = true;
    }
    st = kos_tunnel_fetch_result(t, &written, why, sizeof(why));
    kos_log_info("fetch %u: %s, %" PRIu64 " written, %" PRIu64 " read, sha256 %s%s: %s", n,
                 kos_status_str(st), written, got, hex, ended ? "" : " (no news)",
                 why[0] ? why : "-");
}

int main(int argc, char **argv)
{
    kos_app_t *app;
    kos_dir_t *dir;
    kos_tunnel_t *t;
    struct kos_tunnel_status ts;
    struct spec sp;
    kos_status_t st;

    if (argc < 3 || kos_app_open(&app) || kos_app_dir(app, "msg0", &dir))
        return 2;
    if ((st = kos_tunnel_open(dir, 0, 15000, &t))) {
        kos_log_error("open: %s", kos_status_str(st));
        return 1;
    }
    if (kos_app_ready(app))
        return 1;
    if (strcmp(argv[1], "outsider") == 0 || strcmp(argv[1], "quitter") == 0) {
        int p[2];
        if (!parse_spec(argv[2], &sp) || pipe(p) != 0)
            return 2;
        st = kos_tunnel_fetch(t, sp.sha, sp.from, sp.to, p[1]);
        kos_log_info("fetch: %s", kos_status_str(st));
        if (strcmp(argv[1], "quitter") == 0) {
            pause_ms(500); /* under way */
            kos_log_info("quitting");
            _exit(0); /* gone, without a word to the tunnel */
        }
        close(p[0]);
        close(p[1]);
        kos_tunnel_close(t);
        kos_app_close(app);
        return 0;
    }
    for (int i = 2; i < argc; i++) {
        if (!parse_spec(argv[i], &sp)) {
            kos_log_error("bad spec '%s'", argv[i]);
            return 2;
        }
        fetch_one(t, (unsigned)(i - 1), &sp, i == 2);
        st = kos_tunnel_status(t, &ts);
        kos_log_info("status: %s", st ? kos_status_str(st) : "ok");
    }
    kos_log_info("done");
    while (!kos_app_stopping(app)) {
        struct pollfd pf = {.fd = kos_app_fd(app), .events = POLLIN};
        (void)poll(&pf, 1, 1000);
    }
    kos_tunnel_close(t);
    kos_app_close(app);
    return 0;
}
