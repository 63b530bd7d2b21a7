/*
 * main.c - the message server process: reads its boot record from KOS Core,
 * then runs one single-threaded poll loop over the control channel and every
 * app's connection until Core asks it to stop.
 *
 * Core starts it with fd 0 on /dev/null, fds 1 and 2 on its console and fd 3
 * (KOS__CTL_FD) on the control channel, where the boot record is already
 * waiting. Later control messages add an app's connection (ADD_CLIENT, with
 * the socket and the app's grants), report an app's exit (APP_DOWN) or ask
 * the server to stop (STOP). Each event worth reporting is one line on
 * stdout, which Core stamps with the time and the server's name.
 *
 * Exit status: 0 after STOP or when Core closes the control channel, 1 when
 * Core sent something malformed, 2 when the boot record is unusable.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "boot_int.h"
#include "le_int.h"
#include "msgsrv.h"
#include "trace_int.h"

#define MAX_POLL 1025u /* the control channel and up to 1024 apps */

struct ctl {
    int fd;
    uint8_t *buf; /* KOS__CTL_MAX bytes */
    struct kos__client_grants *grants;
};

/* Reads the boot record and tells Core the server has started. */
static int boot(struct ctl *ctl, struct kos__boot *b)
{
    uint32_t type;
    size_t len;
    int fd;
    kos_status_t st;

    st = kos__ctl_recv(ctl->fd, ctl->buf, KOS__CTL_MAX, &type, &len, &fd, 0);
    if (st) {
        fprintf(stderr, "cannot read the boot record: %s\n", kos_status_str(st));
        return -1;
    }
    if (fd >= 0)
        close(fd);
    if (type != KOS__CTL_BOOT) {
        fprintf(stderr, "expected a boot record, got control message type %u\n", type);
        return -1;
    }
    st = kos__boot_decode(ctl->buf, len, b);
    if (st || b->role != KOS__ROLE_MSG_SERVER) {
        fprintf(stderr, "the boot record is not a message server's\n");
        return -1;
    }
    st = kos__ctl_send(ctl->fd, KOS__CTL_READY, NULL, 0, -1);
    if (st) {
        fprintf(stderr, "cannot report ready: %s\n", kos_status_str(st));
        return -1;
    }
    return 0;
}

/* Handles every control message waiting. Returns 1 to go on, 0 to stop
 * cleanly, -1 on a malformed message. */
static int on_control(struct ctl *ctl, struct msgsrv *srv)
{
    for (;;) {
        uint32_t type;
        size_t len;
        int fd;
        kos_status_t st =
            kos__ctl_recv(ctl->fd, ctl->buf, KOS__CTL_MAX, &type, &len, &fd, MSG_DONTWAIT);

        if (st == KOS_STATUS_WOULD_BLOCK)
            return 1;
        if (st == KOS_STATUS_CLOSED)
            return 0; /* Core is gone: so is the system */
        if (st) {
            fprintf(stderr, "control channel: %s\n", kos_status_str(st));
            return -1;
        }
        switch (type) {
        case KOS__CTL_ADD_CLIENT:
            if (fd < 0 || kos__grants_decode(ctl->buf, len, ctl->grants)) {
                fprintf(stderr, "control channel: malformed ADD_CLIENT\n");
                if (fd >= 0)
                    close(fd);
                return -1;
            }
            st = msgsrv_add_client(srv, fd, ctl->grants);
            if (st)
                printf("cannot add app '%s': %s\n", ctl->grants->app, kos_status_str(st));
            break;
        case KOS__CTL_TRACE: {
            if (fd >= 0 || len != 12 || kos__get_le32(ctl->buf + 4) > 1) {
                fprintf(stderr, "control channel: malformed TRACE\n");
                if (fd >= 0)
                    close(fd);
                return -1;
            }
            bool on = kos__get_le32(ctl->buf + 4) == 1;
            msgsrv_trace_app(srv, kos__get_le32(ctl->buf), on);
            /* What the app holds is in the ring now: Core may pass on its
             * calls. The same app id and telling, back. */
            if (on) {
                uint8_t done[8];
                memcpy(done, ctl->buf, 4);
                memcpy(done + 4, ctl->buf + 8, 4);
                /* Never blocking: Core may itself be sending to this
                 * server (its buffer holds thousands of these). Without
                 * the answer, Core holds the app's calls back. */
                st = kos__ctl_send_nowait(ctl->fd, KOS__CTL_TRACE_DONE, done, sizeof(done));
                if (st)
                    fprintf(stderr, "control channel: cannot answer TRACE: %s\n",
                            kos_status_str(st));
            }
            break;
        }
        case KOS__CTL_APP_DOWN:
            if (fd >= 0 || len != 4) {
                fprintf(stderr, "control channel: malformed APP_DOWN\n");
                if (fd >= 0)
                    close(fd);
                return -1;
            }
            msgsrv_app_down(srv, (uint32_t)ctl->buf[0] | (uint32_t)ctl->buf[1] << 8 |
                                     (uint32_t)ctl->buf[2] << 16 | (uint32_t)ctl->buf[3] << 24);
            break;
        case KOS__CTL_STOP:
            if (fd >= 0)
                close(fd);
            return 0;
        default:
            fprintf(stderr, "control channel: unexpected message type %u\n", type);
            if (fd >= 0)
                close(fd);
            return -1;
        }
    }
}

int main(void)
{
    static struct pollfd pfds[MAX_POLL];
    struct kos__boot b;
    struct ctl ctl = {.fd = KOS__CTL_FD};
    struct msgsrv *srv;
    struct kos__trace_shm *ring = NULL;
    int rc = 2;

    setvbuf(stdout, NULL, _IOLBF, 0);
    ctl.buf = malloc(KOS__CTL_MAX);
    ctl.grants = malloc(sizeof(*ctl.grants));
    if (!ctl.buf || !ctl.grants) {
        fprintf(stderr, "out of memory\n");
        goto out_free_ctl;
    }
    if (boot(&ctl, &b) < 0)
        goto out_free_ctl;
    srv = msgsrv_create(b.name);
    if (!srv) {
        fprintf(stderr, "out of memory\n");
        goto out_free_ctl;
    }
    /* Its tracing ring: without one, it records nothing. */
    if (b.trace_fd >= 0) {
        if (kos__trace_map(b.trace_fd, &ring))
            ring = NULL;
        close(b.trace_fd);
        msgsrv_set_trace(srv, ring);
    }

    for (;;) {
        int timeout = msgsrv_expire(srv);
        size_t n;

        pfds[0] = (struct pollfd){.fd = ctl.fd, .events = POLLIN};
        n = 1 + msgsrv_pollfds(srv, pfds + 1, MAX_POLL - 1);
        if (poll(pfds, n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "poll: %s\n", strerror(errno));
            rc = 1;
            break;
        }
        /* Control first, so APP_DOWN and ADD_CLIENT take effect before this
         * turn's app events. An event left over for a descriptor replaced
         * meanwhile only costs a non-blocking read that finds nothing. */
        if (pfds[0].revents) {
            int r = on_control(&ctl, srv);
            if (r <= 0) {
                rc = r < 0 ? 1 : 0;
                break;
            }
        }
        for (size_t i = 1; i < n; i++)
            if (pfds[i].revents)
                msgsrv_handle(srv, &pfds[i]);
    }
    msgsrv_destroy(srv);
    kos__trace_unmap(ring);
out_free_ctl:
    free(ctl.grants);
    free(ctl.buf);
    return rc;
}
