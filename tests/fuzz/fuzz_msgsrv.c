/*
 * fuzz_msgsrv.c - libFuzzer harness for the message server's directory
 * (components/msg_server/msgsrv.c): what it does with sequences of
 * messages, valid and not, from several apps at once.
 *
 * The directory runs in this process, as tests/unit/test_msgsrv.c runs it:
 * each app is a socket pair, Core is the harness calling msgsrv_add_client()
 * (with grants put through kos__grants_encode() and kos__grants_decode(), as
 * they travel from Core) and msgsrv_app_down(), and the harness turns the
 * loop itself, as main.c does but without waiting (msgsrv_expire(),
 * msgsrv_pollfds(), poll() with timeout 0, msgsrv_handle()). The directory
 * reads a clock of the harness's (msgsrv_set_clock()) that moves only when
 * the input says, so an input always runs the same way and the 50 ms, 1 s
 * and 10 s deadlines are reached by counting.
 *
 * An input is a script:
 *   byte 0        the number of apps, 2 + b % 3;
 *   6 bytes an app its id (made distinct from the others'), which of names[]
 *                 it may publish (16 bits, little-endian; bit i: names[i]),
 *                 which it may request (likewise), and flags: 1 it reads everything it is sent
 * after each step
 *                 ("diligent"), 2 the directory's end of its socket has a small
 *                 send buffer (so messages for it queue), 4 it is not
 *                 connected at the start;
 *   then steps. A step is an op byte and the bytes its kind takes:
 *   kind = op & 15, app = (op >> 4 & 3) % apps, rep = op >> 6 (1, 2, 8 or
 *   64 times the same message, each with a fresh request id):
 *     0 raw: a mode byte and a byte that picks the first descriptor of
 *       the pool (below) to send with it, (mode >> 2) % 5 of them; then,
 *       when mode & 1, a length byte (doubled when mode & 2) and that
 *       many bytes of the input,
 *       else a message of the type the next byte names (any type, the
 *       directory's own too) with fields from the next 4 bytes, encoded
 *       and, when mode & 2, with the byte at an offset (the second next
 *       byte) xored with the next. What would pass as a well-formed app
 *       message is not sent: raw steps are garbage only;
 *     1-11 a message of that type, with the fields the next bytes pick:
 *       1 PUBLISH name           2 REQUEST name timeout    3 PING
 *       4 UNPUBLISH ep           5 TOKEN_CLOSE chan        6 REVOKE chan ep
 *       7 PREPARE chan cookie    8 REDEEM cookie           9 FD_PASS chan cookie fd
 *      10 FD_REDEEM cookie      11 FD_DROP cookie
 *    12 the app reads 1, 4, 32 or all (rep) of what waits for it;
 *    13 1, 2, 8 or 64 (rep) turns of the loop;
 *    14 time passes: the next byte b; b < 0xf0 advances[b % 16] ms, else up
 *       to the next deadline msgsrv_expire() announced, minus one, exactly,
 *       or plus one ms (b % 3);
 *    15 Core, by rep: 0 ADD_CLIENT (a restart if the app is connected),
 *       1 APP_DOWN, 2 the app's end of its socket closes (it crashed; Core
 *       has not said so yet), 3 APP_DOWN of the id the next byte names.
 *   Argument bytes: name: names[b % 16]; timeout: b < 0x80 ? timeouts[b % 8]
 *   : (b & 0x7f) * 100 ms; ep and chan, by b >> 6: 0 one the app knows as
 *   its own (published; for chan, held as a client), 1 for chan one it
 *   serves, for ep one someone else published, 2 any known, 3 the number
 *   b & 63; cookie: b < 0x80 ? cookies[b % 8] : a fresh one (PREPARE,
 *   FD_PASS) or one recently prepared or passed (b & 0x7f back); fd: the
 *   pool's descriptor b % N_POOL (two ends of one loopback TCP connection,
 *   which may travel, and a listening and an unconnected TCP socket, a UDP
 *   socket, a pipe, a Unix socket, a memfd, /dev/null and the app's own
 *   socket, which may not).
 * A step whose app is not connected, or that would overflow the harness's
 * tables, is skipped. At the end the harness lets time run past every
 * deadline, turns the loop and reads every app until nothing moves, then
 * destroys the directory.
 *
 * The promises checked (msgsrv.h, docs/messages.md), after every step:
 *   - everything an app receives decodes (kos__mw_recv) and is a message
 *     server's type; each reply answers a request of the same kind that
 *     this connection sent and that was not answered yet, with a status
 *     that request can get: UNAUTHORIZED exactly when the manifest does not
 *     grant the name, TIMEOUT only after the request's timeout has passed,
 *     INVALID_TOKEN for a redeem only after the 50 ms a redeem may wait;
 *   - NEW_CLIENT comes only for an endpoint the app published, naming a
 *     connected app; CLIENT_GONE only for a channel it serves, TOKEN_DOWN
 *     only for a token it holds, each at most once;
 *   - a granted channel's descriptors are what they should be (a sealed
 *     channel memfd naming the channel, an eventfd, the two ends of a pipe
 *     with the right access modes), come to exactly two parties, the
 *     client and the publisher of its endpoint, and the two hold the same
 *     memory, doorbell and note bell; no descriptor of one channel turns up
 *     in another's; a token is for a protocol the client may request, or
 *     it came from redeeming a cookie a holder of a token to that protocol
 *     prepared, at most once per PREPARE;
 *   - a passed descriptor reaches only the client of the channel its
 *     publisher passed it on, is the very socket passed (same inode), and
 *     each pass is delivered at most once;
 *   - the bounds of docs/messages.md, "Under attack", from msgsrv_stats()
 *     and msgsrv_app_stats(): 16 tokens per app and endpoint, 256 per app,
 *     1024 messages queued, 64 waits, 256 prepared transfers, 64 passed
 *     descriptors per app (8 from one publisher) and 4096 in all; msgsrv_check() finds the
 *     directory's bookkeeping consistent;
 *   - the process's open descriptors are exactly the harness's, the pool's
 *     and those msgsrv_stats() says the directory holds (its sockets, the
 *     descriptors in queued messages, the passed ones), and after
 *     msgsrv_destroy() exactly what they were before the input;
 *   - an app that is gone (APP_DOWN, a restart) is not in the directory,
 *     nor are its endpoints; an app that only ever sent well-formed
 *     messages and read what it was sent is never disconnected;
 *   - the console: every line the directory writes names the app it is
 *     about, and no app gets more than 10 lines written about it at once
 *     and one a second after that (the "closing the connection" line and
 *     the token-limit line, once per 1000 refusals, aside);
 * and at the end: every request of an app still connected was answered,
 * but for REQUESTs that wait for ever.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "boot_int.h"
#include "channel_int.h"
#include "fuzz.h"
#include "msg_wire_int.h"
#include "msgsrv.h"

/* The documented bounds (docs/messages.md, "Under attack"). */
#define LIM_TOKENS_EP  16u
#define LIM_TOKENS_APP 256u
#define LIM_QUEUE      1024u
#define LIM_WAITS      64u
#define LIM_COOKIES    256u
#define LIM_FDS_APP    64u
#define LIM_FDS        4096u
#define REDEEM_WAIT_MS 50u
#define LOG_BURST      10u
#define LOG_EVERY_MS   1000u

