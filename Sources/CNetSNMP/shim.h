#pragma once
// System headers first: net-snmp-config.h changes feature macros, and fd_set must parse as it does for Glibc.
#include <sys/types.h>
#include <sys/select.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <stdio.h>
#include <unistd.h>
#include <string.h>
#include <sys/epoll.h>
#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <net-snmp/library/large_fd_set.h>
#include <net-snmp/library/keytools.h>
#include <net-snmp/library/lcd_time.h>
#include <net-snmp/library/scapi.h>
#include <net-snmp/library/snmpusm.h>
#include <net-snmp/library/transform_oids.h>
#include <string.h>

// Constants built from three-operand macros do not import into Swift: re-export them.
enum {
    NP_SNMP_MSG_GET = SNMP_MSG_GET,
    NP_SNMP_MSG_GETNEXT = SNMP_MSG_GETNEXT,
    NP_SNMP_MSG_GETBULK = SNMP_MSG_GETBULK,
    NP_SNMP_MSG_RESPONSE = SNMP_MSG_RESPONSE,
    NP_SNMP_NOSUCHOBJECT = SNMP_NOSUCHOBJECT,
    NP_SNMP_NOSUCHINSTANCE = SNMP_NOSUCHINSTANCE,
    NP_SNMP_ENDOFMIBVIEW = SNMP_ENDOFMIBVIEW,
    NP_ASN_COUNTER64 = ASN_COUNTER64,
    NP_ASN_IPADDRESS = ASN_IPADDRESS,
    NP_ASN_COUNTER = ASN_COUNTER,
    NP_ASN_GAUGE = ASN_GAUGE,
    NP_ASN_TIMETICKS = ASN_TIMETICKS,
    NP_ASN_OPAQUE = ASN_OPAQUE,
    NP_ASN_OPAQUE_FLOAT = ASN_OPAQUE_FLOAT,
    NP_ASN_OPAQUE_DOUBLE = ASN_OPAQUE_DOUBLE,
    NP_ASN_OPAQUE_COUNTER64 = ASN_OPAQUE_COUNTER64,
    NP_ASN_OPAQUE_U64 = ASN_OPAQUE_U64,
    NP_ASN_OPAQUE_I64 = ASN_OPAQUE_I64,
    NP_SNMP_MSG_REPORT = SNMP_MSG_REPORT,
    NP_SNMPERR_UNKNOWN_ENG_ID = SNMPERR_UNKNOWN_ENG_ID,
    NP_SNMPERR_UNKNOWN_USER_NAME = SNMPERR_UNKNOWN_USER_NAME,
    NP_SNMPERR_UNSUPPORTED_SEC_LEVEL = SNMPERR_UNSUPPORTED_SEC_LEVEL,
    NP_SNMPERR_AUTHENTICATION_FAILURE = SNMPERR_AUTHENTICATION_FAILURE,
    NP_SNMPERR_NOT_IN_TIME_WINDOW = SNMPERR_NOT_IN_TIME_WINDOW,
    NP_SNMPERR_DECRYPTION_ERR = SNMPERR_DECRYPTION_ERR,
};

/// Opens a single-session (thread-agnostic) handle. net-snmp copies peername and community.
static inline void *np_snmp_open(const char *peer, long version, const unsigned char *community,
                                 size_t community_len, long timeout_us, int retries,
                                 netsnmp_callback callback, void *magic) {
    netsnmp_session s;
    snmp_sess_init(&s);
    s.peername = (char *)peer;
    s.version = version;
    s.community = (unsigned char *)community;
    s.community_len = community_len;
    s.timeout = timeout_us;
    s.retries = retries;
    s.callback = callback;
    s.callback_magic = magic;
    return snmp_sess_open(&s);
}

/// GETBULK's non-repeaters / max-repetitions are macro aliases of errstat / errindex.
static inline void np_pdu_set_bulk(netsnmp_pdu *pdu, long non_repeaters, long max_repetitions) {
    pdu->non_repeaters = non_repeaters;
    pdu->max_repetitions = max_repetitions;
}

static inline int np_sess_socket(void *sessp) {
    netsnmp_transport *t = snmp_sess_transport(sessp);
    return t ? t->sock : -1;
}

/// Microseconds until this one session's earliest request expires (0 when already due), or -1 when none waits.
/// select_info over ONE session (its own request list), never over all of them; `scratch` gets its bit cleared again.
static inline long np_sess_next_timeout_us(void *sessp, netsnmp_large_fd_set *scratch) {
    int numfds = 0, block = 1;
    struct timeval tv = { 0, 0 };
    snmp_sess_select_info2_flags(sessp, &numfds, scratch, &tv, &block, NETSNMP_SELECT_NOALARMS);
    int fd = np_sess_socket(sessp);
    if (fd >= 0) netsnmp_large_fd_clr(fd, scratch);
    if (block) return -1;
    return (long)tv.tv_sec * 1000000L + (long)tv.tv_usec;
}

