// quorumd refuses bad configurations at startup with a clear message and a non-zero exit.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <fstream>

#include "client/kv_client.h"
#include "tests/support/process.h"

namespace quorum {
namespace {

using testing::ChildProcess;
using testing::TempDir;

struct Outcome {
  int exit_code;
  std::string log;
};

Outcome RunQuorumd(const TempDir& dir, std::vector<std::string> args) {
  args.insert(args.begin(), testing::QuorumdPath());
  ChildProcess process(args, dir.path() + "/out.log");
  auto code = process.WaitExit(std::chrono::seconds(20));
  EXPECT_TRUE(code.has_value()) << "quorumd did not exit";
  return {code.value_or(-1), process.Log()};
}

TEST(Startup, UnknownFlagExitsWithMessage) {
  TempDir dir;
  Outcome out = RunQuorumd(dir, {"--bogus-flag", "1"});
  EXPECT_EQ(out.exit_code, 2);
  EXPECT_NE(out.log.find("bogus-flag"), std::string::npos) << out.log;
}

TEST(Startup, DataDirThatCannotBeCreatedIsReported) {
  TempDir dir;
  std::string file = dir.path() + "/plain-file";
  std::ofstream(file) << "x";
  int port = testing::FreeLoopbackPort();
  std::string url = "http://127.0.0.1:" + std::to_string(port);
  std::string peer = "http://127.0.0.1:" + std::to_string(testing::FreeLoopbackPort());
  Outcome out = RunQuorumd(
      dir, {"--data-dir", file + "/data", "--listen-client-urls", url, "--advertise-client-urls",
            url, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer});
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_NE(out.log.find("data dir"), std::string::npos) << out.log;
}

TEST(Startup, PortInUseIsReported) {
  TempDir dir;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::string url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  std::string peer = "http://127.0.0.1:" + std::to_string(testing::FreeLoopbackPort());
  Outcome out = RunQuorumd(dir, {"--data-dir", dir.path() + "/data", "--listen-client-urls", url,
                                 "--advertise-client-urls", url, "--listen-peer-urls", peer,
                                 "--initial-advertise-peer-urls", peer});
  close(fd);
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_NE(out.log.find("cannot listen"), std::string::npos) << out.log;
}

TEST(Startup, TlsUrlIsRefusedClearly) {
  TempDir dir;
  Outcome out = RunQuorumd(dir, {"--listen-client-urls", "https://127.0.0.1:1"});
  EXPECT_EQ(out.exit_code, 2);
  EXPECT_NE(out.log.find("TLS"), std::string::npos) << out.log;
}

}  // namespace
}  // namespace quorum

namespace quorum {
namespace {

TEST(Startup, DataDirOfAnotherClusterIsRefused) {
  testing::TempDir dir;
  auto spec = testing::LoopbackCluster(1)[0];
  auto args = testing::QuorumdArgs(spec, {spec}, dir.path() + "/data");
  {
    testing::ChildProcess first(args, dir.path() + "/first.log");
    client::KvClient probe(spec.Endpoint());
    ASSERT_TRUE(probe.WaitLeader(std::chrono::seconds(20)).ok()) << first.Log();
    first.Signal(SIGTERM);
    ASSERT_TRUE(first.WaitExit(std::chrono::seconds(15)).has_value());
  }
  // Same data dir, another cluster's token.
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--initial-cluster-token") args[i + 1] = "some-other-cluster";
  }
  testing::ChildProcess second(args, dir.path() + "/second.log");
  auto code = second.WaitExit(std::chrono::seconds(20));
  ASSERT_TRUE(code.has_value()) << "quorumd started on another cluster's data dir";
  EXPECT_EQ(*code, 1);
  EXPECT_NE(second.Log().find("belongs to cluster"), std::string::npos) << second.Log();
}

}  // namespace
}  // namespace quorum