#define MAX_SLOTS 4u
#define MAX_CONNS 64u   /* connections one input makes (restarts included) */
#define MAX_REQS  8192u /* requests one input sends */
#define MAX_CHANS 4096u /* channel ids the harness follows (they count up from 1) */
#define MAX_EPS   1024u /* endpoint ids the harness follows (likewise) */
#define MAX_XFERS 2048u /* PREPAREs and FD_PASSes one input sends */
#define START_MS  1000000u

#define N_NAMES 16u
static const char *const names[N_NAMES] = {
    "echo",
    "alpha",
    "kos_log_protocol",
    "x",
    "gamma",
    "beta",
    "p23456789012345678901234567890123456789012345678901234567890123",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
};
static const char *const slot_names[MAX_SLOTS] = {"sensor", "display", "logger", "net"};
static const uint64_t cookies[8] = {
    1, 2, 0x8000000000000000ull, UINT64_MAX, 0x1122334455667788ull, 3, 42, 0xdeadbeefull,
};
static const int32_t timeouts[8] = {0, -1, 1, 49, 50, 51, 10000, INT32_MAX};
static const uint32_t advances[16] = {1,    9,    49,   50,    51,    100,   999,     1000,
                                      1001, 5000, 9999, 10000, 10001, 60000, 3600000, 0};
static const unsigned reps[4] = {1, 2, 8, 64};
static const unsigned reads[4] = {1, 4, 32, UINT32_MAX};

/* The descriptors an app may try to pass, made once. */
enum {
    POOL_TCP_A,
    POOL_TCP_B,
    POOL_TCP_LISTEN,
    POOL_TCP_LOOSE,
    POOL_UDP,
    POOL_PIPE,
    POOL_UNIX,
    POOL_MEMFD,
    POOL_NULL,
    POOL_OWN, /* the app's own end of its connection */
    N_POOL,
};

struct slot {
    uint32_t app_id;
    uint16_t publish, request; /* bit i: names[i] */
    uint8_t flags;
    int conn; /* its latest connection, -1 none */
};
enum { SLOT_DILIGENT = 1, SLOT_SMALL_BUF = 2, SLOT_LATE = 4 };

struct conn {
    unsigned slot;
    int sock;         /* the app's end; -1 once closed */
    bool current;     /* the directory's connection for its app, as far as Core knows */
    bool crashed;     /* the harness closed its end */
    bool eof;         /* the directory closed its end, and it was read to the end */
    bool misbehaved;  /* sent something malformed or not its role's */
    uint64_t since;   /* when it was added */
    unsigned lines;   /* console lines about it */
    unsigned closing; /* "closing the connection" lines */
};

struct req {
    int conn;
    uint32_t type;
    const char *name;
    int32_t timeout;
    uint64_t cookie;
    uint64_t sent;
    bool answered;
    uint32_t channel; /* REDEEM answered OK */
    uint64_t fd_ino;  /* FD_REDEEM answered OK */
};

/* What the harness saw of one channel: its two halves. */
struct chan {
    bool has_client, has_server;
    int client_conn, server_conn;
    const char *proto;  /* client: what it requested or redeemed */
    int req;            /* client: the request that got it */
    uint32_t endpoint;  /* server: NEW_CLIENT's endpoint */
    uint32_t client_id; /* server: NEW_CLIENT's app */
    uint64_t shm_c, shm_s, bell_c, bell_s, door_c, door_s;
    bool gone, down;
};

struct ep {
    bool known;
    int conn;
    const char *proto;
};

struct xfer {
    uint32_t type; /* PREPARE or FD_PASS */
    int conn;
    uint32_t channel;
    uint64_t cookie;
    uint64_t ino; /* FD_PASS of a socket that may travel: its inode */
    unsigned used;
};

static struct {
    bool ready, trace;
    int pool[N_POOL];
    uint64_t tcp_ino[2];
    int log_fd, saved_stdout;
    size_t base_fds;

    /* one input */
    const uint8_t *p, *end;
    struct msgsrv *srv;
    uint64_t now;
    int next_deadline;
    unsigned n_slots;
    struct slot slots[MAX_SLOTS];
    struct conn conns[MAX_CONNS];
    unsigned n_conns;
    struct req reqs[MAX_REQS];
    unsigned n_reqs;
    struct chan chans[MAX_CHANS + 1];
    uint32_t max_chan;
    struct ep eps[MAX_EPS + 1];
    uint32_t max_ep;
    struct xfer xfers[MAX_XFERS];
    unsigned n_xfers;
    unsigned n_publish, n_grantable;
    uint64_t fresh;
    off_t log_off;
    char line[1024];
    size_t line_len;
    struct kos__client_grants grants, decoded;
    uint8_t gbuf[KOS__CTL_MAX];
} fz;

static uint8_t next(void)
{
    return fz.p < fz.end ? *fz.p++ : 0;
}

static uint64_t clock_now(void *arg)
{
    (void)arg;
    return fz.now;
}

/* ==== descriptors ==== */

static size_t count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    size_t n = 0;

    if (!d)
        kos_fuzz_fail("cannot list /proc/self/fd: %s", strerror(errno));
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the listing's own */
}

static uint64_t ino_of(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* The eventfd's id from its fdinfo, or 0 if it is not an eventfd. */
static uint64_t eventfd_id(int fd)
{
    char path[64], buf[512];
    ssize_t n;
    int f;

    snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
    f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0)
        return 0;
    n = read(f, buf, sizeof(buf) - 1);
    close(f);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *id = strstr(buf, "eventfd-id:");
    if (!id)
        return 0;
    return strtoull(id + 11, NULL, 10) + 1;
}

static bool is_fifo(int fd, int accmode)
{
    struct stat st;
    int fl = fcntl(fd, F_GETFL);
    return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && fl >= 0 && (fl & O_ACCMODE) == accmode;
}

static void make_pool(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int p[2], u[2];

    for (size_t i = 0; i < N_POOL; i++)
        fz.pool[i] = -1;
    fz.pool[POOL_TCP_LISTEN] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fz.pool[POOL_TCP_LISTEN] < 0 ||
        bind(fz.pool[POOL_TCP_LISTEN], (struct sockaddr *)&a, sizeof(a)) < 0 ||
        listen(fz.pool[POOL_TCP_LISTEN], 1) < 0 ||
        getsockname(fz.pool[POOL_TCP_LISTEN], (struct sockaddr *)&a, &alen) < 0)
        kos_fuzz_fail("cannot listen on loopback: %s", strerror(errno));
    fz.pool[POOL_TCP_A] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fz.pool[POOL_TCP_A] < 0 || connect(fz.pool[POOL_TCP_A], (struct sockaddr *)&a, alen) < 0)
        kos_fuzz_fail("cannot connect over loopback: %s", strerror(errno));
    fz.pool[POOL_TCP_B] = accept4(fz.pool[POOL_TCP_LISTEN], NULL, NULL, SOCK_CLOEXEC);
    fz.pool[POOL_TCP_LOOSE] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    fz.pool[POOL_UDP] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (pipe2(p, O_CLOEXEC) < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, u) < 0)
        kos_fuzz_fail("cannot make a pipe or a socket pair: %s", strerror(errno));
    fz.pool[POOL_PIPE] = p[0];
    close(p[1]);
    fz.pool[POOL_UNIX] = u[0];
    close(u[1]);
    fz.pool[POOL_MEMFD] = memfd_create("fuzz", MFD_CLOEXEC);
    fz.pool[POOL_NULL] = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (size_t i = 0; i < POOL_OWN; i++)
        if (fz.pool[i] < 0)
            kos_fuzz_fail("cannot make descriptor %zu of the pool: %s", i, strerror(errno));
    for (size_t i = 0; i < 2; i++) {
        if (!kos__mw_fd_passable(fz.pool[POOL_TCP_A + i], NULL))
            kos_fuzz_fail("a connected loopback TCP socket may not travel");
        fz.tcp_ino[i] = ino_of(fz.pool[POOL_TCP_A + i]);
    }
}

