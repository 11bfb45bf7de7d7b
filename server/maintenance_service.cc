// etcdserverpb.Maintenance and etcdserverpb.Cluster over a Member: status, alarms, hashes,
// defragmentation and the member list.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/time/clock.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "server/auth_context.h"
#include "server/config.h"
#include "server/identity.h"
#include "server/reactors.h"
#include "server/service_factories.h"

namespace quorum::server {
namespace {

using namespace etcdserverpb;  // the service's many message types

// Streams a backup (see storage/backup.h) in blobs, as etcd's Maintenance.Snapshot does. The file
// is written on the member's background worker so that no gRPC thread waits for it.
class SnapshotStream final : public grpc::ServerWriteReactor<SnapshotResponse> {
 public:
  explicit SnapshotStream(server::MemberApi* member) : member_(member) {
    member_->RunInBackground([this] { Prepare(); });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) return Finish(grpc::Status(grpc::StatusCode::CANCELLED, "snapshot stream broken"));
    WriteNext();
  }

  // The callback API's ownership rule: the reactor deletes itself when gRPC is done with it.
  void OnDone() override {
    if (!path_.empty()) std::filesystem::remove(path_);
    delete this;
  }

 private:
  void Prepare() {
    auto path = member_->WriteBackup();
    if (!path.ok()) return Finish(ToGrpcStatus(path.status()));
    path_ = *path;
    in_.open(path_, std::ios::binary | std::ios::ate);
    remaining_ = static_cast<uint64_t>(in_.tellg());
    in_.seekg(0);
    WriteNext();
  }

  // etcd behaviour: the database goes out in chunks whose remaining_bytes count the database
  // bytes still to come; its SHA-256 (the file's last bytes) follows alone, with 0 remaining.
  void WriteNext() {
    if (remaining_ == 0) return Finish(grpc::Status::OK);
    const uint64_t database_left = remaining_ > kShaBytes ? remaining_ - kShaBytes : 0;
    const uint64_t size = database_left > 0 ? std::min(database_left, kBlobBytes) : remaining_;
    std::string blob(size, '\0');
    in_.read(blob.data(), static_cast<std::streamsize>(blob.size()));
    if (!in_) return Finish(grpc::Status(grpc::StatusCode::INTERNAL, "reading snapshot file"));
    remaining_ -= blob.size();
    response_.set_remaining_bytes(database_left > 0 ? database_left - size : 0);
    response_.set_blob(std::move(blob));
    StartWrite(&response_);
  }

  static constexpr uint64_t kBlobBytes = 32 * 1024;
  static constexpr uint64_t kShaBytes = 32;
  server::MemberApi* member_;
  std::string path_;
  std::ifstream in_;
  uint64_t remaining_ = 0;
  SnapshotResponse response_;
};

// A snapshot call refused before any data (etcd: only root may take backups once auth is on).
class RefusedSnapshot final : public grpc::ServerWriteReactor<SnapshotResponse> {
 public:
  explicit RefusedSnapshot(const absl::Status& status) { Finish(ToGrpcStatus(status)); }
  void OnDone() override { delete this; }
};

class MaintenanceService final : public Maintenance::CallbackService {
 public:
  explicit MaintenanceService(MemberApi* member) : member_(member) {}

