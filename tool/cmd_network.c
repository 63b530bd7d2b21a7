/*
 * cmd_network.c - `kos-tool network.enable_forwarding` and
 * `network.disable_forwarding`: let a device on a TAP interface (a QEMU
 * device) reach beyond the host, through IP forwarding and masquerading
 * with nftables, and take it back (docs/device.md, "Networking").
 *
 * What stays true: KOS touches only what it made, an nftables table of its
 * own per TAP interface (inet kos_forward_<tap>), never another table, chain
 * or rule of the host's; the table says what net.ipv4.ip_forward was before,
 * and taking the last KOS table away puts it back. Everything is applied in
 * one nft transaction, so a refused change leaves the rules as they were.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "opts_int.h"
#include "tool_int.h"

#define TABLE_PREFIX "kos_forward_"
#define IP_FORWARD   "/proc/sys/net/ipv4/ip_forward"
#define NFT_OUT_MAX  (64u << 10)

static void enable_usage(FILE *f)
{
    fprintf(f,
            "usage: kos-tool network.enable_forwarding --tap IFACE --out IFACE\n"
            "\n"
            "Lets a device on TAP interface IFACE (kos-tool run --platform qemu-arm-virt\n"
            "--tap IFACE) reach beyond this machine through interface --out: turns on IPv4\n"
            "forwarding and masquerades what the device sends out, with an nftables table\n"
            "of KOS's own (inet " TABLE_PREFIX "<tap>); replies come back, nothing else does.\n"
            "No other table, chain or rule is touched. Needs root (CAP_NET_ADMIN) and nft.\n"
            "Interface names here are letters, digits and '_'.\n"
            "\n"
            "  --tap IFACE        the device's TAP interface\n"
            "  --out IFACE        the interface its traffic leaves by\n"
            "  -h, --help         show this help\n"
            "\n"
            "Exit status: 0 done (again is fine), 1 failed, 2 usage error. See %s.\n",
            kos__tool_doc("device.md"));
}

static void disable_usage(FILE *f)
{
    fprintf(f,
            "usage: kos-tool network.disable_forwarding --tap IFACE\n"
            "\n"
            "Takes back what network.enable_forwarding did for TAP interface IFACE: its\n"
            "nftables table goes, and when it was KOS's last, net.ipv4.ip_forward is put back\n"
            "as it was before KOS turned it on.\n"
            "\n"
            "  --tap IFACE        the device's TAP interface\n"
            "  -h, --help         show this help\n"
            "\n"
            "Exit status: 0 done, 1 failed (or nothing was enabled for IFACE), 2 usage\n"
            "error. See %s.\n",
            kos__tool_doc("device.md"));
}

/* An interface name this command takes: 1 to IFNAMSIZ - 1 letters, digits
 * and '_' (it becomes part of a table's name, and a string in the rules). */
static bool if_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= IFNAMSIZ)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* Runs `nft ARG...` with `input` on its stdin (may be NULL); its output (at
 * most NFT_OUT_MAX bytes, NUL-ended) in *out, to be freed. Returns its exit
 * status, or -1 with errno when it could not run. */
