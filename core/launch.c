/*
 * launch.c - starting a process: its argv and environment, its console, control
 * channel and message-server sockets, its sandbox, and its grants.
 */
#include "core_int.h"

/* ---- building each process's argv and environment ---- */

kos_status_t kos__core_build_vectors(struct core *c, struct proc *p)
{
    const struct kos_cm_proc *cm = p->cm;

    p->argv = calloc((size_t)cm->n_args + 2, sizeof(char *));
    p->envp = calloc((size_t)cm->n_env + 1, sizeof(char *));
    if (!p->argv || !p->envp)
        return KOS_STATUS_NO_MEMORY;
    p->argv[0] = p->name;
    for (uint32_t i = 0; i < cm->n_args; i++)
        p->argv[i + 1] = kos_cm_strref(c->cm, cm->args_first + i);
    for (uint32_t i = 0; i < cm->n_env; i++)
        p->envp[i] = kos_cm_strref(c->cm, cm->env_first + i);
    return KOS_STATUS_OK;
}

/* ---- starting ---- */

/* Collects the distinct message servers process p has grants on, in the order
 * they first appear. Returns their count. */
uint32_t kos__core_servers_of(const struct core *c, const struct proc *p, uint32_t *out)
{
    uint32_t n = 0;
    for (uint32_t g = 0; g < p->cm->n_grants; g++) {
        uint32_t s = kos_cm_grant(c->cm, p->cm->grants_first + g)->server;
        bool seen = false;
        for (uint32_t i = 0; i < n; i++)
            seen |= out[i] == s;
        if (!seen && n < KOS__BOOT_MAX_DIRS)
            out[n++] = s;
    }
    return n;
}

/* Sends message server `s` the server end of app p's socket and p's grants
 * and, when p is traced, tells it so (after the grants: they make the
 * server know p). */
kos_status_t kos__core_send_grants(struct core *c, struct proc *p, uint32_t s, int fd)
{
    struct kos__client_grants *g;
    struct proc *srv = &c->procs[s];
    size_t len;
    kos_status_t st;

    if (srv->state != P_RUNNING || srv->ctl < 0)
        return KOS_STATUS_UNAVAILABLE;
    g = calloc(1, sizeof(*g));
    if (!g)
        return KOS_STATUS_NO_MEMORY;
    g->app_id = p->idx;
    snprintf(g->app, sizeof(g->app), "%s", p->name);
    for (uint32_t i = 0; i < p->cm->n_grants; i++) {
        const struct kos_cm_grant *gr = kos_cm_grant(c->cm, p->cm->grants_first + i);
        const char *proto = kos_cm_str(c->cm, gr->protocol);
        if (gr->server != s)
            continue;
        if (gr->kind == KOS_CM_GRANT_PUBLISH && g->n_publish < KOS__GRANTS_MAX)
            g->publish[g->n_publish++] = proto;
        else if (gr->kind == KOS_CM_GRANT_REQUEST && g->n_request < KOS__GRANTS_MAX)
            g->request[g->n_request++] = proto;
    }
    st = kos__grants_encode(g, c->ctlbuf, KOS__CTL_MAX - sizeof(struct kos__ctl_hdr), &len);
    if (st == KOS_STATUS_OK)
        st = kos__ctl_send(srv->ctl, KOS__CTL_ADD_CLIENT, c->ctlbuf, len, fd);
    free(g);
    if (st == KOS_STATUS_OK && p->traced)
        kos__core_trace_tell(c, p, s, true);
    return st;
}

