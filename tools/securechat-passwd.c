
/*
 * securechat-passwd: adds or replaces a user in the securechat users file,
 * or checks that such a file parses.
 *
 *     securechat-passwd [-l ln] [-g] USERS_FILE USERNAME
 *     securechat-passwd -c USERS_FILE
 *
 * The password is read from stdin (one line), or with -g generated and
 * printed once.  The file is replaced atomically: a temporary file in the
 * same directory, fsync, rename, fsync of the directory.
 *
 * Exit codes: 0 done, 1 usage, 2 error.
 */


#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "ngx_http_securechat_passwd.h"
#include "ngx_http_securechat_token.h"


#define SC_EXIT_OK      0
#define SC_EXIT_USAGE   1
#define SC_EXIT_ERROR   2

/* -g: 12 random bytes, 16 base64url characters, 96 bits */
#define SC_GEN_BYTES    12
#define SC_GEN_LEN      16


static void sc_usage(void);
static int sc_parse_ln(const char *s, unsigned int *ln);
static int sc_read_password(unsigned char *buf, size_t size, size_t *len);
static int sc_generate_password(unsigned char *buf, size_t *len);
static int sc_check_file(const char *path);
static int sc_update_file(const char *path, const char *user,
    const char *hash, int *replaced);
static int sc_line_is_user(const char *line, size_t len, const char *user,
    size_t user_len);
static void sc_openssl_error(const char *what);


static const char  *sc_prog = "securechat-passwd";


int
main(int argc, char **argv)
{
    int                                 c, check, gen, replaced, rc;
    char                                hash[NGX_HTTP_SECURECHAT_HASH_STR_MAX];
    size_t                              pw_len;
    const char                         *path, *user;
    unsigned int                        ln;
    unsigned char                       pw[NGX_HTTP_SECURECHAT_PASSWORD_MAX
                                           + 2];
    ngx_http_securechat_passwd_hash_t   h;

    check = 0;
    gen = 0;
    ln = NGX_HTTP_SECURECHAT_SCRYPT_LN;

    opterr = 0;

    while ((c = getopt(argc, argv, "cgl:h")) != -1) {
        switch (c) {

        case 'c':
            check = 1;
            break;

        case 'g':
            gen = 1;
            break;

        case 'l':
            if (sc_parse_ln(optarg, &ln) != 0) {
                fprintf(stderr, "%s: -l wants an integer from %d to %d, "
                        "not \"%s\"\n", sc_prog,
                        NGX_HTTP_SECURECHAT_SCRYPT_LN_MIN,
                        NGX_HTTP_SECURECHAT_SCRYPT_LN_MAX, optarg);
                return SC_EXIT_USAGE;
            }

            break;

        case 'h':
            sc_usage();
            return SC_EXIT_OK;

        default:
            if (optopt == 'l') {
                fprintf(stderr, "%s: -l needs a value\n", sc_prog);

            } else {
                fprintf(stderr, "%s: unknown option -%c\n", sc_prog, optopt);
            }

            sc_usage();
            return SC_EXIT_USAGE;
        }
    }

    argc -= optind;
    argv += optind;

    if (check) {
        if (argc != 1 || gen) {
            sc_usage();
            return SC_EXIT_USAGE;
        }

        return sc_check_file(argv[0]);
    }

    if (argc != 2) {
        sc_usage();
        return SC_EXIT_USAGE;
    }

    path = argv[0];
    user = argv[1];

    if (!ngx_http_securechat_username_ok((const unsigned char *) user,
                                         strlen(user)))
    {
        fprintf(stderr, "%s: invalid user name \"%s\": 1 to %d characters "
                "of A-Z a-z 0-9 . _ -\n", sc_prog, user,
                NGX_HTTP_SECURECHAT_USER_MAX);
        return SC_EXIT_USAGE;
    }

    if (gen) {
        rc = sc_generate_password(pw, &pw_len);

    } else {
        rc = sc_read_password(pw, sizeof(pw), &pw_len);
    }

    if (rc != 0) {
        OPENSSL_cleanse(pw, sizeof(pw));
        return SC_EXIT_ERROR;
    }

    if (ngx_http_securechat_passwd_create(pw, pw_len, ln, &h) != 0) {
        sc_openssl_error("deriving the password hash");
        OPENSSL_cleanse(pw, sizeof(pw));
        return SC_EXIT_ERROR;
    }

    if (ngx_http_securechat_passwd_format(&h, hash, sizeof(hash)) < 0) {
        fprintf(stderr, "%s: cannot format the password hash\n", sc_prog);
        OPENSSL_cleanse(pw, sizeof(pw));
        return SC_EXIT_ERROR;
    }

    if (sc_update_file(path, user, hash, &replaced) != 0) {
        OPENSSL_cleanse(pw, sizeof(pw));
        return SC_EXIT_ERROR;
    }

    /*
     * A generated password is shown only once the file holds its hash, so
     * a failed update never leaves someone with a password that does not
     * work.
     */

    if (gen) {
        printf("%s: %.*s\n", user, (int) pw_len, (const char *) pw);

        if (fflush(stdout) != 0) {
            fprintf(stderr, "%s: writing to stdout: %s\n", sc_prog,
                    strerror(errno));
            OPENSSL_cleanse(pw, sizeof(pw));
            return SC_EXIT_ERROR;
        }
    }

    OPENSSL_cleanse(pw, sizeof(pw));

    fprintf(stderr, "%s: %s user \"%s\" in %s\n", sc_prog,
            replaced ? "updated" : "added", user, path);

    return SC_EXIT_OK;
}


