// Differential test of the JSON gateway: the same HTTP requests go to the real etcd 3.4 and to
// quorumd, on every unary route (successes and errors: bad JSON, empty key, missing lease or
// member, future compaction, auth refusals), and on the streams (watch, lease keep-alive); the
// HTTP status and the JSON body must be equal once ids, terms, URLs and sizes are masked.
// Also: a gateway stream ends, and its connection's thread with it, when the client goes away
// or the member stops.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <regex>
#include <string>
#include <tuple>
#include <vector>

#include "tests/support/process.h"

namespace quorum {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::ChildProcess;
using testing::FreeLoopbackPort;
using testing::TempDir;
using testing::WaitUntil;

std::string EtcdPath() {
  for (const char* p : {"/usr/bin/etcd", "/usr/local/bin/etcd"}) {
    if (std::filesystem::exists(p)) return p;
  }
  return "";
}

// One server under test, reached over HTTP/1.1 on its client port.
struct Target {
  std::unique_ptr<ChildProcess> process;
  int port = 0;
  // Values a step captured from an answer ("token", "member"), substituted into later bodies.
  std::map<std::string, std::string> captured;
};

// Starts a one-member etcd or quorumd with data under `dir` and waits until /health is 200.
Target StartTarget(const std::string& dir, bool is_etcd) {
  Target t;
  t.port = FreeLoopbackPort();
  const std::string url = "http://127.0.0.1:" + std::to_string(t.port);
  std::vector<std::string> argv;
  if (is_etcd) {
    const std::string peer = "http://127.0.0.1:" + std::to_string(FreeLoopbackPort());
    argv = {EtcdPath(),    "--name",
            "diff",        "--data-dir",
            dir + "/etcd", "--listen-client-urls",
            url,           "--advertise-client-urls",
            url,           "--listen-peer-urls",
            peer,          "--initial-advertise-peer-urls",
            peer,          "--initial-cluster",
            "diff=" + peer};
  } else {
    testing::MemberSpec self{"diff", t.port, FreeLoopbackPort()};
    argv = testing::QuorumdArgs(self, {self}, dir + "/quorumd");
  }
  t.process = std::make_unique<ChildProcess>(argv, dir + (is_etcd ? "/etcd.log" : "/quorumd.log"));
  const bool healthy = WaitUntil(
      [&] {
        httplib::Client client("127.0.0.1", t.port);
        client.set_connection_timeout(seconds(1));
        auto result = client.Get("/health");
        return result && result->status == 200;
      },
      seconds(30));
  EXPECT_TRUE(healthy) << t.process->Log();
  return t;
}

// What a step answered, masked for comparison.
struct Outcome {
  int status = 0;
  std::string body;
  bool operator==(const Outcome& o) const { return status == o.status && body == o.body; }
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  return os << o.status << " " << o.body << "\n";
}

// Replaces the values that legitimately differ between two servers.
std::string Mask(std::string body, const std::vector<std::string>& extra_keys) {
  std::vector<std::string> keys = {"cluster_id", "member_id",   "raft_term", "leader",
                                   "dbSize",     "dbSizeInUse", "raftIndex", "raftAppliedIndex",
                                   "raftTerm",   "token",       "hash"};
  keys.insert(keys.end(), extra_keys.begin(), extra_keys.end());
  for (const std::string& key : keys) {
    body = std::regex_replace(body, std::regex("\"" + key + "\":(\"[^\"]*\"|[0-9]+)"),
                              "\"" + key + "\":\"*\"");
  }
  return std::regex_replace(body, std::regex("127\\.0\\.0\\.1:[0-9]+"), "127.0.0.1:*");
}

// One request of the session. `{name}` in the body is replaced by the target's captured value
// of that name; `capture` names JSON string fields of the answer to capture.
struct Step {
  std::string name;
  std::string path;
  std::string body;
  std::string token;                           // a captured name whose value goes in Authorization
  std::vector<std::string> mask;               // more keys whose values differ legitimately
  std::map<std::string, std::string> capture;  // captured name -> JSON key in the answer
  bool no_length = false;  // send no Content-Length (and no body), as `curl -X POST` does
};

std::string Substitute(std::string text, const std::map<std::string, std::string>& values) {
  for (const auto& [name, value] : values) {
    const std::string pattern = "{" + name + "}";
    for (size_t at; (at = text.find(pattern)) != std::string::npos;) {
      text.replace(at, pattern.size(), value);
    }
  }
  return text;
}

// Removes the chunked transfer coding from `body` (and any trailer after the last chunk).
std::string Dechunk(const std::string& body) {
  std::string out;
  size_t at = 0;
  while (at < body.size()) {
    const size_t line_end = body.find("\r\n", at);
    if (line_end == std::string::npos) break;
    const size_t size = std::stoul(body.substr(at, line_end - at), nullptr, 16);
    if (size == 0) break;
    out += body.substr(line_end + 2, size);
    at = line_end + 2 + size + 2;
  }
  return out;
}

// POSTs `body` on a connection of its own and reads the whole answer: {status, body}. A raw
// client, as etcd's error answers carry HTTP trailers that not every client library reads.
Outcome RawPost(int port, const std::string& path, const std::string& authorization,
                const std::string& body, bool no_length = false) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return {0, "cannot connect"};
  }
  std::string request = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!no_length) {
    request +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  if (!authorization.empty()) request += "Authorization: " + authorization + "\r\n";
  request += "\r\n" + body;
  send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string received;
  const auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    char buffer[4096];
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    received.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  const size_t head_end = received.find("\r\n\r\n");
  if (received.size() < 12 || head_end == std::string::npos) return {0, "no answer: " + received};
  const std::string head = received.substr(0, head_end);
  std::string content = received.substr(head_end + 4);
  if (head.find("Transfer-Encoding: chunked") != std::string::npos) content = Dechunk(content);
  return {std::stoi(received.substr(9, 3)), content};
}