static void setup(void)
{
    struct rlimit rl;

    /* Room for what an input can make the directory hold. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    make_pool();
    fz.log_fd = memfd_create("fuzz-msgsrv-log", MFD_CLOEXEC);
    if (fz.log_fd < 0)
        kos_fuzz_fail("memfd_create: %s", strerror(errno));
    fz.trace = getenv("KOS_FUZZ_MSGSRV_TRACE") != NULL;
    fz.ready = true;
}

/* With KOS_FUZZ_MSGSRV_TRACE set, says on stderr what happens. */
static void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void trace(const char *fmt, ...)
{
    va_list ap;

    if (!fz.trace)
        return;
    fprintf(stderr, "[%llu] ", (unsigned long long)(fz.now - START_MS));
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void trace_mw(const char *who, const char *dir, const struct kos__mw *m)
{
    trace("%s %s %s id %u status %s ep %u chan %u app %u cookie %#llx timeout %d '%s'", who, dir,
          kos__mw_type_name(m->type), m->id, kos_status_str((kos_status_t)m->status), m->endpoint,
          m->channel, m->app_id, (unsigned long long)m->cookie, m->timeout_ms, m->name);
}

/* ==== the console ==== */

/* The directory writes its lines on stdout: into fz.log_fd during an input. */
static void log_begin(void)
{
    fflush(stdout);
    fz.saved_stdout = fcntl(1, F_DUPFD_CLOEXEC, 3);
    if (fz.saved_stdout < 0 || ftruncate(fz.log_fd, 0) < 0 || dup2(fz.log_fd, 1) < 0 ||
        lseek(1, 0, SEEK_SET) < 0)
        kos_fuzz_fail("cannot capture stdout: %s", strerror(errno));
    fz.log_off = 0;
    fz.line_len = 0;
}

static void log_end(void)
{
    fflush(stdout);
    if (dup2(fz.saved_stdout, 1) < 0)
        abort();
    close(fz.saved_stdout);
}

static int slot_by_name(const char *s, size_t n)
{
    for (unsigned i = 0; i < fz.n_slots; i++)
        if (strlen(slot_names[i]) == n && memcmp(slot_names[i], s, n) == 0)
            return (int)i;
    return -1;
}

static void on_line(const char *l)
{
    const char *a = strstr(l, "app '"), *e;
    int slot;

    trace("console: %s", l);
    if (!a || !(e = strchr(a + 5, '\'')) || (slot = slot_by_name(a + 5, (size_t)(e - a - 5))) < 0)
        kos_fuzz_fail("the directory wrote a line about no app: %s", l);
    if (fz.slots[slot].conn < 0)
        kos_fuzz_fail("the directory wrote a line about app '%s', never connected: %s",
                      slot_names[slot], l);
    struct conn *c = &fz.conns[fz.slots[slot].conn];
    if (strncmp(l, "closing the connection of app '", 31) == 0) {
        if (++c->closing > 1)
            kos_fuzz_fail("the directory closed app '%s' twice: %s", slot_names[slot], l);
        return;
    }
    if (strstr(l, " tokens for '") && strstr(l, "refusing another"))
        return; /* once per 1000 refusals */
    c->lines++;
    /* The first publish of each protocol it may publish is logged anyway. */
    unsigned first = (unsigned)__builtin_popcount(fz.slots[slot].publish);
    if (c->lines > LOG_BURST + 1 + first + (fz.now - c->since) / LOG_EVERY_MS)
        kos_fuzz_fail("%u lines about app '%s' in %llu ms (at most %u at once, then one a "
                      "second, and the first publish of each of its %u protocols); the last: %s",
                      c->lines, slot_names[slot], (unsigned long long)(fz.now - c->since),
                      LOG_BURST, first, l);
}

/* Reads what the directory wrote since the last call. */
static void log_scan(void)
{
    char buf[4096];
    ssize_t n;

    fflush(stdout);
    while ((n = pread(fz.log_fd, buf, sizeof(buf), fz.log_off)) > 0) {
        fz.log_off += n;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                fz.line[fz.line_len] = '\0';
                on_line(fz.line);
                fz.line_len = 0;
            } else if (fz.line_len < sizeof(fz.line) - 1) {
                fz.line[fz.line_len++] = buf[i];
            }
        }
    }
}

/* ==== what apps receive ==== */

static struct req *take_req(int conn, const struct kos__mw *m, uint32_t type)
{
    uint32_t i = m->id - 1;
    struct req *r = &fz.reqs[i];

    if (m->id == 0 || i >= fz.n_reqs || r->conn != conn || r->type != type || r->answered)
        kos_fuzz_fail("app '%s' got %s id %u, which answers no %s of its own waiting",
                      slot_names[fz.conns[conn].slot], kos__mw_type_name(m->type), m->id,
                      kos__mw_type_name(type));
    r->answered = true;
    return r;
}

static bool allows(uint16_t mask, const char *name)
{
    for (unsigned i = 0; i < N_NAMES; i++)
        if ((mask >> i & 1) && strcmp(names[i], name) == 0)
            return true;
    return false;
}

static void expect_status(const struct kos__mw *m, const uint32_t *ok, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (m->status == ok[i])
            return;
    kos_fuzz_fail("%s id %u with status %s", kos__mw_type_name(m->type), m->id,
                  kos_status_str((kos_status_t)m->status));
}
#define EXPECT_STATUS(m, ...)                                                                      \
    do {                                                                                           \
        static const uint32_t ok_[] = {__VA_ARGS__};                                               \
        expect_status(m, ok_, sizeof(ok_) / sizeof(ok_[0]));                                       \
    } while (0)

static struct chan *chan_rec(uint32_t id)
{
    if (id == 0)
        kos_fuzz_fail("a channel numbered 0");
    if (id > MAX_CHANS)
        return NULL; /* beyond what the harness follows */
    if (id > fz.max_chan)
        fz.max_chan = id;
    return &fz.chans[id];
}

/* No descriptor of a channel's may turn up in another. */
static void unique_shm(uint32_t id, uint64_t shm, uint64_t bell)
{
    for (uint32_t i = 1; i <= fz.max_chan; i++) {
        const struct chan *c = &fz.chans[i];
        if (i == id)
            continue;
        if ((shm && (c->shm_c == shm || c->shm_s == shm)) ||
            (bell && (c->bell_c == bell || c->bell_s == bell)))
            kos_fuzz_fail("channel %u's memory or note bell is channel %u's too", id, i);
    }
}

static void check_pair(uint32_t id, const struct chan *c)
{
    if (!c->has_client || !c->has_server)
        return;
    if (c->shm_c != c->shm_s || c->bell_c != c->bell_s || c->door_c != c->door_s)
        kos_fuzz_fail("channel %u: client and server hold different memory, bells or doorbells",
                      id);
    if (c->client_id != fz.slots[fz.conns[c->client_conn].slot].app_id)
        kos_fuzz_fail("channel %u: NEW_CLIENT names app %u, the token went to app %u", id,
                      c->client_id, fz.slots[fz.conns[c->client_conn].slot].app_id);
    const struct ep *ep = &fz.eps[c->endpoint]; /* got_new_client() checked it */
    if (strcmp(ep->proto, c->proto) != 0)
        kos_fuzz_fail("channel %u: a token for '%s' is a channel to the endpoint of '%s'", id,
                      c->proto, ep->proto);
}

