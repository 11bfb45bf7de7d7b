#include "client/elect/command.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace quorum::elect {
namespace {

int ExitCode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

}  // namespace

Command::~Command() {
  if (running()) Stop(absl::ZeroDuration());
}

absl::Status Command::Start(const std::vector<std::string>& env) {
  if (argv_.empty() || running()) return absl::OkStatus();
  // Everything the child needs is prepared before fork(): between fork and exec only
  // async-signal-safe calls are allowed in a threaded program.
  std::vector<std::string> env_strings = env;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  std::vector<char*> child_env;
  for (auto& e : env_strings) child_env.push_back(e.data());
  child_env.push_back(nullptr);
  std::vector<char*> child_argv;
  for (auto& a : argv_) child_argv.push_back(a.data());
  child_argv.push_back(nullptr);
  pid_t parent = getpid();

  pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the parent died before prctl took effect
    // quorum-elect blocks the signals it handles itself; the command must not inherit that.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execvpe(child_argv[0], child_argv.data(), child_env.data());
    _exit(127);
  }
  // Also from the parent, so that Stop() can signal the group even if the child has not run
  // setpgid yet.
  setpgid(pid, pid);
  pid_ = pid;
  return absl::OkStatus();
}

std::optional<int> Command::Poll() {
  if (!running()) return std::nullopt;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
  pid_ = -1;
  return ExitCode(status);
}

std::optional<int> Command::Stop(absl::Duration grace) {
  if (!running()) return std::nullopt;
  if (std::optional<int> code = Poll()) return code;
  kill(-pid_, SIGTERM);
  absl::Time kill_at = absl::Now() + grace;
  while (absl::Now() < kill_at) {
    if (std::optional<int> code = Poll()) return code;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(-pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return ExitCode(status);
}

}  // namespace quorum::elect
