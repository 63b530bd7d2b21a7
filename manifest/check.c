/*
 * check.c - the assurance checks over a validated manifest.
 *
 * The catalogue below is the one list of rules: ids are stable and never
 * reused, and docs/assurance.md describes each one. kos_check_run() runs
 * every rule, then applies the apps' waivers, then reports stale waivers,
 * then sorts the findings by position so the output depends only on the
 * manifest. Rules about protocols look at all grants at once, sorted by
 * (server, protocol), so the work is O(g log g) in the number of grants.
 *
 * What stays true of a report: every finding names a rule of the catalogue
 * and a position in the manifest or its layer; a finding is waived only by
 * a waiver of its own app for its own rule; count[] and n_waived add up to
 * n_findings; nothing in it is echoed from a value that looks like a secret.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "mf_int.h"

/* What the rules count as network, key-store and remote-shell access. */
static const char *const net_protocols[] = {"kos_ethernet_protocol", "kos_tunnel_protocol"};
static const char keystore_protocol[] = "kos_keystore_protocol";
static const char manager_app[] = "admin"; /* the base layer's app that manages the system */
static const char host_network[] = "network: host";
static const char remote_shell_key[] = "remote_shell";
static const char remote_debug_key[] = "remote_debug"; /* admin's: debugging on the link */
static const char *const remote_shell_on[] = {"enabled", "true", "yes", "on", "1"};
static const char *const secret_words[] = {"KEY",    "SECRET",     "TOKEN",  "PASSWORD",
                                           "PASSWD", "CREDENTIAL", "PRIVATE"};

enum {
    R_SIGNING,
    R_REMOTE_SHELL,
    R_UNPUBLISHED,
    R_UNREQUESTED,
    R_TWO_PUBLISHERS,
    R_NET_KEYSTORE,
    R_DEVICE_NET,
    R_NO_MEMORY,
    R_SECRET_ENV,
    R_REGION_WRITERS,
    R_DEBUG_RELEASE,
    R_BEST_EFFORT,
    R_UNUSED_REGION,
    R_STALE_WAIVER,
    R_DEVICE_PATH,
    R_DEVELOPMENT,
    R_HOST_NETWORK,
    R_DEVICE_KEYS,
    R_MANAGER,
    R_REMOTE_RELEASE,
    R_COUNT
};

