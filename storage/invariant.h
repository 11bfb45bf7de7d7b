// Loud failure for a broken storage invariant (a revision going backwards, a record the index
// points at missing without a compaction to explain it). Continuing would corrupt data, so the
// process stops with the state that broke it. Callable from any thread.
#ifndef QUORUM_STORAGE_INVARIANT_H_
#define QUORUM_STORAGE_INVARIANT_H_

#include <string_view>

namespace quorum::storage {

[[noreturn]] void InvariantBroken(std::string_view what);

}  // namespace quorum::storage

#endif  // QUORUM_STORAGE_INVARIANT_H_