static uint64_t shm_check(int fd, uint32_t id)
{
    struct kos__chan_shm *shm;

    if (kos__chan_map(fd, id, &shm) != KOS_STATUS_OK)
        kos_fuzz_fail("channel %u's memory is not a sealed channel memfd naming it", id);
    kos__chan_unmap(shm);
    return ino_of(fd);
}

/* REQUEST_REPLY or REDEEM_REPLY with OK: the client's half of a channel. */
static void got_token(int conn, const struct kos__mw *m, const int *fds, const char *proto, int req)
{
    struct chan *c = chan_rec(m->channel);
    uint64_t door = eventfd_id(fds[KOS__MW_FD_RING]);

    if (!is_fifo(fds[KOS__MW_FD_WAIT], O_RDONLY) || !door)
        kos_fuzz_fail("app '%s' got a token whose note bell is not a pipe's read end or whose "
                      "doorbell is not an eventfd",
                      slot_names[fz.conns[conn].slot]);
    uint64_t shm = shm_check(fds[KOS__MW_FD_SHM], m->channel);
    if (!c)
        return;
    if (c->has_client)
        kos_fuzz_fail("channel %u granted twice", m->channel);
    *c = (struct chan){
        .has_server = c->has_server,
        .server_conn = c->server_conn,
        .endpoint = c->endpoint,
        .client_id = c->client_id,
        .shm_s = c->shm_s,
        .bell_s = c->bell_s,
        .door_s = c->door_s,
        .gone = c->gone,
        .has_client = true,
        .client_conn = conn,
        .proto = proto,
        .req = req,
        .shm_c = shm,
        .bell_c = ino_of(fds[KOS__MW_FD_WAIT]),
        .door_c = door,
    };
    unique_shm(m->channel, c->shm_c, c->bell_c);
    check_pair(m->channel, c);
}

static void got_new_client(int conn, const struct kos__mw *m, const int *fds)
{
    const char *me = slot_names[fz.conns[conn].slot];
    struct ep *ep = m->endpoint <= MAX_EPS ? &fz.eps[m->endpoint] : NULL;

    if (!ep || !ep->known || ep->conn != conn)
        kos_fuzz_fail("app '%s' got NEW_CLIENT for endpoint %u, which it did not publish", me,
                      m->endpoint);
    int slot = slot_by_name(m->name, strlen(m->name));
    if (slot < 0 || fz.slots[slot].app_id != m->app_id)
        kos_fuzz_fail("NEW_CLIENT names app %u '%s', which is not ours", m->app_id, m->name);
    uint64_t door = eventfd_id(fds[KOS__MW_FD_WAIT]);
    if (!door || !is_fifo(fds[KOS__MW_FD_RING], O_WRONLY) ||
        !is_fifo(fds[KOS__MW_FD_RING_READ], O_RDONLY) ||
        ino_of(fds[KOS__MW_FD_RING]) != ino_of(fds[KOS__MW_FD_RING_READ]))
        kos_fuzz_fail("app '%s' got a client whose doorbell is not an eventfd or whose note bell "
                      "is not one pipe's two ends",
                      me);
    uint64_t shm = shm_check(fds[KOS__MW_FD_SHM], m->channel);
    struct chan *c = chan_rec(m->channel);
    if (!c)
        return;
    if (c->has_server)
        kos_fuzz_fail("channel %u announced to its server twice", m->channel);
    c->has_server = true;
    c->server_conn = conn;
    c->endpoint = m->endpoint;
    c->client_id = m->app_id;
    c->shm_s = shm;
    c->bell_s = ino_of(fds[KOS__MW_FD_RING]);
    c->door_s = door;
    unique_shm(m->channel, c->shm_s, c->bell_s);
    check_pair(m->channel, c);
}

static void on_msg(int conn, const struct kos__mw *m, const int *fds)
{
    const struct slot *s = &fz.slots[fz.conns[conn].slot];
    const char *me = slot_names[fz.conns[conn].slot];
    struct req *r;
    struct chan *c;

    switch (m->type) {
    case KOS__MW_PUBLISH_REPLY:
        r = take_req(conn, m, KOS__MW_PUBLISH);
        EXPECT_STATUS(m, KOS_STATUS_OK, KOS_STATUS_UNAUTHORIZED, KOS_STATUS_ALREADY_EXISTS,
                      KOS_STATUS_NO_MEMORY);
        if ((m->status == KOS_STATUS_UNAUTHORIZED) == allows(s->publish, r->name))
            kos_fuzz_fail("app '%s' publishing '%s': %s, but the manifest %s it", me, r->name,
                          kos_status_str((kos_status_t)m->status),
                          allows(s->publish, r->name) ? "grants" : "does not grant");
        if (m->status != KOS_STATUS_OK) {
            if (m->endpoint)
                kos_fuzz_fail("a refused PUBLISH names endpoint %u", m->endpoint);
            break;
        }
        if (m->endpoint == 0)
            kos_fuzz_fail("a PUBLISH answered with endpoint 0");
        if (m->endpoint > MAX_EPS)
            break;
        if (fz.eps[m->endpoint].known)
            kos_fuzz_fail("endpoint %u handed out twice", m->endpoint);
        fz.eps[m->endpoint] = (struct ep){.known = true, .conn = conn, .proto = r->name};
        if (m->endpoint > fz.max_ep)
            fz.max_ep = m->endpoint;
        break;
    case KOS__MW_REQUEST_REPLY:
        r = take_req(conn, m, KOS__MW_REQUEST);
        EXPECT_STATUS(m, KOS_STATUS_OK, KOS_STATUS_UNAUTHORIZED, KOS_STATUS_UNAVAILABLE,
                      KOS_STATUS_TIMEOUT, KOS_STATUS_BUSY, KOS_STATUS_NO_MEMORY);
        if ((m->status == KOS_STATUS_UNAUTHORIZED) == allows(s->request, r->name))
            kos_fuzz_fail("app '%s' requesting '%s': %s, but the manifest %s it", me, r->name,
                          kos_status_str((kos_status_t)m->status),
                          allows(s->request, r->name) ? "grants" : "does not grant");
        if (m->status == KOS_STATUS_TIMEOUT &&
            (r->timeout <= 0 || fz.now < r->sent + (uint64_t)r->timeout))
            kos_fuzz_fail("a REQUEST with timeout %d ms timed out after %llu ms", r->timeout,
                          (unsigned long long)(fz.now - r->sent));
        if (m->status != KOS_STATUS_OK) {
            if (m->channel)
                kos_fuzz_fail("a refused REQUEST names channel %u", m->channel);
            break;
        }
        got_token(conn, m, fds, r->name, (int)(r - fz.reqs));
        break;
    case KOS__MW_PING_REPLY:
        take_req(conn, m, KOS__MW_PING);
        if (m->status != KOS_STATUS_OK)
            kos_fuzz_fail("a PING answered %s", kos_status_str((kos_status_t)m->status));
        break;
    case KOS__MW_REDEEM_REPLY:
        r = take_req(conn, m, KOS__MW_REDEEM);
        EXPECT_STATUS(m, KOS_STATUS_OK, KOS_STATUS_UNAVAILABLE, KOS_STATUS_INVALID_TOKEN,
                      KOS_STATUS_BUSY, KOS_STATUS_NO_MEMORY);
        if (m->status == KOS_STATUS_INVALID_TOKEN && fz.now < r->sent + REDEEM_WAIT_MS)
            kos_fuzz_fail("a REDEEM refused after %llu ms, before its %u ms wait ran out",
                          (unsigned long long)(fz.now - r->sent), REDEEM_WAIT_MS);
        if (m->status != KOS_STATUS_OK) {
            if (m->channel)
                kos_fuzz_fail("a refused REDEEM names channel %u", m->channel);
            break;
        }
        r->channel = m->channel;
        /* The name lives as long as the input: one of names[]. */
        const char *proto = NULL;
        for (unsigned i = 0; i < N_NAMES; i++)
            if (strcmp(names[i], m->name) == 0)
                proto = names[i];
        if (!proto)
            kos_fuzz_fail("a REDEEM gave a token for '%s', which nobody may publish", m->name);
        got_token(conn, m, fds, proto, (int)(r - fz.reqs));
        break;
    case KOS__MW_FD_REDEEM_REPLY:
        r = take_req(conn, m, KOS__MW_FD_REDEEM);
        EXPECT_STATUS(m, KOS_STATUS_OK, KOS_STATUS_INVALID_TOKEN, KOS_STATUS_BUSY);
        if (m->status != KOS_STATUS_OK)
            break;
        r->fd_ino = ino_of(fds[0]);
        if (!kos__mw_fd_passable(fds[0], NULL) ||
            (r->fd_ino != fz.tcp_ino[0] && r->fd_ino != fz.tcp_ino[1]))
            kos_fuzz_fail("app '%s' was handed a descriptor nobody passed", me);
        break;
    case KOS__MW_NEW_CLIENT:
        got_new_client(conn, m, fds);
        break;
    case KOS__MW_CLIENT_GONE:
        c = chan_rec(m->channel);
        if (!c)
            break;
        if (!c->has_server || c->server_conn != conn || c->endpoint != m->endpoint || c->gone)
            kos_fuzz_fail("app '%s' got CLIENT_GONE for channel %u of endpoint %u, which it does "
                          "not serve (or not any more)",
                          me, m->channel, m->endpoint);
        c->gone = true;
        break;
    case KOS__MW_TOKEN_DOWN:
        c = chan_rec(m->channel);
        if (!c)
            break;
        if (!c->has_client || c->client_conn != conn || c->down)
            kos_fuzz_fail("app '%s' got TOKEN_DOWN for channel %u, which it does not hold", me,
                          m->channel);
        c->down = true;
        break;
    default:
        kos_fuzz_fail("app '%s' got %s, which only apps send", me, kos__mw_type_name(m->type));
    }
}