static void close_fds(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/*
 * Appends the device key bundle to the boot record of p, the app with
 * device_keys: true, after its n manifest resources: each key is a read-only
 * device-kind resource named as in the bundle's index. Core keeps the
 * descriptors (owned[] false), so a restarted key_store gets them again.
 * Returns 0, or -1 after saying why.
 */
static int add_device_keys(struct core *c, struct proc *p, struct kos__boot *boot, int first,
                           int *fds, bool *owned, uint32_t n)
{
    if (n + c->keys.n > KOS__BOOT_MAX_RES) {
        say(c, "cannot start %s '%s': %u devices and regions and %zu device keys, at most %u",
            kind(p), p->name, n, c->keys.n, KOS__BOOT_MAX_RES);
        return -1;
    }
    for (size_t k = 0; k < c->keys.n; k++) {
        const struct kos__devkey *key = &c->keys.e[k];
        uint32_t i = n + (uint32_t)k;

        for (uint32_t j = 0; j < n; j++) {
            if (!strcmp(boot->res[j].name, key->name)) {
                say(c,
                    "cannot start %s '%s': device key '%s' has the name of a device or region "
                    "its manifest entry grants",
                    kind(p), p->name, key->name);
                return -1;
            }
        }
        fds[i] = key->fd;
        owned[i] = false;
        snprintf(boot->res[i].name, sizeof(boot->res[i].name), "%s", key->name);
        boot->res[i].kind = KOS_CM_RES_DEVICE;
        boot->res[i].access = KOS_CM_ACCESS_READ;
        boot->res[i].fd = first + (int32_t)i;
        boot->res[i].size = 0;
    }
    boot->n_res = n + (uint32_t)c->keys.n;
    return 0;
}

/*
 * Starts process p: console pipe, control socket with its boot record, and
 * one socketpair per message server it kos__core_uses. On failure logs why, leaves no
 * descriptor behind and returns the status.
 */
/*
 * Opens process p's devices and memory regions, in manifest order, for its
 * boot record (fds numbered from `first`). fds[i] is what the process gets;
 * owned[i] says whether Core must close it after the start. Returns the
 * count, or -1 after saying why.
 */
static int open_resources(struct core *c, struct proc *p, struct kos__boot *boot, int first,
                          int *fds, bool *owned, uint64_t *shared)
{
    uint32_t n = p->cm->n_res;

    *shared = 0;
    if (n > KOS__BOOT_MAX_RES) {
        say(c, "cannot start %s '%s': %u devices and regions, at most %u", kind(p), p->name, n,
            KOS__BOOT_MAX_RES);
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        const struct kos_cm_res *r = kos_cm_res(c->cm, p->cm->res_first + i);
        const char *name = kos_cm_str(c->cm, r->name);
        bool w = r->access & KOS_CM_ACCESS_WRITE, rd = r->access & KOS_CM_ACCESS_READ;
        int fd = -1;

        owned[i] = true;
        if (r->kind == KOS_CM_RES_DEVICE) {
            const char *path = kos_cm_str(c->cm, r->target);
            int mode = w && rd ? O_RDWR : w ? O_WRONLY : O_RDONLY;
            fd = open(path, mode | O_CLOEXEC | O_NOCTTY);
            if (fd < 0) {
                say(c, "cannot start %s '%s': device '%s' (%s): %s", kind(p), p->name, name, path,
                    strerror(errno));
                goto out_close;
            }
            boot->res[i].size = 0;
        } else {
            const struct kos_cm_region *reg = kos_cm_region(c->cm, r->target);
            int rfd = c->region_fds[r->target];
            if (w) {
                fd = rfd;
                owned[i] = false;
            } else {
                /* A new open file description that is read-only: mmap
                 * PROT_WRITE and write() are refused on it, while the
                 * writers keep theirs. */
                char path[64];
                snprintf(path, sizeof(path), "/proc/self/fd/%d", rfd);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                    say(c, "cannot start %s '%s': read-only view of region '%s': %s", kind(p),
                        p->name, kos_cm_str(c->cm, reg->name), strerror(errno));
                    goto out_close;
                }
            }
            boot->res[i].size = reg->size;
            *shared += reg->size;
        }
        fds[i] = fd;
        snprintf(boot->res[i].name, sizeof(boot->res[i].name), "%s", name);
        boot->res[i].kind = r->kind;
        boot->res[i].access = r->access & 3u;
        boot->res[i].fd = first + (int32_t)i;
        continue;
    out_close:
        for (uint32_t j = 0; j < i; j++)
            if (owned[j])
                close(fds[j]);
        return -1;
    }
    boot->n_res = n;
    if ((p->cm->flags & KOS_CM_PROC_DEVICE_KEYS) &&
        add_device_keys(c, p, boot, first, fds, owned, n) < 0) {
        for (uint32_t j = 0; j < n; j++)
            if (owned[j])
                close(fds[j]);
        return -1;
    }
    return (int)boot->n_res;
}

/* The largest file process p may write (RLIMIT_FSIZE): its storage when it
 * has a data directory, and at least its call channels (memfds it makes)
 * and its regions (`shared` bytes, which it may write with write()). */
