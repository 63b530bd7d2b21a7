/*
 * bench_poukai.c - rng_server and log_server against their peers, measured
 * in one run inside a real KOS system on sim (the bench app is sandboxed
 * like any app; see run.sh):
 *
 *   rng   bytes per second from rng_server (kos_rng_read, 4096-byte and
 *         32-byte reads) against getrandom() in the same process;
 *   log   records per second through log_server (kos_logsrv_write, one
 *         synchronous call per record) against fprintf() of the same lines
 *         to a file in the app's /data: buffered (the everyday peer) and
 *         with fflush + fdatasync per line (the peer with log_server's
 *         durability when it persists with fsync).
 *
 *   flood N records through log_server as log does, after a wait (so
 *         that a device's link is up first), and only log_server's rate:
 *         the local side of bench/link/log_rate.sh, which counts the
 *         records that reach a Studio's event stream.
 *
 *   sign  Ed25519 signatures per second through key_store
 *         (kos_keystore_sign, 64-byte messages, one call each) against
 *         OpenSSL's EVP_DigestSign on a key of the app's own, in the same
 *         process, set up per signature as key_store does.
 *
 * Arguments: rng MB | log N | flood N WAIT_MS | sign N. Prints figures and ratios; exit
 * status 0 whatever they are: this is a measurement, not a test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <kos/keystore.h>
#include <kos/log.h>
#include <kos/logsrv.h>
#include <kos/msg.h>
#include <kos/rng.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double rng_kos(kos_rng_t *rng, uint8_t *buf, size_t chunk, size_t total)
{
    double t0 = now_s();
    for (size_t done = 0; done < total; done += chunk)
        if (kos_rng_read(rng, buf, chunk))
            return 0;
    return (double)total / (now_s() - t0);
}

static double rng_getrandom(uint8_t *buf, size_t chunk, size_t total)
{
    double t0 = now_s();
    for (size_t done = 0; done < total; done += chunk)
        if (getrandom(buf, chunk, 0) != (ssize_t)chunk)
            return 0;
    return (double)total / (now_s() - t0);
}

static int bench_rng(kos_dir_t *dir, unsigned mb)
{
    static uint8_t buf[4096];
    size_t total = (size_t)mb << 20, small = total / 16;
    kos_rng_t *rng;
    kos_status_t st = kos_rng_open(dir, 5000, &rng);

    if (st) {
        kos_log_error("bench: rng open: %s", kos_status_str(st));
        return 1;
    }
    /* warm up both paths */
    (void)rng_kos(rng, buf, 4096, 1 << 20);
    (void)rng_getrandom(buf, 4096, 1 << 20);
    double k4 = rng_kos(rng, buf, 4096, total), g4 = rng_getrandom(buf, 4096, total);
    double k32 = rng_kos(rng, buf, 32, small), g32 = rng_getrandom(buf, 32, small);
    kos_log_info("bench rng 4096-byte reads: rng_server %.1f MB/s, getrandom %.1f MB/s, "
                 "ratio %.2f",
                 k4 / 1e6, g4 / 1e6, k4 / g4);
    kos_log_info("bench rng 32-byte reads: rng_server %.0f reads/s (%.1f MB/s), getrandom %.0f "
                 "reads/s (%.1f MB/s), ratio %.2f",
                 k32 / 32, k32 / 1e6, g32 / 32, g32 / 1e6, k32 / g32);
    kos_rng_close(rng);
    return 0;
}

/* Writes n records through log_server, one synchronous call each, as fast
 * as it takes them; returns records per second (0: a write failed), with
 * the records the rate limit dropped in *busy. */
static double log_records(kos_logsrv_t *ls, unsigned n, unsigned *busy)
{
    char line[128];
    double t0 = now_s();
    kos_status_t st;

    *busy = 0;
    for (unsigned i = 0; i < n; i++) {
        snprintf(line, sizeof(line), "bench record %u: sensor 7 temperature 21.5 C humidity 40%%",
                 i);
        st = kos_logsrv_write(ls, KOS_LOG_INFO, line, NULL);
        *busy += st == KOS_STATUS_BUSY;
        if (st && st != KOS_STATUS_BUSY) {
            kos_log_error("bench: log write: %s", kos_status_str(st));
            return 0;
        }
    }
    return n / (now_s() - t0);
}

/* log_server, opened for the log benches; NULL after saying why not. */
static kos_logsrv_t *log_open(kos_dir_t *dir)
{
    kos_logsrv_t *ls;
    kos_status_t st = kos_logsrv_open(dir, 10000, &ls);

    if (st) {
        kos_log_error("bench: log open: %s", kos_status_str(st));
        return NULL;
    }
    return ls;
}