static int nft(const char *const *argv, const char *input, char **out)
{
    int in[2], res[2], status;
    size_t len = 0;
    pid_t pid;

    *out = calloc(1, NFT_OUT_MAX + 1);
    if (!*out || pipe2(in, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(res, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        return -1;
    }
    pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(res[1], 1);
        dup2(res[1], 2);
        execvp("nft", (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(res[1]);
    if (pid < 0) {
        close(in[1]);
        close(res[0]);
        return -1;
    }
    if (input)
        (void)!write(in[1], input, strlen(input)); /* small; nft reads it all */
    close(in[1]);
    for (;;) {
        ssize_t r = read(res[0], *out + len, NFT_OUT_MAX - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == NFT_OUT_MAX)
            break;
    }
    close(res[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && len == 0) { /* no nft to run */
        errno = ENOENT;
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int read_ip_forward(void)
{
    char buf[8] = "";
    int fd = open(IP_FORWARD, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

    if (fd >= 0)
        close(fd);
    return n > 0 && (buf[0] == '0' || buf[0] == '1') ? buf[0] - '0' : -1;
}

static bool write_ip_forward(int v)
{
    int fd = open(IP_FORWARD, O_WRONLY | O_CLOEXEC);
    bool ok = fd >= 0 && write(fd, v ? "1\n" : "0\n", 2) == 2;

    if (fd >= 0)
        close(fd);
    return ok;
}

/* The names of the KOS tables present (space-separated, in *list), and
 * whether table `mine` is among them; -1, said for command `cmd`, when nft
 * cannot list them. */
static int kos_tables(const char *cmd, const char *mine, char *list, size_t cap)
{
    static const char *const argv[] = {"nft", "list", "tables", "inet", NULL};
    char *out, *save = NULL;
    int found = 0, rc = nft(argv, NULL, &out);

    list[0] = '\0';
    if (rc != 0) {
        free(out);
        fprintf(stderr,
                "kos-tool %s: cannot list nftables tables: is nft installed (Debian's "
                "nftables)?\n",
                cmd);
        return -1;
    }
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[64];
        if (sscanf(line, "table inet %63s", name) != 1 ||
            strncmp(name, TABLE_PREFIX, strlen(TABLE_PREFIX)) != 0)
            continue;
        if (strcmp(name, mine) == 0)
            found = 1;
        size_t used = strlen(list);
        snprintf(list + used, cap - used, "%s%s", used ? " " : "", name);
    }
    free(out);
    return found;
}

/* What ip_forward was before KOS turned it on, as a KOS table's comment
 * says; -1 when it does not say. */
static int saved_ip_forward(const char *table)
{
    const char *argv[] = {"nft", "list", "table", "inet", table, NULL};
    char *out, *p;
    int v = -1;

    if (nft(argv, NULL, &out) == 0 && (p = strstr(out, "ip_forward was ")) &&
        (p[15] == '0' || p[15] == '1'))
        v = p[15] - '0';
    free(out);
    return v;
}

static int parse_args(const char *cmd, int argc, char **argv, bool want_out, const char **tap,
                      const char **out_if, void (*usage)(FILE *))
{
    enum { OPT_TAP, OPT_OUT };
    static const struct kos__opt table[] = {{"tap", 0, "IFACE", OPT_TAP},
                                            {"out", 0, "IFACE", OPT_OUT}};
    struct kos__opts p;
    const char *v;
    int id;

    kos__opts_init(&p, cmd, argc, argv, table, want_out ? 2 : 1);
    while ((id = kos__opts_next(&p, &v)) != KOS__OPTS_END) {
        switch (id) {
        case KOS__OPTS_HELP:
            usage(stdout);
            return 0;
        case KOS__OPTS_ERROR:
            return 2;
        case KOS__OPTS_ARG:
            return kos__opts_usage_error(&p, "unexpected argument '%s'", v);
        case OPT_TAP:
        case OPT_OUT:
            if (!if_name_ok(v))
                return kos__opts_usage_error(&p,
                                             "--%s: '%s' is not an interface name this command "
                                             "takes (1 to %d letters, digits and '_')",
                                             id == OPT_TAP ? "tap" : "out", v, IFNAMSIZ - 1);
            *(id == OPT_TAP ? tap : out_if) = v;
            break;
        }
    }
    if (!*tap)
        return kos__opts_usage_error(&p, "--tap IFACE is needed: the device's TAP interface");
    if (want_out && !*out_if)
        return kos__opts_usage_error(&p, "--out IFACE is needed: where its traffic leaves");
    if (want_out && strcmp(*tap, *out_if) == 0)
        return kos__opts_usage_error(&p, "--tap and --out are the same interface, '%s'", *tap);
    return -1;
}

/* Says what nft printed, a line at a time, after the command's prefix. */
static void show_nft(const char *cmd, const char *out)
{
    const char *p = out;

    while (*p) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        if (n)
            fprintf(stderr, "kos-tool %s: nft: %.*s\n", cmd, n, p);
        p += n + (nl ? 1 : 0);
    }
}

static bool need_root(const char *cmd)
{
    if (geteuid() == 0)
        return true;
    fprintf(stderr,
            "kos-tool %s: needs root (CAP_NET_ADMIN): nftables and ip_forward are the "
            "host's\n",
            cmd);
    return false;
}

int kos__tool_network_enable_forwarding(int argc, char **argv)
{
    static const char *const cmd = "network.enable_forwarding";
    static const char *const nft_f[] = {"nft", "-f", "-", NULL};
    const char *tap = NULL, *out_if = NULL;
    char table[64], script[2048], list[1024], *out;
    int rc = parse_args(cmd, argc, argv, true, &tap, &out_if, enable_usage), fwd, had;

    if (rc >= 0)
        return rc;
    if (!need_root(cmd))
        return 1;
    for (int i = 0; i < 2; i++) {
        const char *name = i ? out_if : tap;
        if (!if_nametoindex(name)) {
            fprintf(stderr, "kos-tool %s: there is no interface '%s' here (ip link shows them)\n",
                    cmd, name);
            return 1;
        }
    }
    snprintf(table, sizeof(table), TABLE_PREFIX "%s", tap);
    had = kos_tables(cmd, table, list, sizeof(list));
    if (had < 0)
        return 1;
    /* What ip_forward was before KOS: kept from the first KOS table. */
    fwd = read_ip_forward();
    if (fwd < 0) {
        fprintf(stderr, "kos-tool %s: cannot read %s\n", cmd, IP_FORWARD);
        return 1;
    }
    if (list[0]) {
        char first[64];
        sscanf(list, "%63s", first);
        int saved = saved_ip_forward(first);
        if (saved >= 0)
            fwd = saved;
    }
    snprintf(script, sizeof(script),
             "table inet %s\n"
             "delete table inet %s\n"
             "table inet %s {\n"
             "  comment \"kos-tool network.enable_forwarding: ip_forward was %d\"\n"
             "  chain forward {\n"
             "    type filter hook forward priority 0; policy accept;\n"
             "    iifname \"%s\" oifname \"%s\" accept\n"
             "    iifname \"%s\" oifname \"%s\" ct state established,related accept\n"
             "    iifname \"%s\" oifname \"%s\" drop\n"
             "  }\n"
             "  chain postrouting {\n"
             "    type nat hook postrouting priority srcnat; policy accept;\n"
             "    iifname \"%s\" oifname \"%s\" masquerade\n"
             "  }\n"
             "}\n",
             table, table, table, fwd, tap, out_if, out_if, tap, out_if, tap, tap, out_if);
    rc = nft(nft_f, script, &out);
    if (rc != 0) {
        fprintf(stderr, "kos-tool %s: nft refused the rules%s; nothing was changed\n", cmd,
                rc < 0 ? " (nft could not run: install Debian's nftables)" : "");
        if (rc > 0)
            show_nft(cmd, out);
        free(out);
        return 1;
    }
    free(out);
    if (!write_ip_forward(1)) {
        fprintf(stderr, "kos-tool %s: cannot turn on %s: %s\n", cmd, IP_FORWARD, strerror(errno));
        return 1;
    }
    printf("forwarding for %s through %s is on (nftables table inet %s; ip_forward 1, was %d "
           "before KOS)%s\n",
           tap, out_if, table, fwd, had ? "; it was on already, its rules are made again" : "");
    return 0;
}

int kos__tool_network_disable_forwarding(int argc, char **argv)
{
    static const char *const cmd = "network.disable_forwarding";
    const char *tap = NULL, *unused = NULL;
    char table[64], list[1024], *out;
    int rc = parse_args(cmd, argc, argv, false, &tap, &unused, disable_usage), saved, had;

    if (rc >= 0)
        return rc;
    if (!need_root(cmd))
        return 1;
    snprintf(table, sizeof(table), TABLE_PREFIX "%s", tap);
    had = kos_tables(cmd, table, list, sizeof(list));
    if (had < 0)
        return 1;
    if (!had) {
        fprintf(stderr, "kos-tool %s: forwarding is not on for %s (no nftables table inet %s)\n",
                cmd, tap, table);
        return 1;
    }
    saved = saved_ip_forward(table);
    const char *argv_del[] = {"nft", "delete", "table", "inet", table, NULL};
    rc = nft(argv_del, NULL, &out);
    if (rc != 0) {
        fprintf(stderr, "kos-tool %s: nft could not delete table inet %s\n", cmd, table);
        show_nft(cmd, out);
        free(out);
        return 1;
    }
    free(out);
    /* The last KOS table gone: ip_forward as it was before KOS. */
    bool last = strcmp(list, table) == 0;
    if (last && saved >= 0 && !write_ip_forward(saved)) {
        fprintf(stderr, "kos-tool %s: cannot put %s back to %d: %s\n", cmd, IP_FORWARD, saved,
                strerror(errno));
        return 1;
    }
    printf("forwarding for %s is off (table inet %s deleted%s)\n", tap, table,
           !last        ? "; ip_forward left on for KOS's other tables"
           : saved >= 0 ? (saved ? "; ip_forward left 1, as it was before KOS"
                                 : "; ip_forward back to 0, as it was before KOS")
                        : "; what ip_forward was before is not known: left as it is");
    return 0;
}