static const struct kos_check_rule rules[R_COUNT] = {
    [R_SIGNING] = {"KOS-A001", "signing-disabled", KOS_CHECK_ERROR, false,
                   "image signing is disabled",
                   "an unsigned image can be replaced or altered by anyone who can write the "
                   "device's storage or its update path",
                   "remove 'signing: disabled' (signing is enabled by default) and build with "
                   "kos-tool manifest.build --key"},
    [R_REMOTE_SHELL] = {"KOS-A002", "remote-shell-enabled", KOS_CHECK_ERROR, true,
                        "an app's config enables a remote shell",
                        "a remote shell gives whoever reaches it a command line on the device, "
                        "outside everything the manifest grants",
                        "set remote_shell: disabled (or leave it out); keep remote shells to "
                        "development devices and waive the rule there with a justification"},
    [R_UNPUBLISHED] = {"KOS-A003", "request-without-publisher", KOS_CHECK_WARNING, true,
                       "a protocol is requested that no app publishes on that message server",
                       "the request can never succeed at run time: the name is misspelt or the "
                       "app that serves it is missing",
                       "correct the protocol's name, add the app that publishes it on the same "
                       "message server, or drop the request"},
    [R_UNREQUESTED] = {"KOS-A004", "publish-without-client", KOS_CHECK_WARNING, true,
                       "a protocol is published that no app requests on that message server",
                       "a grant nobody uses is surplus privilege, and often a misspelt name on "
                       "one side",
                       "drop it from publish:, or add the client's request on the same message "
                       "server"},
    [R_TWO_PUBLISHERS] = {"KOS-A005", "two-publishers", KOS_CHECK_ERROR, true,
                          "two apps publish one protocol on one message server",
                          "which app a client reaches depends on start order, and either "
                          "publisher can impersonate the other",
                          "keep one publisher, or give each its own protocol name or message "
                          "server"},
    [R_NET_KEYSTORE] = {"KOS-A006", "network-and-keystore", KOS_CHECK_WARNING, true,
                        "an app has both network access and key-store access",
                        "one compromise from the network could then use the device's keys "
                        "(sign, decrypt, authenticate) on the attacker's behalf",
                        "split the app: one part holds the key-store grant, another the "
                        "network grant, linked by a narrow protocol of your own"},
    [R_DEVICE_NET] = {"KOS-A007", "device-and-network", KOS_CHECK_WARNING, true,
                      "an app has both device access and network access",
                      "a compromise from the network then reaches the hardware directly",
                      "split the driver (devices:) from the networked part, linked by a narrow "
                      "protocol of your own"},
    [R_NO_MEMORY] = {"KOS-A008", "no-memory-limit", KOS_CHECK_WARNING, true,
                     "an app has no memory limit",
                     "an app without a limit can exhaust the device's memory and starve every "
                     "other app",
                     "add memory: with what the app needs plus a margin, e.g. memory: 16MiB"},
    [R_SECRET_ENV] = {"KOS-A009", "secret-in-environment", KOS_CHECK_ERROR, true,
                      "an app's environment holds what looks like a secret",
                      "a manifest and the image built from it are not secret: anyone holding "
                      "the image can read every environment value",
                      "keep keys in key_store (kos_keystore_protocol) and provision per-device "
                      "secrets at bootstrap; never write them in env:"},
    [R_REGION_WRITERS] = {"KOS-A010", "region-many-writers", KOS_CHECK_WARNING, true,
                          "a shared memory region is writable by more than one app",
                          "no writer can trust what it reads back, and one compromised app can "
                          "corrupt what the others rely on",
                          "give the region one writer (access: rw) and map it read-only "
                          "(access: r) everywhere else, or use one region per writer"},
    [R_DEBUG_RELEASE] = {"KOS-A011", "debug-app-in-release", KOS_CHECK_ERROR, true,
                         "a debug-only app is part of a release build",
                         "debug-only apps (test hooks, tracing, consoles) widen the attack "
                         "surface of devices in the field",
                         "remove the app (or its debug: true) from release manifests, or build "
                         "the system with profile: development"},
    [R_BEST_EFFORT] = {"KOS-A012", "isolation-best-effort", KOS_CHECK_WARNING, false,
                       "isolation is best effort",
                       "Core then boots even where the host lacks a sandbox layer (user "
                       "namespaces, seccomp, Landlock), so apps may run less isolated than the "
                       "manifest suggests",
                       "remove isolation: best_effort (strict is the default) and run on hosts "
                       "that provide every layer"},
    [R_UNUSED_REGION] = {"KOS-A013", "unused-region", KOS_CHECK_INFO, false,
                         "a declared memory region is mapped by no app",
                         "it is never used; it is often a misspelt name in an app's "
                         "memory_regions:",
                         "remove it from memory_regions:, or map it in the apps that need it"},
    [R_STALE_WAIVER] = {"KOS-A014", "stale-waiver", KOS_CHECK_WARNING, false,
                        "a waiver matches no finding",
                        "a waiver for a rule that does not exist or did not fire hides the "
                        "next real finding of that rule and misleads reviewers",
                        "remove the waiver, or correct its rule id (docs/assurance.md lists "
                        "the rules)"},
    [R_DEVICE_PATH] = {"KOS-A015", "device-outside-dev", KOS_CHECK_WARNING, true,
                       "a device path lies outside /dev",
                       "a path outside /dev is an ordinary file or folder of the host, not a "
                       "device node, and bypasses the image's content addressing",
                       "grant the device node under /dev (e.g. /dev/i2c-1); for files, give the "
                       "app data_dir: true"},
    [R_DEVELOPMENT] = {"KOS-A016", "development-profile", KOS_CHECK_INFO, false,
                       "the system is built with the development profile",
                       "development builds admit debug-only apps and are meant for lab "
                       "devices, not the field",
                       "use profile: release (the default) for images that ship"},
    [R_HOST_NETWORK] = {"KOS-A017", "host-network", KOS_CHECK_WARNING, true,
                        "an app shares the host's network (network: host)",
                        "it can open connections to any address the device reaches, outside "
                        "every allow list: a compromise of that app reaches the whole network "
                        "the device is on",
                        "keep network: host to the ethernet component, which opens connections "
                        "only to the destinations its allow setting lists, and have other apps "
                        "request kos_ethernet_protocol; the layer that brings ethernet waives "
                        "this rule for it, saying why"},
    [R_DEVICE_KEYS] = {"KOS-A018", "device-keys-outside-key-store", KOS_CHECK_ERROR, true,
                       "the device key bundle goes to an app that is not the key store",
                       "that app then holds the device's private keys itself, outside the one "
                       "component built to use them without ever giving them out",
                       "give device_keys: true only to key_store (the Poukai layer does), and "
                       "have other apps request kos_keystore_protocol"},
    [R_MANAGER] = {"KOS-A019", "system-manager-outside-admin", KOS_CHECK_ERROR, true,
                   "an app other than the base layer's admin manages the system "
                   "(manages_system: true)",
                   "Core lets that app restart any app, reboot the system and read every "
                   "console line, every app's output included: whoever controls it controls "
                   "the device",
                   "leave manages_system: true to the Poukai layer's admin (the layer gives it); "
                   "a system that runs a management agent of its own waives the rule for it, "
                   "saying why"},
    [R_REMOTE_RELEASE] = {"KOS-A020", "remote-access-outside-development", KOS_CHECK_ERROR, false,
                          "a system enables the remote shell or remote debugging but is not "
                          "built for development",
                          "a remote shell or debugger on a device in the field lets whoever "
                          "holds its server, or takes it over, inspect and drive the device "
                          "outside what its apps' grants allow; an app's waiver of KOS-A002 or "
                          "KOS-A011 says why for a lab device, not for a release",
                          "build systems that enable remote_shell or remote_debug or hold debug: "
                          "true apps with profile: development, and release images without them"},
};