/// Reads what waits on one session's socket (`scratch` holds only that bit while the read runs).
static inline void np_sess_read_one(void *sessp, int fd, netsnmp_large_fd_set *scratch) {
    netsnmp_large_fd_setfd(fd, scratch);
    snmp_sess_read2(sessp, scratch);
    netsnmp_large_fd_clr(fd, scratch);
}

/// epoll, wrapped so Swift never lays out `struct epoll_event` (packed on x86_64): watch a descriptor for input
/// (level-triggered), stop watching it, and wait, writing the ready descriptors into `fds`.
static inline int np_epoll_watch(int epfd, int fd) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static inline int np_epoll_unwatch(int epfd, int fd) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &ev);
}

static inline int np_epoll_wait(int epfd, int *fds, int max, int timeout_ms) {
    struct epoll_event events[256];
    if (max > 256) max = 256;
    int n = epoll_wait(epfd, events, max, timeout_ms);
    for (int i = 0; i < n; i++) fds[i] = events[i].data.fd;
    return n;
}

/// The last error of a single session as text (caller frees).
static inline char *np_sess_error_string(void *sessp) {
    int clib = 0, snmp = 0;
    char *msg = NULL;
    snmp_sess_error(sessp, &clib, &snmp, &msg);
    return msg;
}

// MARK: SNMPv3 (USM)

/// Opens an SNMPv3 session WITHOUT net-snmp's synchronous engine-ID probe (SNMP_FLAGS_DONT_PROBE): discovery is an
/// ordinary asynchronous request (`np_discovery_pdu`). `auth_ku` / `priv_ku` are the user's keys from the passwords
/// (Ku, `generate_Ku`); net-snmp localizes them once per engine when the user is created (`np_usm_create_user`).
/// `engine_id` may be NULL (not known yet). net-snmp copies every string and buffer.
static inline void *np_snmp_open_v3(const char *peer, long timeout_us, int retries, netsnmp_callback callback,
                                    const char *user, int level, int auth_type, int priv_type, const char *context,
                                    const unsigned char *auth_ku, size_t auth_ku_len,
                                    const unsigned char *priv_ku, size_t priv_ku_len,
                                    const unsigned char *engine_id, size_t engine_id_len) {
    netsnmp_session s;
    snmp_sess_init(&s);
    s.peername = (char *)peer;
    s.version = SNMP_VERSION_3;
    s.timeout = timeout_us;
    s.retries = retries;
    s.callback = callback;
    s.flags |= SNMP_FLAGS_DONT_PROBE;
    s.securityModel = SNMP_SEC_MODEL_USM;
    s.securityName = (char *)user;
    s.securityNameLen = strlen(user);
    s.securityLevel = level;
    s.contextName = (char *)context;
    s.contextNameLen = strlen(context);
    size_t len = 0;
    if (auth_type > 0) {
        s.securityAuthProto = sc_get_auth_oid(auth_type, &len);
        s.securityAuthProtoLen = len;
    } else {
        s.securityAuthProto = usmNoAuthProtocol;
        s.securityAuthProtoLen = 10;
    }
    if (priv_type > 0) {
        s.securityPrivProto = sc_get_priv_oid(priv_type, &len);
        s.securityPrivProtoLen = len;
    } else {
        s.securityPrivProto = usmNoPrivProtocol;
        s.securityPrivProtoLen = 10;
    }
    if (auth_ku_len > 0 && auth_ku_len <= sizeof(s.securityAuthKey)) {
        memcpy(s.securityAuthKey, auth_ku, auth_ku_len);
        s.securityAuthKeyLen = auth_ku_len;
    }
    if (priv_ku_len > 0 && priv_ku_len <= sizeof(s.securityPrivKey)) {
        memcpy(s.securityPrivKey, priv_ku, priv_ku_len);
        s.securityPrivKeyLen = priv_ku_len;
    }
    if (engine_id && engine_id_len > 0) {
        s.securityEngineID = (unsigned char *)engine_id;
        s.securityEngineIDLen = engine_id_len;
        s.contextEngineID = (unsigned char *)engine_id;
        s.contextEngineIDLen = engine_id_len;
    }
    void *sessp = snmp_sess_open(&s);
    // snmp_sess_open clears the flag once open; without it the first send would probe synchronously.
    if (sessp) snmp_sess_session(sessp)->flags |= SNMP_FLAGS_DONT_PROBE;
    return sessp;
}