/* Reads up to `max` messages waiting for connection i. */
static void app_read(int i, unsigned max)
{
    struct conn *c = &fz.conns[i];
    unsigned closed = 0;

    for (unsigned k = 0; k < max && c->sock >= 0 && !c->eof;) {
        struct kos__mw m;
        int fds[KOS__MW_MAX_FDS];
        kos_status_t st = kos__mw_recv(c->sock, &m, fds, MSG_DONTWAIT);
        if (st == KOS_STATUS_WOULD_BLOCK)
            return;
        if (st == KOS_STATUS_CLOSED) {
            /* A reset comes first when the directory closed with messages
             * of ours unread, then what it sent before, then the end. */
            if (++closed == 2)
                c->eof = true;
            continue;
        }
        if (st != KOS_STATUS_OK)
            kos_fuzz_fail("app '%s' cannot read from the directory: %s", slot_names[c->slot],
                          kos_status_str(st));
        closed = 0;
        k++;
        trace_mw(slot_names[c->slot], "<-", &m);
        on_msg(i, &m, fds);
        for (size_t f = 0; f < kos__mw_nfds(m.type, m.status); f++)
            close(fds[f]);
    }
}

/* ==== the loop and its checks ==== */

static void check_all(void)
{
    struct msgsrv_stats st;
    char why[256];
    size_t socks = 0;

    log_scan();
    if (!msgsrv_check(fz.srv, why, sizeof(why)))
        kos_fuzz_fail("the directory's bookkeeping: %s", why);
    msgsrv_stats(fz.srv, &st);
    if (st.fds > LIM_FDS)
        kos_fuzz_fail("%zu passed descriptors wait (at most %u)", st.fds, LIM_FDS);
    for (unsigned i = 0; i < fz.n_slots; i++) {
        const struct slot *s = &fz.slots[i];
        struct msgsrv_app_stats a;
        bool in = msgsrv_app_stats(fz.srv, s->app_id, &a);
        const struct conn *c = s->conn >= 0 ? &fz.conns[s->conn] : NULL;
        if (!c || !c->current) {
            if (in)
                kos_fuzz_fail("app '%s' is gone but still in the directory", slot_names[i]);
            continue;
        }
        if (!in) {
            if (!c->misbehaved && !c->crashed && (s->flags & SLOT_DILIGENT))
                kos_fuzz_fail("app '%s' was disconnected though it did nothing wrong",
                              slot_names[i]);
            continue;
        }
        if (a.doomed && !c->misbehaved && !c->crashed && (s->flags & SLOT_DILIGENT))
            kos_fuzz_fail("app '%s' is to be disconnected though it did nothing wrong",
                          slot_names[i]);
        if (a.tokens > LIM_TOKENS_APP || a.tokens_max_ep > LIM_TOKENS_EP || a.waits > LIM_WAITS ||
            a.cookies > LIM_COOKIES || a.fds > LIM_FDS_APP || a.queued > LIM_QUEUE)
            kos_fuzz_fail("app '%s' holds %zu tokens (%zu on one endpoint), %zu waits, %zu "
                          "transfers, %zu descriptors, %zu queued: over a bound",
                          slot_names[i], a.tokens, a.tokens_max_ep, a.waits, a.cookies, a.fds,
                          a.queued);
    }
    for (unsigned i = 0; i < fz.n_conns; i++)
        socks += fz.conns[i].sock >= 0;
    size_t n = count_fds();
    if (n != fz.base_fds + socks + st.descriptors)
        kos_fuzz_fail("%zu descriptors open: %zu before, %zu apps' ends, %zu the directory's "
                      "(%zu leaked or lost)",
                      n, fz.base_fds, socks, st.descriptors,
                      n - fz.base_fds - socks - st.descriptors);
}

static void read_diligent(void)
{
    for (unsigned i = 0; i < fz.n_slots; i++)
        if ((fz.slots[i].flags & SLOT_DILIGENT) && fz.slots[i].conn >= 0)
            app_read(fz.slots[i].conn, UINT32_MAX);
}

/* One turn of main.c's loop, without waiting. Returns how many apps had
 * events. */
static int turn(void)
{
    struct pollfd pfds[MAX_CONNS + 8];
    struct msgsrv_stats st;
    int t = msgsrv_expire(fz.srv);

    if (t == 0 || t < -1)
        kos_fuzz_fail("msgsrv_expire() says to wait %d ms", t);
    fz.next_deadline = t;
    msgsrv_stats(fz.srv, &st);
    size_t n = msgsrv_pollfds(fz.srv, pfds, sizeof(pfds) / sizeof(pfds[0]));
    if (n != st.apps)
        kos_fuzz_fail("%zu pollfds for %zu apps", n, st.apps);
    int r = poll(pfds, n, 0);
    if (r < 0)
        kos_fuzz_fail("poll: %s", strerror(errno));
    trace("turn: %d of %zu apps have events; next deadline %d ms", r, n, t);
    for (unsigned i = 0; fz.trace && i < fz.n_slots; i++) {
        struct msgsrv_app_stats a;
        if (msgsrv_app_stats(fz.srv, fz.slots[i].app_id, &a))
            trace(
                "  '%s': %zu endpoints, %zu tokens, %zu waits, %zu cookies, %zu fds, %zu queued%s",
                slot_names[i], a.endpoints, a.tokens, a.waits, a.cookies, a.fds, a.queued,
                a.doomed ? ", doomed" : "");
    }
    for (size_t i = 0; i < n; i++)
        if (pfds[i].revents)
            msgsrv_handle(fz.srv, &pfds[i]);
    return r;
}