static void
sc_usage(void)
{
    fprintf(stderr,
            "usage: %s [-l ln] [-g] USERS_FILE USERNAME\n"
            "       %s -c USERS_FILE\n"
            "\n"
            "  Adds USERNAME to USERS_FILE, or replaces its password.  The\n"
            "  password is read from stdin (one line, 1 to %d bytes).\n"
            "\n"
            "  -g     generate a random password and print it to stdout as\n"
            "         \"USERNAME: PASSWORD\" instead of reading one\n"
            "  -l ln  scrypt cost, N = 2^ln, %d to %d (default %d)\n"
            "  -c     only check that USERS_FILE parses\n"
            "\n"
            "  Exit status: 0 done, 1 usage, 2 error.\n",
            sc_prog, sc_prog, NGX_HTTP_SECURECHAT_PASSWORD_MAX,
            NGX_HTTP_SECURECHAT_SCRYPT_LN_MIN,
            NGX_HTTP_SECURECHAT_SCRYPT_LN_MAX, NGX_HTTP_SECURECHAT_SCRYPT_LN);
}


static int
sc_parse_ln(const char *s, unsigned int *ln)
{
    char           *end;
    unsigned long   v;

    if (*s < '0' || *s > '9') {
        return -1;
    }

    errno = 0;
    v = strtoul(s, &end, 10);

    if (errno != 0 || *end != '\0'
        || v < NGX_HTTP_SECURECHAT_SCRYPT_LN_MIN
        || v > NGX_HTTP_SECURECHAT_SCRYPT_LN_MAX)
    {
        return -1;
    }

    *ln = (unsigned int) v;

    return 0;
}


/*
 * One line from stdin, without its '\n'.  From a terminal, with a prompt
 * and without echo.  buf must hold PASSWORD_MAX + 1 bytes, so that one byte
 * too many is seen.
 */

