// quorum-elect: the active/standby pattern as a tool. Run one instance per machine of a
// service; the instance that wins the named election runs the command, the others wait and
// take over when it dies or loses the cluster.
//   quorum-elect --endpoints 10.0.0.1:2379,10.0.0.2:2379 my-service -- ./serve --port 8080
// Exits 0 after SIGTERM/SIGINT (having stopped the command and revoked its lease), with the
// command's status when the command exits by itself, 2 on bad flags, 3 when the cluster refuses
// its user (kExitRefused).
#include <signal.h>

#include <atomic>
#include <cstring>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/elect/elector.h"
#include "client/elect/options.h"

namespace quorum::elect {
namespace {

int Main(int argc, char** argv) {
  // Before any thread exists (gRPC starts its own), so that every thread inherits the mask
  // and the signals reach only the sigtimedwait below.
  sigset_t handled;
  sigemptyset(&handled);
  sigaddset(&handled, SIGTERM);
  sigaddset(&handled, SIGINT);
  pthread_sigmask(SIG_BLOCK, &handled, nullptr);

  absl::StatusOr<Options> options = ParseOptions(argc, argv);
  if (!options.ok()) {
    if (options.status().code() == absl::StatusCode::kCancelled) {
      std::cout << options.status().message();
      return 0;
    }
    std::cerr << "quorum-elect: " << options.status().message() << "\n";
    return 2;
  }

  StateLog log(options->id);
  Elector elector(*std::move(options), log);
  std::atomic<bool> done{false};
  std::thread signals([&] {
    while (!done) {
      timespec tick = {0, 100 * 1000 * 1000};
      int signal = sigtimedwait(&handled, nullptr, &tick);
      if (signal > 0) {
        elector.events().Push({.kind = Event::Kind::kShutdown,
                               .detail = absl::StrCat("signal ", sigabbrev_np(signal))});
      }
    }
  });
  int code = elector.Run();
  done = true;
  signals.join();
  return code;
}

}  // namespace
}  // namespace quorum::elect

int main(int argc, char** argv) { return quorum::elect::Main(argc, argv); }
