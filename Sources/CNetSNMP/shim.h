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
#include <net-snmp/library/snmp_impl.h>
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

// MARK: v1/v2c answers without an allocation per varbind

/// Varbind structs kept for reuse (1,136 bytes each: beyond glibc's per-thread cache, so every calloc and free of one
/// went through the arena's bins, and calloc cleared all of it). Owned by the I/O loop and used only on its thread;
/// every varbind in it is a plain `malloc` block, so net-snmp may `free` any it is handed.
typedef struct {
    netsnmp_variable_list *free;
    int count;
    int cap;
} np_vb_pool;

static inline np_vb_pool *np_vb_pool_create(int cap) {
    np_vb_pool *pool = (np_vb_pool *)calloc(1, sizeof(np_vb_pool));
    if (pool) pool->cap = cap;
    return pool;
}

static inline void np_vb_pool_destroy(np_vb_pool *pool) {
    if (!pool) return;
    while (pool->free) {
        netsnmp_variable_list *next = pool->free->next_variable;
        free(pool->free);
        pool->free = next;
    }
    free(pool);
}

/// A varbind whose pointers are cleared (the OID and value buffers are not: each is written before it is read).
static inline netsnmp_variable_list *np_vb_take(np_vb_pool *pool) {
    netsnmp_variable_list *vp = pool->free;
    if (vp) {
        pool->free = vp->next_variable;
        pool->count--;
    } else {
        vp = (netsnmp_variable_list *)malloc(sizeof(netsnmp_variable_list));
        if (!vp) return NULL;
    }
    vp->next_variable = NULL;
    vp->name = NULL;
    vp->name_length = 0;
    vp->type = ASN_NULL;
    vp->val.string = NULL;
    vp->val_len = 0;
    vp->data = NULL;
    vp->dataFreeHook = NULL;
    vp->index = 0;
    return vp;
}

/// Takes the answer's varbinds back into the pool (net-snmp then frees an empty list). What a varbind allocated for
/// itself (a long OID, a long string) is freed; beyond the pool's cap the varbind itself is.
static inline void np_vb_recycle(netsnmp_session *session, netsnmp_pdu *pdu) {
    np_vb_pool *pool = session ? (np_vb_pool *)session->myvoid : NULL;
    if (!pool || !pdu) return;
    netsnmp_variable_list *vp = pdu->variables;
    pdu->variables = NULL;
    while (vp) {
        netsnmp_variable_list *next = vp->next_variable;
        vp->next_variable = NULL;
        if (pool->count >= pool->cap) {
            snmp_free_var(vp);
        } else {
            if (vp->name && vp->name != vp->name_loc) free(vp->name);
            if (vp->val.string && vp->val.string != vp->buf) free(vp->val.string);
            if (vp->data) {
                if (vp->dataFreeHook) vp->dataFreeHook(vp->data);
                else free(vp->data);
            }
            vp->name = NULL;
            vp->val.string = NULL;
            vp->data = NULL;
            vp->next_variable = pool->free;
            pool->free = vp;
            pool->count++;
        }
        vp = next;
    }
}

/// One varbind's value, as net-snmp's `snmp_pdu_parse` decodes it (same calls, same types), stored in the varbind's
/// own buffer when it fits. Returns 0 on a malformed value.
static inline int np_vb_value(netsnmp_variable_list *vp, u_char *var_val) {
    size_t len = SNMP_MAX_PACKET_LEN;
    switch ((short)vp->type) {
    case ASN_INTEGER:
        vp->val.integer = (long *)vp->buf;
        vp->val_len = sizeof(long);
        return asn_parse_int(var_val, &len, &vp->type, (long *)vp->val.integer, sizeof(*vp->val.integer)) != NULL;
    case ASN_COUNTER:
    case ASN_GAUGE:
    case ASN_TIMETICKS:
    case ASN_UINTEGER:
        vp->val.integer = (long *)vp->buf;
        vp->val_len = sizeof(u_long);
        return asn_parse_unsigned_int(var_val, &len, &vp->type, (u_long *)vp->val.integer, vp->val_len) != NULL;
    case ASN_OPAQUE_COUNTER64:
    case ASN_OPAQUE_U64:
    case ASN_COUNTER64:
        vp->val.counter64 = (struct counter64 *)vp->buf;
        vp->val_len = sizeof(struct counter64);
        return asn_parse_unsigned_int64(var_val, &len, &vp->type, vp->val.counter64, vp->val_len) != NULL;
    case ASN_OPAQUE_FLOAT:
        vp->val.floatVal = (float *)vp->buf;
        vp->val_len = sizeof(float);
        return asn_parse_float(var_val, &len, &vp->type, vp->val.floatVal, vp->val_len) != NULL;
    case ASN_OPAQUE_DOUBLE:
        vp->val.doubleVal = (double *)vp->buf;
        vp->val_len = sizeof(double);
        return asn_parse_double(var_val, &len, &vp->type, vp->val.doubleVal, vp->val_len) != NULL;
    case ASN_OPAQUE_I64:
        vp->val.counter64 = (struct counter64 *)vp->buf;
        vp->val_len = sizeof(struct counter64);
        return asn_parse_signed_int64(var_val, &len, &vp->type, vp->val.counter64, sizeof(*vp->val.counter64))
            != NULL;
    case ASN_IPADDRESS:
        if (vp->val_len != 4) return 0;
        __attribute__((fallthrough));
    case ASN_OCTET_STR:
    case ASN_OPAQUE:
    case ASN_NSAP:
        vp->val.string = vp->val_len < sizeof(vp->buf) ? vp->buf : (u_char *)malloc(vp->val_len);
        if (!vp->val.string) return 0;
        return asn_parse_string(var_val, &len, &vp->type, vp->val.string, &vp->val_len) != NULL;
    case ASN_OBJECT_ID: {
        oid objid[MAX_OID_LEN];
        size_t count = MAX_OID_LEN;
        if (!asn_parse_objid(var_val, &len, &vp->type, objid, &count)) return 0;
        vp->val_len = count * sizeof(oid);
        vp->val.objid = vp->val_len <= sizeof(vp->buf) ? (oid *)vp->buf : (oid *)malloc(vp->val_len);
        if (!vp->val.objid) return 0;
        memmove(vp->val.objid, objid, vp->val_len);
        return 1;
    }
    case SNMP_NOSUCHOBJECT:
    case SNMP_NOSUCHINSTANCE:
    case SNMP_ENDOFMIBVIEW:
    case ASN_NULL:
        return 1;
    case ASN_BIT_STR:
        vp->val.bitstring = (u_char *)malloc(vp->val_len);
        if (!vp->val.bitstring) return 0;
        return asn_parse_bitstring(var_val, &len, &vp->type, vp->val.bitstring, &vp->val_len) != NULL;
    default:
        return 0;
    }
}

