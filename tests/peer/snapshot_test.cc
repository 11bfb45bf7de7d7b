// Snapshot transfer between transports in one process: chunks staged to a file, announced to
// Raft with the file's path, read back with StagedSnapshot; the status reported to the sender.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "peer/peer_test_support.h"
#include "server/peer/transport.h"

namespace quorum::server {
namespace {

using testing::GeneratedSnapshotReader;
using testing::Listen;
using testing::PickFreePort;
using testing::Recorder;
using testing::TempDir;
using testing::Url;

constexpr uint64_t kCluster = 0xc1;

struct Member {
  uint64_t id;
  int port;
  std::string snapshot_dir;
  Recorder recorder;
  std::unique_ptr<PeerTransport> transport;
};

void StartMember(Member& member, uint64_t cluster = kCluster, size_t chunk_bytes = 256 << 10) {
  PeerTransport::Options options;
  options.cluster_id = cluster;
  options.self_id = member.id;
  options.listen = {Listen(member.port)};
  options.snapshot_dir = member.snapshot_dir;
  options.snapshot_chunk_bytes = chunk_bytes;
  absl::StatusOr<std::unique_ptr<PeerTransport>> transport =
      PeerTransport::Start(options, member.recorder.Callbacks());
  ASSERT_TRUE(transport.ok()) << transport.status();
  member.transport = *std::move(transport);
}

raftpb::Message SnapshotMessage(uint64_t from, uint64_t to, uint64_t term, uint64_t index) {
  raftpb::Message message;
  message.set_type(raftpb::MSG_SNAPSHOT);
  message.set_from(from);
  message.set_to(to);
  message.set_term(term);
  raftpb::SnapshotMetadata* metadata = message.mutable_snapshot()->mutable_metadata();
  metadata->set_term(term);
  metadata->set_index(index);
  metadata->mutable_conf_state()->add_voters(from);
  metadata->mutable_conf_state()->add_voters(to);
  return message;
}

// Files in `dir`, by name.
std::vector<std::string> Files(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    a_.snapshot_dir = TempDir(name + "-a");
    b_.snapshot_dir = TempDir(name + "-b");
  }

  // a's state machine serves `records` records of 1000 bytes, captured at `captured_index`
  // (moved forward from the index Raft asked for, as a real state machine may).
  void ServeSnapshot(size_t records, uint64_t captured_index, size_t fail_after = SIZE_MAX) {
    a_.recorder.SetOpenSnapshot([=](const raftpb::Message& message) {
      raftpb::Message captured = message;
      captured.mutable_snapshot()->mutable_metadata()->set_index(captured_index);
      std::unique_ptr<SnapshotReader> reader =
          std::make_unique<GeneratedSnapshotReader>(records, 1000, fail_after);
      return std::make_pair(std::move(captured), std::move(reader));
    });
  }

