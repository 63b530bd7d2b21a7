/*
 * bench_boot.c - how fast a system boots, and how quiet it is when idle.
 *
 * 1. Boot time: runs `kos-tool run` on examples/ping_pong N times and measures
 *    the wall time from fork() to Core's "system ... ready" line. The peer is
 *    the floor of the same work without KOS: fork+exec of as many bare
 *    processes (/bin/true) as the system has, each waited for.
 * 2. Idle CPU: boots an idle system (two servers waiting for calls), lets it
 *    settle, then measures the CPU time Core and all its processes use over
 *    an idle period, as a percentage of one CPU.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

/* Starts kos-tool run on `image` with stdout on a pipe; returns its pid. */
static pid_t start_system(const char *image, FILE **out)
{
    int p[2];
    pid_t pid;

    if (pipe(p) < 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execl(KOS_TOOL_PATH, "kos-tool", "run", "--trust", KOS_TRUST_PATH, image, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    *out = fdopen(p[0], "r");
    return pid;
}

/* Reads console lines until "system ... ready"; returns 0 when seen. The
 * number of processes is parsed from it. */
static int wait_ready(FILE *f, int *nprocs)
{
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        char *r = strstr(line, "' ready: ");
        if (r && strstr(line, " core: system '")) {
            *nprocs = atoi(r + 9);
            return 0;
        }
    }
    return -1;
}

static void drain_and_wait(pid_t pid, FILE *f)
{
    char line[4096];
    while (fgets(line, sizeof(line), f))
        ;
    fclose(f);
    waitpid(pid, NULL, 0);
}

static double bare_spawn_ms(int n)
{
    double t0 = now_ms();
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            execl("/bin/true", "true", (char *)NULL);
            _exit(127);
        }
    }
    for (int i = 0; i < n; i++)
        wait(NULL);
    return now_ms() - t0;
}

/* utime+stime in clock ticks of pid and, recursively, its descendants. */
static unsigned long long tree_ticks(pid_t root)
{
    unsigned long long total = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;

    while (d && (e = readdir(d))) {
        char path[64], buf[1024];
        FILE *f;
        int pid = atoi(e->d_name), ppid;
        unsigned long ut, st;
        if (pid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        if (!(f = fopen(path, "r")))
            continue;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *rp = strrchr(buf, ')');
        if (!rp || sscanf(rp + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ppid, &ut,
                          &st) != 3)
            continue;
        if (pid == root)
            total += ut + st;
        else if (ppid == root)
            total += tree_ticks(pid);
    }
    if (d)
        closedir(d);
    return total;
}

int main(int argc, char **argv)
{
    int runs = 20, idle_s = 10;
    double kos[200], bare[200];
    int nprocs = 0;

    for (int i = 1; i + 1 < argc; i++) {
        if (!strcmp(argv[i], "--runs"))
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--idle-seconds"))
            idle_s = atoi(argv[++i]);
    }
    if (runs < 1 || runs > 200 || idle_s < 1) {
        fprintf(stderr, "usage: bench_boot [--runs 1..200] [--idle-seconds N]\n");
        return 2;
    }

    for (int i = 0; i < runs; i++) {
        FILE *f;
        double t0 = now_ms();
        pid_t pid = start_system(KOS_PING_PONG_IMAGE, &f);
        if (pid < 0 || wait_ready(f, &nprocs) < 0) {
            fprintf(stderr, "bench_boot: the system did not become ready\n");
            return 1;
        }
        kos[i] = now_ms() - t0;
        drain_and_wait(pid, f);
        bare[i] = bare_spawn_ms(nprocs);
    }
    qsort(kos, (size_t)runs, sizeof(double), cmp_double);
    qsort(bare, (size_t)runs, sizeof(double), cmp_double);
    printf("boot to ready (examples/ping_pong, %d processes, %d runs)\n", nprocs, runs);
    printf("  kos-tool run -> system ready   median %8.2f ms   max %8.2f ms\n", kos[runs / 2],
           kos[runs - 1]);
    printf("  bare fork+exec of %d processes median %8.2f ms\n", nprocs, bare[runs / 2]);
    printf("  ratio kos/bare %.1fx   target: under 50 ms -> %s\n", kos[runs / 2] / bare[runs / 2],
           kos[runs / 2] < 50 ? "met" : "MISSED");

    FILE *f;
    pid_t pid = start_system(KOS_IDLE_IMAGE, &f);
    if (pid < 0 || wait_ready(f, &nprocs) < 0) {
        fprintf(stderr, "bench_boot: the idle system did not become ready\n");
        return 1;
    }
    sleep(1);
    long hz = sysconf(_SC_CLK_TCK);
    unsigned long long t0 = tree_ticks(pid);
    double w0 = now_ms();
    sleep((unsigned)idle_s);
    unsigned long long t1 = tree_ticks(pid);
    double wall = (now_ms() - w0) / 1e3;
    double pct = 100.0 * (double)(t1 - t0) / (double)hz / wall;
    printf("idle system (%d processes) over %.1f s: %llu ticks = %.3f%% of one CPU  "
           "target: under 1%% -> %s\n",
           nprocs, wall, t1 - t0, pct, pct < 1.0 ? "met" : "MISSED");
    kill(pid, SIGTERM);
    drain_and_wait(pid, f);
    return 0;
}
