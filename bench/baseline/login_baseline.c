/*
 * login_baseline.c -- C baseline for the Vestibule benchmarks.
 *
 * The Linux-PAM Application Developers' Guide, chapter 8 example
 * (pam_start / pam_authenticate / pam_acct_mgmt / pam_end), extended with
 * the rest of the lifecycle a login program performs:
 *
 *   pam_start_confdir -> pam_authenticate -> pam_acct_mgmt
 *   -> getpwnam(PAM_USER), initgroups (as root)
 *   -> pam_setcred(PAM_ESTABLISH_CRED) -> pam_open_session
 *   -> pam_setcred(PAM_REINITIALIZE_CRED) -> pam_getenvlist
 *   -> fork: child  pam_end(PAM_SUCCESS|PAM_DATA_SILENT); setgid/setuid; chdir; execve(cmd, env)
 *            parent waitpid
 *   -> pam_close_session -> pam_setcred(PAM_DELETE_CRED) -> pam_end
 *
 * Usage:
 *   login_baseline --pam-confdir DIR --user NAME [--password-stdin] -- CMD ARGS...
 *       one login; exits with CMD's status (128+N if killed by signal N).
 *   login_baseline --pam-confdir DIR --user NAME [--password-stdin] --loop N
 *       N in-process transactions start -> auth -> acct -> setcred(ESTABLISH)
 *       -> open_session -> close_session -> setcred(DELETE) -> end; no fork.
 *
 * Exit codes: 0..255 command status; 1 PAM failure; 2 usage error;
 * 126/127 exec failure (from the child).
 *
 * Build: gcc -O2 -Wall -Wextra -Werror -o login_baseline login_baseline.c -lpam
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <grp.h>
#include <pwd.h>
#include <security/pam_appl.h>

#define SERVICE "vestibule"

struct conv_data {
    const char *user;     /* answer to echo-on prompts */
    const char *password; /* answer to echo-off prompts */
};

/* Minimal correct conversation function. */
static int conv_fn(int num_msg, const struct pam_message **msg,
                   struct pam_response **resp, void *appdata_ptr)
{
    const struct conv_data *cd = appdata_ptr;
    struct pam_response *r;
    int i;

    if (num_msg <= 0 || num_msg > PAM_MAX_NUM_MSG || msg == NULL || resp == NULL)
        return PAM_CONV_ERR;

    r = calloc((size_t)num_msg, sizeof(*r));
    if (r == NULL)
        return PAM_BUF_ERR;

    for (i = 0; i < num_msg; i++) {
        const char *answer = NULL;

        switch (msg[i]->msg_style) {
        case PAM_PROMPT_ECHO_OFF:
            answer = cd->password;
            break;
        case PAM_PROMPT_ECHO_ON:
            answer = cd->user;
            break;
        case PAM_ERROR_MSG:
        case PAM_TEXT_INFO:
            if (fprintf(stderr, "%s\n", msg[i]->msg ? msg[i]->msg : "") < 0)
                goto fail;
            continue;
        default:
            goto fail;
        }
        r[i].resp = strdup(answer);
        if (r[i].resp == NULL)
            goto fail;
        r[i].resp_retcode = 0;
    }
    *resp = r;
    return PAM_SUCCESS;

fail:
    for (i = 0; i < num_msg; i++) {
        if (r[i].resp != NULL) {
            explicit_bzero(r[i].resp, strlen(r[i].resp));
            free(r[i].resp);
        }
    }
    free(r);
    *resp = NULL;
    return PAM_CONV_ERR;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: login_baseline --pam-confdir DIR --user NAME [--password-stdin] -- COMMAND ARGS...\n"
            "       login_baseline --pam-confdir DIR --user NAME [--password-stdin] --loop N\n");
    exit(2);
}

/* Report a PAM error; returns 0 so callers can write `if (!ok(...))`. */
static int ok(pam_handle_t *pamh, const char *what, int rc)
{
    if (rc == PAM_SUCCESS)
        return 1;
    fprintf(stderr, "login_baseline: %s: %s\n", what, pam_strerror(pamh, rc));
    return 0;
}

