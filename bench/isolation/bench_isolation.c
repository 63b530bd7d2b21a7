/*
 * bench_isolation.c - the cost of the sandbox, measured against the same
 * system run with `kos-tool run --isolation none` (development only) in the
 * same run:
 *
 * 1. Call latency: a client times 200,000 64-byte KOS calls to a server
 *    (median and 99th percentile), with and without the sandbox. Seccomp
 *    adds its filter to every system call on the slow path (sleeping and
 *    waking); the spinning fast path makes none.
 * 2. Start time: boots a system of 16 apps and a message server N times each
 *    way and measures fork() of kos-tool to Core's "system ... ready"; the
 *    difference divided by the 17 processes is the sandbox's cost per start.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BOOTS 10

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static pid_t start(const char *image, bool sandbox, FILE **out)
{
    int p[2];
    pid_t pid;

    if (pipe(p) < 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        if (sandbox)
            execl(KOS_TOOL_PATH, "kos-tool", "run", "--trust", KOS_TRUST_PATH, image, (char *)NULL);
        else
            execl(KOS_TOOL_PATH, "kos-tool", "run", "--trust", KOS_TRUST_PATH, "--isolation",
                  "none", image, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    *out = fdopen(p[0], "r");
    return pid;
}

static void finish(pid_t pid, FILE *f)
{
    char line[4096];
    while (fgets(line, sizeof(line), f))
        ;
    fclose(f);
    waitpid(pid, NULL, 0);
}

/* Runs the call benchmark once; fills median and p99 (ns). */
static int calls(bool sandbox, double *median, double *p99)
{
    FILE *f;
    char line[4096];
    pid_t pid = start(KOS_CALLS_IMAGE, sandbox, &f);
    int found = -1;

    if (pid < 0)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        char *s = strstr(line, "client: info: calls: ");
        if (s && sscanf(s, "client: info: calls: %*d, median %lf ns, p99 %lf ns", median, p99) == 2)
            found = 0;
    }
    fclose(f);
    waitpid(pid, NULL, 0);
    return found;
}

/* Boots the 17-process system and returns ms to "ready", then stops it. */
static double boot(bool sandbox)
{
    FILE *f;
    char line[4096];
    double t0 = now_ms(), t = -1;
    pid_t pid = start(KOS_START_IMAGE, sandbox, &f);

    if (pid < 0)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (strstr(line, " core: system '") && strstr(line, "' ready: ")) {
            t = now_ms() - t0;
            break;
        }
    }
    kill(pid, SIGTERM);
    finish(pid, f);
    return t;
}

int main(void)
{
    double med[2], p99[2], b[2][BOOTS], bm[2];

    printf("bench_isolation: the cost of the KOS sandbox (sandboxed vs --isolation none)\n\n");
    for (int s = 1; s >= 0; s--) {
        if (calls(s, &med[s], &p99[s]) < 0) {
            fprintf(stderr, "bench_isolation: the call benchmark failed (%s)\n",
                    s ? "sandboxed" : "unsandboxed");
            return 1;
        }
    }
    printf("64-byte call latency, 200000 calls      median      p99\n");
    printf("  sandboxed                           %7.0f ns %7.0f ns\n", med[1], p99[1]);
    printf("  --isolation none                    %7.0f ns %7.0f ns\n", med[0], p99[0]);
    printf("  ratio sandboxed / none              %7.2fx   %7.2fx\n\n", med[1] / med[0],
           p99[1] / p99[0]);

    for (int i = 0; i < BOOTS; i++)
        for (int s = 1; s >= 0; s--)
            b[s][i] = boot(s);
    for (int s = 0; s < 2; s++) {
        qsort(b[s], BOOTS, sizeof(double), cmp_double);
        bm[s] = b[s][BOOTS / 2];
    }
    printf("boot to ready, 17 processes (median of %d)\n", BOOTS);
    printf("  sandboxed                           %7.1f ms\n", bm[1]);
    printf("  --isolation none                    %7.1f ms\n", bm[0]);
    printf("  ratio sandboxed / none              %7.2fx\n", bm[1] / bm[0]);
    printf("  sandbox cost per process start      %7.2f ms\n", (bm[1] - bm[0]) / 17.0);
    return 0;
}
