/*
 * t_sys.h - t_app's modes that speak Core's system interface (t_sys.c).
 */
#ifndef KOS_TESTS_T_SYS_H
#define KOS_TESTS_T_SYS_H

#include <kos/app.h>

/* manager STEP...: argv holds the steps. Returns the exit status. */
int t_sys_manager(kos_app_t *app, int argc, char **argv);
/* sysask: asks without the flag; never returns (ends by SIGTERM). */
int t_sys_ask(kos_app_t *app);
/* flood N PROTO */
int t_sys_flood(kos_app_t *app, long n, const char *proto);

#endif
