#pragma once
#include <libssh2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>

// What the SSH I/O loop needs beside libssh2: its wake-up eventfd, and POLLRDHUP (hidden behind _GNU_SOURCE).
static inline int np_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }
enum { NP_POLLRDHUP = 0x2000 };

// libssh2's function-like macros do not import into Swift: the few used, as inline functions.

static inline LIBSSH2_SESSION *np_ssh_session_init(void) { return libssh2_session_init_ex(NULL, NULL, NULL, NULL); }

static inline LIBSSH2_CHANNEL *np_ssh_channel_open(LIBSSH2_SESSION *s) {
    return libssh2_channel_open_ex(s, "session", 7, LIBSSH2_CHANNEL_WINDOW_DEFAULT, LIBSSH2_CHANNEL_PACKET_DEFAULT,
                                   NULL, 0);
}

static inline int np_ssh_channel_exec(LIBSSH2_CHANNEL *c, const char *command) {
    return libssh2_channel_process_startup(c, "exec", 4, command, (unsigned int)strlen(command));
}

static inline int np_ssh_channel_shell(LIBSSH2_CHANNEL *c) {
    return libssh2_channel_process_startup(c, "shell", 5, NULL, 0);
}

// A wide, tall pseudo-terminal: devices wrap and page less (paging is still turned off by command).
static inline int np_ssh_channel_pty(LIBSSH2_CHANNEL *c) {
    return libssh2_channel_request_pty_ex(c, "vt100", 5, NULL, 0, 511, 0, 0, 0);
}

static inline ssize_t np_ssh_channel_read(LIBSSH2_CHANNEL *c, int stream, char *buf, size_t len) {
    return libssh2_channel_read_ex(c, stream, buf, len);
}

static inline ssize_t np_ssh_channel_write(LIBSSH2_CHANNEL *c, const char *buf, size_t len) {
    return libssh2_channel_write_ex(c, 0, buf, len);
}

static inline int np_ssh_disconnect(LIBSSH2_SESSION *s) {
    return libssh2_session_disconnect_ex(s, SSH_DISCONNECT_BY_APPLICATION, "netpoller closing", "");
}

static inline int np_ssh_password(LIBSSH2_SESSION *s, const char *user, const char *password) {
    return libssh2_userauth_password_ex(s, user, (unsigned int)strlen(user), password, (unsigned int)strlen(password),
                                        NULL);
}

static inline int np_ssh_publickey(LIBSSH2_SESSION *s, const char *user, const char *privateKey,
                                   const char *passphrase) {
    return libssh2_userauth_publickey_fromfile_ex(s, user, (unsigned int)strlen(user), NULL, privateKey, passphrase);
}

// Keyboard-interactive: every prompt is answered with the password that `np_ssh_kbdint` put in the session's abstract
// pointer for the duration of the call (libssh2 frees the copies).
static void np_ssh_kbdint_answer(const char *name, int name_len, const char *instruction, int instruction_len,
                                 int num_prompts, const LIBSSH2_USERAUTH_KBDINT_PROMPT *prompts,
                                 LIBSSH2_USERAUTH_KBDINT_RESPONSE *responses, void **abstract) {
    (void)name; (void)name_len; (void)instruction; (void)instruction_len; (void)prompts;
    const char *password = (const char *)*abstract;
    for (int i = 0; i < num_prompts; i++) {
        if (password == NULL) { responses[i].text = NULL; responses[i].length = 0; continue; }
        responses[i].text = strdup(password);
        responses[i].length = (unsigned int)strlen(password);
    }
}

static inline int np_ssh_kbdint(LIBSSH2_SESSION *s, const char *user, const char *password) {
    *libssh2_session_abstract(s) = (void *)password;
    int rc = libssh2_userauth_keyboard_interactive_ex(s, user, (unsigned int)strlen(user), np_ssh_kbdint_answer);
    *libssh2_session_abstract(s) = NULL;
    return rc;
}

enum {
    NP_SSH_EAGAIN = LIBSSH2_ERROR_EAGAIN,
    NP_SSH_BLOCK_IN = LIBSSH2_SESSION_BLOCK_INBOUND,
    NP_SSH_BLOCK_OUT = LIBSSH2_SESSION_BLOCK_OUTBOUND,
    NP_SSH_KEX_FAILURE = LIBSSH2_ERROR_KEX_FAILURE,
    NP_SSH_KNOWNHOST_PLAIN_RAW = LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW,
    NP_SSH_KNOWNHOST_FILE_OPENSSH = LIBSSH2_KNOWNHOST_FILE_OPENSSH,
    NP_SSH_KNOWNHOST_KEY_SSHRSA = LIBSSH2_KNOWNHOST_KEY_SSHRSA,
    NP_SSH_KNOWNHOST_KEY_SSHDSS = LIBSSH2_KNOWNHOST_KEY_SSHDSS,
    NP_SSH_KNOWNHOST_KEY_ECDSA_256 = LIBSSH2_KNOWNHOST_KEY_ECDSA_256,
    NP_SSH_KNOWNHOST_KEY_ECDSA_384 = LIBSSH2_KNOWNHOST_KEY_ECDSA_384,
    NP_SSH_KNOWNHOST_KEY_ECDSA_521 = LIBSSH2_KNOWNHOST_KEY_ECDSA_521,
    NP_SSH_KNOWNHOST_KEY_ED25519 = LIBSSH2_KNOWNHOST_KEY_ED25519,
    NP_SSH_KNOWNHOST_CHECK_MATCH = LIBSSH2_KNOWNHOST_CHECK_MATCH,
    NP_SSH_KNOWNHOST_CHECK_MISMATCH = LIBSSH2_KNOWNHOST_CHECK_MISMATCH,
    NP_SSH_KNOWNHOST_CHECK_NOTFOUND = LIBSSH2_KNOWNHOST_CHECK_NOTFOUND,
};