// Sorts the objects of the "members" array of `body`: their order follows member ids, which
// differ between two clusters.
std::string SortMembers(const std::string& body) {
  const size_t start = body.find("\"members\":[");
  if (start == std::string::npos) return body;
  const size_t open = start + 11;
  const size_t close = body.find("}]", open);
  if (close == std::string::npos) return body;
  std::vector<std::string> members;
  static const std::regex kMember(R"(\{[^{}]*\})");
  const std::string list = body.substr(open, close + 1 - open);
  for (auto it = std::sregex_iterator(list.begin(), list.end(), kMember);
       it != std::sregex_iterator(); ++it) {
    members.push_back(it->str());
  }
  std::sort(members.begin(), members.end());
  std::string sorted;
  for (const std::string& member : members) sorted += (sorted.empty() ? "" : ",") + member;
  return body.substr(0, open) + sorted + body.substr(close + 1);
}

Outcome Send(Target& target, const Step& step) {
  std::string authorization;
  if (!step.token.empty()) {
    auto found = target.captured.find(step.token);
    authorization = found == target.captured.end() ? step.token : found->second;
  }
  Outcome answer = RawPost(target.port, step.path, authorization,
                           Substitute(step.body, target.captured), step.no_length);
  for (const auto& [name, key] : step.capture) {
    std::smatch match;
    if (std::regex_search(answer.body, match, std::regex("\"" + key + "\":\\[?\"?([^\",}\\]]*)"))) {
      target.captured[name] = match[1];
    }
  }
  return {answer.status, SortMembers(Mask(answer.body, step.mask))};
}

