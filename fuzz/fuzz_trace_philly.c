/* Fuzz target: a Philly-derived job trace (CSV) read by trace_open and handed back job by job,
 * as `allot sim --trace FILE --trace-format philly` reads it. */
/* fuzz-options: -max_len=10000 */
#include "support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_read_trace(data, size, TRACE_PHILLY);
}
