// libFuzzer target: one Raft member (id 1 of voters 1, 2, 3) fed a script of peer messages,
// ticks, proposals, reads and compactions decoded from the input, its Ready batches run through
// raft::ReadyLoop into an in-memory log as quorumd runs them. Nothing a peer can put on the wire
// may crash it, trip a sanitizer or stop it with Fatal.
//
// Messages carry only what crosses the wire (from, to, type, term, log term, index, entries,
// commit, reject, reject hint, snapshot metadata, context); `from` is a voter, a stranger, this
// member itself or any id. Terms and indexes are mostly drawn near the member's own so that
// elections and appends get somewhere. Two rules every leader keeps are kept, because raft/ (as
// etcd's raft) trusts its leader on them and stops when they are broken, rightly so: the entries
// of an append follow its index one by one with terms no lower than its log term and no higher
// than its term, and a heartbeat never commits past what the member holds (the leader sends
// min(match, commit)).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "raft/raft.h"
#include "raft/raw_node.h"
#include "raft/ready_loop.h"
#include "tests/support/memory_log_store.h"

namespace raftpb = quorum::raftpb;

namespace {

using quorum::raft::CommittedEntry;
using quorum::raft::ReadState;

constexpr uint64_t kSelf = 1;

// Sends go nowhere; committed entries and reads are checked for order.
struct Application : quorum::raft::MessageSink, quorum::raft::CommitSink {
  void Send(std::vector<raftpb::Message> messages) override {}
  absl::Status InstallSnapshot(const raftpb::Snapshot& snapshot) override {
    applied = snapshot.metadata().index();
    return absl::OkStatus();
  }
  void Apply(std::vector<CommittedEntry> entries) override {
    for (const CommittedEntry& c : entries) {
      // Committed entries arrive once each, in log order.
      if (c.entry.index() != applied + 1) std::abort();
      applied = c.entry.index();
    }
  }
  void ReleaseRead(const ReadState& read) override {}

  uint64_t applied = 0;
};

uint64_t PickId(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange(0, 7)) {
    case 0:
      return kSelf;
    case 1:
      return 4;  // not a member
    case 2:
      return 0;
    case 3:
      return in.ConsumeIntegral<uint64_t>();
    default:
      return in.ConsumeBool() ? 2 : 3;
  }
}

// A value near `base` (most of the time) or any value.
uint64_t Near(FuzzedDataProvider& in, uint64_t base) {
  if (in.ConsumeIntegralInRange(0, 15) == 0) return in.ConsumeIntegral<uint64_t>();
  const int delta = in.ConsumeIntegralInRange(-3, 3);
  if (delta < 0 && base < static_cast<uint64_t>(-delta)) return 0;
  return base + delta;
}

raftpb::MessageType PickType(FuzzedDataProvider& in) {
  static constexpr raftpb::MessageType kPeerTypes[] = {
      raftpb::MSG_PROPOSE,           raftpb::MSG_APPEND,
      raftpb::MSG_APPEND_RESPONSE,   raftpb::MSG_VOTE,
      raftpb::MSG_VOTE_RESPONSE,     raftpb::MSG_PRE_VOTE,
      raftpb::MSG_PRE_VOTE_RESPONSE, raftpb::MSG_SNAPSHOT,
      raftpb::MSG_HEARTBEAT,         raftpb::MSG_HEARTBEAT_RESPONSE,
      raftpb::MSG_TRANSFER_LEADER,   raftpb::MSG_TIMEOUT_NOW,
      raftpb::MSG_READ_INDEX,        raftpb::MSG_READ_INDEX_RESPONSE};
  // Now and then a local-only or unknown type, which a peer could send as well.
  if (in.ConsumeIntegralInRange(0, 31) == 0) {
    return static_cast<raftpb::MessageType>(in.ConsumeIntegralInRange(0, 25));
  }
  return in.PickValueInArray(kPeerTypes);
}

std::string EntryData(FuzzedDataProvider& in, raftpb::EntryType type) {
  if (type != raftpb::ENTRY_CONF_CHANGE || in.ConsumeBool()) {
    return in.ConsumeRandomLengthString(32);
  }
  raftpb::ConfChange cc;
  cc.set_type(static_cast<raftpb::ConfChangeType>(in.ConsumeIntegralInRange(0, 3)));
  cc.set_node_id(PickId(in));
  return cc.SerializeAsString();
}

