// tern::version(): the version this library was built as.
#include "tern/version.h"

namespace tern {

const char* version() noexcept { return TERN_VERSION_STRING; }

}  // namespace tern
