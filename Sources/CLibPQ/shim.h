#pragma once
#include <libpq-fe.h>

/* Character-literal macros from postgres_ext.h, as plain constants for Swift. */
enum {
    NP_PG_DIAG_SQLSTATE = 'C',
    NP_PG_DIAG_MESSAGE_PRIMARY = 'M',
    NP_PG_DIAG_MESSAGE_DETAIL = 'D',
};