// The unary session: every route of etcd 3.4's gateway, successes and errors.
std::vector<Step> UnarySession() {
  std::vector<Step> s;
  auto add = [&](std::string name, std::string path, std::string body) {
    s.push_back({std::move(name), std::move(path), std::move(body)});
    return &s.back();
  };
  // KV. Keys and values are base64: "a" is YQ==, "b" Yg==, "c" Yw==, "z" eg==.
  add("put a", "/v3/kv/put", R"({"key":"YQ==","value":"MQ=="})");
  add("put b through v3beta", "/v3beta/kv/put", R"({"key":"Yg==","value":"Mg=="})");
  add("v3alpha is not served", "/v3alpha/kv/put", R"({"key":"Yg==","value":"Mg=="})");
  add("put a with prev_kv", "/v3/kv/put", R"({"key":"YQ==","value":"Mw==","prev_kv":true})");
  add("range a", "/v3/kv/range", R"({"key":"YQ=="})");
  add("range [a,z) count_only", "/v3/kv/range",
      R"({"key":"YQ==","range_end":"eg==","count_only":true})");
  add("range sorted by name, limit as a number", "/v3/kv/range",
      R"({"key":"YQ==","range_end":"eg==","sort_order":"DESCEND","sort_target":"KEY","limit":1})");
  add("range camelCase names, enum numbers", "/v3/kv/range",
      R"({"key":"YQ==","rangeEnd":"eg==","sortOrder":2,"keysOnly":true})");
  add("range revision as a string", "/v3/kv/range", R"({"key":"YQ==","revision":"2"})");
  add("range future revision", "/v3/kv/range", R"({"key":"YQ==","revision":"100"})");
  add("range unknown field is skipped", "/v3/kv/range", R"({"key":"YQ==","bogus":1})");
  add("range trailing data is ignored", "/v3/kv/range", R"({"key":"YQ=="} trailing)");
  add("range empty body", "/v3/kv/range", "");
  add("range empty key", "/v3/kv/range", R"({"range_end":"eg=="})");
  add("range without a body length", "/v3/kv/range", "")->no_length = true;
  s.push_back({"status without a body length", "/v3/maintenance/status", "", "", {"version"}});
  s.back().no_length = true;
  add("range body is an array", "/v3/kv/range", "[1]");
  add("range body is a string", "/v3/kv/range", R"("a")");
  add("range missing key", "/v3/kv/range", R"({"key":"bm9wZQ=="})");
  s.push_back({"range with an invalid token, auth disabled", "/v3/kv/range", R"({"key":"YQ=="})",
               "not-a-token"});
  // Bodies that are not JSON: the decoder's own messages.
  add("range bad JSON", "/v3/kv/range", "{bad");
  add("range cut short", "/v3/kv/range", R"({"key":"YQ==")");
  add("range missing colon", "/v3/kv/range", R"({"key" "YQ=="})");
  add("range bad literal", "/v3/kv/range", R"({"key":"YQ==","serializable":tru})");
  add("range trailing comma", "/v3/kv/range", R"({"key":"YQ==",})");
  add("range bad escape", "/v3/kv/range", R"({"key":"\q"})");
  add("range bad number", "/v3/kv/range", R"({"key":"YQ==","limit":-})");
  add("range bad array", "/v3/kv/range", R"({"key":"YQ==","x":[1 2]})");
  add("range control character", "/v3/kv/range", "{\"key\":\"a\tb\"}");
  add("watch bad JSON", "/v3/watch", "{bad");
  add("range unknown enum name", "/v3/kv/range", R"({"key":"YQ==","sort_order":"FOO"})");
  add("unknown route", "/v3/kv/nothing", "{}");
  add("deleterange b with prev_kv", "/v3/kv/deleterange", R"({"key":"Yg==","prev_kv":true})");
  add("deleterange nothing", "/v3/kv/deleterange", R"({"key":"eHg="})");
  add("deleterange empty key", "/v3/kv/deleterange", "{}");
  add("txn compare true", "/v3/kv/txn",
      R"({"compare":[{"target":"VALUE","key":"YQ==","result":"EQUAL","value":"Mw=="}],)"
      R"("success":[{"request_put":{"key":"Yw==","value":"NA=="}},{"request_range":{"key":"YQ=="}}],)"
      R"("failure":[{"request_delete_range":{"key":"YQ=="}}]})");
  add("txn compare false", "/v3/kv/txn",
      R"({"compare":[{"target":"VERSION","key":"YQ==","result":"GREATER","version":"5"}],)"
      R"("success":[{"request_put":{"key":"Yw==","value":"NQ=="}}],)"
      R"("failure":[{"request_range":{"key":"Yw=="}}]})");
  add("txn duplicate put", "/v3/kv/txn",
      R"({"success":[{"request_put":{"key":"cQ==","value":"MQ=="}},)"
      R"({"request_put":{"key":"cQ==","value":"Mg=="}}]})");
  add("empty txn", "/v3/kv/txn", "");
  add("compaction 2", "/v3/kv/compaction", R"({"revision":"2"})");
  add("compaction again 2", "/v3/kv/compaction", R"({"revision":2})");
  add("compaction future", "/v3/kv/compaction", R"({"revision":"1000"})");
  add("range compacted", "/v3/kv/range", R"({"key":"YQ==","revision":"1"})");

  // Lease, with explicit ids so both servers use the same.
  add("lease grant", "/v3/lease/grant", R"({"TTL":"60","ID":"1000"})");
  add("lease grant again", "/v3/lease/grant", R"({"TTL":60,"ID":1000})");
  add("lease grant 2", "/v3/lease/grant", R"({"TTL":"120","ID":"2000"})");
  add("put with lease", "/v3/kv/put", R"({"key":"bA==","value":"MQ==","lease":"1000"})");
  add("put with unknown lease", "/v3/kv/put", R"({"key":"bA==","value":"MQ==","lease":"7"})");
  add("lease timetolive", "/v3/lease/timetolive", R"({"ID":"1000","keys":true})")->mask = {"TTL"};
  add("lease timetolive (kv alias)", "/v3/kv/lease/timetolive", R"({"ID":"2000"})")->mask = {"TTL"};
  add("lease timetolive unknown", "/v3/lease/timetolive", R"({"ID":"5"})");
  add("lease leases", "/v3/lease/leases", "");
  add("lease leases (kv alias)", "/v3/kv/lease/leases", "{}");
  add("lease revoke 2000", "/v3/lease/revoke", R"({"ID":"2000"})");
  add("lease revoke unknown (kv alias)", "/v3/kv/lease/revoke", R"({"ID":"2000"})");
  add("lease revoke no id", "/v3/lease/revoke", "{}");

  // Election and lock on lease 1000.
  add("campaign", "/v3/election/campaign", R"({"name":"ZQ==","lease":"1000","value":"djE="})");
  s.push_back({"leader",
               "/v3/election/leader",
               R"({"name":"ZQ=="})",
               "",
               {},
               {{"leaderkey", "key"}, {"leaderrev", "create_revision"}}});
  s.push_back({"proclaim", "/v3/election/proclaim",
               R"({"leader":{"name":"ZQ==","key":"{leaderkey}","rev":"{leaderrev}",)"
               R"("lease":"1000"},"value":"djI="})"});
  add("leader after proclaim", "/v3/election/leader", R"({"name":"ZQ=="})");
  add("proclaim not leader", "/v3/election/proclaim",
      R"({"leader":{"name":"ZQ==","key":"eHg=","rev":"1","lease":"1000"},"value":"djM="})");
  add("leader of no election", "/v3/election/leader", R"({"name":"bm9uZQ=="})");
  s.push_back({"resign", "/v3/election/resign",
               R"({"leader":{"name":"ZQ==","key":"{leaderkey}","rev":"{leaderrev}",)"
               R"("lease":"1000"}})"});
  // The election makes a lease of its own: its id (and so the key) differs.
  add("campaign without a lease", "/v3/election/campaign", R"({"name":"ZQ==","value":"djE="})")
      ->mask = {"key", "lease"};
  s.push_back({"lock",
               "/v3/lock/lock",
               R"({"name":"bG9jaw==","lease":"1000"})",
               "",
               {},
               {{"lockkey", "key"}}});
  s.push_back({"unlock", "/v3/lock/unlock", R"({"key":"{lockkey}"})"});
  add("lock with an unknown lease", "/v3/lock/lock", R"({"name":"bG9jaw==","lease":"9"})");

  // Cluster. The learner's peer URL is never dialed to success; its id is captured.
  s.push_back({"member list",
               "/v3/cluster/member/list",
               "",
               "",
               {"ID"},
               {{"self", "ID"}, {"selfpeer", "peerURLs"}}});
  s.push_back({"member add learner",
               "/v3/cluster/member/add",
               R"({"peerURLs":["http://127.0.0.1:1"],"isLearner":true})",
               "",
               {"ID"},
               {{"member", "ID"}}});
  add("member add bad URL", "/v3/cluster/member/add", R"({"peerURLs":["::nope"]})");
  add("member list with learner", "/v3/cluster/member/list", "{}")->mask = {"ID"};
  add("member promote unsynced learner", "/v3/cluster/member/promote", R"({"ID":"{member}"})");
  // Updating a learner is left out: etcd 3.4 drops its learner flag on update.
  add("member update self, same URL", "/v3/cluster/member/update",
      R"({"ID":"{self}","peerURLs":["{selfpeer}"]})")
      ->mask = {"ID"};
  add("member remove learner", "/v3/cluster/member/remove", R"({"ID":"{member}"})")->mask = {"ID"};
  add("member remove unknown", "/v3/cluster/member/remove", R"({"ID":"1"})");
  add("member update unknown", "/v3/cluster/member/update",
      R"({"ID":"1","peerURLs":["http://127.0.0.1:3"]})");
  add("member promote unknown", "/v3/cluster/member/promote", R"({"ID":"1"})");

  // Maintenance.
  add("alarm list", "/v3/maintenance/alarm", "");
  add("alarm deactivate nothing", "/v3/maintenance/alarm",
      R"({"action":"DEACTIVATE","memberID":"1","alarm":"NOSPACE"})");
  add("status", "/v3/maintenance/status", "{}")->mask = {"version"};
  add("defragment", "/v3/maintenance/defragment", "");
  add("hash", "/v3/maintenance/hash", "{}");
  add("transfer leadership to an unknown member", "/v3/maintenance/transfer-leadership",
      R"({"targetID":"1"})");

  // Auth.
  add("user add root", "/v3/auth/user/add", R"({"name":"root","password":"rootpw"})");
  add("user add root again", "/v3/auth/user/add", R"({"name":"root","password":"x"})");
  add("user add empty name", "/v3/auth/user/add", R"({"password":"x"})");
  add("enable without root role", "/v3/auth/enable", "");
  add("user grant root", "/v3/auth/user/grant", R"({"user":"root","role":"root"})");
  add("role add reader", "/v3/auth/role/add", R"({"name":"reader"})");
  add("role grant reader a..z", "/v3/auth/role/grant",
      R"({"name":"reader","perm":{"permType":"READ","key":"YQ==","range_end":"eg=="}})");
  add("user add u", "/v3/auth/user/add", R"({"name":"u","password":"upw"})");
  add("user grant u reader", "/v3/auth/user/grant", R"({"user":"u","role":"reader"})");
  add("enable", "/v3/auth/enable", "{}");
  add("authenticate wrong password", "/v3/auth/authenticate",
      R"({"name":"root","password":"nope"})");
  s.push_back({"authenticate root",
               "/v3/auth/authenticate",
               R"({"name":"root","password":"rootpw"})",
               "",
               {},
               {{"root", "token"}}});
  s.push_back({"authenticate u",
               "/v3/auth/authenticate",
               R"({"name":"u","password":"upw"})",
               "",
               {},
               {{"u", "token"}}});
  add("put without a token", "/v3/kv/put", R"({"key":"YQ==","value":"MQ=="})");
  s.push_back({"put with an invalid token", "/v3/kv/put", R"({"key":"YQ==","value":"MQ=="})",
               "not-a-token"});
  s.push_back({"u reads a", "/v3/kv/range", R"({"key":"YQ=="})", "u"});
  s.push_back({"u puts a: denied", "/v3/kv/put", R"({"key":"YQ==","value":"MQ=="})", "u"});
  s.push_back({"u lists users: denied", "/v3/auth/user/list", "", "u"});
  s.push_back({"root puts a", "/v3/kv/put", R"({"key":"YQ==","value":"OQ=="})", "root"});
  s.push_back({"user get u", "/v3/auth/user/get", R"({"name":"u"})", "root"});
  s.push_back({"user get nobody", "/v3/auth/user/get", R"({"name":"nobody"})", "root"});
  s.push_back({"user list", "/v3/auth/user/list", "", "root"});
  s.push_back({"role get reader", "/v3/auth/role/get", R"({"role":"reader"})", "root"});
  s.push_back({"role list", "/v3/auth/role/list", "{}", "root"});
  s.push_back(
      {"user changepw u", "/v3/auth/user/changepw", R"({"name":"u","password":"new"})", "root"});
  s.push_back({"role revoke reader a..z", "/v3/auth/role/revoke",
               R"({"role":"reader","key":"YQ==","range_end":"eg=="})", "root"});
  s.push_back({"role revoke again", "/v3/auth/role/revoke",
               R"({"role":"reader","key":"YQ==","range_end":"eg=="})", "root"});
  s.push_back(
      {"user revoke u reader", "/v3/auth/user/revoke", R"({"name":"u","role":"reader"})", "root"});
  s.push_back({"user delete u", "/v3/auth/user/delete", R"({"name":"u"})", "root"});
  s.push_back({"role delete reader", "/v3/auth/role/delete", R"({"role":"reader"})", "root"});
  s.push_back({"role delete root", "/v3/auth/role/delete", R"({"role":"root"})", "root"});
  s.push_back({"disable", "/v3/auth/disable", "", "root"});
  add("range after disable", "/v3/kv/range", R"({"key":"YQ=="})");
  return s;
}

// Steps whose error message comes from Go's conversion of a field's value: only status and
// code are compared.
std::vector<Step> BadJsonSteps() {
  return {{"range bad revision", "/v3/kv/range", R"({"key":"YQ==","revision":"abc"})"},
          {"range bool for an integer", "/v3/kv/range", R"({"key":"YQ==","limit":true})"}};
}

int CountDifferences(const std::vector<std::pair<std::string, Outcome>>& expected,
                     const std::vector<std::pair<std::string, Outcome>>& actual) {
  EXPECT_EQ(expected.size(), actual.size());
  int differences = 0;
  for (size_t i = 0; i < std::min(expected.size(), actual.size()); ++i) {
    if (std::getenv("QUORUM_DIFF_VERBOSE") != nullptr) {
      std::cout << "== " << expected[i].first << "\n" << expected[i].second;
    }
    if (!(expected[i].second == actual[i].second)) {
      ++differences;
      ADD_FAILURE() << "step \"" << expected[i].first << "\" differs\n--- etcd:\n"
                    << expected[i].second << "--- quorumd:\n"
                    << actual[i].second;
    }
  }
  return differences;
}

class GatewayDiff : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(EtcdPath().empty()) << "etcd 3.4 is required (deploy/install-deps.sh --tests)";
    std::filesystem::create_directories(dir_.path() + "/e");
    std::filesystem::create_directories(dir_.path() + "/q");
    etcd_ = StartTarget(dir_.path() + "/e", true);
    quorumd_ = StartTarget(dir_.path() + "/q", false);
  }

  TempDir dir_;
  Target etcd_;
  Target quorumd_;
};

