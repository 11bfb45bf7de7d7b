// The gateway differential tests' tools: one etcd 3.4 and one quorumd started side by side,
// HTTP requests sent on raw sockets (etcd's error answers carry HTTP trailers that not every
// client library reads, and a stream test must be able to read part of a body and hang up),
// and answers masked of what legitimately differs (ids, terms, ports, sizes).
#ifndef QUORUM_TESTS_COMPAT_GATEWAY_SESSION_H_
#define QUORUM_TESTS_COMPAT_GATEWAY_SESSION_H_

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "tests/compat/count_differences.h"
#include "tests/support/process.h"

namespace quorum::gateway_test {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::ChildProcess;
using testing::FreeLoopbackPort;
using testing::TempDir;
using testing::WaitUntil;

inline std::string EtcdPath() {
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
inline Target StartTarget(const std::string& dir, bool is_etcd) {
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

inline std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  return os << o.status << " " << o.body << "\n";
}

// Replaces the values that legitimately differ between two servers.
inline std::string Mask(std::string body, const std::vector<std::string>& extra_keys) {
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

inline std::string Substitute(std::string text, const std::map<std::string, std::string>& values) {
  for (const auto& [name, value] : values) {
    const std::string pattern = "{" + name + "}";
    for (size_t at; (at = text.find(pattern)) != std::string::npos;) {
      text.replace(at, pattern.size(), value);
    }
  }
  return text;
}

// Removes the chunked transfer coding from `body` (and any trailer after the last chunk).
inline std::string Dechunk(const std::string& body) {
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

// A connection to 127.0.0.1:`port`, or -1.
inline int ConnectLoopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Everything `fd` receives until the server closes it or 10 s pass; closes `fd`.
inline std::string ReadUntilClosed(int fd) {
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
  return received;
}

// POSTs `body` on a connection of its own and reads the whole answer: {status, body}. A raw
// client, as etcd's error answers carry HTTP trailers that not every client library reads.
inline Outcome RawPost(int port, const std::string& path, const std::string& authorization,
                       const std::string& body, bool no_length = false) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return {0, "cannot connect"};
  std::string request = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!no_length) {
    request +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  if (!authorization.empty()) request += "Authorization: " + authorization + "\r\n";
  request += "\r\n" + body;
  send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  const std::string received = ReadUntilClosed(fd);
  const size_t head_end = received.find("\r\n\r\n");
  if (received.size() < 12 || head_end == std::string::npos) return {0, "no answer: " + received};
  const std::string head = received.substr(0, head_end);
  std::string content = received.substr(head_end + 4);
  if (head.find("Transfer-Encoding: chunked") != std::string::npos) content = Dechunk(content);
  return {std::stoi(received.substr(9, 3)), content};
}

// Sends `requests` (whole raw HTTP/1.1 requests) back to back on one connection, then reads
// until the server closes it (the last request should ask for that) or 10 s pass; returns
// every status code answered, in order.
inline std::vector<int> StatusesOnOneConnection(int port,
                                                const std::vector<std::string>& requests) {
  std::vector<int> statuses;
  const int fd = ConnectLoopback(port);
  if (fd < 0) return statuses;
  for (const std::string& request : requests) {
    send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  }
  const std::string received = ReadUntilClosed(fd);
  for (size_t at = received.find("HTTP/1.1 "); at != std::string::npos;
       at = received.find("HTTP/1.1 ", at + 1)) {
    statuses.push_back(std::atoi(received.c_str() + at + 9));
  }
  return statuses;
}

// Sorts the objects of the "members" array of `body`: their order follows member ids, which
// differ between two clusters.
inline std::string SortMembers(const std::string& body) {
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

inline Outcome Send(Target& target, const Step& step) {
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

using testing::CountDifferences;

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

// An HTTP/1.1 POST whose chunked answer is read as it comes.
class RawStream {
 public:
  RawStream(int port, const std::string& path, const std::string& body) {
    fd_ = ConnectLoopback(port);
    EXPECT_GE(fd_, 0);
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
inline std::string StatusLine(const std::string& received) {
  return received.substr(0, received.find("\r\n"));
}

}  // namespace quorum::gateway_test

#endif  // QUORUM_TESTS_COMPAT_GATEWAY_SESSION_H_
