// quorumd's log setup: zap lines are JSON objects with etcd's level names, a UTC timestamp and
// the message escaped (quotes, newlines, control bytes); the level filters; an unknown logger
// or an output that cannot be opened is refused by name.
#include "server/logging.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace quorum::server {
namespace {

class LoggingTest : public ::testing::Test {
 protected:
  ~LoggingTest() override { spdlog::set_default_logger(saved_); }
  std::shared_ptr<spdlog::logger> saved_ = spdlog::default_logger();
  std::string path_ = ::testing::TempDir() + "/quorum-log-" + std::to_string(getpid()) + ".log";
};

std::vector<nlohmann::json> JsonLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

TEST_F(LoggingTest, ZapWritesOneJsonObjectPerLine) {
  std::remove(path_.c_str());
  ASSERT_TRUE(SetUpLogging("zap", {path_}, "info").ok());
  spdlog::debug("not at info level");
  spdlog::info("member {} says \"hi\"\nand\tmore \x01", 7);
  spdlog::warn("careful");
  spdlog::error("broken");
  spdlog::default_logger()->flush();
  std::vector<nlohmann::json> lines = JsonLines(path_);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["level"], "info");
  EXPECT_EQ(lines[0]["msg"], "member 7 says \"hi\"\nand\tmore \x01");
  const std::string ts = lines[0]["ts"];
  EXPECT_EQ(ts.size(), std::string("2026-12-07T16:27:11.835Z").size()) << ts;
  EXPECT_EQ(ts.back(), 'Z');
  EXPECT_EQ(lines[1]["level"], "warn");
  EXPECT_EQ(lines[2]["level"], "error");
  std::remove(path_.c_str());
}

TEST_F(LoggingTest, BadSettingsAreRefusedByName) {
  auto logger = SetUpLogging("glog", {}, "info");
  EXPECT_EQ(logger.message(), "unknown logger \"glog\" (--logger takes capnslog or zap)");
  // A directory cannot be made under a file.
  std::ofstream(path_) << "a file";
  const std::string under_a_file = path_ + "/quorum.log";
  auto output = SetUpLogging("zap", {under_a_file}, "info");
  EXPECT_FALSE(output.ok());
  EXPECT_NE(output.message().find("--log-outputs: cannot open " + under_a_file), std::string::npos)
      << output;
  std::remove(path_.c_str());
}

TEST(JsonEscapedTest, EscapesWhatJsonNeeds) {
  EXPECT_EQ(JsonEscaped(R"(a"b\c)"), R"(a\"b\\c)");
  EXPECT_EQ(JsonEscaped("x\ny\rz\t"), R"(x\ny\rz\t)");
  EXPECT_EQ(JsonEscaped(std::string("\x1f", 1)), R"(\u001f)");
  EXPECT_EQ(JsonEscaped("utf-8 é stays"), "utf-8 é stays");
}

}  // namespace
}  // namespace quorum::server