/* Read one line from stdin as the password (trailing newline stripped). */
static char *read_password(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);

    if (n < 0) {
        if (ferror(stdin)) {
            perror("login_baseline: reading password from stdin");
            exit(1);
        }
        free(line);
        line = strdup(""); /* EOF: empty password */
        if (line == NULL) {
            perror("login_baseline: strdup");
            exit(1);
        }
        return line;
    }
    if (n > 0 && line[n - 1] == '\n')
        line[--n] = '\0';
    if (n > 0 && line[n - 1] == '\r')
        line[--n] = '\0';
    return line;
}

/* One fork-free transaction for --loop. Returns 0 on success. */
static int transaction(const char *confdir, const char *user, const struct pam_conv *conv)
{
    pam_handle_t *pamh = NULL;
    int rc;

    rc = pam_start_confdir(SERVICE, user, conv, confdir, &pamh);
    if (!ok(pamh, "pam_start_confdir", rc))
        return 1;
    rc = pam_authenticate(pamh, 0);
    if (!ok(pamh, "pam_authenticate", rc))
        goto end;
    rc = pam_acct_mgmt(pamh, 0);
    if (!ok(pamh, "pam_acct_mgmt", rc))
        goto end;
    rc = pam_setcred(pamh, PAM_ESTABLISH_CRED);
    if (!ok(pamh, "pam_setcred(ESTABLISH)", rc))
        goto end;
    rc = pam_open_session(pamh, 0);
    if (!ok(pamh, "pam_open_session", rc)) {
        (void)pam_setcred(pamh, PAM_DELETE_CRED);
        goto end;
    }
    rc = pam_close_session(pamh, 0);
    if (!ok(pamh, "pam_close_session", rc)) {
        (void)pam_setcred(pamh, PAM_DELETE_CRED);
        goto end;
    }
    rc = pam_setcred(pamh, PAM_DELETE_CRED);
    (void)ok(pamh, "pam_setcred(DELETE)", rc);
end:
    {
        int erc = pam_end(pamh, rc);
        if (erc != PAM_SUCCESS) {
            fprintf(stderr, "login_baseline: pam_end: %s\n", pam_strerror(NULL, erc));
            return 1;
        }
    }
    return rc == PAM_SUCCESS ? 0 : 1;
}

