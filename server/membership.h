// Membership: the cluster's members as this member knows them (id, name, peer and client URLs,
// learner or voter), the ids removed from it, and this member's identity. The applier changes
// it when a conf-change entry is applied, adding the records to the changes written with the
// applied index (storage/schema.h); readers on any thread get copies.
#ifndef QUORUM_SERVER_MEMBERSHIP_H_
#define QUORUM_SERVER_MEMBERSHIP_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "etcdserverpb/rpc.pb.h"
#include "internalpb/internal.pb.h"
#include "storage/schema.h"

namespace quorum::storage {
class Backend;
}  // namespace quorum::storage

namespace quorum::server {

// A member's peer URLs, as the transport takes them.
std::vector<std::string> PeerUrls(const etcdserverpb::Member& member);

class Membership {
 public:
  // Loads the members, removed ids and identity stored in `backend`.
  static absl::StatusOr<std::unique_ptr<Membership>> Load(storage::Backend* backend);

  // The identity saved in the data dir, if the member was ever started.
  std::optional<internalpb::MemberIdentity> identity() const;
  // Records the identity and the founding members in one synced write (first start only).
  absl::Status Bootstrap(const internalpb::MemberIdentity& identity,
                         const std::vector<etcdserverpb::Member>& members);
  // Records only the identity (a member joining an existing cluster learns the members from the
  // leader's snapshot).
  absl::Status SaveIdentity(const internalpb::MemberIdentity& identity);

  std::vector<etcdserverpb::Member> List() const;
  std::optional<etcdserverpb::Member> Find(uint64_t id) const;
  bool IsRemoved(uint64_t id) const;

  // Staged changes: add the records to `records` and update memory. The caller writes
  // `records` atomically with the applied index.
  void Upsert(const etcdserverpb::Member& member, storage::RecordChanges* records);
  void Remove(uint64_t id, storage::RecordChanges* records);

  // Re-reads everything from the backend (after a snapshot replaced the state families).
  absl::Status Reload();

 private:
  explicit Membership(storage::Backend* backend) : backend_(backend) {}

  storage::Backend* const backend_;
  mutable absl::Mutex mu_;
  std::map<uint64_t, etcdserverpb::Member> members_ ABSL_GUARDED_BY(mu_);
  std::set<uint64_t> removed_ ABSL_GUARDED_BY(mu_);
  std::optional<internalpb::MemberIdentity> identity_ ABSL_GUARDED_BY(mu_);
};

}  // namespace quorum::server

#endif  // QUORUM_SERVER_MEMBERSHIP_H_
