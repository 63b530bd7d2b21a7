/*
 * setup.c - what a system needs before its first process starts: data directories
 * and images, host uid ranges, memory regions, seccomp filters, the sandbox
 * probe, device keys and signals.
 */
#include "core_int.h"

/* ---- setup ---- */

/* Whether apps' /data are file systems of their own here; if not, why not
 * is in c->no_images. Asked once. */
static bool use_images(struct core *c)
{
    if (c->images < 0) {
        c->images = 0;
        if (!c->host.privileged)
            snprintf(c->no_images, sizeof(c->no_images), "Core is unprivileged: it cannot mount");
        else if (!(c->layers & KOS_SB_NS_MNT))
            snprintf(c->no_images, sizeof(c->no_images), "no mount namespace to mount it in");
        else
            c->images = kos__storage_usable(c->no_images, sizeof(c->no_images)) == 0;
    }
    return c->images;
}

/* Gives the tree open at fd (p's data, which an earlier run may have left
 * to other host uids) to p's host uid, unless its top is p's already: the
 * walk gives the top last, so a top of p's means the walk was finished.
 * Returns 0 or an errno. */
static int give_data(struct core *c, struct proc *p, int fd)
{
    uid_t uid = kos__core_host_uid(c, p);
    gid_t gid = kos__core_host_gid(c, p);
    struct stat st;
    int err;

    if (fstat(fd, &st) < 0)
        return errno;
    if (st.st_uid == uid && st.st_gid == gid)
        return 0;
    err = kos__tree_chown(fd, uid, gid);
    if (!err)
        say(c, "storage: /data of '%s' given to host uid %u (it belonged to uid %u)", p->name,
            (unsigned)uid, (unsigned)st.st_uid);
    return err;
}

/* Process p's data as its own file system: STATE/data/NAME.img, made,
 * grown or kept as storage: says, mounted detached into p->store. Returns
 * 0, or -1 with p->data_err saying why. */
