/* Name rule: lower-case letters and digits, then also '-', '_' and '.'. */
#include "common/name.h"

bool name_is_valid(const char *s, size_t n, size_t max)
{
    if (!s || n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  (i > 0 && (c == '-' || c == '_' || c == '.'));
        if (!ok)
            return false;
    }
    return true;
}
