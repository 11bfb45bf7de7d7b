#include "storage/invariant.h"

#include <cstdio>
#include <cstdlib>

namespace quorum::storage {

void InvariantBroken(std::string_view what) {
  std::fprintf(stderr, "quorum storage invariant broken: %.*s\n", static_cast<int>(what.size()),
               what.data());
  std::fflush(stderr);
  std::abort();
}

}  // namespace quorum::storage
