#pragma once
#include <curl/curl.h>

/* CURLAUTH_BASIC is a cast macro: a plain constant for Swift. */
enum { NP_CURLAUTH_BASIC = 1 };

// curl_easy_setopt / curl_easy_getinfo are variadic and do not import into Swift: typed wrappers.
static inline CURLcode np_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode np_curl_setopt_ptr(CURL *h, CURLoption o, const void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode np_curl_setopt_func(CURL *h, CURLoption o, void *f) { return curl_easy_setopt(h, o, f); }
static inline CURLcode np_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode np_curl_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
typedef size_t (*np_curl_data_callback)(char *data, size_t size, size_t count, void *context);
static inline CURLcode np_curl_setopt_callback(CURL *h, CURLoption o, np_curl_data_callback f) {
    return curl_easy_setopt(h, o, f);
}
