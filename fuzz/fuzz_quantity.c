/* Fuzz target: the quantity parsers (durations, bytes, CPUs, GPU fractions) of
 * common/quantity.c on one text, and the printers on what they accept: a printed value parses
 * back to the same amount. */
/* fuzz-options: -max_len=64 */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/quantity.h"
#include "support.h"

typedef int (*parse_fn)(const char *s, int64_t *out);
typedef char *(*format_fn)(int64_t v, char *buf, size_t len);

static void check_kind(const char *text, parse_fn parse, format_fn format)
{
    int64_t v = -1, back = -1;
    int rc = parse(text, &v);
    FUZZ_CHECK(rc == 0 || rc == -ALLOT_EPARSE || rc == -ALLOT_ERANGE);
    if (rc != 0)
        return;
    FUZZ_CHECK(v >= 0 && v <= QUANTITY_MAX);
    char buf[64];
    format(v, buf, sizeof(buf));
    if (strchr(buf, '+')) /* "1+3/7" is for people; the parser takes "10/7" */
        return;
    FUZZ_CHECK(parse(buf, &back) == 0);
    FUZZ_CHECK(back == v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size);
    if (!text)
        return 0;
    check_kind(text, quantity_parse_duration, quantity_format_duration);
    check_kind(text, quantity_parse_bytes, quantity_format_bytes);
    check_kind(text, quantity_parse_cpu, quantity_format_cpu);
    check_kind(text, quantity_parse_gpu, quantity_format_gpu);
    free(text);
    return 0;
}
