// The applier over a real store: every entry type (keyspace writes, leases, alarms, member
// updates, membership changes, a leader's empty entry), what it asks of the member (answers for
// its own proposals only, peers to reconnect, stopping once removed), entries never applied
// twice, refusals that still advance the applied index, and the stop on an undecodable entry.
#include "server/applier.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "proto/etcd_errors.h"
#include "storage/raft_log_store.h"
#include "storage/schema.h"
#include "storage/store_fixture.h"

namespace quorum::server {
namespace {

constexpr uint64_t kSelf = 0x11;
constexpr uint64_t kOther = 0x22;

class ApplierTest : public storage::testing::StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    Attach();
  }
  void TearDown() override {
    applier_.reset();
    membership_.reset();
    StoreTest::TearDown();
  }
  // Builds the applier's state on the open store, as the member does at start.
  void Attach() {
    auto membership = Membership::Load(backend_.get());
    ASSERT_TRUE(membership.ok()) << membership.status();
    membership_ = *std::move(membership);
    ASSERT_TRUE(alarms_.Load(backend_.get()).ok());
    lessor_ = std::make_unique<Lessor>(Lessor::Options{.min_ttl_seconds = 2});
    ASSERT_TRUE(lessor_->Load(backend_.get(), store_->LeasedKeys()).ok());
    store_->SetLeaseChecker([this](int64_t id) { return lessor_->Exists(id); });
    store_->SetEventSink(
        [this](int64_t, const std::vector<mvccpb::Event>& events) { lessor_->OnEvents(events); });
    raftpb::ConfState voters;
    voters.add_voters(kSelf);
    applier_ = std::make_unique<Applier>(kSelf,
                                         Applier::State{.store = store_.get(),
                                                        .alarms = &alarms_,
                                                        .lessor = lessor_.get(),
                                                        .membership = membership_.get()},
                                         voters);
  }
  void ReopenAll() {
    applier_.reset();
    membership_.reset();
    Reopen();
    Attach();
  }

  raftpb::Entry Entry(internalpb::InternalRequest request, uint64_t proposer, uint64_t id) {
    request.set_proposer(proposer);
    request.set_id(id);
    raftpb::Entry entry;
    entry.set_index(++log_index_);
    entry.set_term(2);
    entry.set_data(request.SerializeAsString());
    return entry;
  }
  raftpb::Entry PutEntry(const std::string& key, const std::string& value, uint64_t proposer,
                         uint64_t id, int64_t lease = 0) {
    internalpb::InternalRequest request;
    *request.mutable_put() = storage::testing::PutReq(key, value, lease);
    return Entry(std::move(request), proposer, id);
  }
  raftpb::Entry ConfChangeEntry(raftpb::ConfChangeType type, etcdserverpb::Member member,
                                uint64_t proposer, uint64_t id) {
    raftpb::ConfChange change = EncodeMemberChange(type, std::move(member), id, proposer);
    raftpb::Entry entry;
    entry.set_index(++log_index_);
    entry.set_term(2);
    entry.set_type(raftpb::ENTRY_CONF_CHANGE);
    entry.set_data(change.SerializeAsString());
    return entry;
  }
  ApplyEffects Apply(const raftpb::Entry& entry,
                     const std::optional<raftpb::ConfState>& conf_state = std::nullopt) {
    ApplyEffects effects;
    applier_->Apply(entry, conf_state, &effects);
    return effects;
  }

  static etcdserverpb::Member NamedMember(uint64_t id, const std::string& name,
                                          const std::string& url) {
    etcdserverpb::Member m;
    m.set_id(id);
    m.set_name(name);
    m.add_peerurls(url);
    return m;
  }

  uint64_t log_index_ = 10;
  AlarmSet alarms_;
  std::unique_ptr<Lessor> lessor_;
  std::unique_ptr<Membership> membership_;
  std::unique_ptr<Applier> applier_;
};

TEST_F(ApplierTest, AnswersOnlyTheProposalsThisMemberMade) {
  ApplyEffects mine = Apply(PutEntry("a", "1", kSelf, 7));
  ApplyEffects theirs = Apply(PutEntry("b", "2", kOther, 8));
  ASSERT_EQ(mine.completions.size(), 1u);
  EXPECT_EQ(mine.completions[0].first, 7u);
  ASSERT_TRUE(mine.completions[0].second.status.ok());
  auto* put = CheckedResponse<etcdserverpb::PutResponse>(mine.completions[0].second.response.get());
  EXPECT_EQ(put->header().revision(), 2);
  EXPECT_TRUE(theirs.completions.empty());
  EXPECT_EQ(store_->CurrentRevision(), 3);
  EXPECT_EQ(store_->Applied().index, log_index_);
}

