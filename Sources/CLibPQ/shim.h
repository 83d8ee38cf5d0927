#pragma once
#include <libpq-fe.h>

/* A character-literal macro from postgres_ext.h, as a plain constant for Swift. */
enum { NP_PG_DIAG_SQLSTATE = 'C' };
