/*
 * liauto-worker: the daemon that does everything with side effects outside
 * the database, and the migration tool of the schema it shares with the
 * nginx module.
 */

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "migrate.h"
#include "run.h"
#include "version.h"

#define EXIT_USAGE  2

static const char  usage_text[] =
    "usage: " LIAUTO_WORKER_NAME " [-c FILE] COMMAND\n"
    "\n"
    "commands:\n"
    "  migrate   apply pending sql/migrations, then exit\n"
    "  run       run the worker until SIGTERM or SIGINT\n"
    "  version   print the version and exit\n"
    "\n"
    "options:\n"
    "  -c, --config FILE   read KEY=VALUE settings from FILE (environment\n"
    "                      variables of the same names override it)\n"
    "  -h, --help          show this help\n"
    "\n"
    "settings: LIAUTO_DATABASE_URL (required), LIAUTO_MIGRATIONS_DIR,\n"
    "  LIAUTO_WORKER_ID, LIAUTO_HEARTBEAT_INTERVAL, LIAUTO_LOG_LEVEL,\n"
    "  LIAUTO_RECONNECT_MAX\n";


static int
usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));


static int
usage_error(const char *fmt, ...)
{
    va_list  args;

    fprintf(stderr, "%s: ", LIAUTO_WORKER_NAME);
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fprintf(stderr, "\nTry \"%s --help\" for usage.\n",
            LIAUTO_WORKER_NAME);

    return EXIT_USAGE;
}


static int
run_command(const char *command, const char *config_path)
{
    int              rc;
    char             err[1024];
    liauto_config_t  cf;

    if (config_load(&cf, config_path, err, sizeof(err)) != 0) {
        log_error("configuration error: %s", err);
        return 1;
    }

    log_set_level(cf.log_level);

    rc = strcmp(command, "migrate") == 0 ? migrate_run(&cf)
                                         : worker_run(&cf);
    config_free(&cf);
    return rc;
}


int
main(int argc, char **argv)
{
    int                        opt;
    const char                *config_path = NULL, *command;
    static const struct option  options[] = {
        { "config", required_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    opterr = 0;

    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            if (optopt == 'c') {
                return usage_error("option -c needs a FILE");
            }
            return usage_error("unknown option \"%s\"", argv[optind - 1]);
        }
    }

    if (optind == argc) {
        return usage_error("missing COMMAND");
    }

    if (argc - optind > 1) {
        return usage_error("unexpected argument \"%s\"", argv[optind + 1]);
    }

    command = argv[optind];

    if (strcmp(command, "version") == 0) {
        printf("%s %s\n", LIAUTO_WORKER_NAME, LIAUTO_WORKER_VERSION);
        return 0;
    }

    if (strcmp(command, "migrate") != 0 && strcmp(command, "run") != 0) {
        return usage_error("unknown command \"%s\"", command);
    }

    return run_command(command, config_path);
}
