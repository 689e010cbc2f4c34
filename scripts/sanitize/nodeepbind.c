/* Preloaded (before the sanitizer runtime) by scripts/sanitize.sh so OpenVINO can be loaded under
 * ASan/TSan: OpenVINO dlopens its plugins and TBB with RTLD_DEEPBIND, which sanitizer runtimes
 * refuse (https://github.com/google/sanitizers/issues/611). Dropping the flag only changes which
 * copy of a duplicated symbol a plugin binds to; the test process has no such duplicates that
 * matter (the OpenVINO tests pass with it), and irforge's own code is what is being checked. */
#define _GNU_SOURCE
#include <dlfcn.h>

void* dlopen(const char* file, int flags) {
  static void* (*next)(const char*, int);
  if (!next) next = (void* (*)(const char*, int))dlsym(RTLD_NEXT, "dlopen");
  return next(file, flags & ~RTLD_DEEPBIND);
}
