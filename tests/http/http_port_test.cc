// gRPC and HTTP/1.1 on the same client port of real members: /version and /health answer with
// etcd's bodies, statuses and headers while etcd clients keep working on that port; /health
// turns 503 within two election timeouts of the member losing its quorum and 200 again once the
// quorum is back.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <string>

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

}  // namespace
}  // namespace quorum
