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
#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <net-snmp/library/large_fd_set.h>
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

/// The last error of a single session as text (caller frees).
static inline char *np_sess_error_string(void *sessp) {
    int clib = 0, snmp = 0;
    char *msg = NULL;
    snmp_sess_error(sessp, &clib, &snmp, &msg);
    return msg;
}

/// NETSNMP_LARGE_FD_ZERO is a macro (and names a glibc member that depends on feature macros): zero the bits directly.
static inline void np_large_fd_zero(netsnmp_large_fd_set *fdset) {
    memset(fdset->lfs_setptr, 0, ((fdset->lfs_setsize + NFDBITS - 1) / NFDBITS) * sizeof(fd_mask));
}