const struct kos_check_rule *kos_check_rules(size_t *n)
{
    if (n != NULL)
        *n = R_COUNT;
    return rules;
}

const struct kos_check_rule *kos_check_rule_find(const char *id)
{
    for (size_t i = 0; id != NULL && i < R_COUNT; i++)
        if (strcmp(rules[i].id, id) == 0)
            return &rules[i];
    return NULL;
}

const char *kos_check_severity_str(enum kos_check_severity s)
{
    switch (s) {
    case KOS_CHECK_INFO:
        return "info";
    case KOS_CHECK_WARNING:
        return "warning";
    case KOS_CHECK_ERROR:
        return "error";
    }
    return "unknown";
}

/* ---- collecting findings --------------------------------------------- */

/* The state of one kos_check_run() call. */
struct run {
    const struct kos_manifest *m;
    struct kos_check_finding *f;
    size_t n, cap;
    bool oom;
};

static void add(struct run *r, int rule, const char *app, const struct kos_mf_pos *pos,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Records a finding of `rule` (an R_ index); on failure sets r->oom. */
static void add(struct run *r, int rule, const char *app, const struct kos_mf_pos *pos,
                const char *fmt, ...)
{
    if (r->oom)
        return;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct kos_check_finding *nf = realloc(r->f, cap * sizeof(*nf));
        if (nf == NULL) {
            r->oom = true;
            return;
        }
        r->f = nf;
        r->cap = cap;
    }
    struct kos_check_finding *f = &r->f[r->n];
    memset(f, 0, sizeof(*f));
    va_list ap;
    va_start(ap, fmt);
    int w = vasprintf(&f->message, fmt, ap);
    va_end(ap);
    if (w < 0) {
        r->oom = true;
        return;
    }
    f->rule = &rules[rule];
    f->app = app;
    f->pos = *pos;
    r->n++;
}

static bool requests(const struct kos_mf_app *app, const char *proto, const struct kos_mf_pos **pos)
{
    for (size_t g = 0; g < app->n_grants; g++) {
        const struct kos_mf_grant *gr = &app->grants[g];
        for (size_t i = 0; i < gr->n_request; i++)
            if (strcmp(gr->request[i], proto) == 0) {
                if (pos != NULL)
                    *pos = gr->request_pos ? &gr->request_pos[i] : &gr->pos;
                return true;
            }
    }
    return false;
}

/* True if `app` publishes `proto` on any message server. */
static bool publishes_anywhere(const struct kos_mf_app *app, const char *proto)
{
    for (size_t g = 0; g < app->n_grants; g++)
        for (size_t i = 0; i < app->grants[g].n_publish; i++)
            if (strcmp(app->grants[g].publish[i], proto) == 0)
                return true;
    return false;
}

/* How `app` reaches the network: the first network protocol it requests,
 * else "network: host" when it shares the host's network; NULL when it has
 * no network access. */
