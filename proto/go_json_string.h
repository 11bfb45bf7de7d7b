// A string as a JSON string literal the way Go's encoding/json writes it: quotes, backslashes and
// control bytes escaped, and <, > and & as \u003c, \u003e, \u0026 unless `escape_html` is
// false (zap's encoder leaves them). etcd's tools and gateway print through it, so clients that
// compare output byte for byte see the same text from quorum.
#ifndef QUORUM_PROTO_GO_JSON_STRING_H_
#define QUORUM_PROTO_GO_JSON_STRING_H_

#include <string>
#include <string_view>

namespace quorum {

std::string GoJsonQuote(std::string_view text, bool escape_html = true);

}  // namespace quorum

#endif  // QUORUM_PROTO_GO_JSON_STRING_H_
