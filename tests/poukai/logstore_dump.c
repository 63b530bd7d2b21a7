/*
 * logstore_dump.c - prints a log_server store file as console-style lines
 * with tool/logstore.c, the reader `kos-tool log.view --store` uses. Exit
 * status 0 if the store is intact, 1 if damaged (valid records still
 * printed), 2 if unreadable.
 */
#include <stdio.h>

#include "logstore.h"

int main(int argc, char **argv)
{
    bool damaged;
    FILE *in;
    char buf[8192];
    size_t n;

    if (argc != 2) {
        fprintf(stderr, "usage: t_logstore STORE\n");
        return 2;
    }
    in = kos__tool_logstore_open(argv[1], stderr, &damaged);
    if (!in)
        return 2;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        fwrite(buf, 1, n, stdout);
    fclose(in);
    return damaged ? 1 : 0;
}