TEST_F(ApplierTest, AnEntryIsNeverAppliedTwiceAcrossARestart) {
  raftpb::Entry entry = PutEntry("a", "1", kSelf, 7);
  Apply(entry);
  ReopenAll();
  // Replayed from the log after the restart: skipped, no answer, no new revision.
  ApplyEffects again = Apply(entry);
  EXPECT_TRUE(again.completions.empty());
  EXPECT_EQ(store_->CurrentRevision(), 2);
}

TEST_F(ApplierTest, ARefusedRequestIsAnsweredAndStillCountsAsApplied) {
  ApplyEffects effects = Apply(PutEntry("a", "1", kSelf, 7, /*lease=*/99));
  ASSERT_EQ(effects.completions.size(), 1u);
  EXPECT_EQ(effects.completions[0].second.status.message(), ErrLeaseNotFound().message());
  EXPECT_EQ(store_->Applied().index, log_index_);
  ReopenAll();
  EXPECT_EQ(store_->Applied().index, log_index_);
  EXPECT_EQ(store_->CurrentRevision(), 1);
}

TEST_F(ApplierTest, ALeadersEmptyEntryMovesTheIndexAndReportsItsTerm) {
  raftpb::Entry empty;
  empty.set_index(++log_index_);
  empty.set_term(5);
  ApplyEffects effects = Apply(empty);
  EXPECT_EQ(effects.leader_entry_term, 5u);
  EXPECT_EQ(store_->Applied().index, log_index_);
  EXPECT_TRUE(effects.completions.empty());
}

TEST_F(ApplierTest, LeaseGrantAndRevokeKeepRecordsAndDeleteAttachedKeysInOneRevision) {
  internalpb::InternalRequest grant;
  grant.mutable_lease_grant()->set_id(42);
  grant.mutable_lease_grant()->set_ttl(10);
  ApplyEffects granted = Apply(Entry(grant, kSelf, 1));
  ASSERT_TRUE(granted.completions[0].second.status.ok());
  Apply(PutEntry("k1", "v", kSelf, 2, 42));
  Apply(PutEntry("k2", "v", kSelf, 3, 42));
  ReopenAll();  // the lease record survives
  ASSERT_TRUE(lessor_->Exists(42));
  EXPECT_EQ(lessor_->Keys(42), (std::vector<std::string>{"k1", "k2"}));

  internalpb::InternalRequest revoke;
  revoke.mutable_lease_revoke()->set_id(42);
  ApplyEffects revoked = Apply(Entry(revoke, kSelf, 4));
  ASSERT_TRUE(revoked.completions[0].second.status.ok());
  EXPECT_EQ(store_->CurrentRevision(), 4);  // both keys went at one revision
  EXPECT_EQ(Get(storage::testing::RangeReq("k", "l")).kvs_size(), 0);
  ReopenAll();
  EXPECT_FALSE(lessor_->Exists(42));
  auto leases = storage::LoadLeases(backend_.get());
  ASSERT_TRUE(leases.ok());
  EXPECT_TRUE(leases->empty());
}

TEST_F(ApplierTest, NoSpaceAlarmRefusesGrowthButNotDeletesAndSurvivesARestart) {
  Apply(PutEntry("a", "1", kSelf, 1));
  internalpb::InternalRequest alarm;
  alarm.mutable_alarm()->set_action(etcdserverpb::AlarmRequest::ACTIVATE);
  alarm.mutable_alarm()->set_memberid(kSelf);
  alarm.mutable_alarm()->set_alarm(etcdserverpb::NOSPACE);
  Apply(Entry(alarm, kSelf, 2));
  ReopenAll();
  ASSERT_TRUE(alarms_.Has(etcdserverpb::NOSPACE));
  ApplyEffects put = Apply(PutEntry("b", "2", kSelf, 3));
  EXPECT_EQ(put.completions[0].second.status.message(), ErrNoSpace().message());
  internalpb::InternalRequest del;
  *del.mutable_delete_range() = storage::testing::DelReq("a");
  ApplyEffects deleted = Apply(Entry(del, kSelf, 4));
  EXPECT_TRUE(deleted.completions[0].second.status.ok());
  EXPECT_EQ(store_->Applied().index, log_index_);
}