static int
sc_read_password(unsigned char *buf, size_t size, size_t *len)
{
    int              c, tty, restore;
    size_t           n, i;
    struct termios   old, noecho;

    tty = isatty(STDIN_FILENO);
    restore = 0;

    if (tty) {
        fprintf(stderr, "Password: ");

        if (tcgetattr(STDIN_FILENO, &old) == 0) {
            noecho = old;
            noecho.c_lflag &= ~(tcflag_t) ECHO;

            if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho) == 0) {
                restore = 1;
            }
        }
    }

    n = 0;

    while ((c = getchar()) != EOF && c != '\n') {
        if (n < size) {
            buf[n] = (unsigned char) c;
        }

        /* keep counting past the buffer, to say "too long" rather than cut */
        n++;
    }

    if (restore) {
        (void) tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    }

    if (tty) {
        fputc('\n', stderr);
    }

    if (ferror(stdin)) {
        fprintf(stderr, "%s: reading the password: %s\n", sc_prog,
                strerror(errno));
        return -1;
    }

    if (n == 0) {
        fprintf(stderr, "%s: empty password refused\n", sc_prog);
        return -1;
    }

    if (n > NGX_HTTP_SECURECHAT_PASSWORD_MAX || n > size) {
        fprintf(stderr, "%s: password too long: %zu bytes, at most %d\n",
                sc_prog, n, NGX_HTTP_SECURECHAT_PASSWORD_MAX);
        return -1;
    }

    /*
     * Control characters cannot be typed into a login form, and NUL would
     * weaken scrypt (see the passwd unit): refuse rather than store a
     * password nobody can use.
     */

    for (i = 0; i < n; i++) {
        if (buf[i] < 0x20 || buf[i] == 0x7f) {
            fprintf(stderr, "%s: password contains a control character "
                    "(byte 0x%02x at offset %zu)\n", sc_prog, buf[i], i);
            return -1;
        }
    }

    *len = n;

    return 0;
}


static int
sc_generate_password(unsigned char *buf, size_t *len)
{
    unsigned char  raw[SC_GEN_BYTES];

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        sc_openssl_error("generating a password");
        return -1;
    }

    *len = ngx_http_securechat_base64url_encode(buf, raw, sizeof(raw));

    OPENSSL_cleanse(raw, sizeof(raw));

    return 0;
}


/*
 * Every line must be empty, a comment starting with '#', or a valid
 * "name:hash" line; a name may appear once.  The same rules as the
 * module's securechat_users loader.
 */

static int
sc_check_file(const char *path)
{
    int                                 errors, i, nusers;
    FILE                               *f;
    char                               *line, **names;
    size_t                              cap, name_len, lineno;
    ssize_t                             n;
    const unsigned char                *name;
    ngx_http_securechat_passwd_hash_t   h;

    f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "%s: %s: %s\n", sc_prog, path, strerror(errno));
        return SC_EXIT_ERROR;
    }

    line = NULL;
    cap = 0;
    lineno = 0;
    errors = 0;
    names = NULL;
    nusers = 0;

    while ((n = getline(&line, &cap, f)) != -1) {
        lineno++;

        if (n > 0 && line[n - 1] == '\n') {
            line[--n] = '\0';
        }

        /* as the module reads the file: a CRLF line ending is fine */

        if (n > 0 && line[n - 1] == '\r') {
            line[--n] = '\0';
        }

        if (n == 0 || line[0] == '#') {
            continue;
        }

        if (ngx_http_securechat_passwd_parse_line((unsigned char *) line,
                                                  (size_t) n, &name,
                                                  &name_len, &h)
            != 0)
        {
            fprintf(stderr, "%s: %s:%zu: not a valid \"name:$scrypt$...\" "
                    "line\n", sc_prog, path, lineno);
            errors++;
            continue;
        }

        for (i = 0; i < nusers; i++) {
            if (strlen(names[i]) == name_len
                && memcmp(names[i], name, name_len) == 0)
            {
                fprintf(stderr, "%s: %s:%zu: user \"%.*s\" appears again\n",
                        sc_prog, path, lineno, (int) name_len, name);
                errors++;
                break;
            }
        }

        if (i < nusers) {
            continue;
        }

        names = realloc(names, sizeof(char *) * (size_t) (nusers + 1));
        if (names == NULL) {
            fprintf(stderr, "%s: out of memory\n", sc_prog);
            exit(SC_EXIT_ERROR);
        }

        names[nusers] = strndup((char *) name, name_len);
        if (names[nusers] == NULL) {
            fprintf(stderr, "%s: out of memory\n", sc_prog);
            exit(SC_EXIT_ERROR);
        }

        nusers++;
    }

    if (ferror(f)) {
        fprintf(stderr, "%s: %s: %s\n", sc_prog, path, strerror(errno));
        errors++;
    }

    fclose(f);
    free(line);

    for (i = 0; i < nusers; i++) {
        free(names[i]);
    }

    free(names);

    if (errors) {
        fprintf(stderr, "%s: %s: %d bad line%s\n", sc_prog, path, errors,
                errors == 1 ? "" : "s");
        return SC_EXIT_ERROR;
    }

    fprintf(stderr, "%s: %s: %d user%s, ok\n", sc_prog, path, nusers,
            nusers == 1 ? "" : "s");

    return SC_EXIT_OK;
}