static uint64_t max_file_bytes(const struct proc *p, uint64_t shared)
{
    uint64_t n = KOS__CHAN_SIZE > shared ? KOS__CHAN_SIZE : shared;

    if (p->cm->flags & KOS_CM_PROC_DATA_DIR) {
        uint64_t storage = p->cm->storage ? p->cm->storage : DEFAULT_APP_STORAGE;
        if (storage > n)
            n = storage;
    }
    return n;
}

/* The host uid and gid of process p (Core's own when it is unprivileged). */
uid_t kos__core_host_uid(const struct core *c, const struct proc *p)
{
    return c->host.privileged ? c->uid_base + p->idx : c->host.uid;
}

gid_t kos__core_host_gid(const struct core *c, const struct proc *p)
{
    return c->host.privileged ? (gid_t)(c->uid_base + p->idx) : c->host.gid;
}

/* Fills the sandbox of process p. */
void kos__core_fill_sandbox(struct core *c, struct proc *p, struct kos_sandbox *sb, uint64_t shared)
{
    bool srv = is_server(p);

    *sb = (struct kos_sandbox){
        .name = p->name,
        .layers = c->layers,
        .landlock_abi = c->host.landlock_abi,
        .host_uid = kos__core_host_uid(c, p),
        .host_gid = kos__core_host_gid(c, p),
        .privileged = c->host.privileged,
        .mnt_dir = c->sd.root,
        .ro_files = (const char *const *)p->ro_files,
        .n_ro_files = p->n_ro_files,
        .data_dir = p->data_dir,
        .data_mnt = -1,
        .net_host = !srv && (p->cm->flags & KOS_CM_PROC_NET_HOST),
        .proc = p->sanitizer,
        .sanitizer = p->sanitizer,
        .memory = p->cm->memory,
        .shared_bytes = shared,
        .max_procs = p->cm->max_procs ? p->cm->max_procs : DEFAULT_PROCS,
        .max_file_bytes = max_file_bytes(p, shared),
        .max_files = p->cm->max_files ? p->cm->max_files
                     : srv            ? DEFAULT_SERVER_FILES
                                      : DEFAULT_APP_FILES,
        .lock_bytes =
            !srv && (p->cm->flags & KOS_CM_PROC_DEVICE_KEYS) ? KOS_SANDBOX_KEYS_LOCK_BYTES : 0,
        .app_prog = p->prog,
        .init_prog = c->have_init_prog ? &c->init_prog : NULL,
        .gate_prog = c->have_gate_prog ? &c->gate_prog : NULL,
        .cgroup_fd = -1,
    };
}

/* Hands each message server of process p, once both run, the server end of
 * p's socket to it with p's grants; an end whose server will not run is
 * closed. Nothing happens for an end whose server is still starting. */
void kos__core_connect_proc(struct core *c, struct proc *p)
{
    if (p->state != P_RUNNING)
        return;
    for (uint32_t i = 0; i < p->n_srv; i++) {
        struct proc *srv = &c->procs[p->srv[i]];
        if (p->srv_end[i] < 0 || srv->launching)
            continue;
        kos_status_t gst = kos__core_send_grants(c, p, p->srv[i], p->srv_end[i]);
        if (gst)
            say(c, "cannot connect app '%s' to message server '%s': %s", p->name, srv->name,
                kos_status_str(gst));
        close(p->srv_end[i]);
        p->srv_end[i] = -1;
    }
}

/* Closes the server ends of process p's sockets not handed over yet. */
void kos__core_drop_ends(struct proc *p)
{
    close_fds(p->srv_end, p->n_srv);
    for (uint32_t i = 0; i < p->n_srv; i++)
        p->srv_end[i] = -1;
    p->n_srv = 0;
}

/* Closes what a start that did not happen left of process p. */
static void drop_start(struct proc *p)
{
    kos__core_drop_ends(p);
    if (p->con >= 0)
        close(p->con);
    if (p->ctl >= 0)
        close(p->ctl);
    p->con = p->ctl = -1;
}

/* Forgets a start Core killed before its app ran (reaped already or not):
 * the process stays "not started". */
void kos__core_abandon_start(struct proc *p, bool reaped)
{
    kos__proc_abandon(&p->launch, reaped);
    drop_start(p);
    p->launching = p->held = p->cancelled = false;
}

