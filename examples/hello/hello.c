/*
 * hello.c - the smallest KOS app: it says hello on the console and ends.
 */
#include <stdio.h>
#include <string.h>

#include <kos/app.h>
#include <kos/log.h>

int main(int argc, char **argv)
{
    const char *greeting = "Hello";
    kos_app_t *app;
    kos_status_t st;

    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--greeting"))
            greeting = argv[i + 1];

    st = kos_app_open(&app);
    if (st) {
        fprintf(stderr, "hello: not started by KOS Core: %s\n", kos_status_str(st));
        return 1;
    }
    if (kos_app_ready(app))
        kos_log_warn("could not report readiness");
    kos_log_info("%s (I am '%s')", greeting, kos_app_name(app));
    kos_app_close(app);
    return 0;
}
