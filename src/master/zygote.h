/* master/zygote.h: starting instances, by exec or from a zygote.
 *
 * An instance exec'd afresh maps and relocates libcrypto, libssl and libc
 * and builds OpenSSL's tables again: about 750 KiB of private memory per
 * process before it does anything. A zygote is one `postern --zygote`
 * process, started by the master, that does that work once and then only
 * forks: an instance forked from it (no exec) shares those pages with every
 * other instance, copy-on-write.
 *
 *   master ──socketpair(SEQPACKET)── zygote (fd 3)
 *   request: "<url>\0<label>\0" + SCM_RIGHTS { stdin, stdout+stderr }
 *   zygote: fork ─> intermediate: fork ─> instance; intermediate exits
 *   reply:   { pid of the instance, errno }
 *
 * The master is a child subreaper (PR_SET_CHILD_SUBREAPER), so the instance,
 * orphaned by the intermediate, becomes the master's child before the reply
 * is sent: the master reaps it, signals its group and sees its exit status
 * exactly as for an exec'd instance; the zygote's death touches no instance.
 * The instance sets PR_SET_PDEATHSIG once it is the master's child, makes its
 * own process group and shows `postern --url-from-env <label>` in ps. */
#ifndef PN_MASTER_ZYGOTE_H
#define PN_MASTER_ZYGOTE_H

#include <stddef.h>
#include <sys/types.h>

typedef struct pn_zygote pn_zygote_t;

/** Fork and exec <exe> with <argv>: the child gets its own process group,
 *  PR_SET_PDEATHSIG SIGTERM, SIGHUP ignored, <in> as stdin, <out> as stdout
 *  and stderr (or the master's stderr when <out> is -1), <keep> as fd 3 when
 *  not -1, no other descriptor; $POSTERN_URL = <url> when not NULL; none of
 *  the service manager's variables. Return the pid, or -1 with errno set. */
pid_t pn_zygote_exec(const char *exe, char *const argv[], const char *url, int in, int out,
                     int keep);

/** Start a zygote running <exe>; NULL (logged) when it cannot be started. */
pn_zygote_t *pn_zygote_new(const char *exe);

/** The zygote's pid. */
pid_t pn_zygote_pid(const pn_zygote_t *z);

/** Ask <z> for an instance of <url>, shown as <label>, with <in> and <out>
 *  (see pn_zygote_exec; both stay the caller's). Return its pid (a child of
 *  this process, already in its own process group), or -1 with errno set when
 *  the zygote did not answer (it is then unusable: free it). */
pid_t pn_zygote_spawn(pn_zygote_t *z, const char *url, const char *label, int in, int out);

/** The zygote was reaped (it died): pn_zygote_free() then neither signals
 *  nor waits for it. */
void pn_zygote_reaped(pn_zygote_t *z);

/** Close the zygote's socket (it exits), kill and reap it. NULL is a no-op. */
void pn_zygote_free_(pn_zygote_t *z);
#define pn_zygote_free(p) do { pn_zygote_free_(p); (p) = NULL; } while (0)

/** The zygote's side (`postern --zygote`, <fd> its socket): warm up, then
 *  answer requests until the master goes. Returns in the zygote with its exit
 *  code (0 when the master closed the socket), or in a new instance with
 *  *<url> and *<label> set (the caller frees them and runs the URL). <area>,
 *  <area_len>: the process's argument strings (argv[0] to the end of the
 *  last), rewritten in each instance to show its label. */
int pn_zygote_serve(int fd, char *area, size_t area_len, char **url, char **label);

/** Bytes of padding the zygote's command line carries for the labels. */
#define PN_ZYGOTE_ARGV_PAD 2048

#endif
