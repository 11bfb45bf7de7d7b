// libFuzzer target: arbitrary first bytes of a client connection. Sorting them must never
// crash or read out of bounds, must be stable (the same bytes, the same answer), and a decision
// must not change once more bytes arrive: what a prefix decided, the whole input decides too.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "server/http/client_hello.h"

using quorum::server::http::ClassifyPlain;
using quorum::server::http::ClassifyTls;
using quorum::server::http::Protocol;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  for (auto classify : {ClassifyPlain, ClassifyTls}) {
    const Protocol whole = classify(bytes);
    if (classify(bytes) != whole) std::abort();
    // Every prefix either waits for more or already says what the whole input says.
    for (size_t n = 0; n <= size; n += 1 + n / 8) {
      const Protocol prefix = classify(bytes.substr(0, n));
      if (prefix != Protocol::kNeedMore && prefix != whole) std::abort();
    }
  }
  return 0;
}
