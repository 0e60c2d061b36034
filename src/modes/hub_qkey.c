/* modes/hub_qkey.c: modes/hub_qkey.h.
 *
 * Why a file of its own: a hub has no secret of its own that survives a
 * restart in every setup (tls=1 draws its certificate at start, tls=2's key
 * and the cluster secret are optional, and its agents' tokens are known to
 * them: any key derived from the accounts file alone can be computed by the
 * agent of a one-account hub, and changes whenever an account does). A
 * random key kept in the hub user's state folder, as the master keeps its
 * database there, is known to the hub only, needs no setting, and stays the
 * same across restarts and edits of the accounts file.
 *
 *   file there ---(regular, ours, 0600, 32 bytes)---> the key
 *   no file -----> 32 random bytes into <file>.<pid> (0600, O_EXCL), link() to
 *                  <file> (a hub starting at the same moment wins or loses as
 *                  a whole: the loser reads the winner's), then read as above
 *   anything else -> NULL, a warning: resets do not survive a restart */
#include "modes/hub_qkey.h"
#include "core/log.h"
#include "tls/tls.h"
#include "tunnel/auth.h"
#include "tunnel/frame.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(HUB_QKEY_LEN == TUN_PSK_LEN, "tun_accept_opts_t.quic_key's length");

/* The key file's path into <p> (<n> bytes), its missing folders made (0700);
 * -1 when no variable is set, the path is too long or a folder cannot be made. */
static int
key_path(char *p, size_t n)
{
    const char *e = getenv("POSTERN_QUIC_RESET_KEY");   /* docs/hub.md */
    if (e != NULL && *e != '\0')
        return snprintf(p, n, "%s", e) < (int)n ? 0 : -1;
    const char *base = getenv("XDG_STATE_HOME"), *tail = "/postern/quic-reset.key";
    if (base == NULL || *base == '\0') {
        base = getenv("HOME");
        tail = "/.local/state/postern/quic-reset.key";
    }
    if (base == NULL || *base == '\0' || snprintf(p, n, "%s%s", base, tail) >= (int)n)
        return -1;
    for (char *s = p + 1; (s = strchr(s, '/')) != NULL; s++) {
        struct stat st;
        *s = '\0';
        int rc = stat(p, &st) == 0 || mkdir(p, 0700) == 0 || errno == EEXIST ? 0 : -1;
        *s = '/';
        if (rc == -1)
            return -1;
    }
    return 0;
}

/* Make <path> with a new random key unless it exists; 0 or -1 (errno). */
static int
key_make(const char *path)
{
    char tmp[4200];
    uint8_t k[HUB_QKEY_LEN];
    if (access(path, F_OK) == 0)
        return 0;
    if (snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid()) >= (int)sizeof(tmp) ||
        pn_random(k, sizeof(k)) != 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    unlink(tmp);                /* a crashed run's of this pid: ours to drop */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd == -1)
        return -1;
    int rc = write(fd, k, sizeof(k)) == (ssize_t)sizeof(k) && fsync(fd) == 0 ? 0 : -1;
    int e = errno;
    close(fd);
    memset(k, 0, sizeof(k));
    if (rc == 0 && link(tmp, path) == -1 && errno != EEXIST) {
        rc = -1;
        e = errno;
    }
    unlink(tmp);
    errno = e;
    return rc;
}

/* Read the key of <path> into <k>: NULL on success, else what is wrong. */
static const char *
key_read(const char *path, uint8_t *k)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd == -1)
        return strerror(errno);
    struct stat st;
    const char *why = NULL;
    if (fstat(fd, &st) == -1)
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode) || st.st_uid != geteuid())
        why = "not a regular file of this user";
    else if ((st.st_mode & 077) != 0)
        why = "readable or writable by others (chmod 600 it)";
    else if (st.st_size != HUB_QKEY_LEN || read(fd, k, HUB_QKEY_LEN) != HUB_QKEY_LEN)
        why = "not 32 bytes";
    close(fd);
    return why;
}

const uint8_t *
hub_quic_key(struct hub *h)
{
    char path[4096];
    const char *why;
    if (h->cfg->xtype != PN_XPORT_QUIC)
        return NULL;
    if (key_path(path, sizeof(path)) != 0) {
        log_warn("hub: type=1: no folder for the stateless reset key (set XDG_STATE_HOME, "
                 "HOME or POSTERN_QUIC_RESET_KEY): a restart leaves agents' connections to "
                 "their idle timeout");
        return NULL;
    }
    if (key_make(path) != 0)
        why = strerror(errno);
    else
        why = key_read(path, h->quic_key);
    if (why != NULL) {
        memset(h->quic_key, 0, sizeof(h->quic_key));
        log_warn("hub: type=1: stateless reset key %s: %s: a restart leaves agents' "
                 "connections to their idle timeout", path, why);
        return NULL;
    }
    log_info("hub: type=1: stateless reset key from %s", path);
    return h->quic_key;
}
