#include "server/corruption_check.h"

#include <future>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "proto/etcd_errors.h"
#include "server/member_api.h"
#include "server/peer/peer_channel.h"
#include "server/reactors.h"
#include "spdlog/spdlog.h"

namespace quorum::server {
namespace {

// How long one peer may take to answer (etcd gives a peer request 5 s as well).
constexpr absl::Duration kPeerHashTimeout = absl::Seconds(5);

std::string Hex(uint64_t id) { return absl::StrCat(absl::Hex(id)); }

// This member's HashKV at its current revision.
absl::StatusOr<etcdserverpb::HashKVResponse> LocalHash(MemberApi* member) {
  return member->HashKV(0);
}

bool IsLeader(MemberApi* member) {
  const etcdserverpb::StatusResponse status = member->Status();
  return status.leader() != 0 && status.leader() == status.header().member_id();
}

}  // namespace

grpc::ServerUnaryReactor* HashPeerService::HashKV(grpc::CallbackServerContext* context,
                                                  const etcdserverpb::HashKVRequest* request,
                                                  etcdserverpb::HashKVResponse* response) {
  absl::StatusOr<etcdserverpb::HashKVResponse> hash = hash_kv_(request->revision());
  if (hash.ok()) response->Swap(&*hash);
  return FinishUnary(context, hash.status());
}

std::vector<PeerHash> FetchPeerHashes(const std::vector<etcdserverpb::Member>& members,
                                      uint64_t self, int64_t revision, absl::Time deadline,
                                      const PeerSecurity& security) {
  std::vector<std::future<PeerHash>> asked;
  for (const etcdserverpb::Member& peer : members) {
    if (peer.id() == self) continue;
    asked.push_back(std::async(std::launch::async, [&peer, revision, deadline, &security] {
      PeerHash out{.id = peer.id(), .answer = absl::UnavailableError("no peer URL")};
      for (const std::string& url : peer.peerurls()) {
        grpc::ClientContext context;
        context.set_deadline(
            absl::ToChronoTime(std::min(deadline, absl::Now() + kPeerHashTimeout)));
        etcdserverpb::HashKVRequest request;
        request.set_revision(revision);
        etcdserverpb::HashKVResponse response;
        grpc::Status status = internalpb::HashPeer::NewStub(DialPeer(url, security))
                                  ->HashKV(&context, request, &response);
        if (status.ok()) {
          out.answer = std::move(response);
          break;
        }
        out.answer = FromGrpcStatus(status);
        // An answer that is an error about the revision is the member's answer: no other URL
        // would say otherwise.
        if (status.error_code() != grpc::StatusCode::UNAVAILABLE &&
            status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
          break;
        }
      }
      return out;
    }));
  }
  std::vector<PeerHash> answers;
  for (auto& answer : asked) answers.push_back(answer.get());
  return answers;
}

absl::Status CheckInitialHash(MemberApi* member, const PeerSecurity& security) {
  const uint64_t self = member->CurrentHeader().member_id();
  spdlog::info("starting initial corruption check of member {}", Hex(self));
  absl::StatusOr<etcdserverpb::HashKVResponse> local = LocalHash(member);
  if (!local.ok()) {
    return absl::InternalError(
        absl::StrCat(Hex(self), " failed to fetch hash (", local.status().message(), ")"));
  }
  const int64_t revision = local->header().revision();
  int mismatches = 0;
  for (const PeerHash& peer : FetchPeerHashes(member->Members(), self, revision,
                                              absl::Now() + kPeerHashTimeout, security)) {
    if (!peer.answer.ok()) {
      if (peer.answer.status() == ErrFutureRev()) {
        spdlog::warn("cannot fetch hash from slow peer {} at revision {}", Hex(peer.id), revision);
      } else if (peer.answer.status() == ErrCompacted()) {
        spdlog::warn("cannot fetch hash from peer {}: this member is behind (revision {})",
                     Hex(peer.id), revision);
      } else {
        spdlog::warn("cannot fetch hash from peer {}: {}", Hex(peer.id),
                     std::string(peer.answer.status().message()));
      }
      continue;
    }
    if (peer.answer->hash() == local->hash()) continue;
    if (peer.answer->compact_revision() == local->compact_revision()) {
      spdlog::error(
          "hash {} at revision {} (compacted at {}) differs from peer {}'s hash {}: this "
          "member's data is not the cluster's",
          local->hash(), revision, local->compact_revision(), Hex(peer.id), peer.answer->hash());
      ++mismatches;
    } else {
      spdlog::warn(
          "hash differs from peer {}'s at revision {}, but the compaction points differ "
          "({} here, {} there): not comparable",
          Hex(peer.id), revision, local->compact_revision(), peer.answer->compact_revision());
    }
  }
  if (mismatches > 0) {
    return absl::DataLossError(absl::StrCat(Hex(self), " found data inconsistency with peers"));
  }
  spdlog::info("initial corruption check passed: no corruption");
  return absl::OkStatus();
}

CorruptionMonitor::CorruptionMonitor(MemberApi* member, PeerSecurity security,
                                     absl::Duration interval)
    : member_(member), security_(std::move(security)), interval_(interval) {}

CorruptionMonitor::~CorruptionMonitor() { Stop(); }

std::vector<uint64_t> CorruptionMonitor::CheckOnce() {
  if (!IsLeader(member_)) return {};
  const uint64_t self = member_->CurrentHeader().member_id();
  absl::StatusOr<etcdserverpb::HashKVResponse> first = LocalHash(member_);
  if (!first.ok()) return {};
  const int64_t revision = first->header().revision();
  std::vector<PeerHash> peers = FetchPeerHashes(member_->Members(), self, revision,
                                                absl::Now() + kPeerHashTimeout, security_);
  // A read point, then the hash again: a store whose hash moved while its revision and
  // compaction point stayed is corrupt itself.
  auto read = std::make_shared<std::promise<absl::Status>>();
  std::future<absl::Status> read_done = read->get_future();
  member_->ReadBarrier(member_->DefaultDeadline(),
                       [read](absl::Status status) { read->set_value(std::move(status)); });
  if (!read_done.get().ok()) return {};
  absl::StatusOr<etcdserverpb::HashKVResponse> second = LocalHash(member_);
  if (!second.ok()) return {};

  std::vector<uint64_t> corrupt;
  if (second->hash() != first->hash() && second->header().revision() == revision &&
      second->compact_revision() == first->compact_revision()) {
    spdlog::error("hash mismatch on the leader itself: hash {} then {} at revision {}",
                  first->hash(), second->hash(), revision);
    corrupt.push_back(self);
  }
  for (const PeerHash& peer : peers) {
    if (!peer.answer.ok()) continue;
    const etcdserverpb::HashKVResponse& answer = *peer.answer;
    const bool ahead = answer.header().revision() > second->header().revision();
    const bool compacted_further = answer.compact_revision() > second->compact_revision();
    const bool differs =
        answer.compact_revision() == first->compact_revision() && answer.hash() != first->hash();
    if (ahead) {
      spdlog::error("revision {} from member {}, expected at most {}", answer.header().revision(),
                    Hex(peer.id), second->header().revision());
    }
    if (compacted_further) {
      spdlog::error("compact revision {} from member {}, expected at most {}",
                    answer.compact_revision(), Hex(peer.id), second->compact_revision());
    }
    if (differs) {
      spdlog::error("hash {} at revision {} from member {}, expected hash {}", answer.hash(),
                    revision, Hex(peer.id), first->hash());
    }
    if (ahead || compacted_further || differs) corrupt.push_back(peer.id);
  }
  if (!corrupt.empty()) {
    // etcd raises one CORRUPT alarm (for member 0) whatever member differs.
    internalpb::InternalRequest alarm;
    alarm.mutable_alarm()->set_action(etcdserverpb::AlarmRequest::ACTIVATE);
    alarm.mutable_alarm()->set_memberid(0);
    alarm.mutable_alarm()->set_alarm(etcdserverpb::CORRUPT);
    member_->Propose(std::move(alarm), member_->DefaultDeadline(), [](ApplyResult result) {
      if (!result.status.ok()) {
        spdlog::error("raising the CORRUPT alarm failed: {}", std::string(result.status.message()));
      }
    });
  }
  return corrupt;
}

void CorruptionMonitor::Start() {
  spdlog::info("corruption checking every {}", absl::FormatDuration(interval_));
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!wake_.wait_for(lock, absl::ToChronoMilliseconds(interval_),
                           [this] { return stopping_; })) {
      lock.unlock();
      CheckOnce();
      lock.lock();
    }
  });
}

void CorruptionMonitor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace quorum::server
