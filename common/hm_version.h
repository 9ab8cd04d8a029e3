/* hm_version.h - the release version and the formats this build writes and
 * reads, printed by every binary's -version and exported in /metrics.
 * HM_VERSION comes from the build (CMake's project version). */
#ifndef HM_VERSION_H
#define HM_VERSION_H

#include <stdio.h>

#ifndef HM_VERSION
#define HM_VERSION "0.0.0-unknown"
#endif
#define HM_VERSION_STRING HM_VERSION

/* Print "<prog> <version>" and the format versions to out. */
void hm_version_print(FILE *out, const char *prog);

#endif
