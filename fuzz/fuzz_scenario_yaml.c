/* Fuzz target: a scenario file (allot sim), read by scenario_load: the platform, then the
 * timeline, expectations and final states with the schema's readers. */
/* fuzz-options: -max_len=4096 */
#include <string.h>

#include "sim/scenario.h"
#include "support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct scenario scn;
    struct sched *s = NULL;
    char err[1024] = "";
    const char *path = fuzz_file(data, size);
    int rc = scenario_load(path, &scn, &s, err, sizeof(err));
    if (rc == 0) {
        FUZZ_CHECK(s != NULL);
        for (uint32_t i = 1; i < scn.n_steps; i++) /* in time order */
            FUZZ_CHECK(scn.steps[i - 1].at_ms <= scn.steps[i].at_ms);
        scenario_cleanup(&scn);
    } else {
        FUZZ_CHECK(s == NULL);
        FUZZ_CHECK(err[0] != '\0');
    }
    sched_free(s);
    return 0;
}