/*
 * Launches process p: console pipe, control socket with its boot record, and
 * one socketpair per message server it kos__core_uses; then the child is created and
 * let go, and Core keeps only its own ends (p->con, p->ctl, p->srv_end). The
 * child's first instruction may not have run yet: kos__core_finish_proc() learns
 * whether it did. On failure logs why, leaves no descriptor behind and
 * returns the status.
 */
kos_status_t kos__core_launch_proc(struct core *c, struct proc *p, bool hold)
{
    uint32_t n_srv = is_server(p) ? 0 : kos__core_servers_of(c, p, p->srv);
    int app_ends[KOS__BOOT_MAX_DIRS];
    int res_fds[KOS__BOOT_MAX_RES + 1]; /* and the tracing ring */
    bool res_owned[KOS__BOOT_MAX_RES + 1];
    int n_res = 0;
    uint64_t shared = 0;
    int con[2] = {-1, -1}, ctl[2] = {-1, -1};
    struct kos__boot boot;
    struct kos__spawn sp;
    struct kos__spawn_err why = {0, 0};
    struct kos_sandbox sb;
    size_t len;
    int err = 0;
    kos_status_t st;

    for (uint32_t i = 0; i < KOS__BOOT_MAX_DIRS; i++)
        app_ends[i] = p->srv_end[i] = -1;
    p->n_srv = n_srv;
    if (c->mode != KOS_SANDBOX_NONE && p->root_err[0]) {
        say(c, "cannot start %s '%s': its root cannot be built: %s", kind(p), p->name, p->root_err);
        return KOS_STATUS_NOT_FOUND;
    }
    if (p->data_err[0]) {
        say(c, "cannot start %s '%s': %s", kind(p), p->name, p->data_err);
        return KOS_STATUS_NOT_FOUND;
    }
    memset(&boot, 0, sizeof(boot));
    boot.app_id = p->idx;
    boot.role = is_server(p) ? KOS__ROLE_MSG_SERVER : KOS__ROLE_APP;
    snprintf(boot.name, sizeof(boot.name), "%s", p->name);
    boot.n_dirs = n_srv;

    st = KOS_STATUS_IO;
    if (pipe2(con, O_CLOEXEC) < 0 ||
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0) {
        err = errno;
        goto out_close;
    }
    for (uint32_t i = 0; i < n_srv; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
            err = errno;
            goto out_close;
        }
        app_ends[i] = sv[0];
        p->srv_end[i] = sv[1];
        snprintf(boot.dirs[i].name, sizeof(boot.dirs[i].name), "%s", c->procs[p->srv[i]].name);
        boot.dirs[i].fd = (int32_t)(KOS__CTL_FD + 1 + i);
    }
    n_res =
        open_resources(c, p, &boot, (int)(KOS__CTL_FD + 1 + n_srv), res_fds, res_owned, &shared);
    if (n_res < 0) {
        n_res = 0;
        st = KOS_STATUS_NOT_FOUND;
        goto out_quiet;
    }
    /* Its tracing ring, after its resources (Core keeps the descriptor). */
    int tfd = kos__core_trace_prepare(c, p);
    if (tfd >= 0) {
        res_fds[n_res] = tfd;
        res_owned[n_res] = false;
        boot.trace_fd = (int32_t)(KOS__CTL_FD + 1 + n_srv + (uint32_t)n_res);
        n_res++;
    }
    /* The app's settings (config:), as the manifest gives them. */
    boot.n_config = p->cm->n_config < KOS__BOOT_MAX_CONFIG ? p->cm->n_config : KOS__BOOT_MAX_CONFIG;
    for (uint32_t i = 0; i < boot.n_config; i++)
        boot.config[i] = kos_cm_strref(c->cm, p->cm->config_first + i);
    st = kos__boot_encode(&boot, c->ctlbuf, KOS__CTL_MAX, &len);
    if (st == KOS_STATUS_OK)
        st = kos__ctl_send(ctl[0], KOS__CTL_BOOT, c->ctlbuf, len, -1);
    if (st)
        goto out_close;

    if (c->mode != KOS_SANDBOX_NONE) {
        kos__core_fill_sandbox(c, p, &sb, shared);
        if (c->cgroup_fd >= 0) {
            char cgwhy[256];
            if (kos__core_cgroup_prepare(c, p, &sb, cgwhy, sizeof(cgwhy)) < 0) {
                say(c, "cannot start %s '%s': %s", kind(p), p->name, cgwhy);
                st = KOS_STATUS_IO;
                goto out_quiet;
            }
            sb.cgroup_fd = p->cg_fd;
        }
        /* Its file system, cloned for this start: the sandbox moves the
         * clone to /data, and Core keeps the original. */
        if (p->store.mnt >= 0 && (sb.data_mnt = kos__storage_clone(&p->store)) < 0) {
            say(c, "cannot start %s '%s': its /data (%s): %s", kind(p), p->name, p->data_dir,
                strerror(errno));
            st = KOS_STATUS_IO;
            goto out_quiet;
        }
    }
    sp = (struct kos__spawn){
        .exe_fd = kos_image_binary_fd(c->img, p->idx),
        .argv = p->argv,
        .envp = p->envp,
        .console_fd = con[1],
        .ctl_fd = ctl[1],
        .dir_fds = app_ends,
        .n_dir_fds = n_srv,
        .res_fds = res_fds,
        .n_res_fds = (size_t)n_res,
        .sb = c->mode != KOS_SANDBOX_NONE ? &sb : NULL,
        .hold = hold,
    };
    st = kos__proc_launch(&sp, &p->launch, &why);
    if (c->mode != KOS_SANDBOX_NONE && sb.data_mnt >= 0)
        close(sb.data_mnt); /* the child has its own */
    if (st) {
        if (why.step && why.step != KOS_SB_STEP_EXEC) {
            say(c, "cannot start %s '%s': sandbox: %s: %s", kind(p), p->name,
                kos_sandbox_step_name(why.step), strerror(why.err));
            goto out_quiet;
        }
        err = why.err;
        goto out_close;
    }
    /* The child holds its own copies of everything it was given. */
    for (int i = 0; i < n_res; i++)
        if (res_owned[i])
            close(res_fds[i]);
    close_fds(app_ends, n_srv);
    close(con[1]);
    close(ctl[1]);
    /* Core reads both while the process starts, and never blocks on them. */
    fcntl(con[0], F_SETFL, O_NONBLOCK);
    p->con = con[0];
    p->ctl = ctl[0];
    p->ready = false;
    p->launching = true;
    p->held = sp.hold;
    p->cancelled = false;
    return KOS_STATUS_OK;