  grpc::ServerUnaryReactor* Alarm(grpc::CallbackServerContext* context, const AlarmRequest* request,
                                  AlarmResponse* response) override {
    // etcd sends every alarm request, listing included, through the log, and answers with the
    // applied result alone: no header.
    internalpb::InternalRequest internal;
    *internal.mutable_alarm() = *request;
    absl::StatusOr<AuthInfo> caller = CallerOf(*context, member_->auth());
    if (!caller.ok()) return FinishUnary(context, caller.status());
    Stamp(*caller, &internal);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    member_->Propose(std::move(internal), RequestDeadline(context, *member_),
                     [reactor, response](ApplyResult result) {
                       if (result.status.ok()) {
                         response->Swap(static_cast<AlarmResponse*>(result.response.get()));
                       }
                       reactor->Finish(ToGrpcStatus(result.status));
                     });
    return reactor;
  }

  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* context, const StatusRequest*,
                                   StatusResponse* response) override {
    *response = member_->Status();
    return FinishUnary(context, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* Defragment(grpc::CallbackServerContext* context,
                                       const DefragmentRequest*,
                                       DefragmentResponse* response) override {
    if (auto denied = CheckMaintenanceAdmin(*context, member_->auth()); !denied.ok()) {
      return FinishUnary(context, denied);
    }
    // etcd behaviour: the answer carries no header.
    return FinishUnary(context, member_->Defragment());
  }

  grpc::ServerUnaryReactor* HashKV(grpc::CallbackServerContext* context,
                                   const HashKVRequest* request,
                                   HashKVResponse* response) override {
    if (auto denied = CheckMaintenanceAdmin(*context, member_->auth()); !denied.ok()) {
      return FinishUnary(context, denied);
    }
    auto result = member_->HashKV(request->revision());
    if (!result.ok()) return FinishUnary(context, result.status());
    response->Swap(&*result);
    return FinishUnary(context, absl::OkStatus());
  }

  // etcd hashes its whole bbolt file here; quorum's state lives in RocksDB, so the answer is
  // the hash of the key-value history at the current revision (equal on members that agree).
  grpc::ServerUnaryReactor* Hash(grpc::CallbackServerContext* context, const HashRequest*,
                                 HashResponse* response) override {
    if (auto denied = CheckMaintenanceAdmin(*context, member_->auth()); !denied.ok()) {
      return FinishUnary(context, denied);
    }
    auto result = member_->HashKV(0);
    if (!result.ok()) return FinishUnary(context, result.status());
    *response->mutable_header() = result->header();
    response->set_hash(result->hash());
    return FinishUnary(context, absl::OkStatus());
  }
  grpc::ServerUnaryReactor* MoveLeader(grpc::CallbackServerContext* context,
                                       const MoveLeaderRequest* request,
                                       MoveLeaderResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    member_->MoveLeader(request->targetid(), RequestDeadline(context, *member_),
                        [this, reactor, response](absl::Status s) {
                          if (s.ok()) *response->mutable_header() = member_->CurrentHeader();
                          reactor->Finish(ToGrpcStatus(s));
                        });
    return reactor;
  }

  grpc::ServerWriteReactor<SnapshotResponse>* Snapshot(grpc::CallbackServerContext* context,
                                                       const SnapshotRequest*) override {
    if (auto denied = CheckMaintenanceAdmin(*context, member_->auth()); !denied.ok()) {
      return new RefusedSnapshot(denied);
    }
    return new SnapshotStream(member_);
  }

 private:
  MemberApi* member_;
};

class ClusterService final : public Cluster::CallbackService {
 public:
  explicit ClusterService(server::MemberApi* member) : member_(member) {}

  // etcd's Cluster answers carry no revision in their header (cluster id, member id and term
  // only), so FillHeader rather than CurrentHeader.

  grpc::ServerUnaryReactor* MemberList(grpc::CallbackServerContext* context,
                                       const MemberListRequest*,
                                       MemberListResponse* response) override {
    member_->FillHeader(response->mutable_header());
    for (const auto& m : member_->Members()) *response->add_members() = m;
    return FinishUnary(context, absl::OkStatus());
  }

  grpc::ServerUnaryReactor* MemberAdd(grpc::CallbackServerContext* context,
                                      const MemberAddRequest* request,
                                      MemberAddResponse* response) override {
    if (request->peerurls().empty()) return FinishUnary(context, ErrMemberBadUrls());
    std::vector<std::string> urls(request->peerurls().begin(), request->peerurls().end());
    for (const auto& u : urls) {
      if (!ParseUrls(u, "peer-urls").ok()) return FinishUnary(context, ErrMemberBadUrls());
    }
    if (auto denied = CheckAdminCall(*context, member_->auth()); !denied.ok()) {
      return FinishUnary(context, denied);
    }
    for (const auto& existing : member_->Members()) {
      for (const auto& u : existing.peerurls()) {
        if (std::find(urls.begin(), urls.end(), u) != urls.end()) {
          return FinishUnary(context, ErrPeerUrlExist());
        }
      }
    }
    etcdserverpb::Member added;
    // etcd's id for an added member; the new member learns it from the cluster when it joins.
    added.set_id(ComputeAddedMemberId(urls, absl::Now()));
    for (const auto& u : urls) added.add_peerurls(u);
    added.set_islearner(request->islearner());
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    member_->AddMember(added, RequestDeadline(context, *member_),
                       [this, reactor, response, added](ApplyResult result) {
                         if (result.status.ok()) {
                           member_->FillHeader(response->mutable_header());
                           *response->mutable_member() = added;
                           for (const auto& m : member_->Members()) *response->add_members() = m;
                         }
                         reactor->Finish(ToGrpcStatus(result.status));
                       });
    return reactor;
  }

  grpc::ServerUnaryReactor* MemberRemove(grpc::CallbackServerContext* context,
                                         const MemberRemoveRequest* request,
                                         MemberRemoveResponse* response) override {
    if (auto denied = CheckAdminCall(*context, member_->auth()); !denied.ok()) {
      return FinishUnary(context, denied);
    }
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    member_->RemoveMember(request->id(), RequestDeadline(context, *member_),
                          [this, reactor, response](ApplyResult result) {
                            FinishWithMembers(reactor, response, result.status);
                          });
    return reactor;
  }

  grpc::ServerUnaryReactor* MemberUpdate(grpc::CallbackServerContext* context,
                                         const MemberUpdateRequest* request,
                                         MemberUpdateResponse* response) override {
    std::vector<std::string> urls(request->peerurls().begin(), request->peerurls().end());
    if (urls.empty()) return FinishUnary(context, ErrMemberBadUrls());
    if (auto denied = CheckAdminCall(*context, member_->auth()); !denied.ok()) {
      return FinishUnary(context, denied);
    }
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    member_->UpdateMember(request->id(), urls, RequestDeadline(context, *member_),
                          [this, reactor, response](ApplyResult result) {
                            FinishWithMembers(reactor, response, result.status);
                          });
    return reactor;
  }

  grpc::ServerUnaryReactor* MemberPromote(grpc::CallbackServerContext* context,
                                          const MemberPromoteRequest* request,
                                          MemberPromoteResponse* response) override {
    if (auto denied = CheckAdminCall(*context, member_->auth()); !denied.ok()) {
      return FinishUnary(context, denied);
    }
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    member_->PromoteMember(request->id(), RequestDeadline(context, *member_),
                           [this, reactor, response](ApplyResult result) {
                             auto* forwarded =
                                 dynamic_cast<MemberPromoteResponse*>(result.response.get());
                             if (result.status.ok() && forwarded != nullptr) {
                               // Promoted by the leader: its member list, as etcd answers.
                               member_->FillHeader(response->mutable_header());
                               *response->mutable_members() = forwarded->members();
                               reactor->Finish(grpc::Status::OK);
                               return;
                             }
                             FinishWithMembers(reactor, response, result.status);
                           });
    return reactor;
  }

 private:
  template <typename Response>
  void FinishWithMembers(grpc::ServerUnaryReactor* reactor, Response* response,
                         const absl::Status& status) {
    if (status.ok()) {
      member_->FillHeader(response->mutable_header());
      for (const auto& m : member_->Members()) *response->add_members() = m;
    }
    reactor->Finish(ToGrpcStatus(status));
  }

  server::MemberApi* member_;
};

}  // namespace

std::unique_ptr<grpc::Service> NewMaintenanceService(MemberApi* member) {
  return std::make_unique<MaintenanceService>(member);
}

std::unique_ptr<grpc::Service> NewClusterService(MemberApi* member) {
  return std::make_unique<ClusterService>(member);
}

}  // namespace quorum::server