static const char *network_access(const struct kos_mf_app *app, const struct kos_mf_pos **pos)
{
    for (size_t i = 0; i < sizeof(net_protocols) / sizeof(net_protocols[0]); i++)
        if (requests(app, net_protocols[i], pos))
            return net_protocols[i];
    if (app->network_host) {
        if (pos != NULL)
            *pos = &app->network_pos;
        return host_network;
    }
    return NULL;
}

/* How a finding names the network access: "requests P (network)" or "has
 * the host's network (network: host)". */
static const char *net_verb(const char *net)
{
    return net == host_network ? "has" : "requests";
}

static const char *net_what(const char *net)
{
    return net == host_network ? "the host's network (network: host)" : net;
}

static const char *net_note(const char *net)
{
    return net == host_network ? "" : " (network)";
}

/* ---- rules over the whole system -------------------------------------- */

static void check_system(struct run *r)
{
    const struct kos_manifest *m = r->m;
    if (!m->signing)
        add(r, R_SIGNING, NULL, &m->signing_pos,
            "signing is disabled: images of system '%s' are not signed", m->system);
    if (m->isolation == KOS_MF_ISOLATION_BEST_EFFORT)
        add(r, R_BEST_EFFORT, NULL, &m->isolation_pos,
            "isolation is best_effort: system '%s' boots even where the host lacks a sandbox "
            "layer",
            m->system);
    if (m->profile == KOS_MF_PROFILE_DEVELOPMENT)
        add(r, R_DEVELOPMENT, NULL, &m->profile_pos,
            "system '%s' is built with profile: development", m->system);
}

/* The first of `app`'s entries that maps region `name` writable, or NULL;
 * *maps is set when the app maps it at all. */
static const struct kos_mf_region_use *writes_region(const struct kos_mf_app *app, const char *name,
                                                     bool *maps)
{
    const struct kos_mf_region_use *w = NULL;
    for (size_t u = 0; u < app->n_regions; u++) {
        const struct kos_mf_region_use *use = &app->regions[u];
        if (strcmp(use->region, name) != 0)
            continue;
        *maps = true;
        if (w == NULL && (use->access & KOS_CM_ACCESS_WRITE))
            w = use;
    }
    return w;
}

/* KOS-A010 and KOS-A013: which apps map each region, and which write it. An
 * app that maps one region twice counts once. */
static void check_regions(struct run *r)
{
    const struct kos_manifest *m = r->m;
    for (size_t g = 0; g < m->n_regions; g++) {
        const struct kos_mf_region *reg = &m->regions[g];
        bool used = false;
        size_t writers = 0;
        for (size_t a = 0; a < m->n_apps; a++)
            writers += writes_region(&m->apps[a], reg->name, &used) != NULL;
        if (!used)
            add(r, R_UNUSED_REGION, NULL, &reg->pos,
                "memory region '%s' is declared but no app maps it", reg->name);
        if (writers < 2)
            continue;
        for (size_t a = 0; a < m->n_apps; a++) {
            const struct kos_mf_region_use *use = writes_region(&m->apps[a], reg->name, &used);
            if (use == NULL)
                continue;
            add(r, R_REGION_WRITERS, m->apps[a].name, &use->pos,
                "app '%s' maps memory region '%s' writable (as '%s'), and %zu other app%s "
                "write%s it too",
                m->apps[a].name, reg->name, use->name, writers - 1, writers == 2 ? "" : "s",
                writers == 2 ? "s" : "");
        }
    }
}

/* One publish or request grant, for the protocol rules. */
struct gent {
    const char *server, *proto;
    int kind; /* 0 publish, 1 request: publishers sort first */
    size_t app;
    const struct kos_mf_pos *pos;
};

static int cmp_gent(const void *pa, const void *pb)
{
    const struct gent *a = pa, *b = pb;
    int c = strcmp(a->server, b->server);
    if (c == 0)
        c = strcmp(a->proto, b->proto);
    if (c == 0)
        c = a->kind - b->kind;
    if (c == 0)
        c = a->app < b->app ? -1 : a->app > b->app;
    return c;
}

/* KOS-A003, KOS-A004, KOS-A005: publishers and clients of each protocol on
 * each message server. */
