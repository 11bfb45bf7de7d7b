// gRPC and HTTP/1.1 on the same client port of real members: /version and /health answer with
// etcd's bodies, statuses and headers while etcd clients keep working on that port; /health
// turns 503 within two election timeouts of the member losing its quorum and 200 again once the
// quorum is back; /metrics carries etcd's metric names, passes promtool, and moves under writes
// and across a leader change; /dashboard serves its page and the leader changes a member saw.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "nlohmann/json.hpp"
#include "tests/support/cluster.h"

namespace quorum {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;
using testing::TestCluster;
using testing::WaitUntil;

// etcd's default, which the test cluster keeps.
constexpr milliseconds kElectionTimeout(1000);

httplib::Client Http(const TestCluster& cluster, int i) {
  httplib::Client client("127.0.0.1", cluster.spec(i).client_port);
  client.set_connection_timeout(seconds(5));
  client.set_read_timeout(seconds(5));
  return client;
}

// The status of GET /health on member i (0 when it does not answer).
int HealthStatus(const TestCluster& cluster, int i) {
  auto result = Http(cluster, i).Get("/health");
  return result ? result->status : 0;
}

TEST(HttpPortTest, VersionAndHealthBesideGrpcOnEveryMember) {
  TestCluster cluster(3);
  cluster.StartAll();
  ASSERT_TRUE(cluster.WaitForLeader().has_value());
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE("member " + std::to_string(i));
    auto version = Http(cluster, i).Get("/version");
    ASSERT_TRUE(version);
    EXPECT_EQ(version->status, 200);
    EXPECT_EQ(version->body, R"({"etcdserver":"3.4.0","etcdcluster":"3.4.0"})");
    EXPECT_EQ(version->get_header_value("Content-Type"), "application/json");
    EXPECT_EQ(version->get_header_value("Access-Control-Allow-Origin"), "*");

    auto health = Http(cluster, i).Get("/health");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
    EXPECT_EQ(health->body, R"({"health":"true"})");

    auto posted = Http(cluster, i).Post("/health");
    ASSERT_TRUE(posted);
    EXPECT_EQ(posted->status, 405);
    EXPECT_EQ(posted->get_header_value("Allow"), "GET");
    EXPECT_EQ(posted->body, "Method Not Allowed\n");

    auto missing = Http(cluster, i).Get("/no/such/path");
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->status, 404);
    EXPECT_EQ(missing->body, "404 page not found\n");

    // gRPC on the same port, interleaved with the HTTP requests.
    const std::string key = "k" + std::to_string(i);
    ASSERT_TRUE(cluster.Client(i).Put(key, "v").ok());
    auto got = cluster.Client(i).Get(key);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, std::optional<std::string>("v"));
  }
  // One connection carries many requests (keep-alive).
  httplib::Client kept = Http(cluster, 0);
  kept.set_keep_alive(true);
  for (int n = 0; n < 20; ++n) {
    auto version = kept.Get("/version");
    ASSERT_TRUE(version) << n;
    EXPECT_EQ(version->status, 200);
  }
}

TEST(HttpPortTest, HealthFollowsTheQuorum) {
  TestCluster cluster(3);
  cluster.StartAll();
  ASSERT_TRUE(cluster.WaitForLeader().has_value());
  ASSERT_EQ(HealthStatus(cluster, 0), 200);
  cluster.Kill(1);
  cluster.Kill(2);
  const auto lost = steady_clock::now();
  // Polled back to back: each failing check takes up to a second (etcd's read timeout).
  bool unhealthy = false;
  while (!unhealthy && steady_clock::now() - lost < seconds(10)) {
    unhealthy = HealthStatus(cluster, 0) == 503;
  }
  const auto noticed = steady_clock::now() - lost;
  ASSERT_TRUE(unhealthy) << "member 0 still healthy 10 s after losing its quorum";
  EXPECT_LE(noticed, 2 * kElectionTimeout)
      << "503 after " << std::chrono::duration_cast<milliseconds>(noticed).count() << " ms";
  auto body = Http(cluster, 0).Get("/health");
  ASSERT_TRUE(body);
  EXPECT_EQ(body->body, "{\"health\":\"false\"}\n");

  cluster.Start(1, /*wait_ready=*/false);
  cluster.Start(2, /*wait_ready=*/false);
  EXPECT_TRUE(WaitUntil([&] { return HealthStatus(cluster, 0) == 200; }, seconds(20)))
      << "member 0 not healthy again 20 s after its quorum came back";
}

