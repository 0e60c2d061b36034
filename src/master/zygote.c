/* master/zygote.c: starting instances, by exec or from a zygote (see
 * master/zygote.h). */
#include "master/zygote.h"
#include "core/ev.h"
#include "core/log.h"
#include "core/mem.h"
#include "tls/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define ZYG_MSG_MAX 8192            /* a request: URL (at most 4096) and label (2048) */
#define ZYG_REPLY_MS 10000          /* a zygote that takes longer to answer is dropped */

struct pn_zygote {
    pid_t pid;
    int fd;                         /* owned: the master's end of the socket */
};

typedef struct {
    int32_t pid;
    int32_t err;
} zyg_reply_t;

/* ---- exec ---------------------------------------------------------------- */

/* The child of a fork: the set-up every instance gets, then exec. Only
 * async-signal-safe calls. */
static void
exec_child(const char *exe, char *const argv[], pid_t parent, int in, int out, int keep)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &dfl, NULL);
    /* A reload (the master's SIGHUP passed on) that comes before the instance
     * watches SIGHUP must not end it: ignored until then (the instance's own
     * handler replaces this). */
    dfl.sa_handler = SIG_IGN;
    sigaction(SIGHUP, &dfl, NULL);
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(1);
    if (dup2(in, 0) < 0 || (out >= 0 && (dup2(out, 1) < 0 || dup2(out, 2) < 0)))
        _exit(1);
    if (keep >= 0 && dup2(keep, 3) < 0)
        _exit(1);
    /* Nothing of the master's (database, API sockets) reaches the instance,
     * whether or not its owner set close-on-exec. */
    unsigned first = keep >= 0 ? 4 : 3;
    if (close_range(first, ~0U, 0) != 0)
        for (int fd = (int)first; fd < 65536; fd++)
            close(fd);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execv(exe, argv);
    _exit(127);
}

pid_t
pn_zygote_exec(const char *exe, char *const argv[], const char *url, int in, int out, int keep)
{
    if (url != NULL)
        setenv("POSTERN_URL", url, 1);
    /* What the service manager told the master is not the instances': they
     * start without it (no READY=1 from a PID it does not watch, no watchdog). */
    static const char *const sd_vars[] = { "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID" };
    char *sd_vals[3];
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(sd_vars[i]);
        sd_vals[i] = v != NULL ? xstrdup(v) : NULL;
        unsetenv(sd_vars[i]);
    }
    pid_t parent = getpid();
    /* Block every signal across fork: until the child has reset its handlers,
     * a signal (our own SIGTERM, PDEATHSIG) would run libevent's inherited
     * handler, which writes into the master's signal pipe. */
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid_t pid = fork();
    if (pid == 0)
        exec_child(exe, argv, parent, in, out, keep);
    int fork_errno = errno;
    unsetenv("POSTERN_URL");
    for (int i = 0; i < 3; i++) {
        if (sd_vals[i] != NULL)
            setenv(sd_vars[i], sd_vals[i], 1);
        free(sd_vals[i]);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        errno = fork_errno;
        return -1;
    }
    setpgid(pid, pid);
    return pid;
}

/* ---- the master's side --------------------------------------------------- */

pn_zygote_t *
pn_zygote_new(const char *exe)
{
    int sv[2] = { -1, -1 };
    char pad[PN_ZYGOTE_ARGV_PAD + 1];
    memset(pad, ' ', PN_ZYGOTE_ARGV_PAD);
    pad[PN_ZYGOTE_ARGV_PAD] = '\0';
    char *argv[] = { "postern", "--zygote", pad, NULL };
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        log_warn("master: no zygote (%s): instances are exec'd", strerror(errno));
        if (devnull >= 0)
            close(devnull);
        return NULL;
    }
    pid_t pid = pn_zygote_exec(exe, argv, NULL, devnull, -1, sv[1]);
    int e = errno;
    close(devnull);
    close(sv[1]);
    if (pid < 0) {
        log_warn("master: no zygote (fork: %s): instances are exec'd", strerror(e));
        close(sv[0]);
        return NULL;
    }
    struct timeval tv = { ZYG_REPLY_MS / 1000, 0 };
    setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    pn_zygote_t *z = xcalloc(sizeof(*z));
    z->pid = pid;
    z->fd = sv[0];
    log_info("master: zygote started (pid %d)", (int)pid);
    return z;
}

pid_t
pn_zygote_pid(const pn_zygote_t *z)
{
    return z->pid;
}

