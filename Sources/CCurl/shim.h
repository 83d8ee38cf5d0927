#pragma once
#include <curl/curl.h>

// curl_easy_setopt / curl_easy_getinfo are variadic and do not import into Swift: typed wrappers.
static inline CURLcode np_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode np_curl_setopt_ptr(CURL *h, CURLoption o, const void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode np_curl_setopt_func(CURL *h, CURLoption o, void *f) { return curl_easy_setopt(h, o, f); }
static inline CURLcode np_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
