/* Fuzz target: sched_snapshot_load on any bytes. It refuses them or loads an engine that
 * passes sched_check; an engine it loads saves to bytes that load again into the same engine
 * (saved once more, the same bytes). */
/* fuzz-options: -max_len=8192 */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "sched/snapshot.h"
#include "support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    struct sched *s = NULL;
    int rc = sched_snapshot_load(data, size, &s, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || rc == -ALLOT_EPARSE || rc == -ALLOT_ECHECK || rc == -ALLOT_ENOMEM);
    if (rc != 0) {
        FUZZ_CHECK(s == NULL);
        return 0;
    }
    FUZZ_CHECK(sched_check(s, err, sizeof(err)) == 0);
    uint8_t *once = NULL, *twice = NULL;
    size_t n_once = 0, n_twice = 0;
    struct sched *again = NULL;
    FUZZ_CHECK(sched_snapshot_save(s, &once, &n_once) == 0);
    FUZZ_CHECK(sched_snapshot_load(once, n_once, &again, err, sizeof(err)) == 0);
    FUZZ_CHECK(sched_snapshot_save(again, &twice, &n_twice) == 0);
    FUZZ_CHECK(n_once == n_twice && memcmp(once, twice, n_once) == 0);
    free(once);
    free(twice);
    sched_free(again);
    sched_free(s);
    return 0;
}