pid_t
pn_zygote_spawn(pn_zygote_t *z, const char *url, const char *label, int in, int out)
{
    char msg[ZYG_MSG_MAX];
    size_t ul = strlen(url), ll = strlen(label);
    if (ul + ll + 2 > sizeof(msg)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(msg, url, ul + 1);
    memcpy(msg + ul + 1, label, ll + 1);
    int fds[2] = { in, out };
    union {
        char buf[CMSG_SPACE(sizeof(fds))];
        struct cmsghdr align;
    } c;
    memset(&c, 0, sizeof(c));
    struct iovec iov = { msg, ul + ll + 2 };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
                         .msg_controllen = sizeof(c.buf) };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(fds));
    memcpy(CMSG_DATA(cm), fds, sizeof(fds));
    ssize_t n;
    do
        n = sendmsg(z->fd, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    zyg_reply_t r;
    do
        n = recv(z->fd, &r, sizeof(r), 0);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(r)) {
        errno = n < 0 ? errno : EPIPE;
        return -1;
    }
    if (r.pid <= 0) {
        errno = r.err > 0 ? r.err : EIO;
        /* The zygote is fine: the error is this start's (fork failed). */
        return -2;
    }
    /* Its group is made by the instance itself; this closes the race with a
     * signal to the group sent before it ran. */
    setpgid(r.pid, r.pid);
    return r.pid;
}

void
pn_zygote_reaped(pn_zygote_t *z)
{
    z->pid = 0;
}