static int make_data_image(struct core *c, struct proc *p, const char *img, uint64_t bytes)
{
    char err[256], size[32], was[32];
    enum kos__storage_how how;
    uint64_t was_bytes;
    int root, e;

    e = kos__storage_open(&p->store, c->sd.data_fd, img, bytes, kos__core_host_uid(c, p),
                          kos__core_host_gid(c, p), &how, &was_bytes, err, sizeof(err));
    if (e) {
        snprintf(p->data_err, sizeof(p->data_err),
                 "its data, data/%s in the state directory: %s; the image is left as it is "
                 "(docs/sandbox.md, \"Data directories\", says how to look inside)",
                 img, err);
        return -1;
    }
    kos__storage_size_name(p->store.bytes, size, sizeof(size));
    kos__storage_size_name(was_bytes, was, sizeof(was));
    say(c, "storage: /data of '%s' is its own file system of %s (data/%s%s%s)", p->name, size, img,
        how == KOS__STORAGE_MADE    ? ", made now"
        : how == KOS__STORAGE_GROWN ? ", grown from "
                                    : "",
        how == KOS__STORAGE_GROWN ? was : "");
    if (how == KOS__STORAGE_LARGER || how == KOS__STORAGE_NOT_GROWN) {
        kos__storage_size_name(bytes, size, sizeof(size));
        say(c,
            "WARNING: storage: /data of '%s' stays %s: storage: says %s, and Core %s%s (see "
            "docs/sandbox.md)",
            p->name, was, size,
            how == KOS__STORAGE_LARGER ? "never shrinks a file system holding an app's data"
                                       : "could not grow it: ",
            how == KOS__STORAGE_LARGER ? "" : err);
    }
    root = openat(p->store.mnt, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    e = root < 0 ? errno : give_data(c, p, root);
    if (root >= 0)
        close(root);
    if (e) {
        snprintf(p->data_err, sizeof(p->data_err),
                 "its data, data/%s in the state directory, cannot be given to host uid %u: %s",
                 img, (unsigned)kos__core_host_uid(c, p), strerror(e));
        kos__storage_close(&p->store);
        return -1;
    }
    return 0;
}

/* Process p's data as a plain directory, STATE/data/NAME, given to its host
 * uid when Core is privileged. Returns 0, or -1 with p->data_err saying
 * why. */
static int make_data_plain(struct core *c, struct proc *p)
{
    bool made = mkdirat(c->sd.data_fd, p->name, 0700) == 0;
    bool give = c->mode != KOS_SANDBOX_NONE && c->host.privileged;
    int fd, e = 0;

    if (!made && errno != EEXIST)
        e = errno;
    else if ((fd = openat(c->sd.data_fd, p->name,
                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        e = errno;
    else {
        if (give && made && fchown(fd, kos__core_host_uid(c, p), kos__core_host_gid(c, p)) < 0)
            e = errno;
        else if (give && !made)
            e = give_data(c, p, fd);
        close(fd);
    }
    if (e)
        snprintf(p->data_err, sizeof(p->data_err),
                 "its data directory, data/%s in the state directory: %s", p->name, strerror(e));
    return e ? -1 : 0;
}

/*
 * Gives process p (data_dir: true) its data: its own file system of
 * storage: bytes where Core can mount, else a plain directory (saying that
 * storage: is not enforced then); what an earlier run left is taken over
 * and given to this run's host uid. A directory kept from a run without
 * images stays one (Core never converts or deletes data); an image Core
 * cannot mount here keeps the app from starting. Problems are p's alone:
 * they are said now, and p->data_err keeps it from starting.
 */
static void make_data_dir(struct core *c, struct proc *p)
{
    uint64_t bytes = p->cm->storage ? p->cm->storage : DEFAULT_APP_STORAGE;
    char img[KOS__NAME_MAX + 4], size[32], path[PATH_MAX];
    bool have_img, have_dir;
    struct stat st;
    int rc;

    snprintf(img, sizeof(img), "%s.img", p->name);
    have_img = fstatat(c->sd.data_fd, img, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
    have_dir =
        fstatat(c->sd.data_fd, p->name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    /* An empty directory of an earlier run without images is no data. */
    if (have_dir && !have_img && c->mode != KOS_SANDBOX_NONE && use_images(c) &&
        unlinkat(c->sd.data_fd, p->name, AT_REMOVEDIR) == 0)
        have_dir = false;
    kos__storage_size_name(bytes, size, sizeof(size));
    if (have_img && (c->mode == KOS_SANDBOX_NONE || !use_images(c))) {
        snprintf(p->data_err, sizeof(p->data_err),
                 "its data is in the image data/%s in the state directory, which Core cannot "
                 "mount here (%s)",
                 img, c->mode == KOS_SANDBOX_NONE ? "--isolation none" : c->no_images);
        rc = -1;
    } else if (c->mode != KOS_SANDBOX_NONE && use_images(c) && !have_dir) {
        rc = make_data_image(c, p, img, bytes);
        snprintf(path, sizeof(path), "%s/data/%s", c->sd.path, img);
    } else {
        rc = make_data_plain(c, p);
        snprintf(path, sizeof(path), "%s/data/%s", c->sd.path, p->name);
        if (rc == 0 && c->mode != KOS_SANDBOX_NONE)
            say(c,
                "WARNING: storage: /data of '%s' is a plain directory: storage: (%s) is not "
                "enforced (%s)",
                p->name, size,
                use_images(c) ? "it holds data from a run without images; docs/sandbox.md says "
                                "how to move it into one"
                              : c->no_images);
    }
    if (rc == 0 && !(p->data_dir = strdup(path)))
        snprintf(p->data_err, sizeof(p->data_err), "out of memory");
    if (p->data_err[0])
        say(c, "storage: /data of '%s': %s; Core will not start it", p->name, p->data_err);
}

/* Takes a range of host uids no other Core holds, the one the state
 * directory recorded if it is free, and records it. Returns 0, or -1 after
 * saying why. */
static int take_uids(struct core *c)
{
    char err[256];
    int e;

    if (kos__uids_claim(&c->uids, kos__uids_recorded(c->sd.fd), err, sizeof(err))) {
        say(c, "cannot take a range of host uids: %s", err);
        return -1;
    }
    c->uid_base = c->uids.first;
    if ((e = kos__uids_record(c->sd.fd, &c->uids)) != 0)
        say(c, "WARNING: cannot record the uid range in %s/%s: %s", c->sd.path, KOS__UID_RECORD,
            strerror(e));
    return 0;
}

/* Creates every system memory region once: a sealed memfd of its size that
 * can never be executed, grown, shrunk or sealed further (so no holder can
 * take write access away from the others). */
int kos__core_make_regions(struct core *c)
{
    c->n_regions = kos_cm_nregions(c->cm);
    if (!c->n_regions)
        return 0;
    c->region_fds = calloc(c->n_regions, sizeof(int));
    if (!c->region_fds)
        return -1;
    for (uint32_t i = 0; i < c->n_regions; i++)
        c->region_fds[i] = -1;
    for (uint32_t i = 0; i < c->n_regions; i++) {
        const struct kos_cm_region *r = kos_cm_region(c->cm, i);
        const char *name = kos_cm_str(c->cm, r->name);
        int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
        if (fd < 0 && errno == EINVAL) /* kernels before 6.3 */
            fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0 || ftruncate(fd, (off_t)r->size) < 0 ||
            fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
            say(c, "cannot create memory region '%s' (%" PRIu64 " bytes): %s", name, r->size,
                strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        c->region_fds[i] = fd;
    }
    return 0;
}

/* Compiles each distinct app seccomp filter once, and the init's, so that
 * no process compiles one between its clone and its exec. Returns 0, or -1
 * after saying why. */
static int compile_filters(struct core *c)
{
    c->filters = calloc(c->n ? c->n : 1, sizeof(*c->filters));
    if (!c->filters) {
        say(c, "out of memory");
        return -1;
    }
    for (uint32_t i = 0; i < c->n; i++) {
        struct proc *p = &c->procs[i];
        struct kos_sandbox sb;
        uint32_t f;

        kos__core_fill_sandbox(c, p, &sb, 0);
        for (f = 0; f < c->n_filters; f++)
            if (kos_sandbox_same_prog(&c->filters[f].sb, &sb))
                break;
        if (f == c->n_filters) {
            int err = kos_sandbox_app_prog(&sb, &c->filters[f].prog);
            if (err) {
                say(c, "cannot compile the seccomp filter of %s '%s': %s", kind(p), p->name,
                    strerror(err));
                return -1;
            }
            c->filters[f].sb = sb;
            c->n_filters++;
        }
        p->prog = &c->filters[f].prog;
    }
    /* The init's own filter is best-effort hardening of trusted code. */
    c->have_init_prog = kos_sandbox_init_prog(&c->init_prog) == 0;
    /* The exec gate is not: the probe found the host has it. */
    if (c->layers & KOS_SB_EXEC_GATE) {
        int err = kos_sandbox_gate_prog(&c->gate_prog);
        if (err) {
            say(c, "cannot compile the exec gate's seccomp filter: %s", strerror(err));
            return -1;
        }
        c->have_gate_prog = true;
    }
    return 0;
}

/*
 * Decides the isolation, probes the host, says what is in force and prepares
 * what sandboxes need (state directory, each binary's root, data
 * directories). Returns 0, or an exit status after saying why.
 */
int kos__core_setup_sandbox(struct core *c)
{
    const uint32_t required = KOS_SB_ALL & ~KOS_SB_LANDLOCK; /* Landlock: where the kernel has it */
    char desc[256], err[PATH_MAX + 256], range[96];
    uint32_t n_san = 0;

    if (c->opts->isolation >= 0)
        c->mode = (enum kos_sandbox_mode)c->opts->isolation;
    else
        c->mode = c->cm->hdr->flags & KOS_CM_ISOLATION_BEST_EFFORT ? KOS_SANDBOX_BEST_EFFORT
                                                                   : KOS_SANDBOX_STRICT;
    if (kos__core_make_regions(c) < 0)
        return KOS_CORE_EXIT_HOST;
    if (kos__statedir_open(&c->sd, c->opts->state_dir, err, sizeof(err))) {
        say(c, "%s", err);
        return KOS_CORE_EXIT_HOST;
    }
    if (c->mode == KOS_SANDBOX_NONE) {
        say(c, "WARNING: sandbox: NONE (--isolation none): apps run unconfined, with every "
               "file, socket and process of this user within reach; development only");
    } else {
        if (!c->probing)
            kos_sandbox_probe_start(&c->probe);
        c->probing = false;
        kos_sandbox_probe_finish(&c->probe, &c->host);
        uint32_t missing = required & ~c->host.layers;
        c->layers = c->host.layers;
        if (missing && c->mode == KOS_SANDBOX_STRICT) {
            say(c, "sandbox: the host forbids: %s", c->host.why);
            say(c, "refusing to boot: strict isolation needs every layer (accept weaker "
                   "isolation with 'isolation: best_effort' in the manifest or kos-tool run "
                   "--isolation best-effort)");
            return KOS_CORE_EXIT_HOST;
        }
        kos_sandbox_describe(c->layers, c->host.landlock_abi, desc, sizeof(desc));
        char cgwhy[PATH_MAX + 128] = "";
        if (c->opts->cgroup_dir &&
            kos__core_cgroup_init(c, c->opts->cgroup_dir, cgwhy, sizeof(cgwhy)) == 0) {
            c->host.limits = KOS_SANDBOX_LIMITS_CGROUP2;
            say(c,
                "sandbox: %s; limits: a cgroup per app in %s (memory.max, pids.max) and "
                "rlimits",
                desc, c->opts->cgroup_dir);
        } else if (c->opts->cgroup_dir) {
            say(c, "sandbox: %s; limits: rlimits only: cgroup v2: %s", desc, cgwhy);
        } else {
            say(c, "sandbox: %s; limits: rlimits (no delegated cgroup)", desc);
        }
        if (missing || !(c->layers & KOS_SB_LANDLOCK))
            say(c, "WARNING: sandbox: %s isolation: missing: %s",
                missing ? "best-effort" : "strict", c->host.why);
        if ((c->layers & KOS_SB_SECCOMP) && !(c->layers & KOS_SB_EXEC_GATE))
            say(c, "WARNING: sandbox: no exec gate: an app can execute again after it started, "
                   "any program its root holds (its loader, its libraries)");
        if (c->host.privileged && take_uids(c) < 0)
            return KOS_CORE_EXIT_HOST;
        snprintf(range, sizeof(range), "range %u, held in %s/%u.lock", (unsigned)c->uids.range,
                 KOS__UID_LOCK_DIR, (unsigned)c->uids.range);
        if (!(c->layers & KOS_SB_NS_USER) && c->host.privileged)
            say(c,
                "WARNING: sandbox: no user namespace: each process runs as host uid %u + its "
                "index (%s), with no capabilities",
                (unsigned)c->uid_base, range);
        else if (!(c->layers & KOS_SB_NS_USER))
            say(c, "WARNING: sandbox: no user namespace: apps keep Core's uid %u",
                (unsigned)c->host.uid);
        else if (c->host.privileged)
            say(c,
                "sandbox: each process runs as uid %u in its own user namespace, mapped to "
                "host uid %u + its index (%s)",
                KOS_SANDBOX_APP_UID, (unsigned)c->uid_base, range);
        else
            say(c,
                "sandbox: Core is unprivileged: every process's uid %u maps to Core's uid "
                "%u, so process limits count all of this user's processes",
                KOS_SANDBOX_APP_UID, (unsigned)c->host.uid);
    }
    for (uint32_t i = 0; i < c->n; i++) {
        struct proc *p = &c->procs[i];
        if (c->mode != KOS_SANDBOX_NONE &&
            kos_sandbox_root_files(kos_image_binary_fd(c->img, p->idx), &p->ro_files,
                                   &p->n_ro_files, &p->sanitizer, p->root_err,
                                   sizeof(p->root_err)) != KOS_STATUS_OK &&
            !p->root_err[0])
            snprintf(p->root_err, sizeof(p->root_err), "cannot read its binary");
        if (p->sanitizer && !CORE_SANITIZER && !p->root_err[0])
            snprintf(p->root_err, sizeof(p->root_err),
                     "its binary carries a sanitizer runtime, which only a sanitizer build "
                     "of Core sandboxes");
        n_san += p->sanitizer;
        if (c->mode != KOS_SANDBOX_NONE && !is_server(p) && (p->cm->flags & KOS_CM_PROC_NET_HOST))
            say(c,
                "sandbox: app '%s' shares the host's network (network: host): it may open "
                "Internet sockets",
                p->name);
        if (p->cm->flags & KOS_CM_PROC_DATA_DIR)
            make_data_dir(c, p);
    }
    if (c->mode != KOS_SANDBOX_NONE && (c->layers & KOS_SB_SECCOMP) && compile_filters(c) < 0)
        return KOS_CORE_EXIT_HOST;
    if (n_san)
        say(c,
            "sandbox: %u binaries carry a sanitizer runtime (sanitizer build): they get a "
            "private /proc, may ptrace their own threads, and have no memory limits",
            n_san);
    say(c, "state directory: %s", c->sd.path);
    return 0;
}

/* Opens the device key bundle (--keys) for the app with device_keys: true,
 * and says which keys go to which app. Returns 0, or -1 after saying why. */
int kos__core_open_device_keys(struct core *c, const char *dir)
{
    const struct kos_cm *cm = c->cm;
    const char *to = NULL;
    char err[1024], list[512];
    size_t o = 0;

    if (kos__devkeys_open(dir, &c->keys, err, sizeof(err))) {
        say(c, "refusing the device key bundle %s: %s", dir, err);
        return -1;
    }
    for (uint32_t i = 0; i < kos_cm_nprocs(cm); i++)
        if (kos_cm_proc(cm, i)->flags & KOS_CM_PROC_DEVICE_KEYS)
            to = kos_cm_str(cm, kos_cm_proc(cm, i)->name);
    list[0] = '\0';
    for (size_t i = 0; i < c->keys.n && o < sizeof(list); i++)
        o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s (%s %s %s)", i ? ", " : "",
                              c->keys.e[i].name, c->keys.e[i].type,
                              c->keys.e[i].private_key ? "private" : "public", c->keys.e[i].id);
    if (!to) {
        say(c,
            "WARNING: --keys %s given, but no app of this system takes the device keys "
            "(device_keys: true); nobody gets them",
            dir);
        kos__devkeys_close(&c->keys);
        return 0;
    }
    say(c, "device keys from %s for app '%s', read-only: %s", dir, to, c->keys.n ? list : "none");
    /* The bundle's trusted release keys are what the device will accept
     * releases from; an image signed by another key boots (it is trusted
     * through --trust) but says so. */
    const char *signer = kos_image_signer(c->img);
    bool trusts_any = false, trusts_signer = false;
    for (size_t i = 0; i < c->keys.n; i++) {
        if (strncmp(c->keys.e[i].name, "trusted_", 8) != 0)
            continue;
        trusts_any = true;
        trusts_signer |= signer && !strcmp(c->keys.e[i].id, signer);
    }
    if (signer && trusts_any && !trusts_signer)
        say(c,
            "WARNING: the device key bundle %s does not trust release key %s, which signed this "
            "image (it is trusted here through --trust); the device would refuse releases "
            "signed by it: make the bundle with keys.generate --device --trust naming that key",
            dir, signer);
    else if (signer && !trusts_any)
        say(c,
            "WARNING: the device key bundle %s trusts no release key; the device would refuse "
            "every release",
            dir);
    return 0;
}

int kos__core_setup_signals(struct core *c, sigset_t *old)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGPIPE);
    if (sigprocmask(SIG_BLOCK, &set, old) < 0)
        return -1;
    sigdelset(&set, SIGPIPE);
    c->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    c->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    return c->sigfd < 0 || c->timerfd < 0 ? -1 : 0;
}
