/*
 * The worker's sandbox, OpenSSH-style: one interface, an implementation
 * chosen by configure (sandbox-seccomp.c with libseccomp, else
 * sandbox-null.c).  Called once, after set-up (configuration read,
 * curl_global_init, the multi handle created) and before the first byte
 * from the gateway is parsed.
 */
#ifndef MESH_SANDBOX_H
#define MESH_SANDBOX_H

/*
 * Install the system-call filter.  The resource limits, no_new_privs and
 * the parent-death signal that every implementation wants are already in
 * place (worker.c does them first), so a filter here may rely on them.
 */
void	sandbox_enter(void);

#endif