/* ==== what apps send ==== */

static int app_conn(unsigned slot)
{
    int i = fz.slots[slot].conn;
    return i >= 0 && fz.conns[i].current && fz.conns[i].sock >= 0 ? i : -1;
}

static void add_client(unsigned slot)
{
    struct slot *s = &fz.slots[slot];
    struct kos__client_grants *g = &fz.grants;
    size_t len;
    int sv[2];

    if (fz.n_conns == MAX_CONNS)
        return;
    memset(g, 0, offsetof(struct kos__client_grants, names));
    g->app_id = s->app_id;
    snprintf(g->app, sizeof(g->app), "%s", slot_names[slot]);
    for (unsigned i = 0; i < N_NAMES; i++) {
        if (s->publish >> i & 1) {
            snprintf(g->names + (g->n_publish + g->n_request) * KOS__NAME_MAX, KOS__NAME_MAX, "%s",
                     names[i]);
            g->publish[g->n_publish] = g->names + (g->n_publish + g->n_request) * KOS__NAME_MAX;
            g->n_publish++;
        }
    }
    for (unsigned i = 0; i < N_NAMES; i++) {
        if (s->request >> i & 1) {
            snprintf(g->names + (g->n_publish + g->n_request) * KOS__NAME_MAX, KOS__NAME_MAX, "%s",
                     names[i]);
            g->request[g->n_request] = g->names + (g->n_publish + g->n_request) * KOS__NAME_MAX;
            g->n_request++;
        }
    }
    if (kos__grants_encode(g, fz.gbuf, sizeof(fz.gbuf), &len) != KOS_STATUS_OK ||
        kos__grants_decode(fz.gbuf, len, &fz.decoded) != KOS_STATUS_OK)
        kos_fuzz_fail("an app's grants do not travel from Core");
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 ||
        fcntl(sv[1], F_SETFL, O_NONBLOCK) < 0)
        kos_fuzz_fail("socketpair: %s", strerror(errno));
    if (s->flags & SLOT_SMALL_BUF) {
        int sz = 4096;
        (void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    }
    if (s->conn >= 0)
        fz.conns[s->conn].current = false; /* a restart */
    kos_status_t st = msgsrv_add_client(fz.srv, sv[0], &fz.decoded);
    if (st != KOS_STATUS_OK)
        kos_fuzz_fail("msgsrv_add_client: %s", kos_status_str(st));
    /* The grant record is Core's: the directory keeps its own copy. */
    memset(&fz.decoded, 0xa5, sizeof(fz.decoded));
    s->conn = (int)fz.n_conns;
    fz.conns[fz.n_conns++] = (struct conn){
        .slot = slot,
        .sock = sv[1],
        .current = true,
        .since = fz.now,
    };
}

/* Records a request sent; returns its id. */
static uint32_t new_req(int conn, uint32_t type, const char *name, int32_t timeout, uint64_t cookie)
{
    fz.reqs[fz.n_reqs] = (struct req){
        .conn = conn,
        .type = type,
        .name = name,
        .timeout = timeout,
        .cookie = cookie,
        .sent = fz.now,
    };
    return ++fz.n_reqs;
}

/* Sends m from connection i, with fd for FD_PASS; false if it did not go. */
static bool app_send(int i, const struct kos__mw *m, int fd)
{
    kos_status_t st = kos__mw_send(fz.conns[i].sock, m, &fd, MSG_DONTWAIT);

    if (st == KOS_STATUS_INVALID_ARGUMENT || st == KOS_STATUS_TOO_LARGE)
        kos_fuzz_fail("the harness built a bad %s", kos__mw_type_name(m->type));
    return st == KOS_STATUS_OK;
}

/* Whether channel or endpoint `id` fits pick mode `mode` for connection
 * `conn` (modes 0 to 2; see pick()). */
typedef bool pick_fits(uint32_t id, int conn, unsigned mode);

static bool chan_fits(uint32_t id, int conn, unsigned mode)
{
    const struct chan *c = &fz.chans[id];

    return mode == 0   ? c->has_client && c->client_conn == conn
           : mode == 1 ? c->has_server && c->server_conn == conn
                       : c->has_client || c->has_server;
}

static bool ep_fits(uint32_t id, int conn, unsigned mode)
{
    const struct ep *e = &fz.eps[id];

    return e->known && (mode == 0 ? e->conn == conn : mode == 1 ? e->conn != conn : true);
}

/* An id from 1..max chosen by byte b: its top two bits a mode (3: the low
 * six bits as they are), the low six which of the ids that fit the mode;
 * the low six bits as they are when none fits. */
static uint32_t pick(uint32_t max, pick_fits *fits, int conn, uint8_t b)
{
    unsigned mode = b >> 6, n = 0, k = b & 63;

    for (int pass = 0; pass < 2 && mode < 3; pass++) {
        for (uint32_t id = 1; id <= max; id++) {
            if (!fits(id, conn, mode))
                continue;
            if (pass == 1 && k-- == 0)
                return id;
            n++;
        }
        if (n == 0)
            break;
        k %= n;
    }
    return b & 63;
}

static uint32_t pick_chan(int conn, uint8_t b)
{
    return pick(fz.max_chan, chan_fits, conn, b);
}

static uint32_t pick_ep(int conn, uint8_t b)
{
    return pick(fz.max_ep, ep_fits, conn, b);
}

/* A cookie for a PREPARE or FD_PASS (fresh) or for taking one (`type`:
 * the transfer it takes). */
static uint64_t pick_cookie(uint8_t b, bool fresh, uint32_t type)
{
    if (b < 0x80)
        return cookies[b % 8];
    if (fresh)
        return 0x5eed000000000000ull + ++fz.fresh;
    unsigned back = b & 0x7f;
    for (unsigned i = fz.n_xfers; i-- > 0;)
        if (fz.xfers[i].type == type && back-- == 0)
            return fz.xfers[i].cookie;
    return cookies[b % 8];
}

static void add_xfer(int conn, uint32_t type, uint32_t channel, uint64_t cookie, uint64_t ino)
{
    fz.xfers[fz.n_xfers++] =
        (struct xfer){.type = type, .conn = conn, .channel = channel, .cookie = cookie, .ino = ino};
}

/* A raw datagram: garbage, or a message of any type with a byte flipped or
 * the wrong descriptors. Never one the directory should accept. */