out_close:
    say(c, "cannot start %s '%s': %s%s%s", kind(p), p->name, kos_status_str(st), err ? ": " : "",
        err ? strerror(err) : "");
out_quiet:
    for (int i = 0; i < n_res; i++)
        if (res_owned[i])
            close(res_fds[i]);
    close_fds(app_ends, n_srv);
    close_fds(con, 2);
    close_fds(ctl, 2);
    p->con = p->ctl = -1;
    drop_start(p);
    return st;
}

/* Learns whether launched process p runs its binary (blocking until it
 * does or fails, unless its errpipe is known to be ready). On success p is
 * RUNNING; otherwise its start is undone, why is logged and the status
 * returned. Connecting it to its message servers is kos__core_connect_proc()'s. */
kos_status_t kos__core_finish_proc(struct core *c, struct proc *p)
{
    struct kos__spawn_err why;
    int status_fd = -1;
    kos_status_t st;

    p->launching = false;
    p->held = false;
    st = kos__proc_finish(&p->launch, &p->pid, &status_fd, &why);
    if (st) {
        if (why.step && why.step != KOS_SB_STEP_EXEC)
            say(c, "cannot start %s '%s': sandbox: %s: %s", kind(p), p->name,
                kos_sandbox_step_name(why.step), strerror(why.err));
        else
            say(c, "cannot start %s '%s': %s%s%s", kind(p), p->name, kos_status_str(st),
                why.err ? ": " : "", why.err ? strerror(why.err) : "");
        drop_start(p);
        return st;
    }
    p->status_fd = status_fd;
    p->state = P_RUNNING; /* it may have reported ready already */
    p->starts++;
    p->started_us = now_us();
    p->stop = S_NONE;
    return KOS_STATUS_OK;
}

/* Starts process p and waits until it runs (restarts). */
kos_status_t kos__core_start_proc(struct core *c, struct proc *p)
{
    kos_status_t st = kos__core_launch_proc(c, p, false);

    if (st == KOS_STATUS_OK)
        st = kos__core_finish_proc(c, p);
    if (st == KOS_STATUS_OK)
        kos__core_connect_proc(c, p);
    return st;
}