TEST_F(GatewayDiff, UnaryRoutesMatchEtcd) {
  std::vector<std::pair<std::string, Outcome>> expected, actual;
  for (const Step& step : UnarySession()) {
    expected.push_back({step.name, Send(etcd_, step)});
    actual.push_back({step.name, Send(quorumd_, step)});
  }
  for (const Step& step : BadJsonSteps()) {
    Outcome want = Send(etcd_, step);
    Outcome got = Send(quorumd_, step);
    for (Outcome* o : {&want, &got}) {
      o->body = std::regex_replace(o->body, std::regex(R"re("(error|message)":"(\\.|[^"\\])*")re"),
                                   "\"$1\":\"*\"");
    }
    expected.push_back({step.name, want});
    actual.push_back({step.name, got});
  }
  std::cout << "gateway diff: " << expected.size() << " steps\n";
  EXPECT_EQ(CountDifferences(expected, actual), 0);
}

// --- Streams, read from a raw socket so that a test can read part of a body and hang up. ---

// An HTTP/1.1 POST whose chunked answer is read as it comes.
class RawStream {
 public:
  RawStream(int port, const std::string& path, const std::string& body) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    const std::string request =
        "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n" + body;
    EXPECT_EQ(send(fd_, request.data(), request.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(request.size()));
  }
  ~RawStream() { Close(); }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  // Reads until the body holds `count` result lines or `wait` passes; returns those lines.
  std::vector<std::string> ReadResults(size_t count, milliseconds wait) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (Results().size() < count && !Ended() && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      char buffer[4096];
      const ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      received_.append(buffer, static_cast<size_t>(n));
    }
    return Results();
  }
  const std::string& received() const { return received_; }
  // True once the chunked body has ended.
  bool Ended() const {
    const size_t head_end = received_.find("\r\n\r\n");
    if (head_end == std::string::npos) return false;
    const std::string_view body = std::string_view(received_).substr(head_end + 4);
    return body.size() >= 5 && body.substr(body.size() - 5) == "0\r\n\r\n";
  }

 private:
  // The result objects received so far, one a line (found by hand: the standard regex
  // recurses per character and overflows the stack on a snapshot's long lines).
  std::vector<std::string> Results() const {
    std::vector<std::string> lines;
    const size_t head_end = received_.find("\r\n\r\n");
    if (head_end == std::string::npos) return lines;
    const std::string body = Dechunk(received_.substr(head_end + 4));
    for (size_t at = body.find(R"({"result":)"); at != std::string::npos;
         at = body.find(R"({"result":)", at + 1)) {
      const size_t end = body.find('\n', at);
      if (end == std::string::npos) break;
      lines.push_back(body.substr(at, end - at));
    }
    return lines;
  }

  int fd_ = -1;
  std::string received_;
};

// The status line of a raw answer.
std::string StatusLine(const std::string& received) {
  return received.substr(0, received.find("\r\n"));
}

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
      for (size_t i = 0; i < results.size(); ++i) {
        out.push_back({"watch message " + std::to_string(i), {0, Mask(results[i], {})}});
      }
    }
    {
      // Two keep-alive requests in one body: two answers.
      RawStream keepalive(target->port, "/v3/lease/keepalive", R"({"ID":"1000"} {"ID":1000})");
      std::vector<std::string> results = keepalive.ReadResults(2, seconds(10));
      out.push_back({"keepalive status", {0, StatusLine(keepalive.received())}});
      for (size_t i = 0; i < results.size(); ++i) {
        out.push_back({"keepalive message " + std::to_string(i), {0, Mask(results[i], {})}});
      }
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
}  // namespace quorum