static void send_raw(int conn)
{
    uint8_t mode = next(), buf[2 * 255];
    size_t len = 0, nfds = (mode >> 2) % 5;
    int fds[4];
    unsigned first = next();

    if (mode & 1) {
        len = (size_t)next() << (mode >> 1 & 1);
        if (len > (size_t)(fz.end - fz.p))
            len = (size_t)(fz.end - fz.p);
        if (len > sizeof(buf))
            len = sizeof(buf);
        memcpy(buf, fz.p, len);
        fz.p += len;
    } else {
        struct kos__mw m = {.type = next()};
        uint8_t f = next();
        m.id = next();
        m.status = next() % 4;
        m.endpoint = m.channel = m.app_id = f;
        m.timeout_ms = (int8_t)next();
        m.cookie = cookies[f % 8];
        snprintf(m.name, sizeof(m.name), "%s", names[f % N_NAMES]);
        if (kos__mw_encode(&m, buf, sizeof(buf), &len) != KOS_STATUS_OK) {
            /* An unknown type, or a status it does not carry: the header alone. */
            memset(buf, 0, KOS__MW_HDR_LEN);
            buf[0] = (uint8_t)m.type;
            buf[8] = (uint8_t)m.id;
            buf[12] = (uint8_t)m.status;
            len = KOS__MW_HDR_LEN;
        }
        if (mode & 2) {
            uint8_t x = next(), at = next();
            buf[at % len] ^= x ? x : 1;
        }
    }
    for (size_t i = 0; i < nfds; i++)
        fds[i] =
            (first + i) % N_POOL == POOL_OWN ? fz.conns[conn].sock : fz.pool[(first + i) % N_POOL];

    struct kos__mw dec;
    if (kos__mw_decode(buf, len, nfds, &dec) == KOS_STATUS_OK && dec.type < 64)
        return; /* well-formed after all: not a raw step's business */

    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(4 * sizeof(int))];
    } ctl;
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds) {
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
    }
    if (sendmsg(fz.conns[conn].sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) {
        trace("%s -> %zu raw bytes, %zu descriptors", slot_names[fz.conns[conn].slot], len, nfds);
        fz.conns[conn].misbehaved = true;
    }
}

/* One step that sends something from app `slot`, `rep` times. */
static void send_step(unsigned kind, unsigned slot, unsigned rep)
{
    int conn = app_conn(slot);
    uint8_t a = next(), b = 0, c = 0;

    if (kind == KOS__MW_REQUEST || kind == KOS__MW_REVOKE || kind == KOS__MW_PREPARE ||
        kind == KOS__MW_FD_PASS)
        b = next();
    if (kind == KOS__MW_FD_PASS)
        c = next();
    if (conn < 0)
        return;
    for (unsigned k = 0; k < rep; k++) {
        struct kos__mw m = {.type = kind};
        const char *name = NULL;
        int fd = -1;

        /* Endpoint and channel ids count up by one per PUBLISH and per
         * grant attempt: capping those keeps them in the harness's tables. */
        if (fz.n_reqs == MAX_REQS || fz.n_xfers == MAX_XFERS ||
            (kind == KOS__MW_PUBLISH && fz.n_publish == MAX_EPS) ||
            ((kind == KOS__MW_REQUEST || kind == KOS__MW_REDEEM) && fz.n_grantable == MAX_CHANS))
            return;
        switch (kind) {
        case KOS__MW_PUBLISH:
            name = names[a % N_NAMES];
            break;
        case KOS__MW_REQUEST:
            name = names[a % N_NAMES];
            m.timeout_ms = b < 0x80 ? timeouts[b % 8] : (int32_t)(b & 0x7f) * 100;
            break;
        case KOS__MW_PING:
            break;
        case KOS__MW_UNPUBLISH:
            m.endpoint = pick_ep(conn, a);
            break;
        case KOS__MW_TOKEN_CLOSE:
            m.channel = pick_chan(conn, a);
            break;
        case KOS__MW_REVOKE:
            m.channel = pick_chan(conn, a);
            if (b >> 6 == 0 && m.channel <= fz.max_chan && fz.chans[m.channel].has_server)
                m.endpoint = fz.chans[m.channel].endpoint;
            else
                m.endpoint = pick_ep(conn, b);
            break;
        case KOS__MW_PREPARE:
            m.channel = pick_chan(conn, a);
            m.cookie = pick_cookie(b, true, 0);
            break;
        case KOS__MW_REDEEM:
            m.cookie = pick_cookie(a, false, KOS__MW_PREPARE);
            break;
        case KOS__MW_FD_PASS:
            m.channel = pick_chan(conn, a);
            m.cookie = pick_cookie(b, true, 0);
            fd = c % N_POOL == POOL_OWN ? fz.conns[conn].sock : fz.pool[c % N_POOL];
            break;
        case KOS__MW_FD_REDEEM:
        case KOS__MW_FD_DROP:
            m.cookie = pick_cookie(a, false, KOS__MW_FD_PASS);
            break;
        }
        if (name)
            snprintf(m.name, sizeof(m.name), "%s", name);
        bool is_req = kind == KOS__MW_PUBLISH || kind == KOS__MW_REQUEST || kind == KOS__MW_PING ||
                      kind == KOS__MW_REDEEM || kind == KOS__MW_FD_REDEEM;
        if (is_req)
            m.id = fz.n_reqs + 1;
        if (!app_send(conn, &m, fd))
            return; /* its socket is full, or the directory has gone */
        trace_mw(slot_names[fz.slots[slot].conn >= 0 ? slot : 0], "->", &m);
        if (is_req)
            new_req(conn, kind, name, m.timeout_ms, m.cookie);
        fz.n_publish += kind == KOS__MW_PUBLISH;
        fz.n_grantable += kind == KOS__MW_REQUEST || kind == KOS__MW_REDEEM;
        if (kind == KOS__MW_PREPARE)
            add_xfer(conn, kind, m.channel, m.cookie, 0);
        if (kind == KOS__MW_FD_PASS)
            add_xfer(conn, kind, m.channel, m.cookie,
                     c % N_POOL == POOL_TCP_A || c % N_POOL == POOL_TCP_B ? ino_of(fd) : 0);
    }
}

/* ==== the end of an input ==== */

/* Messages the directory holds for apps, not yet taken by their sockets. */
static size_t queued(void)
{
    size_t n = 0;

    for (unsigned i = 0; i < fz.n_slots; i++) {
        struct msgsrv_app_stats a;
        if (msgsrv_app_stats(fz.srv, fz.slots[i].app_id, &a))
            n += a.queued;
    }
    return n;
}

/* Lets time run past every deadline and turns the loop, reading every app,
 * until nothing moves: no app has events, nothing has a deadline and
 * nothing is queued. */
static void settle(void)
{
    for (int round = 0;; round++) {
        fz.now += (uint64_t)INT32_MAX + 60000u;
        for (unsigned i = 0; i < fz.n_conns; i++)
            app_read((int)i, UINT32_MAX);
        int r = turn();
        check_all();
        if (r == 0 && fz.next_deadline == -1 && queued() == 0)
            break;
        if (round == 10000)
            kos_fuzz_fail("the directory does not settle");
    }
    for (unsigned i = 0; i < fz.n_conns; i++)
        app_read((int)i, UINT32_MAX);
    check_all();
}

/* Every request of an app still connected was answered, but REQUESTs that
 * wait for ever. */
static void check_answered(void)
{
    for (unsigned i = 0; i < fz.n_reqs; i++) {
        const struct req *r = &fz.reqs[i];
        const struct conn *c = &fz.conns[r->conn];
        struct msgsrv_app_stats a;
        if (r->answered || !c->current || c->sock < 0 || c->eof ||
            !msgsrv_app_stats(fz.srv, fz.slots[c->slot].app_id, &a) || a.doomed)
            continue;
        if (r->type == KOS__MW_REQUEST && r->timeout < 0)
            continue;
        kos_fuzz_fail("app '%s''s %s id %u (%s) was never answered", slot_names[c->slot],
                      kos__mw_type_name(r->type), i + 1, r->name ? r->name : "-");
    }
}