static int run_login(const char *confdir, const char *user, const struct pam_conv *conv,
                     char **cmd)
{
    pam_handle_t *pamh = NULL;
    char **env = NULL;
    int rc, status = 0, exit_code = 1, session_open = 0, have_cred = 0;
    pid_t pid;
    uid_t target_uid = 0;
    gid_t target_gid = 0;
    char home[4096] = "/";

    rc = pam_start_confdir(SERVICE, user, conv, confdir, &pamh);
    if (!ok(pamh, "pam_start_confdir", rc))
        return 1;

    rc = pam_authenticate(pamh, 0);
    if (!ok(pamh, "pam_authenticate", rc))
        goto end;
    rc = pam_acct_mgmt(pamh, 0);
    if (!ok(pamh, "pam_acct_mgmt", rc))
        goto end;

    /* What login(1) does with the final PAM_USER: its passwd entry, and (as root) its groups
     * before setcred, so modules may add to them. */
    {
        const void *item = NULL;
        struct passwd *pw;
        rc = pam_get_item(pamh, PAM_USER, &item);
        if (!ok(pamh, "pam_get_item(PAM_USER)", rc) || item == NULL)
            goto end;
        pw = getpwnam((const char *)item);
        if (pw == NULL) {
            fprintf(stderr, "login_baseline: no passwd entry for %s\n", (const char *)item);
            rc = PAM_USER_UNKNOWN;
            goto end;
        }
        target_uid = pw->pw_uid;
        target_gid = pw->pw_gid;
        snprintf(home, sizeof home, "%s", pw->pw_dir);
        if (geteuid() == 0 && initgroups(pw->pw_name, pw->pw_gid) != 0) {
            perror("login_baseline: initgroups");
            rc = PAM_SYSTEM_ERR;
            goto end;
        }
    }

    rc = pam_setcred(pamh, PAM_ESTABLISH_CRED);
    if (!ok(pamh, "pam_setcred(ESTABLISH)", rc))
        goto end;
    have_cred = 1;
    rc = pam_open_session(pamh, 0);
    if (!ok(pamh, "pam_open_session", rc))
        goto cleanup;
    session_open = 1;
    rc = pam_setcred(pamh, PAM_REINITIALIZE_CRED);
    if (!ok(pamh, "pam_setcred(REINITIALIZE)", rc))
        goto cleanup;

    env = pam_getenvlist(pamh);
    if (env == NULL) {
        fprintf(stderr, "login_baseline: pam_getenvlist failed\n");
        rc = PAM_BUF_ERR;
        goto cleanup;
    }

    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        perror("login_baseline: fork");
        rc = PAM_SYSTEM_ERR;
        goto cleanup;
    }
    if (pid == 0) {
        /* Child: drop our copy of the handle without touching module state. */
        int erc = pam_end(pamh, PAM_SUCCESS | PAM_DATA_SILENT);
        if (erc != PAM_SUCCESS)
            fprintf(stderr, "login_baseline: child pam_end: %s\n", pam_strerror(NULL, erc));
        if (geteuid() == 0 && (setgid(target_gid) != 0 || setuid(target_uid) != 0)) {
            perror("login_baseline: setgid/setuid");
            _exit(126);
        }
        if (chdir(home) != 0 && chdir("/") != 0)
            _exit(126);
        /* execvpe: search the parent's PATH, execve with the PAM environment. */
        execvpe(cmd[0], cmd, env);
        fprintf(stderr, "login_baseline: exec %s: %s\n", cmd[0], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }

    for (;;) {
        if (waitpid(pid, &status, 0) == pid)
            break;
        if (errno != EINTR) {
            perror("login_baseline: waitpid");
            rc = PAM_SYSTEM_ERR;
            goto cleanup;
        }
    }
    if (WIFEXITED(status))
        exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        exit_code = 128 + WTERMSIG(status);
    else
        exit_code = 1;

cleanup:
    if (session_open) {
        int crc = pam_close_session(pamh, 0);
        if (!ok(pamh, "pam_close_session", crc) && rc == PAM_SUCCESS)
            rc = crc;
    }
    if (have_cred) {
        int crc = pam_setcred(pamh, PAM_DELETE_CRED);
        if (!ok(pamh, "pam_setcred(DELETE)", crc) && rc == PAM_SUCCESS)
            rc = crc;
    }
end:
    if (env != NULL) {
        for (char **e = env; *e != NULL; e++)
            free(*e);
        free(env);
    }
    {
        int erc = pam_end(pamh, rc);
        if (erc != PAM_SUCCESS) {
            fprintf(stderr, "login_baseline: pam_end: %s\n", pam_strerror(NULL, erc));
            return 1;
        }
    }
    if (rc != PAM_SUCCESS)
        return 1;
    return exit_code;
}

int main(int argc, char **argv)
{
    const char *confdir = NULL, *user = NULL;
    char *password = NULL;
    int password_stdin = 0, have_loop = 0, ret;
    long loops = 0;
    char **cmd = NULL;
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--pam-confdir") == 0 && i + 1 < argc) {
            confdir = argv[++i];
        } else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc) {
            user = argv[++i];
        } else if (strcmp(argv[i], "--password-stdin") == 0) {
            password_stdin = 1;
        } else if (strcmp(argv[i], "--loop") == 0 && i + 1 < argc) {
            char *end;
            errno = 0;
            loops = strtol(argv[++i], &end, 10);
            if (errno != 0 || *end != '\0' || end == argv[i] || loops < 0)
                usage();
            have_loop = 1;
        } else if (strcmp(argv[i], "--") == 0) {
            cmd = &argv[i + 1];
            break;
        } else {
            usage();
        }
    }
    if (confdir == NULL || user == NULL || *user == '\0')
        usage();
    if (have_loop == (cmd != NULL))
        usage(); /* exactly one of --loop N / -- COMMAND */
    if (cmd != NULL && cmd[0] == NULL)
        usage();

    if (password_stdin) {
        password = read_password();
    } else {
        password = strdup("");
        if (password == NULL) {
            perror("login_baseline: strdup");
            return 1;
        }
    }

    {
        struct conv_data cd = { .user = user, .password = password };
        const struct pam_conv conv = { conv_fn, &cd };

        if (have_loop) {
            ret = 0;
            for (long n = 0; n < loops; n++) {
                if (transaction(confdir, user, &conv) != 0) {
                    fprintf(stderr, "login_baseline: transaction %ld failed\n", n);
                    ret = 1;
                    break;
                }
            }
        } else {
            ret = run_login(confdir, user, &conv, cmd);
        }
    }

    explicit_bzero(password, strlen(password));
    free(password);
    return ret;
}