static int bench_log(kos_dir_t *dir, unsigned n)
{
    kos_logsrv_t *ls = log_open(dir);
    FILE *f;
    double t0, kos, buffered, synced;
    unsigned busy;

    if (!ls)
        return 1;
    if ((kos = log_records(ls, n, &busy)) == 0)
        return 1;

    f = fopen("/data/bench_fprintf.log", "w");
    if (!f) {
        kos_log_error("bench: cannot open /data/bench_fprintf.log (grant data_dir)");
        return 1;
    }
    t0 = now_s();
    for (unsigned i = 0; i < n; i++)
        fprintf(f,
                "2026-11-26T16:01:02.345678Z bench: info: bench record %u: sensor 7 "
                "temperature 21.5 C humidity 40%%\n",
                i);
    fflush(f);
    buffered = n / (now_s() - t0);
    rewind(f);
    t0 = now_s();
    for (unsigned i = 0; i < n; i++) {
        fprintf(f,
                "2026-11-26T16:01:02.345678Z bench: info: bench record %u: sensor 7 "
                "temperature 21.5 C humidity 40%%\n",
                i);
        fflush(f);
        fdatasync(fileno(f));
    }
    synced = n / (now_s() - t0);
    fclose(f);
    unlink("/data/bench_fprintf.log");
    kos_log_info("bench log %u records: log_server %.0f records/s (%u dropped), fprintf "
                 "buffered %.0f records/s, fprintf+fdatasync %.0f records/s; ratios %.3f "
                 "(buffered) %.2f (synced)",
                 n, kos, busy, buffered, synced, kos / buffered, kos / synced);
    kos_logsrv_close(ls);
    return 0;
}

static int bench_flood(kos_dir_t *dir, unsigned n, unsigned wait_ms)
{
    kos_logsrv_t *ls = log_open(dir);
    double kos;
    unsigned busy;

    if (!ls)
        return 1;
    usleep(wait_ms * 1000u);
    kos_log_info("bench flood: writing %u records", n);
    kos = log_records(ls, n, &busy);
    if (kos > 0)
        kos_log_info("bench flood %u records: log_server %.0f records/s (%u dropped)", n, kos,
                     busy);
    kos_logsrv_close(ls);
    return kos > 0 ? 0 : 1;
}

/* n signatures of 64-byte messages with an in-process Ed25519 key. */
static double sign_openssl(EVP_PKEY *key, EVP_MD_CTX *md, unsigned n)
{
    uint8_t msg[64] = {1}, sig[64];
    size_t len;
    double t0 = now_s();

    for (unsigned i = 0; i < n; i++) {
        msg[0] = (uint8_t)i;
        len = sizeof(sig);
        if (EVP_DigestSignInit(md, NULL, NULL, NULL, key) != 1 ||
            EVP_DigestSign(md, sig, &len, msg, sizeof(msg)) != 1)
            return 0;
        EVP_MD_CTX_reset(md);
    }
    return n / (now_s() - t0);
}

static double sign_keystore(kos_keystore_t *ks, unsigned n)
{
    uint8_t msg[64] = {1}, sig[64];
    double t0 = now_s();

    for (unsigned i = 0; i < n; i++) {
        msg[0] = (uint8_t)i;
        if (kos_keystore_sign(ks, "identity", msg, sizeof(msg), sig))
            return 0;
    }
    return n / (now_s() - t0);
}

static int bench_sign(kos_dir_t *dir, unsigned n)
{
    kos_keystore_t *ks;
    kos_status_t st = kos_keystore_open(dir, 10000, &ks);
    EVP_PKEY *key;
    EVP_MD_CTX *md;
    double k, o;

    if (st) {
        kos_log_error("bench: key_store open: %s", kos_status_str(st));
        return 1;
    }
    OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
    key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    md = EVP_MD_CTX_new();
    if (!key || !md) {
        kos_log_error("bench: OpenSSL cannot make an Ed25519 key");
        return 1;
    }
    /* warm up both paths; then alternate, so both see the same machine */
    if (sign_keystore(ks, n / 10 + 1) == 0) {
        kos_log_error("bench: key_store refused to sign (run with --keys; see run.sh)");
        return 1;
    }
    (void)sign_openssl(key, md, n / 10 + 1);
    k = sign_keystore(ks, n / 2) + sign_keystore(ks, n / 2);
    o = sign_openssl(key, md, n / 2) + sign_openssl(key, md, n / 2);
    kos_log_info("bench sign %u Ed25519 signatures of 64 bytes: key_store %.0f/s, OpenSSL in "
                 "process %.0f/s, ratio %.2f",
                 n, k / 2, o / 2, k / o);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    kos_keystore_close(ks);
    return 0;
}

int main(int argc, char **argv)
{
    kos_app_t *app;
    kos_dir_t *dir;
    int rc = 2;

    if (kos_app_open(&app) || kos_app_dir(app, "msg0", &dir) || kos_app_ready(app))
        return 1;
    if (argc > 2 && !strcmp(argv[1], "rng"))
        rc = bench_rng(dir, (unsigned)strtoul(argv[2], NULL, 10));
    else if (argc > 2 && !strcmp(argv[1], "log"))
        rc = bench_log(dir, (unsigned)strtoul(argv[2], NULL, 10));
    else if (argc > 3 && !strcmp(argv[1], "flood"))
        rc = bench_flood(dir, (unsigned)strtoul(argv[2], NULL, 10),
                         (unsigned)strtoul(argv[3], NULL, 10));
    else if (argc > 2 && !strcmp(argv[1], "sign"))
        rc = bench_sign(dir, (unsigned)strtoul(argv[2], NULL, 10));
    else
        kos_log_error("usage: bench_poukai rng MB | log N | flood N WAIT_MS | sign N");
    kos_app_close(app);
    return rc;
}