/*
 * Copies the file to a temporary one beside it, with user's line replaced
 * in place (later duplicates of it dropped) or appended, then renames the
 * copy over the original.  Other lines are kept byte for byte.
 */

static int
sc_update_file(const char *path, const char *user, const char *hash,
    int *replaced)
{
    int           fd, dfd, rc, exists, created;
    FILE         *in, *out;
    char         *dir, *base, *dcopy, *bcopy, *line, *real, tmp[PATH_MAX];
    size_t        cap, user_len;
    ssize_t       n;
    struct stat   st;

    rc = -1;
    fd = -1;
    dfd = -1;
    in = NULL;
    out = NULL;
    line = NULL;
    cap = 0;
    created = 0;
    *replaced = 0;
    user_len = strlen(user);

    /*
     * Through a symbolic link, update the file it names rather than replace
     * the link with a regular file.
     */

    real = realpath(path, NULL);
    if (real != NULL) {
        path = real;

    } else if (errno != ENOENT) {
        fprintf(stderr, "%s: %s: %s\n", sc_prog, path, strerror(errno));
        return -1;
    }

    dcopy = strdup(path);
    bcopy = strdup(path);

    if (dcopy == NULL || bcopy == NULL) {
        fprintf(stderr, "%s: out of memory\n", sc_prog);
        goto done;
    }

    dir = dirname(dcopy);
    base = basename(bcopy);

    if ((size_t) snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, base)
        >= sizeof(tmp))
    {
        fprintf(stderr, "%s: %s: path too long\n", sc_prog, path);
        goto done;
    }

    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd == -1) {
        fprintf(stderr, "%s: %s: %s\n", sc_prog, dir, strerror(errno));
        goto done;
    }

    /*
     * Two runs at once would each copy the old file and the second rename
     * would lose the first one's change: serialize on the directory.
     */

    if (flock(dfd, LOCK_EX) == -1) {
        fprintf(stderr, "%s: locking %s: %s\n", sc_prog, dir,
                strerror(errno));
        goto done;
    }

    in = fopen(path, "r");
    if (in == NULL && errno != ENOENT) {
        fprintf(stderr, "%s: %s: %s\n", sc_prog, path, strerror(errno));
        goto done;
    }

    exists = (in != NULL);

    if (exists) {
        if (fstat(fileno(in), &st) == -1) {
            fprintf(stderr, "%s: %s: %s\n", sc_prog, path, strerror(errno));
            goto done;
        }

        if (!S_ISREG(st.st_mode)) {
            fprintf(stderr, "%s: %s: not a regular file\n", sc_prog, path);
            goto done;
        }
    }

    /* mkstemp() creates the file 0600 whatever the umask */

    fd = mkstemp(tmp);
    if (fd == -1) {
        fprintf(stderr, "%s: creating a temporary file in %s: %s\n",
                sc_prog, dir, strerror(errno));
        goto done;
    }

    created = 1;

    if (fchmod(fd, S_IRUSR | S_IWUSR) == -1) {
        fprintf(stderr, "%s: %s: %s\n", sc_prog, tmp, strerror(errno));
        goto done;
    }

    out = fdopen(fd, "w");
    if (out == NULL) {
        fprintf(stderr, "%s: %s: %s\n", sc_prog, tmp, strerror(errno));
        goto done;
    }

    fd = -1;

    while (in != NULL && (n = getline(&line, &cap, in)) != -1) {

        if (sc_line_is_user(line, (size_t) n, user, user_len)) {
            if (!*replaced) {
                fprintf(out, "%s:%s\n", user, hash);
                *replaced = 1;
            }

            continue;
        }

        fwrite(line, 1, (size_t) n, out);

        /* the last line may lack its newline; ours must not follow it */
        if (line[n - 1] != '\n') {
            fputc('\n', out);
        }
    }

    if (in != NULL && ferror(in)) {
        fprintf(stderr, "%s: reading %s: %s\n", sc_prog, path,
                strerror(errno));
        goto done;
    }

    if (!*replaced) {
        fprintf(out, "%s:%s\n", user, hash);
    }

    if (fflush(out) != 0 || ferror(out)) {
        fprintf(stderr, "%s: writing %s: %s\n", sc_prog, tmp,
                strerror(errno));
        goto done;
    }

    /*
     * An existing file keeps its owner and permissions, so that a group
     * the server reads it through is not locked out by an update.
     */

    if (exists) {
        if (fchown(fileno(out), st.st_uid, st.st_gid) == -1
            && (st.st_uid != geteuid() || errno != EPERM))
        {
            fprintf(stderr, "%s: warning: cannot keep the owner of %s: %s\n",
                    sc_prog, path, strerror(errno));
        }

        if (fchmod(fileno(out), st.st_mode & 07777) == -1) {
            fprintf(stderr, "%s: %s: %s\n", sc_prog, tmp, strerror(errno));
            goto done;
        }
    }

    if (fsync(fileno(out)) == -1) {
        fprintf(stderr, "%s: fsync %s: %s\n", sc_prog, tmp, strerror(errno));
        goto done;
    }

    if (fclose(out) != 0) {
        out = NULL;
        fprintf(stderr, "%s: closing %s: %s\n", sc_prog, tmp,
                strerror(errno));
        goto done;
    }

    out = NULL;

    if (rename(tmp, path) == -1) {
        fprintf(stderr, "%s: renaming %s to %s: %s\n", sc_prog, tmp, path,
                strerror(errno));
        goto done;
    }

    created = 0;

    /* the rename itself is durable only once the directory is synced */

    if (fsync(dfd) == -1) {
        fprintf(stderr, "%s: fsync %s: %s\n", sc_prog, dir, strerror(errno));
        goto done;
    }

    rc = 0;

done:

    if (out != NULL) {
        fclose(out);
    }

    if (fd != -1) {
        close(fd);
    }

    if (created) {
        (void) unlink(tmp);
    }

    if (in != NULL) {
        fclose(in);
    }

    if (dfd != -1) {
        close(dfd);     /* releases the lock */
    }

    free(line);
    free(dcopy);
    free(bcopy);
    free(real);

    return rc;
}


/* 1 if line (with or without its '\n') is "user:..." */

static int
sc_line_is_user(const char *line, size_t len, const char *user,
    size_t user_len)
{
    return len > user_len
           && memcmp(line, user, user_len) == 0
           && line[user_len] == ':';
}


static void
sc_openssl_error(const char *what)
{
    unsigned long  e;
    char           buf[256];

    fprintf(stderr, "%s: %s failed\n", sc_prog, what);

    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        fprintf(stderr, "%s:   %s\n", sc_prog, buf);
    }
}