  Member a_{.id = 1, .port = PickFreePort()};
  Member b_{.id = 2, .port = PickFreePort()};
};

TEST_F(SnapshotTest, SeveralMegabytesArriveIntactThroughTheStagingFile) {
  StartMember(a_);
  StartMember(b_);
  a_.transport->SetPeer(b_.id, {Url(b_.port)});
  constexpr size_t kRecords = 6000;  // about 6 MB, in 24 chunks of 256 KB
  ServeSnapshot(kRecords, /*captured_index=*/120);

  a_.transport->Send({SnapshotMessage(a_.id, b_.id, /*term=*/3, /*index=*/100)});
  ASSERT_TRUE(a_.recorder.WaitForSnapshotStatus(1));
  EXPECT_EQ(a_.recorder.SnapshotStatus()[0], std::make_pair(b_.id, true));
  ASSERT_TRUE(b_.recorder.WaitForDelivered(1));

  raftpb::Message delivered = b_.recorder.Delivered()[0];
  EXPECT_EQ(delivered.type(), raftpb::MSG_SNAPSHOT);
  EXPECT_EQ(delivered.from(), a_.id);
  EXPECT_EQ(delivered.snapshot().metadata().index(), 120u);
  EXPECT_EQ(delivered.snapshot().metadata().term(), 3u);
  const std::string& path = delivered.snapshot().data();
  EXPECT_EQ(std::filesystem::path(path).parent_path(), b_.snapshot_dir);
  EXPECT_EQ(Files(b_.snapshot_dir),
            std::vector<std::string>{"0000000000000003-0000000000000078.snap"});

  absl::StatusOr<std::unique_ptr<StagedSnapshot>> staged = StagedSnapshot::Open(path);
  ASSERT_TRUE(staged.ok()) << staged.status();
  internalpb::SnapshotChunk chunk;
  size_t chunks = 0;
  size_t next_record = 0;
  bool saw_last = false;
  while (true) {
    absl::StatusOr<bool> more = (*staged)->Next(&chunk);
    ASSERT_TRUE(more.ok()) << more.status();
    if (!*more) break;
    ASSERT_FALSE(saw_last) << "a chunk after the last one";
    if (chunks == 0) {
      EXPECT_EQ(chunk.hello().cluster_id(), kCluster);
      EXPECT_EQ(chunk.hello().from(), a_.id);
      EXPECT_EQ(chunk.hello().to(), b_.id);
      EXPECT_EQ(chunk.message().snapshot().metadata().index(), 120u);
    } else {
      EXPECT_FALSE(chunk.has_hello());
    }
    for (const internalpb::StateRecord& record : chunk.records()) {
      internalpb::StateRecord expected = GeneratedSnapshotReader::Record(next_record++);
      ASSERT_EQ(record.family(), expected.family());
      ASSERT_EQ(record.key(), expected.key());
      ASSERT_EQ(record.value(), expected.value());
    }
    saw_last = chunk.last();
    ++chunks;
  }
  EXPECT_TRUE(saw_last);
  EXPECT_EQ(next_record, kRecords);
  EXPECT_GT(chunks, 10u);
  EXPECT_EQ(a_.transport->GetStats().snapshots_sent, 1u);
  EXPECT_EQ(b_.transport->GetStats().snapshots_received, 1u);

  // The snapshot stream does not disturb the message stream.
  a_.transport->Send({testing::MakeMessage(a_.id, b_.id, 5)});
  ASSERT_TRUE(b_.recorder.WaitForDelivered(2));
}

TEST_F(SnapshotTest, EmptyStateIsOneChunk) {
  StartMember(a_);
  StartMember(b_);
  a_.transport->SetPeer(b_.id, {Url(b_.port)});
  ServeSnapshot(0, /*captured_index=*/9);
  a_.transport->Send({SnapshotMessage(a_.id, b_.id, 2, 9)});
  ASSERT_TRUE(a_.recorder.WaitForSnapshotStatus(1));
  EXPECT_TRUE(a_.recorder.SnapshotStatus()[0].second);
  ASSERT_TRUE(b_.recorder.WaitForDelivered(1));
  auto staged = StagedSnapshot::Open(b_.recorder.Delivered()[0].snapshot().data());
  ASSERT_TRUE(staged.ok());
  internalpb::SnapshotChunk chunk;
  ASSERT_TRUE(*(*staged)->Next(&chunk));
  EXPECT_TRUE(chunk.last());
  EXPECT_EQ(chunk.records_size(), 0);
  EXPECT_FALSE(*(*staged)->Next(&chunk));
}

TEST_F(SnapshotTest, FailedReaderReportsFailureAndLeavesNoFile) {
  StartMember(a_);
  StartMember(b_);
  a_.transport->SetPeer(b_.id, {Url(b_.port)});
  ServeSnapshot(3000, 50, /*fail_after=*/1500);  // breaks after a few chunks went out

  a_.transport->Send({SnapshotMessage(a_.id, b_.id, 2, 50)});
  ASSERT_TRUE(a_.recorder.WaitForSnapshotStatus(1));
  EXPECT_EQ(a_.recorder.SnapshotStatus()[0], std::make_pair(b_.id, false));

  // b drops the partial file once it sees the stream end, which may come just after a's
  // status; poll for it with a bound.
  absl::Time deadline = absl::Now() + testing::kWait;
  while (!Files(b_.snapshot_dir).empty() && absl::Now() < deadline) {
    b_.recorder.WaitForDelivered(1, absl::Milliseconds(20));
  }
  EXPECT_TRUE(Files(b_.snapshot_dir).empty());
  EXPECT_EQ(b_.recorder.DeliveredCount(), 0u);

  // A later snapshot to the same peer goes through: one failure does not wedge the sender.
  ServeSnapshot(10, 60);
  a_.transport->Send({SnapshotMessage(a_.id, b_.id, 2, 60)});
  ASSERT_TRUE(a_.recorder.WaitForSnapshotStatus(2));
  EXPECT_TRUE(a_.recorder.SnapshotStatus()[1].second);
  ASSERT_TRUE(b_.recorder.WaitForDelivered(1));
}

TEST_F(SnapshotTest, OpenSnapshotErrorReportsFailure) {
  StartMember(a_);
  StartMember(b_);
  a_.transport->SetPeer(b_.id, {Url(b_.port)});
  // No SetOpenSnapshot: the recorder's open_snapshot fails.
  a_.transport->Send({SnapshotMessage(a_.id, b_.id, 2, 50)});
  ASSERT_TRUE(a_.recorder.WaitForSnapshotStatus(1));
  EXPECT_EQ(a_.recorder.SnapshotStatus()[0], std::make_pair(b_.id, false));
}

TEST_F(SnapshotTest, DownPeerReportsFailure) {
  StartMember(a_);
  a_.transport->SetPeer(b_.id, {Url(b_.port)});  // b never started
  ServeSnapshot(10, 50);
  a_.transport->Send({SnapshotMessage(a_.id, b_.id, 2, 50)});
  ASSERT_TRUE(a_.recorder.WaitForSnapshotStatus(1));
  EXPECT_EQ(a_.recorder.SnapshotStatus()[0], std::make_pair(b_.id, false));
}

TEST_F(SnapshotTest, ForeignClusterSnapshotIsRefused) {
  StartMember(a_, /*cluster=*/kCluster + 1);
  StartMember(b_);
  a_.transport->SetPeer(b_.id, {Url(b_.port)});
  ServeSnapshot(10, 50);
  a_.transport->Send({SnapshotMessage(a_.id, b_.id, 2, 50)});
  ASSERT_TRUE(a_.recorder.WaitForSnapshotStatus(1));
  EXPECT_EQ(a_.recorder.SnapshotStatus()[0], std::make_pair(b_.id, false));
  EXPECT_EQ(b_.recorder.DeliveredCount(), 0u);
  EXPECT_TRUE(Files(b_.snapshot_dir).empty());
}

TEST_F(SnapshotTest, StopDuringTransferReportsNothingAfterReturn) {
  StartMember(a_, kCluster, /*chunk_bytes=*/16 << 10);
  StartMember(b_);
  a_.transport->SetPeer(b_.id, {Url(b_.port)});
  absl::Notification opened;
  a_.recorder.SetOpenSnapshot([&](const raftpb::Message& message) {
    opened.Notify();
    std::unique_ptr<SnapshotReader> reader =
        std::make_unique<GeneratedSnapshotReader>(50000, 1000);  // 50 MB: still going at Stop
    return std::make_pair(message, std::move(reader));
  });
  a_.transport->Send({SnapshotMessage(a_.id, b_.id, 2, 50)});
  ASSERT_TRUE(opened.WaitForNotificationWithTimeout(testing::kWait));
  a_.transport->Stop();
  const size_t reported = a_.recorder.SnapshotStatus().size();
  b_.transport->Stop();
  EXPECT_EQ(a_.recorder.SnapshotStatus().size(), reported);
  EXPECT_EQ(b_.recorder.DeliveredCount(), 0u);
  // b removed the partial file when the stream was cancelled.
  EXPECT_TRUE(Files(b_.snapshot_dir).empty());
}

TEST(StagedSnapshotTest, MissingFileIsNotFound) {
  auto staged = StagedSnapshot::Open("/nonexistent/quorum/0-0.snap");
  EXPECT_EQ(staged.status().code(), absl::StatusCode::kNotFound);
}

TEST(StagedSnapshotTest, TornFrameIsDataLoss) {
  const std::string path = TempDir("torn") + "/torn.snap";
  {
    std::ofstream out(path, std::ios::binary);
    out.put(static_cast<char>(100));  // a frame of 100 bytes announced, 3 present
    out << "abc";
  }
  auto staged = StagedSnapshot::Open(path);
  ASSERT_TRUE(staged.ok()) << staged.status();
  internalpb::SnapshotChunk chunk;
  EXPECT_EQ((*staged)->Next(&chunk).status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace quorum::server
