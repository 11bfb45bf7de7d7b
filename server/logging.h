// quorumd's log as etcd's flags shape it: --logger capnslog (text lines, the default in etcd
// 3.4) or zap (one JSON object per line: level, ts, msg, as etcd's structured logger writes
// them), to --log-outputs: "default" or "stderr", "stdout", or file paths (appended to).
#ifndef QUORUM_SERVER_LOGGING_H_
#define QUORUM_SERVER_LOGGING_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace quorum::server {

// Replaces spdlog's default logger. `level` is etcd's (debug, info, warn, error, panic, fatal).
// INVALID_ARGUMENT naming the flag for an unknown logger or an output that cannot be opened.
absl::Status SetUpLogging(const std::string& logger, const std::vector<std::string>& outputs,
                          const std::string& level);

// `message` as the inside of a JSON string.
std::string JsonEscaped(std::string_view message);

}  // namespace quorum::server

#endif  // QUORUM_SERVER_LOGGING_H_