void
pn_zygote_free_(pn_zygote_t *z)
{
    if (z == NULL)
        return;
    close(z->fd);
    if (z->pid > 0) {
        kill(z->pid, SIGKILL);
        while (waitpid(z->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    free(z);
}

/* ---- the zygote's side --------------------------------------------------- */

/* Take every free chunk of the zygote's heap (never freed). An instance's
 * allocations then come from fresh pages at the top of the heap instead of
 * the holes between the zygote's objects, each of which would copy a whole
 * shared page for a few bytes. The chunks in the thread cache (up to
 * ZYG_TCACHE_FILL of each small size) count as used for mallinfo2(), so they
 * are taken first; then, from large to small, chunks while the free bytes
 * outside the top chunk allow. */
#define ZYG_TCACHE_FILL 7
#define ZYG_TCACHE_MAX 1032
static void *zyg_plugs;             /* the chunks taken, linked through their first word
                                     * (reachable: no leak checker counts them) */

static int
zyg_take(size_t n)
{
    void **p = malloc(n < sizeof(void *) ? sizeof(void *) : n);
    if (p == NULL)
        return -1;
    *p = zyg_plugs;
    zyg_plugs = p;
    return 0;
}

static void
zyg_plug(void)
{
    for (size_t sz = 8; sz <= ZYG_TCACHE_MAX - 8; sz += 16)
        for (int i = 0; i < ZYG_TCACHE_FILL; i++)
            if (zyg_take(sz) != 0)
                return;
    for (size_t sz = 64 * 1024; sz >= 16; sz /= 2) {
        for (int guard = 0; guard < 4096; guard++) {
            struct mallinfo2 mi = mallinfo2();
            if (mi.fordblks < mi.keepcost + sz || zyg_take(sz - 8) != 0)
                break;
            if (mallinfo2().keepcost < mi.keepcost) {
                /* From the top: no hole of this size is left. */
                void **p = zyg_plugs;
                zyg_plugs = *p;
                free(p);
                break;
            }
        }
    }
}

/* Do once what every instance would do at its start: OpenSSL's providers,
 * algorithm and error tables, a self-signed certificate's key types, a PSK
 * context; libevent's set-up. Failures are harmless (the instance does it). */
static void
zyg_warm(void)
{
    char err[PN_ERR_LEN];
    uint8_t psk[32] = { 0 };
    pn_tls_ctx_t *c = pn_tls_psk_new(1, psk, sizeof(psk), err);
    pn_tls_ctx_free(c);
    c = pn_tls_psk_new(0, psk, sizeof(psk), err);
    pn_tls_ctx_free(c);
    c = pn_tls_server_selfsigned(err);
    pn_tls_ctx_free(c);
    c = pn_tls_client_new(0, NULL, err);
    pn_tls_ctx_free(c);
    pn_tls_psk_prepare();
    uint8_t r[16];
    (void)pn_random(r, sizeof(r));
    ev_loop_t *l = ev_loop_new();
    ev_loop_free(l);
    malloc_trim(0);
    zyg_plug();
}

/* Show "postern --url-from-env <label>" in ps (the argument area of the
 * zygote's exec, which its padding made long enough). */
static void
zyg_show(char *area, size_t area_len, const char *label)
{
    static const char head[] = "postern\0--url-from-env";
    if (area == NULL || area_len < sizeof(head) + 1)
        return;
    memset(area, 0, area_len);
    memcpy(area, head, sizeof(head));
    size_t room = area_len - sizeof(head) - 1;
    size_t n = strlen(label);
    memcpy(area + sizeof(head), label, n < room ? n : room);
}

/* The instance, just forked (the grandchild of the zygote): wait until the
 * master has adopted it (a byte on <go> once the intermediate is reaped), then
 * the same set-up as an exec'd instance. */
static void
zyg_instance(int go, pid_t master, int in, int out)
{
    setpgid(0, 0);
    char b;
    ssize_t n;
    while ((n = read(go, &b, 1)) < 0 && errno == EINTR)
        ;
    close(go);
    if (n != 1)
        _exit(1);       /* the zygote died before it told us to go: nobody knows of us */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != master)
        _exit(1);
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
        _exit(1);
    if (close_range(3, ~0U, 0) != 0)
        for (int fd = 3; fd < 65536; fd++)
            close(fd);
}

/* Fork the instance of one request through an intermediate that exits at
 * once; return its pid in the zygote (-1 with errno on failure) and 0 in the
 * instance. */
static pid_t
zyg_fork(pid_t master, int in, int out)
{
    int pp[2], go[2];
    if (pipe2(pp, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(go, O_CLOEXEC) != 0) {
        close(pp[0]);
        close(pp[1]);
        return -1;
    }
    pid_t mid = fork();
    if (mid == 0) {
        close(pp[0]);
        close(go[1]);
        pid_t pid = fork();
        if (pid == 0) {
            close(pp[1]);
            zyg_instance(go[0], master, in, out);
            return 0;
        }
        int32_t v = pid < 0 ? -errno : pid;
        ssize_t w = write(pp[1], &v, sizeof(v));
        _exit(w == (ssize_t)sizeof(v) ? 0 : 1);
    }
    int e = errno;
    close(pp[1]);
    close(go[0]);
    int32_t v = -EIO;
    if (mid > 0) {
        while (waitpid(mid, NULL, 0) < 0 && errno == EINTR)
            ;
        if (read(pp[0], &v, sizeof(v)) != (ssize_t)sizeof(v))
            v = -EIO;
    } else {
        v = -e;
    }
    close(pp[0]);
    if (v > 0 && write(go[1], "g", 1) != 1)
        v = -EIO;           /* cannot happen: the pipe is empty */
    close(go[1]);           /* the instance, now the master's child, goes on (or, on
                             * EOF without the byte, exits) */
    if (v < 0) {
        errno = -v;
        return -1;
    }
    return v;
}

int
pn_zygote_serve(int fd, char *area, size_t area_len, char **url, char **label)
{
    pid_t master = getppid();
    signal(SIGPIPE, SIG_IGN);
    zyg_warm();
    for (;;) {
        char msg[ZYG_MSG_MAX + 1];
        union {
            char buf[CMSG_SPACE(2 * sizeof(int))];
            struct cmsghdr align;
        } c;
        struct iovec iov = { msg, ZYG_MSG_MAX };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
                             .msg_controllen = sizeof(c.buf) };
        ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? 0 : 1;
        int fds[2] = { -1, -1 }, nfd = 0;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                continue;
            size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k; i++) {
                int f;
                memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                if (nfd < 2)
                    fds[nfd++] = f;
                else
                    close(f);
            }
        }
        msg[n] = '\0';
        size_t ul = strlen(msg);
        zyg_reply_t r = { 0, EINVAL };
        if (nfd == 2 && !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) && (size_t)n > ul + 1 &&
            msg[n - 1] == '\0') {
            pid_t pid = zyg_fork(master, fds[0], fds[1]);
            if (pid == 0) {
                zyg_show(area, area_len, msg + ul + 1);
                *url = xstrdup(msg);
                *label = xstrdup(msg + ul + 1);
                return 0;       /* its own URL: nothing to hide from it */
            }
            r.pid = pid > 0 ? pid : 0;
            r.err = pid > 0 ? 0 : errno;
        }
        explicit_bzero(msg, sizeof(msg));     /* no instance inherits another's key */
        for (int i = 0; i < nfd; i++)
            close(fds[i]);
        if (send(fd, &r, sizeof(r), MSG_NOSIGNAL) != (ssize_t)sizeof(r))
            return 1;
    }
}
