#include "tests/faults/member_faults.h"

#include <gtest/gtest.h>

#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "etcdserverpb/rpc.grpc.pb.h"

namespace quorum::faults {

using namespace std::chrono_literals;
using testing::WaitUntil;

grpc::ClientContext* WithDeadline(grpc::ClientContext* context, std::chrono::milliseconds wait) {
  context->set_deadline(std::chrono::system_clock::now() + wait);
  return context;
}

namespace {

uint64_t MemberId(TestCluster& cluster, int i) {
  auto status = cluster.Status(i);
  return status.ok() ? status->header().member_id() : 0;
}

}  // namespace

bool MoveLeaderTo(TestCluster& cluster, int target) {
  return WaitUntil(
      [&] {
        auto leader = cluster.WaitForLeader(10s);
        if (!leader.has_value()) return false;
        if (*leader == target) return true;
        auto stub = etcdserverpb::Maintenance::NewStub(grpc::CreateChannel(
            cluster.spec(*leader).Endpoint(), grpc::InsecureChannelCredentials()));
        etcdserverpb::MoveLeaderRequest move;
        move.set_targetid(MemberId(cluster, target));
        etcdserverpb::MoveLeaderResponse response;
        grpc::ClientContext context;
        stub->MoveLeader(WithDeadline(&context, 5s), move, &response);
        return cluster.WaitForLeader(10s) == target;
      },
      30s);
}

std::string LogTail(TestCluster& cluster, int i) {
  const std::string log = cluster.Log(i);
  size_t from = log.size();
  for (int lines = 0; lines < 30 && from > 0; ++lines) from = log.rfind('\n', from - 1);
  return from == std::string::npos ? log : log.substr(from + 1);
}

void ExpectExited(TestCluster& cluster, int victim, int exit_code, const std::string& text) {
  std::optional<int> code = cluster.WaitExit(victim, 60s);
  ASSERT_TRUE(code.has_value()) << "member " << victim << " still runs; its log ends:\n"
                                << LogTail(cluster, victim);
  EXPECT_EQ(*code, exit_code) << LogTail(cluster, victim);
  EXPECT_NE(cluster.Log(victim).find(text), std::string::npos) << LogTail(cluster, victim);
}

void ExpectNothingLostOrRepeated(TestCluster& cluster, Writer& writer, int other_puts) {
  auto leader = cluster.WaitForLeader(30s);
  ASSERT_TRUE(leader.has_value()) << "no leader all agree on; the logs end:\n"
                                  << LogTail(cluster, 0) << "\n"
                                  << LogTail(cluster, 1) << "\n"
                                  << LogTail(cluster, 2);
  auto last = cluster.Client(*leader).Put("last", "1");
  ASSERT_TRUE(last.ok()) << last.status();
  ++other_puts;
  const int64_t revision = last->header().revision();
  const std::set<std::string> acknowledged = writer.acknowledged();
  const std::set<std::string> unknown = writer.unknown();
  std::optional<uint32_t> first_hash;
  for (int i = 0; i < cluster.size(); ++i) {
    if (!cluster.Running(i)) continue;
    ASSERT_TRUE(WaitUntil(
        [&] {
          auto status = cluster.Status(i);
          return status.ok() && status->header().revision() >= revision;
        },
        30s))
        << "member " << i << " did not reach revision " << revision << "; its log ends:\n"
        << LogTail(cluster, i) << "\nthe leader's:\n"
        << LogTail(cluster, *leader);
    etcdserverpb::RangeRequest range;
    range.set_key(kWriterPrefix);
    range.set_range_end("w0");  // '/' + 1
    range.set_serializable(true);
    range.set_revision(revision);
    auto read = cluster.Client(i).Range(range);
    ASSERT_TRUE(read.ok()) << read.status();
    std::set<std::string> present;
    for (const auto& kv : read->kvs()) {
      EXPECT_EQ(kv.version(), 1) << "member " << i << ": " << kv.key() << " applied twice";
      EXPECT_TRUE(acknowledged.contains(kv.key()) || unknown.contains(kv.key()))
          << "member " << i << ": " << kv.key() << " was never written";
      present.insert(kv.key());
    }
    size_t lost = 0;
    for (const std::string& key : acknowledged) lost += present.contains(key) ? 0 : 1;
    EXPECT_EQ(lost, 0u) << "member " << i << " lost acknowledged writes";
    // Each put that took effect made one revision, after the store's initial revision 1.
    EXPECT_EQ(revision, 1 + static_cast<int64_t>(present.size()) + other_puts)
        << "member " << i << ": revisions do not count the puts that took effect";
    auto hash = cluster.HashKV(i, revision);
    ASSERT_TRUE(hash.ok()) << "member " << i << ": " << hash.status();
    if (!first_hash) first_hash = *hash;
    EXPECT_EQ(*hash, *first_hash) << "member " << i << " holds a different keyspace";
  }
  std::cout << acknowledged.size() << " puts acknowledged, " << unknown.size()
            << " with unknown outcome, revision " << revision << "\n";
  EXPECT_GT(acknowledged.size(), 100u) << "too few writes to judge anything";
}

void BringBackAndCheck(TestCluster& cluster, int victim, Writer& writer, int other_puts) {
  ASSERT_TRUE(writer.WaitForMore(30, 30s)) << "writes did not go on without member " << victim;
  cluster.SetEnv(victim, {});
  cluster.Start(victim);
  ASSERT_TRUE(writer.WaitForMore(50, 30s))
      << "writes did not go on once member " << victim << " was back";
  writer.Stop();
  ExpectNothingLostOrRepeated(cluster, writer, other_puts);
}

bool Writer::WaitForMore(size_t more, std::chrono::milliseconds wait) {
  const size_t target = acknowledged_count() + more;
  return WaitUntil([&] { return acknowledged_count() >= target; }, wait);
}

void Writer::Run() {
  for (int n = 0; !stop_; ++n) {
    const std::string key = absl::StrFormat("%s%06d", kWriterPrefix, n);
    const int member = members_[n % members_.size()];
    std::string value = absl::StrCat("value-", n);
    if (value.size() < value_bytes_) value.resize(value_bytes_, 'v');
    auto put = cluster_->Client(member).Put(key, value);
    {
      std::lock_guard<std::mutex> lock(mu_);
      (put.ok() ? acknowledged_ : unknown_).insert(key);
    }
    // Paces the next attempt while the cluster elects; it goes to the next member.
    if (!put.ok()) std::this_thread::sleep_for(50ms);
  }
}

}  // namespace quorum::faults