static void check_protocols(struct run *r)
{
    const struct kos_manifest *m = r->m;
    size_t n = 0;
    for (size_t a = 0; a < m->n_apps; a++)
        for (size_t g = 0; g < m->apps[a].n_grants; g++)
            n += m->apps[a].grants[g].n_publish + m->apps[a].grants[g].n_request;
    if (n == 0)
        return;
    struct gent *e = calloc(n, sizeof(*e));
    if (e == NULL) {
        r->oom = true;
        return;
    }
    size_t k = 0;
    for (size_t a = 0; a < m->n_apps; a++)
        for (size_t g = 0; g < m->apps[a].n_grants; g++) {
            const struct kos_mf_grant *gr = &m->apps[a].grants[g];
            for (size_t i = 0; i < gr->n_publish; i++)
                e[k++] = (struct gent){gr->server, gr->publish[i], 0, a,
                                       gr->publish_pos ? &gr->publish_pos[i] : &gr->pos};
            for (size_t i = 0; i < gr->n_request; i++)
                e[k++] = (struct gent){gr->server, gr->request[i], 1, a,
                                       gr->request_pos ? &gr->request_pos[i] : &gr->pos};
        }
    qsort(e, n, sizeof(*e), cmp_gent);
    for (size_t i = 0; i < n;) {
        size_t j = i, pubs = 0, reqs = 0;
        while (j < n && strcmp(e[j].server, e[i].server) == 0 &&
               strcmp(e[j].proto, e[i].proto) == 0) {
            if (e[j].kind == 0)
                pubs++;
            else
                reqs++;
            j++;
        }
        for (size_t x = i; x < j; x++) {
            const struct kos_mf_app *app = &m->apps[e[x].app];
            if (e[x].kind == 1 && pubs == 0)
                add(r, R_UNPUBLISHED, app->name, e[x].pos,
                    "app '%s' requests protocol '%s' on %s, where no app publishes it", app->name,
                    e[x].proto, e[x].server);
            /* The base layer's services publish for whoever wants them:
             * that nobody does is not a finding. */
            if (e[x].kind == 0 && reqs == 0 && !app->from_layer)
                add(r, R_UNREQUESTED, app->name, e[x].pos,
                    "app '%s' publishes protocol '%s' on %s, where no app requests it", app->name,
                    e[x].proto, e[x].server);
            if (e[x].kind == 0 && x > i) {
                const struct kos_mf_app *first = &m->apps[e[i].app];
                add(r, R_TWO_PUBLISHERS, app->name, e[x].pos,
                    "app '%s' publishes protocol '%s' on %s, which app '%s' publishes too "
                    "(%s:%d:%d)",
                    app->name, e[x].proto, e[x].server, first->name, e[i].pos->file, e[i].pos->line,
                    e[i].pos->col);
            }
        }
        i = j;
    }
    free(e);
}

/* The value of `app`'s remote_shell setting if it enables a remote shell
 * (KOS-A002's values), else NULL; *pos is the setting's. */
static const char *remote_shell_of(const struct kos_mf_app *app, const struct kos_mf_pos **pos);
static const char *setting_on(const struct kos_mf_app *app, const char *key,
                              const struct kos_mf_pos **pos);

/* KOS-A020: remote access (the shell, debugging) in a system that is not
 * built for development. One finding for the system, at the first app that
 * enables it, naming every one: it cannot be waived by an app (the profile
 * is the system's). */
static void check_remote_access(struct run *r)
{
    const struct kos_manifest *m = r->m;
    const struct kos_mf_pos *first = NULL, *pos;
    char what[1024];
    size_t n = 0, len = 0;

    if (m->profile == KOS_MF_PROFILE_DEVELOPMENT)
        return;
    what[0] = '\0';
    for (size_t a = 0; a < m->n_apps; a++) {
        const struct kos_mf_app *app = &m->apps[a];
        const char *v = remote_shell_of(app, &pos);
        if (v) {
            first = first ? first : pos;
            len += (size_t)snprintf(what + len, len < sizeof(what) ? sizeof(what) - len : 0,
                                    "%sapp '%s' enables a remote shell (config remote_shell: %s)",
                                    n++ ? "; " : "", app->name, v);
        }
        if ((v = setting_on(app, remote_debug_key, &pos)) != NULL) {
            first = first ? first : pos;
            len += (size_t)snprintf(what + len, len < sizeof(what) ? sizeof(what) - len : 0,
                                    "%sapp '%s' enables remote debugging (config remote_debug: %s)",
                                    n++ ? "; " : "", app->name, v);
        }
        if (app->debug) {
            first = first ? first : &app->debug_pos;
            len += (size_t)snprintf(what + len, len < sizeof(what) ? sizeof(what) - len : 0,
                                    "%sapp '%s' is marked for debugging (debug: true)",
                                    n++ ? "; " : "", app->name);
        }
    }
    if (first)
        add(r, R_REMOTE_RELEASE, NULL, first,
            "system '%s' is not built for development (profile: release) but %s", m->system, what);
}

