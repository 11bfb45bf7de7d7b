#include "tests/support/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace quorum::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base ? base : "/tmp") + "/quorum-test-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = buf.data();
}

TempDir::~TempDir() {
  // Kept for a look at the members' logs when debugging a failure.
  if (std::getenv("QUORUM_KEEP_TEST_DIRS") != nullptr) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

ChildProcess::ChildProcess(std::vector<std::string> argv, const std::string& log_path,
                           std::vector<std::string> env)
    : log_path_(log_path) {
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  // Built before fork: the child may only call async-signal-safe functions.
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    // Die with the test runner, so a crashed test cannot leave a server behind.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
}

ChildProcess::~ChildProcess() {
  if (running()) Kill();
}

void ChildProcess::Signal(int signal) {
  if (running()) ::kill(pid_, signal);
}

void ChildProcess::Kill() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::optional<int> ChildProcess::WaitExit(std::chrono::milliseconds timeout) {
  if (!running()) return std::nullopt;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string ChildProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds wait) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

std::string QuorumdPath() { return QUORUM_QUORUMD_PATH; }

std::vector<MemberSpec> LoopbackCluster(int count) {
  std::vector<MemberSpec> members;
  for (int i = 1; i <= count; ++i) {
    members.push_back({"m" + std::to_string(i), FreeLoopbackPort(), FreeLoopbackPort()});
  }
  return members;
}

std::vector<std::string> QuorumdArgs(const MemberSpec& self, const std::vector<MemberSpec>& cluster,
                                     const std::string& data_dir, std::vector<std::string> extra) {
  std::string initial;
  for (const auto& m : cluster) {
    if (!initial.empty()) initial += ",";
    initial += m.name + "=" + m.PeerUrl();
  }
  std::vector<std::string> args = {QuorumdPath(),
                                   "--name",
                                   self.name,
                                   "--data-dir",
                                   data_dir,
                                   "--listen-client-urls",
                                   self.ClientUrl(),
                                   "--advertise-client-urls",
                                   self.ClientUrl(),
                                   "--listen-peer-urls",
                                   self.PeerUrl(),
                                   "--initial-advertise-peer-urls",
                                   self.PeerUrl(),
                                   "--initial-cluster",
                                   initial,
                                   "--initial-cluster-token",
                                   "quorum-test",
                                   "--log-level",
                                   "info"};
  for (auto& e : extra) args.push_back(std::move(e));
  return args;
}

}  // namespace quorum::testing