/// Ku from a password (RFC 3414 A.2): ~4.5 ms; the caller caches it per credential. Returns the key length, 0 on error.
static inline size_t np_generate_ku(int auth_type, const char *password, unsigned char *out, size_t out_cap) {
    size_t len = 0;
    oid *proto = sc_get_auth_oid(auth_type, &len);
    if (!proto) return 0;
    size_t key_len = out_cap;
    if (generate_Ku(proto, (u_int)len, (const u_char *)password, strlen(password), out, &key_len) != SNMPERR_SUCCESS)
        return 0;
    return key_len;
}

/// Sets the engine ID of an open v3 session (after discovery) and creates its USM user for that engine, localizing
/// the session's keys. A user already known for (engine, name) is replaced when `replace` is set (its keys changed).
/// Returns 0 on success.
static inline int np_usm_set_engine(void *sessp, const unsigned char *engine_id, size_t engine_id_len, int replace) {
    netsnmp_session *s = snmp_sess_session(sessp);
    if (!s || !engine_id || engine_id_len == 0) return -1;
    if (s->securityEngineIDLen != engine_id_len || memcmp(s->securityEngineID, engine_id, engine_id_len) != 0) {
        unsigned char *a = (unsigned char *)malloc(engine_id_len);
        unsigned char *b = (unsigned char *)malloc(engine_id_len);
        if (!a || !b) { free(a); free(b); return -1; }
        memcpy(a, engine_id, engine_id_len);
        memcpy(b, engine_id, engine_id_len);
        free(s->securityEngineID);
        free(s->contextEngineID);
        s->securityEngineID = a;
        s->securityEngineIDLen = engine_id_len;
        s->contextEngineID = b;
        s->contextEngineIDLen = engine_id_len;
    }
    if (replace) {
        struct usmUser *old = usm_get_user(engine_id, engine_id_len, s->securityName);
        if (old) {
            usm_remove_user(old);
            usm_free_user(old);
        }
    }
    s->flags &= ~SNMP_FLAGS_USER_CREATED;
    return usm_create_user_from_session(s) == SNMPERR_SUCCESS ? 0 : -1;
}

/// An engine-ID discovery request (RFC 3414 4): an empty GET as the empty user, noAuthNoPriv. The agent answers with
/// a Report (usmStatsUnknownEngineIDs) that carries its engine ID. The empty user is what net-snmp's own probe uses.
static inline netsnmp_pdu *np_discovery_pdu(void) {
    if (usm_get_user(NULL, 0, "") == NULL) {
        struct usmUser *user = (struct usmUser *)calloc(1, sizeof(struct usmUser));
        if (!user) return NULL;
        user->name = strdup("");
        user->secName = strdup("");
        user->authProtocolLen = 10;
        user->authProtocol = snmp_duplicate_objid(usmNoAuthProtocol, 10);
        user->privProtocolLen = 10;
        user->privProtocol = snmp_duplicate_objid(usmNoPrivProtocol, 10);
        usm_add_user(user);
    }
    netsnmp_pdu *pdu = snmp_pdu_create(SNMP_MSG_GET);
    if (!pdu) return NULL;
    pdu->version = SNMP_VERSION_3;
    pdu->securityName = strdup("");
    pdu->securityNameLen = 0;
    pdu->securityLevel = SNMP_SEC_LEVEL_NOAUTH;
    pdu->securityModel = SNMP_SEC_MODEL_USM;
    return pdu;
}

/// The engine ID a Report or Response came from (copied into `out`); its length, 0 if none.
static inline size_t np_pdu_engine_id(netsnmp_pdu *pdu, unsigned char *out, size_t cap) {
    if (!pdu || !pdu->securityEngineID || pdu->securityEngineIDLen == 0 || pdu->securityEngineIDLen > cap) return 0;
    memcpy(out, pdu->securityEngineID, pdu->securityEngineIDLen);
    return pdu->securityEngineIDLen;
}

/// Tells net-snmp, from inside the callback, whether a Report is the recoverable notInTimeWindow (net-snmp then
/// resends the request once with the engine time the Report carried).
static inline void np_session_set_report_error(netsnmp_session *s, int error) { if (s) s->s_snmp_errno = error; }

/// The engine's boots and time as net-snmp estimates them now (authenticated values only). 0 on success.
static inline int np_engine_time(const unsigned char *engine_id, size_t len, unsigned int *boots, unsigned int *time) {
    return get_enginetime(engine_id, (u_int)len, boots, time, TRUE) == SNMPERR_SUCCESS ? 0 : -1;
}

/// Seeds (or overwrites) net-snmp's record of an engine's boots and time.
static inline void np_set_engine_time(const unsigned char *engine_id, size_t len, unsigned int boots,
                                      unsigned int time) {
    set_enginetime(engine_id, (u_int)len, boots, time, TRUE);
}
