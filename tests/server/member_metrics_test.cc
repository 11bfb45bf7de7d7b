// The metrics of real members (three in one process over the fake network, stepped by the
// test): the etcd-named metrics are served and move with writes and leader changes, a refused
// proposal counts as failed, gRPC calls are counted by method and code, and promtool accepts
// the text.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/member_test_cluster.h"
#include "server/services.h"

namespace quorum::server {
namespace {

// One scrape as series ("name{labels}") to value. Every line must be a comment or a sample.
std::map<std::string, double> Parse(const std::string& text) {
  std::map<std::string, double> series;
  for (const std::string& line :
       std::vector<std::string>(absl::StrSplit(text, '\n', absl::SkipEmpty()))) {
    if (line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    EXPECT_NE(space, std::string::npos) << line;
    if (space == std::string::npos) continue;
    series[std::string(line.substr(0, space))] =
        std::strtod(std::string(line.substr(space + 1)).c_str(), nullptr);
  }
  return series;
}

double Value(const std::map<std::string, double>& series, const std::string& name) {
  auto it = series.find(name);
  EXPECT_NE(it, series.end()) << "missing series " << name;
  return it == series.end() ? -1 : it->second;
}

class MemberMetricsTest : public MemberTest {
 protected:
  std::map<std::string, double> Scrape(int i) { return Parse(members_[i]->metrics().Render()); }

  static internalpb::InternalRequest Delete(const std::string& key) {
    internalpb::InternalRequest request;
    request.mutable_delete_range()->set_key(key);
    return request;
  }
};

TEST_F(MemberMetricsTest, NamedMetricsMoveWithWrites) {
  const int leader = ElectLeader();
  ASSERT_GE(leader, 0);
  // Five keys written, one of them twice, and a sixth written then deleted: five live keys.
  for (int k = 0; k < 5; ++k) {
    ASSERT_TRUE(ProposeAndWait(leader, Put(absl::StrCat("key", k), "v")).status.ok());
  }
  ASSERT_TRUE(ProposeAndWait((leader + 1) % kMembers, Put("key0", "again")).status.ok());
  ASSERT_TRUE(ProposeAndWait(leader, Put("gone", "v")).status.ok());
  ASSERT_TRUE(ProposeAndWait(leader, Delete("gone")).status.ok());
  // Every member applies every committed entry.
  ASSERT_TRUE(Eventually([&] {
    for (int i = 0; i < kMembers; ++i) {
      if (ValueCount(i, "gone") != 0 || ValueCount(i, "key4") != 1) return false;
    }
    return true;
  }));
  Settle();

  for (int i = 0; i < kMembers; ++i) {
    SCOPED_TRACE(absl::StrCat("member ", i));
    std::map<std::string, double> m = Scrape(i);
    EXPECT_EQ(Value(m, "etcd_server_has_leader"), 1);
    EXPECT_EQ(Value(m, "etcd_server_is_leader"), i == leader ? 1 : 0);
    EXPECT_GE(Value(m, "etcd_server_leader_changes_seen_total"), 1);
    // Eight proposals, plus the leader's empty entry and the membership's own entries.
    const double committed = Value(m, "etcd_server_proposals_committed_total");
    EXPECT_GE(committed, 8);
    EXPECT_EQ(Value(m, "etcd_server_proposals_applied_total"), committed);
    // Pending and failed are served; their values are the members' own business here (a
    // member publishes its attributes through the log when it likes).
    EXPECT_GE(Value(m, "etcd_server_proposals_pending"), 0);
    EXPECT_GE(Value(m, "etcd_server_proposals_failed_total"), 0);
    EXPECT_EQ(Value(m, "etcd_debugging_mvcc_keys_total"), 5);
    // Every member fsynced its log and committed applied entries to its store.
    EXPECT_GT(Value(m, "etcd_disk_wal_fsync_duration_seconds_count"), 0);
    EXPECT_EQ(Value(m, "etcd_disk_wal_fsync_duration_seconds_bucket{le=\"+Inf\"}"),
              Value(m, "etcd_disk_wal_fsync_duration_seconds_count"));
    EXPECT_GT(Value(m, "etcd_disk_wal_fsync_duration_seconds_sum"), 0);
    EXPECT_GT(Value(m, "etcd_disk_backend_commit_duration_seconds_count"), 0);
    EXPECT_EQ(Value(m, "etcd_disk_backend_commit_duration_seconds_bucket{le=\"8.192\"}") <=
                  Value(m, "etcd_disk_backend_commit_duration_seconds_count"),
              true);
    const double size = Value(m, "etcd_mvcc_db_total_size_in_bytes");
    EXPECT_GT(size, 0);
    EXPECT_LE(Value(m, "etcd_mvcc_db_total_size_in_use_in_bytes"), size);
    EXPECT_GT(Value(m, "process_resident_memory_bytes"), 0);
  }

  // The counts only grow: another write moves commit, apply and fsync on the leader.
  std::map<std::string, double> before = Scrape(leader);
  ASSERT_TRUE(ProposeAndWait(leader, Put("key5", "v")).status.ok());
  Settle();
  std::map<std::string, double> after = Scrape(leader);
  EXPECT_GT(Value(after, "etcd_server_proposals_committed_total"),
            Value(before, "etcd_server_proposals_committed_total"));
  EXPECT_GT(Value(after, "etcd_server_proposals_applied_total"),
            Value(before, "etcd_server_proposals_applied_total"));
  EXPECT_GT(Value(after, "etcd_disk_wal_fsync_duration_seconds_count"),
            Value(before, "etcd_disk_wal_fsync_duration_seconds_count"));
  EXPECT_EQ(Value(after, "etcd_debugging_mvcc_keys_total"), 6);
}

TEST_F(MemberMetricsTest, ALeaderChangeIsSeenByTheMembersThatStay) {
  const int leader = ElectLeader();
  ASSERT_GE(leader, 0);
  const int a = (leader + 1) % kMembers;
  const int b = (leader + 2) % kMembers;
  const double changes_before = Value(Scrape(a), "etcd_server_leader_changes_seen_total");
  network_.Partition({members_[leader]->member_id()});
  bool new_leader = false;
  for (int round = 0; round < kMaxRounds && !new_leader; ++round) {
    Round(1);
    const uint64_t lead = members_[a]->leader_id();
    new_leader =
        lead != 0 && lead != members_[leader]->member_id() && members_[b]->leader_id() == lead;
  }
  ASSERT_TRUE(new_leader);
  std::map<std::string, double> m = Scrape(a);
  EXPECT_GT(Value(m, "etcd_server_leader_changes_seen_total"), changes_before);
  EXPECT_EQ(Value(m, "etcd_server_has_leader"), 1);
  EXPECT_EQ(Value(Scrape(a), "etcd_server_is_leader") + Value(Scrape(b), "etcd_server_is_leader"),
            1);
}

TEST_F(MemberMetricsTest, AProposalRefusedForWantOfALeaderCountsAsFailed) {
  auto outcome = NewOutcome<absl::Status>();
  members_[0]->Propose(Put("k", "v"), absl::Now() + absl::Seconds(60),
                       [outcome](ApplyResult r) { outcome->Set(r.status); });
  members_[0]->StepRaft(0);
  ASSERT_TRUE(outcome->Wait(absl::Seconds(10)));
  std::map<std::string, double> m = Scrape(0);
  EXPECT_EQ(Value(m, "etcd_server_proposals_failed_total"), 1);
  EXPECT_EQ(Value(m, "etcd_server_has_leader"), 0);
  EXPECT_EQ(Value(m, "etcd_server_proposals_pending"), 0);
}

// etcd 3.4 declares these as gauges although their names end in _total; quorum keeps etcd's
// types, so promtool's naming lint about them is expected, and it is the only one accepted.
constexpr const char* kEtcdGaugesNamedTotal[] = {"etcd_server_proposals_committed_total",
                                                 "etcd_server_proposals_applied_total",
                                                 "etcd_debugging_mvcc_keys_total"};

bool HavePromtool() { return std::system("promtool --version > /dev/null 2>&1") == 0; }

// Runs `promtool check metrics` on `text` (in `dir`); returns what it reported beyond the
// expected lint above. A parse error fails the calling test.
std::vector<std::string> PromtoolProblems(const std::string& text, const std::string& dir) {
  const std::string in = absl::StrCat(dir, "/metrics.txt");
  const std::string err = absl::StrCat(dir, "/promtool.txt");
  std::ofstream(in) << text;
  const int status =
      std::system(("promtool check metrics < " + in + " > " + err + " 2>&1").c_str());
  std::stringstream report;
  report << std::ifstream(err).rdbuf();
  // Exit 3 is "lint problems found"; anything else but 0 is a parse error.
  const int code = status == -1 ? -1 : WEXITSTATUS(status);
  EXPECT_TRUE(code == 0 || code == 3) << "promtool exit " << code << ":\n" << report.str();
  std::vector<std::string> unexpected;
  for (const std::string& line :
       std::vector<std::string>(absl::StrSplit(report.str(), '\n', absl::SkipEmpty()))) {
    bool known = false;
    for (const char* name : kEtcdGaugesNamedTotal) {
      known = known ||
              line == absl::StrCat(name, R"( non-counter metrics should not have "_total" suffix)");
    }
    if (!known) unexpected.push_back(line);
  }
  return unexpected;
}

// The peer series, from fixed sources: etcd's label names (To, From), member ids in hex as etcd
// writes them, and etcd's round-trip buckets from 0.1 ms.
TEST(MemberMetricsRenderTest, PeerSeriesCarryEtcdsLabelsAndBuckets) {
  MemberMetrics metrics(MemberMetrics::Sources{
      .member_id = [] { return uint64_t{1}; },
      .leader = [] { return uint64_t{0}; },
      .commit_index = [] { return uint64_t{0}; },
      .applied_index = [] { return uint64_t{0}; },
      .pending_proposals = [] { return uint64_t{0}; },
      .db_size_bytes = [] { return uint64_t{0}; },
      .db_in_use_bytes = [] { return uint64_t{0}; },
      .keys = [] { return uint64_t{0}; },
      .peer_traffic =
          [] {
            return std::vector<PeerTransport::PeerTraffic>{
                {.peer = 0x8e9e05c52164694d, .sent_bytes = 10, .received_bytes = 20}};
          }});
  metrics.PeerRoundTrip(0x8e9e05c52164694d, 0.00015);
  std::map<std::string, double> m = Parse(metrics.Render());
  const std::string to = R"(To="8e9e05c52164694d")";
  EXPECT_EQ(Value(m, "etcd_network_peer_sent_bytes_total{" + to + "}"), 10);
  EXPECT_EQ(Value(m, R"(etcd_network_peer_received_bytes_total{From="8e9e05c52164694d"})"), 20);
  EXPECT_EQ(Value(m, "etcd_network_peer_round_trip_time_seconds_bucket{" + to + R"(,le="0.0001"})"),
            0);
  EXPECT_EQ(Value(m, "etcd_network_peer_round_trip_time_seconds_bucket{" + to + R"(,le="0.0002"})"),
            1);
  EXPECT_EQ(Value(m, "etcd_network_peer_round_trip_time_seconds_bucket{" + to + R"(,le="3.2768"})"),
            1);
  EXPECT_EQ(Value(m, "etcd_network_peer_round_trip_time_seconds_count{" + to + "}"), 1);
  EXPECT_EQ(Value(m, "etcd_server_has_leader"), 0);
  EXPECT_EQ(Value(m, "etcd_server_is_leader"), 0);
  if (HavePromtool()) {
    storage::testing::TempDir dir;
    EXPECT_THAT(PromtoolProblems(metrics.Render(), dir.path()), ::testing::IsEmpty());
  }
}

// The client API on an in-process gRPC server, as quorumd registers it.
class GrpcMetricsTest : public MemberMetricsTest {
 protected:
  void StartServer(int i) {
    services_ = std::make_unique<ApiServices>(members_[i].get());
    grpc::ServerBuilder builder;
    services_->RegisterWith(&builder);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    kv_ = etcdserverpb::KV::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    MemberMetricsTest::TearDown();
  }

  std::unique_ptr<ApiServices> services_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<etcdserverpb::KV::Stub> kv_;
};

TEST_F(GrpcMetricsTest, CallsAreCountedByMethodAndCode) {
  StartServer(0);
  // Two serializable reads (answered locally) and a put without a key (refused before Raft).
  for (int n = 0; n < 2; ++n) {
    grpc::ClientContext context;
    etcdserverpb::RangeRequest request;
    request.set_key("k");
    request.set_serializable(true);
    etcdserverpb::RangeResponse response;
    ASSERT_TRUE(kv_->Range(&context, request, &response).ok());
  }
  {
    grpc::ClientContext context;
    etcdserverpb::PutRequest request;
    etcdserverpb::PutResponse response;
    EXPECT_EQ(kv_->Put(&context, request, &response).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  std::map<std::string, double> m = Scrape(0);
  const std::string range =
      R"(grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary")";
  const std::string put = R"(grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary")";
  EXPECT_EQ(Value(m, "grpc_server_started_total{" + range + "}"), 2);
  EXPECT_EQ(Value(m, "grpc_server_handled_total{grpc_code=\"OK\"," + range + "}"), 2);
  EXPECT_EQ(Value(m, "grpc_server_handled_total{grpc_code=\"Unavailable\"," + range + "}"), 0);
  EXPECT_EQ(Value(m, "grpc_server_started_total{" + put + "}"), 1);
  EXPECT_EQ(Value(m, "grpc_server_handled_total{grpc_code=\"InvalidArgument\"," + put + "}"), 1);
  EXPECT_EQ(Value(m, "grpc_server_handled_total{grpc_code=\"OK\"," + put + "}"), 0);
  // Methods not called yet are served with zeros, with their streaming type.
  EXPECT_EQ(
      Value(
          m,
          R"(grpc_server_started_total{grpc_method="Compact",grpc_service="etcdserverpb.KV",grpc_type="unary"})"),
      0);
  EXPECT_EQ(
      Value(
          m,
          R"(grpc_server_handled_total{grpc_code="Unavailable",grpc_method="Watch",grpc_service="etcdserverpb.Watch",grpc_type="bidi_stream"})"),
      0);
  EXPECT_EQ(
      Value(
          m,
          R"(grpc_server_started_total{grpc_method="Observe",grpc_service="v3electionpb.Election",grpc_type="server_stream"})"),
      0);
}

TEST_F(GrpcMetricsTest, PromtoolAcceptsTheMetricsOfAMemberThatServed) {
  if (!HavePromtool()) {
    GTEST_SKIP() << "promtool not installed (deploy/install-deps.sh --tests installs it)";
  }
  const int leader = ElectLeader();
  ASSERT_GE(leader, 0);
  ASSERT_TRUE(ProposeAndWait(leader, Put("k", "v")).status.ok());
  StartServer(leader);
  {
    grpc::ClientContext context;
    etcdserverpb::RangeRequest request;
    request.set_key("k");
    request.set_serializable(true);
    etcdserverpb::RangeResponse response;
    ASSERT_TRUE(kv_->Range(&context, request, &response).ok());
  }
  const std::string text = members_[leader]->metrics().Render();
  EXPECT_THAT(PromtoolProblems(text, dir_.path()), ::testing::IsEmpty()) << "promtool on:\n"
                                                                         << text;

  // And it read the whole text: every named metric is in it.
  for (const char* name :
       {"etcd_server_has_leader", "etcd_server_is_leader", "etcd_server_leader_changes_seen_total",
        "etcd_server_proposals_committed_total", "etcd_server_proposals_applied_total",
        "etcd_server_proposals_pending", "etcd_server_proposals_failed_total",
        "etcd_disk_wal_fsync_duration_seconds", "etcd_disk_backend_commit_duration_seconds",
        "etcd_mvcc_db_total_size_in_bytes", "etcd_mvcc_db_total_size_in_use_in_bytes",
        "etcd_debugging_mvcc_keys_total", "grpc_server_started_total", "grpc_server_handled_total",
        "process_cpu_seconds_total"}) {
    EXPECT_THAT(text, ::testing::HasSubstr(absl::StrCat("# TYPE ", name, " "))) << name;
  }
}

}  // namespace
}  // namespace quorum::server