// The value of the first sample of `name` (exactly, labels included) in `text`.
std::optional<double> Sample(const std::string& text, const std::string& name) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return std::nullopt;
}

std::string Metrics(const TestCluster& cluster, int i) {
  auto result = Http(cluster, i).Get("/metrics");
  EXPECT_TRUE(result);
  if (!result) return "";
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  return result->body;
}

TEST(HttpPortTest, MetricsMoveUnderWritesAndAcrossALeaderChange) {
  TestCluster cluster(3);
  cluster.StartAll();
  auto leader = cluster.WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  const int follower = (*leader + 1) % 3;
  const std::string before = Metrics(cluster, follower);
  for (const char* name :
       {"etcd_server_has_leader", "etcd_server_is_leader", "etcd_server_leader_changes_seen_total",
        "etcd_server_proposals_committed_total", "etcd_server_proposals_applied_total",
        "etcd_server_proposals_pending", "etcd_server_proposals_failed_total",
        "etcd_disk_wal_fsync_duration_seconds_count",
        "etcd_disk_backend_commit_duration_seconds_count", "etcd_mvcc_db_total_size_in_bytes",
        "etcd_mvcc_db_total_size_in_use_in_bytes", "etcd_debugging_mvcc_keys_total",
        "process_resident_memory_bytes"}) {
    EXPECT_TRUE(Sample(before, name).has_value()) << name << " missing:\n" << before;
  }
  EXPECT_EQ(Sample(before, "etcd_server_has_leader"), 1);
  EXPECT_EQ(Sample(before, "etcd_server_is_leader"), 0);
  EXPECT_EQ(Sample(Metrics(cluster, *leader), "etcd_server_is_leader"), 1);

  // promtool reads it (etcd's three _total gauges aside, which it warns about for etcd too).
  const std::string file = cluster.dir() + "/metrics.txt";
  std::ofstream(file) << before;
  const std::string check = "promtool check metrics < " + file + " 2>&1";
  FILE* pipe = popen(check.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string promtool;
  char buffer[512];
  while (fgets(buffer, sizeof(buffer), pipe) != nullptr) promtool += buffer;
  const int promtool_status = pclose(pipe);
  std::istringstream problems(promtool);
  std::string problem;
  while (std::getline(problems, problem)) {
    const bool etcd_gauge = problem.find("etcd_server_proposals_committed_total") == 0 ||
                            problem.find("etcd_server_proposals_applied_total") == 0 ||
                            problem.find("etcd_debugging_mvcc_keys_total") == 0;
    EXPECT_TRUE(etcd_gauge) << "promtool: " << problem;
  }
  EXPECT_TRUE(promtool_status == 0 || !promtool.empty()) << "promtool did not run";

  for (int n = 0; n < 50; ++n) {
    ASSERT_TRUE(cluster.Client(follower).Put("key" + std::to_string(n), "v").ok());
  }
  const std::string after = Metrics(cluster, follower);
  EXPECT_GE(*Sample(after, "etcd_server_proposals_committed_total"),
            *Sample(before, "etcd_server_proposals_committed_total") + 50);
  EXPECT_GE(*Sample(after, "etcd_server_proposals_applied_total"),
            *Sample(before, "etcd_server_proposals_applied_total") + 50);
  EXPECT_EQ(Sample(after, "etcd_debugging_mvcc_keys_total"), 50);
  EXPECT_GE(*Sample(after, "etcd_disk_wal_fsync_duration_seconds_count"),
            *Sample(before, "etcd_disk_wal_fsync_duration_seconds_count") + 1);
  EXPECT_GT(*Sample(after,
                    "grpc_server_handled_total{grpc_type=\"unary\",grpc_service="
                    "\"etcdserverpb.KV\",grpc_method=\"Put\",grpc_code=\"OK\"}"),
            0);

  cluster.Kill(*leader);
  auto next = cluster.WaitForLeader();
  ASSERT_TRUE(next.has_value());
  const std::string changed = Metrics(cluster, follower);
  EXPECT_GE(*Sample(changed, "etcd_server_leader_changes_seen_total"),
            *Sample(before, "etcd_server_leader_changes_seen_total") + 1);
  EXPECT_EQ(Sample(changed, "etcd_server_is_leader"), *next == follower ? 1 : 0);
}

TEST(HttpPortTest, MetricsUrlsServeMetricsAndHealthAlone) {
  TestCluster cluster(3);
  std::vector<int> metrics_ports;
  for (int i = 0; i < 3; ++i) {
    metrics_ports.push_back(testing::FreeLoopbackPort());
    // By its variable: per-member flags would mark the member as one added later.
    cluster.SetEnv(
        i, {"ETCD_LISTEN_METRICS_URLS=http://127.0.0.1:" + std::to_string(metrics_ports[i])});
  }
  cluster.StartAll();
  ASSERT_TRUE(cluster.WaitForLeader().has_value());
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE("member " + std::to_string(i));
    httplib::Client http("127.0.0.1", metrics_ports[i]);
    http.set_read_timeout(seconds(5));
    auto health = http.Get("/health");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
    EXPECT_EQ(health->body, R"({"health":"true"})");
    auto metrics = http.Get("/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_EQ(metrics->status, 200);
    EXPECT_EQ(Sample(metrics->body, "etcd_server_has_leader"), 1);
    auto version = http.Get("/version");  // the client URLs' route only
    ASSERT_TRUE(version);
    EXPECT_EQ(version->status, 404);
    // Not a gRPC port: an etcd client gets no answer there.
    client::KvClient grpc("127.0.0.1:" + std::to_string(metrics_ports[i]));
    EXPECT_FALSE(grpc.Put("k", "v").ok());
  }
}

// What /dashboard/events says on member i.
nlohmann::json DashboardEvents(const TestCluster& cluster, int i) {
  auto result = Http(cluster, i).Get("/dashboard/events");
  if (!result || result->status != 200) return nullptr;
  return nlohmann::json::parse(result->body, nullptr, /*allow_exceptions=*/false);
}

TEST(HttpPortTest, DashboardServesItsPageAndTheLeaderChangesTheMemberSaw) {
  TestCluster cluster(3);
  cluster.StartAll();
  auto leader = cluster.WaitForLeader();
  ASSERT_TRUE(leader.has_value());
  const int follower = (*leader + 1) % 3;

  auto page = Http(cluster, follower).Get("/dashboard");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page->body.find("<title>quorum dashboard</title>"), std::string::npos);
  auto posted = Http(cluster, follower).Post("/dashboard", "", "text/plain");
  ASSERT_TRUE(posted);
  EXPECT_EQ(posted->status, 405);

  const nlohmann::json led = DashboardEvents(cluster, *leader);
  ASSERT_TRUE(led.is_object());
  const std::string leader_id = led["member_id"];
  nlohmann::json seen = DashboardEvents(cluster, follower);
  ASSERT_TRUE(seen.is_object());
  EXPECT_EQ(seen["auth_enabled"], false);
  EXPECT_EQ(seen["alarms"], nlohmann::json::array());
  ASSERT_FALSE(seen["leader_changes"].empty()) << seen.dump();
  EXPECT_EQ(seen["leader_changes"].back()["leader"], leader_id);
  const std::string term = seen["leader_changes"].back()["term"];

  cluster.Kill(*leader);
  auto next = cluster.WaitForLeader();
  ASSERT_TRUE(next.has_value());
  const nlohmann::json next_events = DashboardEvents(cluster, *next);
  ASSERT_TRUE(next_events.is_object());
  const std::string next_id = next_events["member_id"];
  // The follower may learn of the new leader a heartbeat after the leader knows.
  ASSERT_TRUE(WaitUntil(
      [&] {
        seen = DashboardEvents(cluster, follower);
        return seen.is_object() && !seen["leader_changes"].empty() &&
               seen["leader_changes"].back()["leader"] == next_id;
      },
      seconds(5)))
      << seen.dump();
  const nlohmann::json& last = seen["leader_changes"].back();
  EXPECT_GT(std::stoull(last["term"].get<std::string>()), std::stoull(term));
  const int64_t now_ms = seen["now_ms"];
  EXPECT_LE(last["time_ms"].get<int64_t>(), now_ms);
  EXPECT_GT(last["time_ms"].get<int64_t>(), now_ms - 60'000);
}

}  // namespace
}  // namespace quorum