/* ---- rules over one app ----------------------------------------------- */

static bool ascii_ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return false;
    return *a == *b;
}

/* Case-insensitive substring search. */
static bool contains_word(const char *s, const char *word)
{
    size_t n = strlen(word);
    for (; *s; s++) {
        size_t i = 0;
        while (i < n && s[i] && toupper((unsigned char)s[i]) == word[i])
            i++;
        if (i == n)
            return true;
    }
    return false;
}

static bool is_hex(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static bool is_b64(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           ch == '+' || ch == '/' || ch == '-' || ch == '_' || ch == '=' || ch == '.';
}

/* Why `value` looks like a secret, or NULL. Never quotes the value. */
static const char *secret_value(const char *v)
{
    if (strstr(v, "-----BEGIN ") != NULL)
        return "a PEM block (-----BEGIN ...)";
    /* A URL with credentials: scheme://user:password@host. */
    for (const char *p = strstr(v, "://"); p != NULL; p = strstr(p + 3, "://")) {
        const char *auth = p + 3;
        size_t end = strcspn(auth, "/?#");
        const char *at = memchr(auth, '@', end);
        if (at != NULL && memchr(auth, ':', (size_t)(at - auth)) != NULL)
            return "a URL with a password (user:password@)";
    }
    /* A long run of hex digits (a key or a digest of one), or a long run of
     * base64 (or base64url, with '.' for JSON web tokens) that mixes upper
     * case, lower case and digits (a token). */
    for (const char *p = v; *p;) {
        size_t hex = 0;
        while (is_hex(p[hex]))
            hex++;
        if (hex >= 32)
            return "a long hexadecimal string (32 digits or more)";
        size_t b = 0;
        bool up = false, lo = false, dig = false;
        while (is_b64(p[b])) {
            up |= p[b] >= 'A' && p[b] <= 'Z';
            lo |= p[b] >= 'a' && p[b] <= 'z';
            dig |= p[b] >= '0' && p[b] <= '9';
            b++;
        }
        if (b >= 40 && up && lo && dig)
            return "a long base64 string (40 characters or more, mixing cases and digits)";
        p += b > hex ? b : (hex ? hex : 1);
    }
    return NULL;
}

static void check_env(struct run *r, const struct kos_mf_app *app)
{
    for (size_t i = 0; i < app->n_env; i++) {
        const char *kv = app->env[i];
        const char *eq = strchr(kv, '=');
        if (eq == NULL)
            continue;
        const struct kos_mf_pos *pos = app->env_pos ? &app->env_pos[i] : &app->pos;
        int keylen = (int)(eq - kv);
        const char *why = secret_value(eq + 1);
        if (why != NULL) {
            add(r, R_SECRET_ENV, app->name, pos, "environment variable %.*s of app '%s' holds %s",
                keylen, kv, app->name, why);
            continue;
        }
        if (eq[1] == '\0')
            continue; /* an empty value is no secret, whatever its name */
        char name[KOS__MF_MAX_ENV_KEY + 1];
        snprintf(name, sizeof(name), "%.*s", keylen, kv);
        for (size_t w = 0; w < sizeof(secret_words) / sizeof(secret_words[0]); w++)
            if (contains_word(name, secret_words[w])) {
                add(r, R_SECRET_ENV, app->name, pos,
                    "environment variable %s of app '%s' is named like a secret (it contains "
                    "%s) and has a value",
                    name, app->name, secret_words[w]);
                break;
            }
    }
}

static void check_app(struct run *r, const struct kos_mf_app *app)
{
    const struct kos_manifest *m = r->m;
    const struct kos_mf_pos *net_pos = NULL, *ks_pos = NULL;
    const char *net = network_access(app, &net_pos);
    bool keystore = requests(app, keystore_protocol, &ks_pos);
    const char *ks_how = "requests kos_keystore_protocol (key store)";
    if (!keystore && app->device_keys) {
        keystore = true; /* it holds the keys themselves */
        ks_pos = &app->device_keys_pos;
        ks_how = "holds the device keys (device_keys: true)";
    }

    const struct kos_mf_pos *shell_pos;
    const char *shell = remote_shell_of(app, &shell_pos);
    if (shell)
        add(r, R_REMOTE_SHELL, app->name, shell_pos,
            "app '%s' enables a remote shell (config remote_shell: %s)", app->name, shell);
    if (net != NULL && keystore)
        add(r, R_NET_KEYSTORE, app->name, ks_pos, "app '%s' %s and %s %s%s", app->name, ks_how,
            net_verb(net), net_what(net), net_note(net));
    if (app->device_keys && !publishes_anywhere(app, keystore_protocol) &&
        strcmp(app->binary, "key_store") != 0)
        add(r, R_DEVICE_KEYS, app->name, &app->device_keys_pos,
            "app '%s' gets the device key bundle (device_keys: true) but is not the key store "
            "(its binary is '%s' and it publishes no %s)",
            app->name, app->binary, keystore_protocol);
    /* The layer's admin: the entry a base layer declares as admin, still
     * running the admin component. */
    if (app->manages_system && !(app->from_layer && strcmp(app->name, manager_app) == 0 &&
                                 strcmp(app->binary, manager_app) == 0))
        add(r, R_MANAGER, app->name, &app->manages_system_pos,
            "app '%s' manages the system (manages_system: true) but is not the base layer's "
            "admin (%s '%s')",
            app->name, app->from_layer ? "its binary is" : "the manifest declares it, binary",
            app->binary);
    if (net != NULL && app->n_devices > 0)
        add(r, R_DEVICE_NET, app->name, &app->devices[0].pos,
            "app '%s' has device '%s' (%s)%s and %s %s%s", app->name, app->devices[0].name,
            app->devices[0].path, app->n_devices > 1 ? " and more devices" : "", net_verb(net),
            net_what(net), net_note(net));
    if (app->network_host)
        add(r, R_HOST_NETWORK, app->name, &app->network_pos,
            "app '%s' shares the host's network (network: host): it can connect anywhere the "
            "device can",
            app->name);
    if (app->memory == 0)
        add(r, R_NO_MEMORY, app->name, &app->pos, "app '%s' has no memory limit", app->name);
    check_env(r, app);
    if (app->debug && m->profile == KOS_MF_PROFILE_RELEASE)
        add(r, R_DEBUG_RELEASE, app->name, &app->debug_pos,
            "app '%s' is debug-only (debug: true) and the system is built with profile: release",
            app->name);
    for (size_t i = 0; i < app->n_devices; i++) {
        const struct kos_mf_device *d = &app->devices[i];
        if (strncmp(d->path, "/dev/", 5) != 0)
            add(r, R_DEVICE_PATH, app->name, &d->pos,
                "device '%s' of app '%s' has path '%s', outside /dev", d->name, app->name, d->path);
    }
}

static const char *remote_shell_of(const struct kos_mf_app *app, const struct kos_mf_pos **pos)
{
    return setting_on(app, remote_shell_key, pos);
}

/* The value of `app`'s setting `key` if it says on (KOS-A002's values),
 * else NULL; *pos is the setting's. */
static const char *setting_on(const struct kos_mf_app *app, const char *key,
                              const struct kos_mf_pos **pos)
{
    for (size_t i = 0; i < app->n_config; i++) {
        const struct kos_mf_config *cf = &app->config[i];
        if (strcmp(cf->key, key) != 0)
            continue;
        for (size_t v = 0; v < sizeof(remote_shell_on) / sizeof(remote_shell_on[0]); v++)
            if (ascii_ieq(cf->value, remote_shell_on[v])) {
                *pos = &cf->pos;
                return cf->value;
            }
    }
    return NULL;
}

/* ---- waivers ------------------------------------------------------------ */

static bool same_file(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* Marks each finding its app waives, then reports the waivers that matched
 * nothing (KOS-A014, which cannot itself be waived). */
static void apply_waivers(struct run *r)
{
    const struct kos_manifest *m = r->m;
    size_t n_rule_findings = r->n;
    for (size_t a = 0; a < m->n_apps; a++) {
        const struct kos_mf_app *app = &m->apps[a];
        for (size_t w = 0; w < app->n_waivers; w++) {
            const struct kos_mf_waiver *wv = &app->waivers[w];
            const struct kos_check_rule *rule = kos_check_rule_find(wv->rule);
            bool used = false;
            for (size_t i = 0; rule != NULL && i < n_rule_findings; i++) {
                struct kos_check_finding *f = &r->f[i];
                if (f->rule != rule || f->app == NULL || strcmp(f->app, app->name) != 0)
                    continue;
                f->waived = true;
                f->justification = wv->reason;
                f->waiver_pos = wv->pos;
                used = true;
            }
            if (used)
                continue;
            /* A layer's waiver for its own entry, which this manifest changed
             * so that the finding went away: nothing the manifest's author
             * could remove, and nothing hidden. (Checked against the layer
             * alone, a stale layer waiver is still reported.) */
            if (rule != NULL && rule->per_app && rule != &rules[R_STALE_WAIVER] &&
                !same_file(wv->pos.file, m->file) && same_file(app->pos.file, m->file))
                continue;
            if (rule == NULL)
                add(r, R_STALE_WAIVER, app->name, &wv->pos,
                    "app '%s' waives rule '%s', which does not exist (rules are KOS-A001 to %s)",
                    app->name, wv->rule, rules[R_COUNT - 1].id);
            else if (rule == &rules[R_STALE_WAIVER])
                add(r, R_STALE_WAIVER, app->name, &wv->pos,
                    "app '%s' waives %s (%s), which cannot be waived: a stale waiver is removed, "
                    "not waived",
                    app->name, rule->id, rule->slug);
            else if (!rule->per_app)
                add(r, R_STALE_WAIVER, app->name, &wv->pos,
                    "app '%s' waives %s (%s), which is about the whole system and cannot be "
                    "waived by an app",
                    app->name, rule->id, rule->slug);
            else
                add(r, R_STALE_WAIVER, app->name, &wv->pos,
                    "app '%s' waives %s (%s), which found nothing in this app", app->name, rule->id,
                    rule->slug);
        }
    }
}

/* ---- the report ----------------------------------------------------------- */

static int cmp_finding(const void *pa, const void *pb)
{
    const struct kos_check_finding *a = pa, *b = pb;
    int c = strcmp(a->pos.file ? a->pos.file : "", b->pos.file ? b->pos.file : "");
    if (c == 0)
        c = (a->pos.line > b->pos.line) - (a->pos.line < b->pos.line);
    if (c == 0)
        c = (a->pos.col > b->pos.col) - (a->pos.col < b->pos.col);
    if (c == 0)
        c = strcmp(a->rule->id, b->rule->id);
    if (c == 0)
        c = strcmp(a->message, b->message);
    return c;
}

kos_status_t kos_check_run(const struct kos_manifest *m, struct kos_check_report **out)
{
    if (m == NULL || out == NULL)
        return KOS_STATUS_INVALID_ARGUMENT;
    struct kos_check_report *rep = calloc(1, sizeof(*rep));
    if (rep == NULL)
        return KOS_STATUS_NO_MEMORY;
    struct run r = {.m = m};
    check_system(&r);
    check_remote_access(&r);
    check_regions(&r);
    check_protocols(&r);
    for (size_t a = 0; a < m->n_apps; a++)
        check_app(&r, &m->apps[a]);
    apply_waivers(&r);
    if (r.oom) {
        for (size_t i = 0; i < r.n; i++)
            free(r.f[i].message);
        free(r.f);
        free(rep);
        return KOS_STATUS_NO_MEMORY;
    }
    /* The manifest's own findings first, then those in layer files; each
     * part in position order. */
    size_t own = 0;
    for (size_t i = 0; i < r.n; i++) {
        const char *file = r.f[i].pos.file;
        if (file != NULL && m->file != NULL && strcmp(file, m->file) == 0) {
            struct kos_check_finding t = r.f[own];
            r.f[own++] = r.f[i];
            r.f[i] = t;
        }
    }
    if (own > 1)
        qsort(r.f, own, sizeof(*r.f), cmp_finding);
    if (r.n - own > 1)
        qsort(r.f + own, r.n - own, sizeof(*r.f), cmp_finding);
    rep->findings = r.f;
    rep->n_findings = r.n;
    for (size_t i = 0; i < r.n; i++) {
        if (r.f[i].waived)
            rep->n_waived++;
        else
            rep->count[r.f[i].rule->severity]++;
    }
    *out = rep;
    return KOS_STATUS_OK;
}

bool kos_check_fails(const struct kos_check_report *r, enum kos_check_severity at_least)
{
    for (int s = (int)at_least; r != NULL && s <= KOS_CHECK_ERROR; s++)
        if (s >= KOS_CHECK_INFO && r->count[s] > 0)
            return true;
    return false;
}

void kos_check_report_destroy(struct kos_check_report *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_findings; i++)
        free(r->findings[i].message);
    free(r->findings);
    free(r);
}
