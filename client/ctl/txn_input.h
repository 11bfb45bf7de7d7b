// Reads a transaction the way `etcdctl txn` does: compares, a blank line, success operations, a
// blank line, failure operations, a blank line; each operation written as a get/put/del command
// line. Used by the txn command.
#ifndef QUORUM_CLIENT_CTL_TXN_INPUT_H_
#define QUORUM_CLIENT_CTL_TXN_INPUT_H_

#include <istream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "etcdserverpb/rpc.pb.h"

namespace quorum::ctl {

// Splits a line into words as etcdctl does: "double quoted" (with Go escapes), 'single quoted',
// or bare words.
std::vector<std::string> Argify(const std::string& line);

// One compare line, e.g. `mod("k1") > "0"` or `val("k2") = "v2"`.
absl::StatusOr<etcdserverpb::Compare> ParseCompare(const std::string& line);

// The whole transaction from `in`. Ends the process with etcdctl's message and exit code 3 on
// malformed input; `interactive` prints etcdctl's prompts.
etcdserverpb::TxnRequest ReadTxn(std::istream& in, bool interactive);

}  // namespace quorum::ctl

#endif  // QUORUM_CLIENT_CTL_TXN_INPUT_H_
