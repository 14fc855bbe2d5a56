/*
 * main.c: the nitro-attest command line's dispatch: the table of commands
 * (the one place a command is added), help and --help routed to the usage
 * texts of help.c, --version.  Exit 0 verified or done, 1 a verification
 * failed (or, for policy check, warnings), 2 a usage, input or
 * configuration error.
 */

#include "cli.h"

#include <string.h>


/* the Makefile passes the version of debian/changelog, the package's */
#ifndef NITRO_ATTEST_VERSION
#error "NITRO_ATTEST_VERSION is not defined"
#endif

/*
 * A command is one word ("verify") or a family and a word ("policy new");
 * its name is its help topic.  A family's commands are listed together.
 */
static const struct {
    const char  *name;
    int        (*run)(int argc, char **argv);
} cli_commands[] = {
    { "verify", cli_cmd_verify },
    { "inspect", cli_cmd_inspect },
    { "cert", cli_cmd_cert },
    { "mock pki", cli_cmd_mock_pki },
    { "mock cert", cli_cmd_mock_cert },
    { "policy new", cli_cmd_policy_new },
    { "policy add", cli_cmd_policy_add },
    { "policy deny", cli_cmd_policy_deny },
    { "policy remove", cli_cmd_policy_remove },
    { "policy check", cli_cmd_policy_check },
    { "nsm attest", cli_cmd_nsm_attest },
    { "nsm describe", cli_cmd_nsm_describe },
    { "nsm pcr", cli_cmd_nsm_pcr },
    { "nsm extend", cli_cmd_nsm_extend },
    { "nsm lock", cli_cmd_nsm_lock },
    { "expect", cli_cmd_expect },
    { "agent", cli_cmd_agent },
    { "audit verify", cli_cmd_audit_verify },
};

#define CLI_COMMANDS  (sizeof(cli_commands) / sizeof(cli_commands[0]))


static int cli_run(int argc, char **argv);
static int cli_family(const char *family, int argc, char **argv);
static void cli_words(char *buf, size_t size, const char *family,
    const char *last);
static size_t cli_first_word(const char *name);
static int cli_help_command(int argc, char **argv);
static int cli_is_help(const char *arg);


int
main(int argc, char **argv)
{
    char  words[256];

    if (argc < 2) {
        cli_words(words, sizeof(words), NULL, " or ");
        cli_error("missing command: %s (try --help)", words);
        return CLI_USAGE;
    }

    /* --help COMMAND as help COMMAND */
    if (strcmp(argv[1], "help") == 0 || cli_is_help(argv[1])) {
        return cli_help_command(argc - 2, argv + 2);
    }

    if (strcmp(argv[1], "--version") == 0) {
        if (argc > 2) {
            cli_error("--version takes no argument");
            return CLI_USAGE;
        }

        printf("nitro-attest %s\n", NITRO_ATTEST_VERSION);
        return CLI_OK;
    }

    return cli_run(argc - 1, argv + 1);
}


/* argv[0] names a command or a family: the command, or its usage */
static int
cli_run(int argc, char **argv)
{
    int          i, words;
    size_t       i_cmd, n;
    const char  *name, *family;

    family = NULL;
    name = NULL;
    words = 0;

    for (i_cmd = 0; i_cmd < CLI_COMMANDS; i_cmd++) {
        name = cli_commands[i_cmd].name;
        n = cli_first_word(name);

        if (strncmp(name, argv[0], n) != 0 || argv[0][n] != '\0') {
            continue;
        }

        if (name[n] == '\0') {
            words = 1;
            break;
        }

        family = argv[0];

        if (argc > 1 && strcmp(name + n + 1, argv[1]) == 0) {
            words = 2;
            break;
        }
    }

    if (i_cmd == CLI_COMMANDS) {
        if (family == NULL) {
            cli_error("unknown command \"%s\" (try --help)", argv[0]);
            return CLI_USAGE;
        }

        return cli_family(family, argc - 1, argv + 1);
    }

    /* help wins over any mistake on the line it is asked on */
    for (i = words; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (cli_is_help(argv[i])) {
            (void) cli_help(name);
            return CLI_OK;
        }
    }

    return cli_commands[i_cmd].run(argc - words, argv + words);
}


/* a family ("policy") without one of its commands: its usage, or why not */
static int
cli_family(const char *family, int argc, char **argv)
{
    char  words[256];

    if (argc >= 1 && cli_is_help(argv[0])) {
        (void) cli_help(family);
        return CLI_OK;
    }

    if (argc < 1) {
        cli_words(words, sizeof(words), family, " or ");
        cli_error("%s: missing command: %s", family, words);

    } else {
        cli_words(words, sizeof(words), family, ", ");
        cli_error("%s: unknown command \"%s\" (%s)", family, argv[0], words);
    }

    return CLI_USAGE;
}


/*
 * The commands of family, or the first words of all commands (family
 * NULL), as "a, b" + last + "c".
 */
static void
cli_words(char *buf, size_t size, const char *family, const char *last)
{
    size_t       i, k, n, len, count;
    const char  *name, *word[CLI_COMMANDS];

    count = 0;

    for (i = 0; i < CLI_COMMANDS; i++) {
        name = cli_commands[i].name;
        n = cli_first_word(name);

        if (family == NULL) {
            /* a family once, at its first command */
            if (i == 0 || n != cli_first_word(cli_commands[i - 1].name)
                || strncmp(name, cli_commands[i - 1].name, n) != 0)
            {
                word[count++] = name;
            }

        } else if (name[n] == ' ' && strlen(family) == n
                   && strncmp(name, family, n) == 0)
        {
            word[count++] = name + n + 1;
        }
    }

    len = 0;
    buf[0] = '\0';

    for (k = 0; k < count && len < size; k++) {
        n = family ? strlen(word[k]) : cli_first_word(word[k]);
        len += snprintf(buf + len, size - len, "%s%.*s",
                        k == 0 ? "" : k + 1 == count ? last : ", ",
                        (int) n, word[k]);
    }
}


/* the length of the first word of a command's name */
static size_t
cli_first_word(const char *name)
{
    const char  *space;

    space = strchr(name, ' ');

    return space ? (size_t) (space - name) : strlen(name);
}


/* help [COMMAND [SUBCOMMAND]]: the words joined make the topic. */
static int
cli_help_command(int argc, char **argv)
{
    int     i, n;
    char    topic[64];
    size_t  len;

    if (argc == 0 || (argc == 1 && cli_is_help(argv[0]))) {
        (void) cli_help(argc == 0 ? "" : "help");
        return CLI_OK;
    }

    topic[0] = '\0';
    len = 0;

    for (i = 0; i < argc && len < sizeof(topic); i++) {
        n = snprintf(topic + len, sizeof(topic) - len, "%s%s", i ? " " : "",
                     argv[i]);
        len = n < 0 ? sizeof(topic) : len + (size_t) n;
    }

    /* an empty word names no command, not the main usage */
    if (len > 0 && len < sizeof(topic) && cli_help(topic) == 0) {
        return CLI_OK;
    }

    cli_error("help: no command \"%s\" (try nitro-attest help)", topic);
    return CLI_USAGE;
}


static int
cli_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}