raftpb::Message PeerMessage(FuzzedDataProvider& in, quorum::raft::RawNode& node) {
  const quorum::raft::Raft& r = node.raft();
  const uint64_t last = r.log().LastIndex();
  raftpb::Message m;
  m.set_type(PickType(in));
  m.set_from(PickId(in));
  m.set_to(in.ConsumeIntegralInRange(0, 7) == 0 ? PickId(in) : kSelf);
  m.set_term(in.ConsumeIntegralInRange(0, 7) == 0 ? 0 : Near(in, r.term()));
  m.set_log_term(Near(in, r.log().LastTerm()));
  m.set_index(Near(in, last));
  m.set_commit(Near(in, r.log().committed()));
  m.set_reject(in.ConsumeBool());
  m.set_reject_hint(Near(in, last));
  if (in.ConsumeBool()) {
    m.set_context(in.ConsumeBool() ? std::string(quorum::raft::kCampaignTransfer)
                                   : in.ConsumeRandomLengthString(16));
  }
  if (m.type() == raftpb::MSG_APPEND || m.type() == raftpb::MSG_PROPOSE ||
      in.ConsumeIntegralInRange(0, 15) == 0) {
    const int n = in.ConsumeIntegralInRange(0, 4);
    uint64_t term = m.log_term();
    for (int i = 0; i < n; ++i) {
      raftpb::Entry* e = m.add_entries();
      if (in.ConsumeBool()) ++term;
      if (m.term() != 0 && term > m.term()) term = m.term();
      e->set_term(term);
      e->set_index(m.index() + 1 + i);
      e->set_type(in.ConsumeIntegralInRange(0, 3) == 0 ? raftpb::ENTRY_CONF_CHANGE
                                                       : raftpb::ENTRY_NORMAL);
      e->set_data(EntryData(in, e->type()));
    }
  }
  if (m.type() == raftpb::MSG_HEARTBEAT && m.commit() > last) m.set_commit(last);
  if (m.type() == raftpb::MSG_SNAPSHOT || in.ConsumeIntegralInRange(0, 15) == 0) {
    raftpb::SnapshotMetadata* meta = m.mutable_snapshot()->mutable_metadata();
    meta->set_index(Near(in, last + 2));
    meta->set_term(Near(in, m.term()));
    const int voters = in.ConsumeIntegralInRange(0, 3);
    for (int i = 0; i < voters; ++i) meta->mutable_conf_state()->add_voters(PickId(in));
    if (in.ConsumeBool()) meta->mutable_conf_state()->add_learners(PickId(in));
    m.mutable_snapshot()->set_data(in.ConsumeRandomLengthString(8));
  }
  return m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  auto log = quorum::testing::MemoryLogStore::Bootstrap({1, 2, 3});
  quorum::raft::Config config;
  config.id = kSelf;
  config.storage = log.get();
  config.seed = in.ConsumeIntegral<uint8_t>();
  config.pre_vote = in.ConsumeBool();
  config.check_quorum = in.ConsumeBool();
  config.max_inflight_msgs = in.ConsumeIntegralInRange<size_t>(1, 4);
  config.max_size_per_msg = in.ConsumeIntegralInRange<uint64_t>(1, 256);
  auto created = quorum::raft::RawNode::Create(config);
  if (!created.ok()) std::abort();
  quorum::raft::RawNode& node = **created;
  Application app;
  app.applied = log->FirstIndex().value() - 1;
  quorum::raft::ReadyLoop loop(kSelf, log.get(), &app, &app);

  for (int step = 0; step < 200 && in.remaining_bytes() > 0; ++step) {
    switch (in.ConsumeIntegralInRange(0, 9)) {
      case 0:
        for (int n = in.ConsumeIntegralInRange(1, 25); n > 0; --n) node.Tick();
        break;
      case 1:
        (void)node.Propose(in.ConsumeRandomLengthString(64));
        break;
      case 2:
        node.Campaign();
        break;
      case 3:
        (void)node.ReadIndex(in.ConsumeRandomLengthString(8));
        break;
      case 4:
        node.TransferLeadership(PickId(in));
        break;
      case 5:
        if (in.ConsumeBool()) {
          node.ReportUnreachable(PickId(in));
        } else {
          node.ReportSnapshot(PickId(in), in.ConsumeBool());
        }
        break;
      case 6: {
        // The application captures its state at what it applied and compacts behind it.
        const uint64_t snapshot = log->Snapshot().value().metadata().index();
        if (app.applied > snapshot) {
          const uint64_t at = in.ConsumeIntegralInRange(snapshot + 1, app.applied);
          if (absl::Status s = log->CreateSnapshot(at, node.Status().conf_state, at); !s.ok()) {
            std::fprintf(stderr, "%s\n", s.ToString().c_str());
            std::abort();
          }
        }
        break;
      }
      case 7:
        if (!loop.Drain(node).ok()) std::abort();
        break;
      default:
        (void)node.Step(PeerMessage(in, node));
        break;
    }
  }
  if (!loop.Drain(node).ok()) std::abort();
  return 0;
}