/// A malformed answer: no half-decoded varbind is left in the PDU (net-snmp drops it; nothing reads it).
static inline int np_parse_failed(netsnmp_pdu *pdu) {
    snmp_free_varbind(pdu->variables);
    pdu->variables = NULL;
    return -1;
}

/// The parse hook of v1/v2c sessions: a Response parsed as `snmp_parse` does, its varbinds taken from the session's
/// pool (`myvoid`). Anything but a Response of the session's version is refused (dropped, as net-snmp drops a message
/// it cannot parse; a client session has no use for the others).
static inline int np_parse_community(netsnmp_session *session, netsnmp_pdu *pdu, u_char *data, size_t length) {
    np_vb_pool *pool = (np_vb_pool *)session->myvoid;
    u_char community[COMMUNITY_MAX_LEN];
    size_t community_len = COMMUNITY_MAX_LEN;
    u_char type;
    if (!pool) return -1;
    data = snmp_comstr_parse(data, &length, community, &community_len, &pdu->version);
    if (!data || pdu->version != session->version) return -1;
    pdu->securityLevel = SNMP_SEC_LEVEL_NOAUTH;
    pdu->securityModel = pdu->version == SNMP_VERSION_1 ? SNMP_SEC_MODEL_SNMPv1 : SNMP_SEC_MODEL_SNMPv2c;
    data = asn_parse_header(data, &length, &type);
    if (!data || type != SNMP_MSG_RESPONSE) return -1;
    pdu->command = type;
    pdu->flags |= UCD_MSG_FLAG_RESPONSE_PDU;
    data = asn_parse_int(data, &length, &type, &pdu->reqid, sizeof(pdu->reqid));
    if (!data) return -1;
    data = asn_parse_int(data, &length, &type, &pdu->errstat, sizeof(pdu->errstat));
    if (!data) return -1;
    data = asn_parse_int(data, &length, &type, &pdu->errindex, sizeof(pdu->errindex));
    if (!data) return -1;
    data = asn_parse_sequence(data, &length, &type, (ASN_SEQUENCE | ASN_CONSTRUCTOR), "varbinds");
    if (!data) return -1;
    netsnmp_variable_list *last = NULL;
    while ((int)length > 0) {
        netsnmp_variable_list *vp = np_vb_take(pool);
        if (!vp) return np_parse_failed(pdu);
        // Linked first, so a malformed one is freed with the rest.
        if (last) last->next_variable = vp;
        else pdu->variables = vp;
        last = vp;
        u_char *var_val = NULL;
        vp->name = vp->name_loc;
        vp->name_length = MAX_OID_LEN;
        data = snmp_parse_var_op(data, vp->name_loc, &vp->name_length, &vp->type, &vp->val_len, &var_val, &length);
        if (!data || !np_vb_value(vp, var_val)) return np_parse_failed(pdu);
    }
    return 0;
}

/// Opens a single-session (thread-agnostic) handle. net-snmp copies peername and community. With `pool`, answers are
/// parsed by `np_parse_community` into the pool's varbinds (give them back with `np_vb_recycle`).
static inline void *np_snmp_open(const char *peer, long version, const unsigned char *community,
                                 size_t community_len, long timeout_us, int retries,
                                 netsnmp_callback callback, void *magic, np_vb_pool *pool) {
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
    if (!pool) return snmp_sess_open(&s);
    s.myvoid = pool;
    netsnmp_transport *transport = netsnmp_tdomain_transport_full("snmp", peer, 0, "udp,udp6", NULL);
    if (!transport) return NULL;
    return snmp_sess_add_ex(&s, transport, NULL, np_parse_community, NULL, NULL, NULL, NULL, NULL);
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
