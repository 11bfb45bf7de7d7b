// ReadyLoop: the order of a Ready's effects, which the leader's self-acknowledgement relies on
// (raft_replication.cc counts the leader's own copy when it appends). Each test records what
// the loop does, in order, for one member driven by hand.
#include "raft/ready_loop.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/raft/cluster.h"
#include "tests/support/memory_log_store.h"

namespace quorum::raft::testing {
namespace {

// A log that notes each write in the shared event list.
class RecordingLog : public quorum::testing::MemoryLogStore {
 public:
  RecordingLog(std::unique_ptr<MemoryStorage> storage, std::vector<std::string>* events)
      : MemoryLogStore(std::move(storage)), events_(events) {}
  absl::Status Save(const std::optional<raftpb::Snapshot>& snapshot,
                    const std::vector<raftpb::Entry>& entries,
                    const std::optional<raftpb::HardState>& hard_state, bool sync) override {
    absl::Status s = MemoryLogStore::Save(snapshot, entries, hard_state, sync);
    if (s.ok() && (snapshot || !entries.empty() || hard_state)) {
      events_->push_back(
          absl::StrCat("save", entries.empty() ? "" : " entries", sync ? " synced" : ""));
    }
    return s;
  }

 private:
  std::vector<std::string>* const events_;
};

class Recorder : public MessageSink, public CommitSink {
 public:
  explicit Recorder(std::vector<std::string>* events) : events_(events) {}
  void Send(std::vector<raftpb::Message> messages) override {
    if (!messages.empty()) events_->push_back("send");
  }
  void CommitIndexKnown(uint64_t commit) override {
    events_->push_back(absl::StrCat("commit ", commit));
  }
  void LeaderChanged(uint64_t lead, uint64_t) override {
    events_->push_back(absl::StrCat("lead ", lead));
  }
  absl::Status InstallSnapshot(const raftpb::Snapshot&) override { return absl::OkStatus(); }
  void Apply(std::vector<CommittedEntry> entries) override {
    events_->push_back(absl::StrCat("apply to ", entries.back().entry.index()));
  }
  void ReleaseRead(const ReadState& read) override {
    events_->push_back(absl::StrCat("read ", read.index));
  }

 private:
  std::vector<std::string>* const events_;
};

// Member 1 of {1, 2, 3}, without PreVote so one vote makes it leader.
class ReadyLoopTest : public ::testing::Test {
 protected:
  ReadyLoopTest()
      : log_(BootstrapStorage({1, 2, 3}), &events_),
        recorder_(&events_),
        loop_(1, &log_, &recorder_, &recorder_) {
    Config c;
    c.id = 1;
    c.storage = &log_;
    c.pre_vote = false;
    c.check_quorum = false;
    c.seed = 1;
    node_ = *RawNode::Create(c);
  }

  raftpb::Message From(uint64_t from, raftpb::MessageType type, uint64_t index = 0) {
    raftpb::Message m;
    m.set_type(type);
    m.set_from(from);
    m.set_to(1);
    m.set_term(node_->Status().term);
    m.set_index(index);
    return m;
  }

  std::vector<std::string> Drain() {
    events_.clear();
    EXPECT_TRUE(loop_.Drain(*node_).ok());
    return events_;
  }

  std::vector<std::string> events_;
  RecordingLog log_;
  Recorder recorder_;
  ReadyLoop loop_;
  std::unique_ptr<RawNode> node_;
};

using Events = std::vector<std::string>;

TEST_F(ReadyLoopTest, CandidateSendsItsVoteRequestsOnlyAfterItsTermAndVoteAreSynced) {
  node_->Campaign();
  EXPECT_EQ(Drain(), (Events{"commit 1", "save synced", "send"}));
}

TEST_F(ReadyLoopTest, LeaderSendsItsAppendsBeforeWritingThemAndAppliesOnlyAfter) {
  node_->Campaign();
  Drain();
  ASSERT_TRUE(node_->Step(From(2, raftpb::MSG_VOTE_RESPONSE)).ok());
  // Leader: its first entry goes out to the followers, then to its own disk.
  EXPECT_EQ(Drain(), (Events{"lead 1", "send", "save entries synced"}));
  // One follower's acknowledgement, with the leader's own copy, is a majority. The commit index
  // is known before the messages that carry it leave; entries are applied after the write.
  ASSERT_TRUE(node_->Step(From(2, raftpb::MSG_APPEND_RESPONSE, 2)).ok());
  EXPECT_EQ(Drain(), (Events{"commit 2", "send", "save", "apply to 2"}));
}

TEST_F(ReadyLoopTest, FollowerAcknowledgesAppendsOnlyAfterWritingThem) {
  raftpb::Message append = From(2, raftpb::MSG_APPEND);
  append.set_term(2);
  append.set_index(1);
  append.set_log_term(1);
  append.set_commit(2);
  raftpb::Entry* e = append.add_entries();
  e->set_index(2);
  e->set_term(2);
  ASSERT_TRUE(node_->Step(append).ok());
  EXPECT_EQ(Drain(), (Events{"commit 2", "lead 2", "save entries synced", "send", "apply to 2"}));
}

TEST_F(ReadyLoopTest, FailedWriteIsReturnedBeforeAnythingDependsOnIt) {
  log_.SetSaveHook([] { return absl::DataLossError("disk gone"); });
  node_->Campaign();
  events_.clear();
  absl::Status s = loop_.Drain(*node_);
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_EQ(s.message(), "raft log save: disk gone");
  // The vote requests promise a durable vote: they must not have left.
  EXPECT_EQ(events_, (Events{"commit 1"}));
}

}  // namespace
}  // namespace quorum::raft::testing
