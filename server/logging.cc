#include "server/logging.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "proto/go_json_string.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/basic_file_sink.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace quorum::server {
namespace {

// %*: the message, escaped for a JSON string.
class JsonMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string escaped =
        JsonEscaped(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessage>();
  }
};

// %L: etcd's level names in lower case ("warn", not spdlog's "warning").
class ZapLevel final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string_view name;
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug:
        name = "debug";
        break;
      case spdlog::level::info:
        name = "info";
        break;
      case spdlog::level::warn:
        name = "warn";
        break;
      case spdlog::level::err:
        name = "error";
        break;
      default:
        name = "fatal";
        break;
    }
    dest.append(name.data(), name.data() + name.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<ZapLevel>();
  }
};

}  // namespace

std::string JsonEscaped(std::string_view message) {
  // Go's escaping as zap writes it: without the HTML escapes.
  const std::string quoted = GoJsonQuote(message, /*escape_html=*/false);
  return quoted.substr(1, quoted.size() - 2);
}

absl::Status SetUpLogging(const std::string& logger, const std::vector<std::string>& outputs,
                          const std::string& level) {
  if (logger != "capnslog" && logger != "zap") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown logger \"", logger, "\" (--logger takes capnslog or zap)"));
  }
  std::vector<spdlog::sink_ptr> sinks;
  for (const std::string& output :
       outputs.empty() ? std::vector<std::string>{"default"} : outputs) {
    if (output == "default" || output == "stderr") {
      sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
    } else if (output == "stdout") {
      sinks.push_back(std::make_shared<spdlog::sinks::stdout_sink_mt>());
    } else {
      try {
        sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(output));
      } catch (const spdlog::spdlog_ex& e) {
        return absl::InvalidArgumentError(
            absl::StrCat("--log-outputs: cannot open ", output, ": ", e.what()));
      }
    }
  }
  // Unnamed, as spdlog's own default logger: lines carry no logger name.
  auto log = std::make_shared<spdlog::logger>("", sinks.begin(), sinks.end());
  if (logger == "zap") {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<ZapLevel>('L').add_flag<JsonMessage>('*').set_pattern(
        R"({"level":"%L","ts":"%Y-%m-%dT%H:%M:%S.%eZ","msg":"%*"})");
    log->set_formatter(std::move(formatter));
  }
  log->set_level(
      spdlog::level::from_str(level == "fatal" || level == "panic" ? "critical" : level));
  log->flush_on(spdlog::level::info);  // a log tail must be complete when a member dies
  spdlog::set_default_logger(std::move(log));
  return absl::OkStatus();
}

}  // namespace quorum::server
