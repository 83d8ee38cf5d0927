#include <crypt.h>
#include <stdlib.h>
#include <string.h>

/// 1 when `password` hashes to `hash` (bcrypt `$2b$`/`$2y$`/`$2a$`, or any scheme libxcrypt knows), 0 otherwise.
/// Its own `crypt_data` on the heap (crypt_r is reentrant with it); compares in constant time.
static inline int np_crypt_verify(const char *password, const char *hash) {
    struct crypt_data *data = calloc(1, sizeof(struct crypt_data));
    if (!data) return 0;
    const char *out = crypt_r(password, hash, data);
    int ok = 0;
    if (out && out[0] != '*') {
        size_t a = strlen(out), b = strlen(hash);
        unsigned char diff = (unsigned char)(a != b);
        for (size_t i = 0; i < a && i < b; i++) diff |= (unsigned char)(out[i] ^ hash[i]);
        ok = diff == 0;
    }
    explicit_bzero(data, sizeof(struct crypt_data));
    free(data);
    return ok;
}