/* The transfers: each token redeemed came from a PREPARE by a holder of a
 * token to the same protocol, each descriptor taken from an FD_PASS by the
 * channel's server to the channel's client, each at most once. */
static void check_transfers(void)
{
    for (unsigned i = 0; i < fz.n_reqs; i++) {
        struct req *r = &fz.reqs[i];
        if (r->type == KOS__MW_REDEEM && r->channel && r->channel <= MAX_CHANS) {
            const struct chan *got = &fz.chans[r->channel];
            bool found = false, unknown = false;
            for (unsigned k = 0; k < fz.n_xfers && !found; k++) {
                struct xfer *x = &fz.xfers[k];
                if (x->type != KOS__MW_PREPARE || x->cookie != r->cookie || x->used)
                    continue;
                const struct chan *from = x->channel <= MAX_CHANS ? &fz.chans[x->channel] : NULL;
                if (!from || (!from->has_client && !from->has_server)) {
                    unknown = true; /* a channel the harness never saw: cannot tell */
                    continue;
                }
                uint32_t holder = fz.slots[fz.conns[x->conn].slot].app_id;
                bool holds =
                    from->has_client ? from->client_conn == x->conn : from->client_id == holder;
                const char *proto = from->has_client ? from->proto : fz.eps[from->endpoint].proto;
                if (holds && strcmp(proto, got->proto) == 0) {
                    x->used++;
                    found = true;
                }
            }
            if (!found && !unknown)
                kos_fuzz_fail("app '%s' redeemed cookie %#llx for '%s', which no holder of a "
                              "token to it prepared (or it was redeemed before)",
                              slot_names[fz.conns[r->conn].slot], (unsigned long long)r->cookie,
                              got->proto);
        }
        if (r->type == KOS__MW_FD_REDEEM && r->fd_ino) {
            bool found = false, unknown = false;
            for (unsigned k = 0; k < fz.n_xfers && !found; k++) {
                struct xfer *x = &fz.xfers[k];
                if (x->type != KOS__MW_FD_PASS || x->cookie != r->cookie || x->used ||
                    x->ino != r->fd_ino)
                    continue;
                const struct chan *ch = x->channel <= MAX_CHANS ? &fz.chans[x->channel] : NULL;
                if (!ch || !ch->has_client || !ch->has_server) {
                    unknown = true;
                    continue;
                }
                if (ch->client_conn == r->conn && ch->server_conn == x->conn) {
                    x->used++;
                    found = true;
                }
            }
            if (!found && !unknown)
                kos_fuzz_fail("app '%s' took a descriptor (cookie %#llx) that the server of "
                              "one of its channels did not pass it, or took it twice",
                              slot_names[fz.conns[r->conn].slot], (unsigned long long)r->cookie);
        }
    }
}

/* ==== an input ==== */

static void core_step(unsigned what, unsigned slot)
{
    struct slot *s = &fz.slots[slot];

    trace("core: %s app '%s'",
          what == 0   ? "ADD_CLIENT"
          : what == 1 ? "APP_DOWN"
          : what == 2 ? "crash"
                      : "APP_DOWN other",
          slot_names[slot]);
    switch (what) {
    case 0:
        add_client(slot);
        break;
    case 1:
        msgsrv_app_down(fz.srv, s->app_id);
        if (s->conn >= 0)
            fz.conns[s->conn].current = false;
        break;
    case 2:
        if (s->conn >= 0 && fz.conns[s->conn].sock >= 0) {
            close(fz.conns[s->conn].sock);
            fz.conns[s->conn].sock = -1;
            fz.conns[s->conn].crashed = true;
        }
        break;
    default: {
        uint32_t id = next();
        for (unsigned i = 0; i < fz.n_slots; i++)
            if (fz.slots[i].app_id == id)
                return;
        msgsrv_app_down(fz.srv, id);
        break;
    }
    }
}

static void time_step(void)
{
    uint8_t b = next();

    if (b < 0xf0)
        fz.now += advances[b % 16];
    else if (fz.next_deadline > 0)
        fz.now += (uint64_t)fz.next_deadline - 1 + b % 3;
}

static void run(void)
{
    while (fz.p < fz.end) {
        uint8_t op = next();
        unsigned kind = op & 15, slot = (op >> 4 & 3) % fz.n_slots, rep = reps[op >> 6];

        switch (kind) {
        case 0:
            if (app_conn(slot) >= 0)
                send_raw(app_conn(slot));
            break;
        case 12:
            if (fz.slots[slot].conn >= 0)
                app_read(fz.slots[slot].conn, reads[op >> 6]);
            break;
        case 13:
            for (unsigned k = 0; k < rep; k++) {
                turn();
                read_diligent();
            }
            break;
        case 14:
            time_step();
            break;
        case 15:
            core_step(op >> 6, slot);
            break;
        default:
            send_step(kind, slot, rep);
            break;
        }
        read_diligent();
        check_all();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz.ready)
        setup();
    if (size < 1)
        return 0;
    fz.p = data;
    fz.end = data + size;
    fz.n_slots = 2 + next() % 3;
    for (unsigned i = 0; i < fz.n_slots; i++) {
        struct slot *s = &fz.slots[i];
        uint32_t id = next();
        for (bool clash = true; clash;) {
            clash = false;
            for (unsigned j = 0; j < i; j++)
                if (fz.slots[j].app_id == id)
                    clash = true;
            if (clash)
                id = (id + 1) & 0xff;
        }
        s->app_id = id;
        s->publish = next();
        s->publish |= (uint16_t)(next() << 8);
        s->request = next();
        s->request |= (uint16_t)(next() << 8);
        s->flags = next();
        s->conn = -1;
    }
    fz.n_conns = fz.n_reqs = fz.n_xfers = fz.n_publish = fz.n_grantable = 0;
    fz.max_chan = fz.max_ep = 0;
    fz.fresh = 0;
    fz.now = START_MS;
    fz.next_deadline = -1;

    log_begin();
    fz.base_fds = count_fds();
    fz.srv = msgsrv_create("msg0");
    if (!fz.srv)
        kos_fuzz_fail("msgsrv_create: out of memory");
    msgsrv_set_clock(fz.srv, clock_now, NULL);
    for (unsigned i = 0; i < fz.n_slots; i++)
        if (!(fz.slots[i].flags & SLOT_LATE))
            add_client(i);
    check_all();

    run();
    settle();
    check_answered();
    check_transfers();

    msgsrv_destroy(fz.srv);
    fz.srv = NULL;
    for (unsigned i = 0; i < fz.n_conns; i++)
        app_read((int)i, UINT32_MAX);
    log_scan();
    for (unsigned i = 0; i < fz.n_conns; i++)
        if (fz.conns[i].sock >= 0)
            close(fz.conns[i].sock);
    size_t n = count_fds();
    if (n != fz.base_fds)
        kos_fuzz_fail("%zu descriptors open after the input, %zu before", n, fz.base_fds);
    if (fz.line_len)
        kos_fuzz_fail("the directory left a line unfinished: %.*s", (int)fz.line_len, fz.line);
    log_end();

    memset(fz.chans, 0, (fz.max_chan + 1) * sizeof(fz.chans[0]));
    memset(fz.eps, 0, (fz.max_ep + 1) * sizeof(fz.eps[0]));
    return 0;
}