TEST_F(ApplierTest, AddingAMemberRecordsItWithTheConfStateAndAsksToConnect) {
  raftpb::ConfState after;
  after.add_voters(kSelf);
  after.add_voters(kOther);
  ApplyEffects effects =
      Apply(ConfChangeEntry(raftpb::CONF_CHANGE_ADD_VOTER,
                            NamedMember(kOther, "", "http://127.0.0.1:2380"), kSelf, 9),
            after);
  ASSERT_EQ(effects.completions.size(), 1u);
  EXPECT_EQ(effects.completions[0].first, 9u);
  ASSERT_EQ(effects.peers.size(), 1u);
  EXPECT_EQ(effects.peers[0].id, kOther);
  EXPECT_FALSE(effects.peers[0].removed);
  EXPECT_EQ(effects.peers[0].urls, std::vector<std::string>{"http://127.0.0.1:2380"});
  EXPECT_EQ(applier_->conf_state().voters_size(), 2);
  ReopenAll();
  EXPECT_TRUE(membership_->Find(kOther).has_value());
  auto conf = storage::RaftLogStore::ReadConfState(backend_.get(), nullptr);
  ASSERT_TRUE(conf.ok());
  EXPECT_EQ(conf->voters_size(), 2);
}

TEST_F(ApplierTest, RemovingThisMemberReturnsTheDecisionToStop) {
  Apply(ConfChangeEntry(raftpb::CONF_CHANGE_ADD_VOTER, NamedMember(kOther, "b", "http://b"), kOther,
                        1));
  ApplyEffects other_removed = Apply(
      ConfChangeEntry(raftpb::CONF_CHANGE_REMOVE, NamedMember(kOther, "b", "http://b"), kOther, 2));
  EXPECT_FALSE(other_removed.removed_self);
  ASSERT_EQ(other_removed.peers.size(), 1u);
  EXPECT_TRUE(other_removed.peers[0].removed);
  EXPECT_TRUE(membership_->IsRemoved(kOther));

  ApplyEffects self_removed = Apply(
      ConfChangeEntry(raftpb::CONF_CHANGE_REMOVE, NamedMember(kSelf, "a", "http://a"), kOther, 3));
  EXPECT_TRUE(self_removed.removed_self);
  EXPECT_TRUE(self_removed.peers.empty());  // no connection to oneself to drop
  ReopenAll();
  EXPECT_TRUE(membership_->IsRemoved(kSelf));
}

TEST_F(ApplierTest, AMemberUpdateChangesUrlsAndKeepsTheLearnerFlag) {
  Apply(ConfChangeEntry(raftpb::CONF_CHANGE_ADD_LEARNER, NamedMember(kOther, "", "http://old"),
                        kOther, 1));
  etcdserverpb::Member update = NamedMember(kOther, "b", "http://new");
  update.add_clienturls("http://client");
  internalpb::InternalRequest request;
  *request.mutable_member_update()->mutable_member() = update;
  ApplyEffects effects = Apply(Entry(request, kSelf, 2));
  ASSERT_TRUE(effects.completions[0].second.status.ok());
  ASSERT_EQ(effects.peers.size(), 1u);
  EXPECT_EQ(effects.peers[0].urls, std::vector<std::string>{"http://new"});
  ReopenAll();
  auto member = membership_->Find(kOther);
  ASSERT_TRUE(member.has_value());
  EXPECT_EQ(member->name(), "b");
  EXPECT_EQ(member->clienturls(0), "http://client");
  EXPECT_TRUE(member->islearner());

  // An update for a member that is gone is refused, and still applied.
  *request.mutable_member_update()->mutable_member() = NamedMember(0x99, "z", "http://z");
  ApplyEffects refused = Apply(Entry(request, kSelf, 3));
  EXPECT_EQ(refused.completions[0].second.status.message(), ErrMemberNotFound().message());
  EXPECT_EQ(store_->Applied().index, log_index_);
}

TEST_F(ApplierTest, AnUndecodableCommittedEntryStopsTheMember) {
  // RocksDB has threads running: the child re-runs the test from the start instead of forking.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  raftpb::Entry entry;
  entry.set_index(++log_index_);
  entry.set_term(2);
  entry.set_data("\xff\xff\xff not a request");
  EXPECT_DEATH(Apply(entry), "cannot apply committed entry at index 11");
}

}  // namespace
}  // namespace quorum::server
