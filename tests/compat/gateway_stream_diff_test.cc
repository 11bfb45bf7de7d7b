// Differential test of the JSON gateway's streams (watch, lease keep-alive, election observe,
// snapshot), with and without auth, against etcd 3.4; and a stream's end, with its connection's
// thread, when the client goes away or the member stops.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <iostream>
#include <string>
#include <tuple>
#include <vector>

#include "tests/compat/gateway_session.h"

namespace quorum::gateway_test {
namespace {

TEST_F(GatewayDiff, StreamsMatchEtcd) {
  for (Target* target : {&etcd_, &quorumd_}) {
    Send(*target, {"grant", "/v3/lease/grant", R"({"TTL":"60","ID":"1000"})"});
  }
  std::vector<std::pair<std::string, Outcome>> expected, actual;
  for (Target* target : {&etcd_, &quorumd_}) {
    auto& out = target == &etcd_ ? expected : actual;
    {
      // Two watch requests in one body; a put made through the gateway's unary route.
      RawStream watch(target->port, "/v3/watch",
                      R"({"create_request":{"key":"YQ=="}})"
                      "\n"
                      R"({"create_request":{"key":"YQ==","range_end":"eg==","prev_kv":true}})");
      std::vector<std::string> created = watch.ReadResults(2, seconds(10));
      Send(*target, {"put", "/v3/kv/put", R"({"key":"YQ==","value":"MQ=="})"});
      Send(*target, {"put", "/v3/kv/put", R"({"key":"Yg==","value":"Mg=="})"});
      std::vector<std::string> results = watch.ReadResults(5, seconds(10));
      // Two watchers see each event: which one hears it first is not specified.
      if (results.size() > created.size())
        std::sort(results.begin() + created.size(), results.end());
      out.push_back({"watch status", {0, StatusLine(watch.received())}});
      // A watch goes on after the request body ended.
      out.push_back({"watch response still open", {watch.Ended() ? 0 : 1, ""}});
      for (size_t i = 0; i < results.size(); ++i) {
        out.push_back({"watch message " + std::to_string(i), {0, Mask(results[i], {})}});
      }
    }
    {
      // Two keep-alive requests in one body: two answers, then the response ends (the body's
      // end closes the client's side, and a keep-alive stream ends with it; Patroni waits
      // for that end).
      RawStream keepalive(target->port, "/v3/lease/keepalive", R"({"ID":"1000"} {"ID":1000})");
      std::vector<std::string> results = keepalive.ReadResults(3, seconds(10));
      out.push_back({"keepalive status", {0, StatusLine(keepalive.received())}});
      for (size_t i = 0; i < results.size(); ++i) {
        out.push_back({"keepalive message " + std::to_string(i), {0, Mask(results[i], {})}});
      }
      out.push_back({"keepalive response ended", {keepalive.Ended() ? 1 : 0, ""}});
    }
    {
      RawStream keepalive(target->port, "/v3/lease/keepalive", R"({"ID":"5"})");
      std::vector<std::string> results = keepalive.ReadResults(1, seconds(10));
      for (size_t i = 0; i < results.size(); ++i) {
        out.push_back({"keepalive unknown " + std::to_string(i), {0, Mask(results[i], {})}});
      }
    }
  }
  for (Target* target : {&etcd_, &quorumd_}) {
    auto& out = target == &etcd_ ? expected : actual;
    {
      // An election observed over HTTP sees the leader a campaign made.
      RawStream observe(target->port, "/v3/election/observe", R"({"name":"ZQ=="})");
      Send(*target, {"campaign", "/v3/election/campaign",
                     R"({"name":"ZQ==","lease":"1000","value":"djE="})"});
      std::vector<std::string> results = observe.ReadResults(1, seconds(10));
      out.push_back({"observe status", {0, StatusLine(observe.received())}});
      for (size_t i = 0; i < results.size(); ++i) {
        out.push_back({"observe message " + std::to_string(i), {0, Mask(results[i], {})}});
      }
    }
    {
      // A snapshot: the database in chunks (its bytes and size differ between the servers), the
      // last one with nothing remaining, then the SHA-256 (32 bytes) alone.
      RawStream snapshot(target->port, "/v3/maintenance/snapshot", "");
      std::vector<std::string> results = snapshot.ReadResults(100000, seconds(20));
      out.push_back({"snapshot status", {0, StatusLine(snapshot.received())}});
      out.push_back({"snapshot ended", {snapshot.Ended(), ""}});
      for (size_t i = results.size() >= 2 ? results.size() - 2 : 0; i < results.size(); ++i) {
        std::string message = results[i];
        const size_t blob = message.find(R"("blob":")");
        if (blob != std::string::npos) {
          const size_t length = message.find('"', blob + 8) - (blob + 8);
          message.replace(blob + 8, length,
                          i + 1 == results.size() ? std::to_string(length) + " base64 chars" : "*");
        }
        out.push_back({"snapshot message, " + std::to_string(results.size() - i) + " from the end",
                       {0, message}});
      }
    }
  }
  std::cout << "gateway stream diff: " << expected.size() << " steps\n";
  EXPECT_EQ(CountDifferences(expected, actual), 0);
}

TEST_F(GatewayDiff, StreamsUnderAuthMatchEtcd) {
  std::vector<std::pair<std::string, Outcome>> expected, actual;
  for (Target* target : {&etcd_, &quorumd_}) {
    auto& out = target == &etcd_ ? expected : actual;
    for (const Step& step : std::vector<Step>{
             {"add root", "/v3/auth/user/add", R"({"name":"root","password":"r"})"},
             {"grant root", "/v3/auth/user/grant", R"({"user":"root","role":"root"})"},
             {"enable", "/v3/auth/enable", ""}}) {
      out.push_back({step.name, Send(*target, step)});
    }
    for (const auto& [name, path, body] :
         std::vector<std::tuple<std::string, std::string, std::string>>{
             {"watch without a token", "/v3/watch", R"({"create_request":{"key":"YQ=="}})"},
             {"snapshot without a token", "/v3/maintenance/snapshot", ""}}) {
      RawStream stream(target->port, path, body);
      stream.ReadResults(1, seconds(5));
      const std::string& received = stream.received();
      const size_t head_end = received.find("\r\n\r\n");
      std::string content = head_end == std::string::npos ? "" : received.substr(head_end + 4);
      if (received.substr(0, head_end).find("Transfer-Encoding: chunked") != std::string::npos) {
        content = Dechunk(content);
      }
      out.push_back({name, {0, StatusLine(received) + " " + Mask(content, {})}});
    }
  }
  EXPECT_EQ(CountDifferences(expected, actual), 0);
}

// The number of threads of process `pid`.
int ThreadCount(pid_t pid) {
  int count = 0;
  std::error_code error;
  for (auto it =
           std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", error);
       !error && it != std::filesystem::directory_iterator(); ++it) {
    ++count;
  }
  return count;
}

TEST(GatewayStreams, StreamEndsWhenClientGoesAwayOrMemberStops) {
  TempDir dir;
  Target target = StartTarget(dir.path(), false);
  Send(target, {"grant", "/v3/lease/grant", R"({"TTL":"60","ID":"1000"})"});
  const pid_t pid = target.process->pid();
  const int baseline = ThreadCount(pid);
  for (int round = 0; round < 3; ++round) {
    std::vector<std::unique_ptr<RawStream>> streams;
    for (int i = 0; i < 10; ++i) {
      streams.push_back(std::make_unique<RawStream>(target.port, "/v3/watch",
                                                    R"({"create_request":{"key":"YQ=="}})"));
      streams.push_back(
          std::make_unique<RawStream>(target.port, "/v3/lease/keepalive", R"({"ID":"1000"})"));
    }
    for (auto& stream : streams) ASSERT_EQ(stream->ReadResults(1, seconds(10)).size(), 1u);
    EXPECT_GE(ThreadCount(pid), baseline + 15);  // one per connection, give or take
    streams.clear();                             // hang up
    // Each connection's thread ends once its stream sees the client gone (gRPC's own pool may
    // keep a few more threads than before the first round).
    EXPECT_TRUE(WaitUntil([&] { return ThreadCount(pid) <= baseline + 5; }, seconds(10)))
        << ThreadCount(pid) << " threads, " << baseline << " before";
  }
  // The member stops promptly with a stream open and a unary call waiting (a lock held by
  // another lease).
  RawStream watch(target.port, "/v3/watch", R"({"create_request":{"key":"YQ=="}})");
  ASSERT_EQ(watch.ReadResults(1, seconds(10)).size(), 1u);
  Send(target, {"grant", "/v3/lease/grant", R"({"TTL":"60","ID":"2000"})"});
  EXPECT_EQ(Send(target, {"lock", "/v3/lock/lock", R"({"name":"bA==","lease":"1000"})"}).status,
            200);
  RawStream waiting(target.port, "/v3/lock/lock", R"({"name":"bA==","lease":"2000"})");
  EXPECT_TRUE(waiting.ReadResults(1, milliseconds(500)).empty());
  EXPECT_TRUE(waiting.received().empty()) << waiting.received();
  target.process->Signal(SIGTERM);
  EXPECT_EQ(target.process->WaitExit(seconds(10)), std::optional<int>(0)) << target.process->Log();
}

}  // namespace
}  // namespace quorum::gateway_test
