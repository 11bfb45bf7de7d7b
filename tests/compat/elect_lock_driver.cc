// Drives the Election and Lock gRPC services of one etcd v3 server through a fixed script and
// prints one line per step: the gRPC code and message, and the response with lease ids named
// in order of appearance (L1, L2, ...) and revisions counted from the script's first write.
// elect_lock_diff.py runs it against etcd 3.4 and quorumd and compares the lines.
//   usage: compat_elect_lock_driver HOST:PORT
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <future>
#include <iostream>
#include <map>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "v3electionpb/v3election.grpc.pb.h"
#include "v3lockpb/v3lock.grpc.pb.h"

namespace quorum::compat {
namespace {

using v3electionpb::LeaderKey;

// Names for what differs between servers by design: lease ids and the revision base.
class Normaliser {
 public:
  std::string Lease(int64_t id) {
    if (id == 0) return "0";
    auto [it, added] = names_.try_emplace(id, "L" + std::to_string(names_.size() + 1));
    return it->second;
  }
  // "<prefix>/<lease hex>" with the lease named.
  std::string Key(const std::string& key) {
    size_t slash = key.rfind('/');
    if (slash == std::string::npos) return key;
    int64_t id = 0;
    if (!absl::SimpleHexAtoi(key.substr(slash + 1), &id)) return key;
    return key.substr(0, slash + 1) + Lease(id);
  }
  std::string Revision(int64_t revision) {
    return revision == 0 ? "0" : absl::StrCat("base+", revision - base_);
  }
  void set_base(int64_t base) { base_ = base; }

 private:
  std::map<int64_t, std::string> names_;
  int64_t base_ = 0;
};

class Driver {
 public:
  explicit Driver(const std::string& endpoint)
      : channel_(grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials())),
        kv_(etcdserverpb::KV::NewStub(channel_)),
        lease_(etcdserverpb::Lease::NewStub(channel_)),
        election_(v3electionpb::Election::NewStub(channel_)),
        lock_(v3lockpb::Lock::NewStub(channel_)) {}

  void Run();

 private:
  static void Deadline(grpc::ClientContext& context, int seconds = 10) {
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  }
  static std::string Outcome(const grpc::Status& status) {
    return absl::StrFormat("code=%d message=\"%s\"", status.error_code(), status.error_message());
  }
  void Print(const std::string& step, const grpc::Status& status, const std::string& detail) {
    std::cout << step << ": " << Outcome(status);
    if (status.ok() && !detail.empty()) std::cout << " | " << detail;
    std::cout << std::endl;
  }
  std::string Describe(const LeaderKey& leader) {
    return absl::StrFormat("leader{name=%s key=%s rev=%s lease=%s}", leader.name(),
                           names_.Key(leader.key()), names_.Revision(leader.rev()),
                           names_.Lease(leader.lease()));
  }
  std::string Describe(const mvccpb::KeyValue& kv) {
    return absl::StrFormat("kv{key=%s value=%s create=%s mod=%s version=%d lease=%s}",
                           names_.Key(kv.key()), kv.value(), names_.Revision(kv.create_revision()),
                           names_.Revision(kv.mod_revision()), kv.version(),
                           names_.Lease(kv.lease()));
  }
  std::string Header(const etcdserverpb::ResponseHeader& header) {
    return "header.revision=" + names_.Revision(header.revision());
  }

  int64_t Grant(int64_t ttl);
  struct Campaigned {
    grpc::Status status;
    v3electionpb::CampaignResponse response;
  };
  Campaigned Campaign(const std::string& name, int64_t lease, const std::string& value,
                      int deadline_seconds = 10);
  void PrintCampaign(const std::string& step, const Campaigned& campaigned);
  grpc::Status Proclaim(const std::string& step, const LeaderKey* leader, const std::string& value);
  void Leader(const std::string& step, const std::string& name);
  void Resign(const std::string& step, const LeaderKey* leader);
  struct Locked {
    grpc::Status status;
    v3lockpb::LockResponse response;
  };
  Locked Lock(const std::string& name, int64_t lease, int deadline_seconds = 10);
  // The keys under `prefix`, normalised, to see what a call left behind. The server cleans up
  // after a call whose deadline passed in the moments after the client gave up, so this waits
  // (up to 3 s) for at most `settled` keys before printing.
  void Keys(const std::string& step, const std::string& prefix, int settled);
  void PrintLock(const std::string& step, const Locked& locked);
  void Unlock(const std::string& step, const std::string& key);
  void Revoke(const std::string& step, int64_t lease);

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<etcdserverpb::KV::Stub> kv_;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease_;
  std::unique_ptr<v3electionpb::Election::Stub> election_;
  std::unique_ptr<v3lockpb::Lock::Stub> lock_;
  Normaliser names_;
};

int64_t Driver::Grant(int64_t ttl) {
  grpc::ClientContext context;
  Deadline(context);
  etcdserverpb::LeaseGrantRequest request;
  request.set_ttl(ttl);
  etcdserverpb::LeaseGrantResponse response;
  grpc::Status status = lease_->LeaseGrant(&context, request, &response);
  Print(absl::StrCat("grant ttl=", ttl), status,
        absl::StrFormat("lease=%s ttl=%d", names_.Lease(response.id()), response.ttl()));
  return response.id();
}

Driver::Campaigned Driver::Campaign(const std::string& name, int64_t lease,
                                    const std::string& value, int deadline_seconds) {
  grpc::ClientContext context;
  Deadline(context, deadline_seconds);
  v3electionpb::CampaignRequest request;
  request.set_name(name);
  request.set_lease(lease);
  request.set_value(value);
  Campaigned out;
  out.status = election_->Campaign(&context, request, &out.response);
  return out;
}

void Driver::PrintCampaign(const std::string& step, const Campaigned& campaigned) {
  Print(step, campaigned.status,
        Describe(campaigned.response.leader()) + " " + Header(campaigned.response.header()));
}

grpc::Status Driver::Proclaim(const std::string& step, const LeaderKey* leader,
                              const std::string& value) {
  grpc::ClientContext context;
  Deadline(context);
  v3electionpb::ProclaimRequest request;
  if (leader != nullptr) *request.mutable_leader() = *leader;
  request.set_value(value);
  v3electionpb::ProclaimResponse response;
  grpc::Status status = election_->Proclaim(&context, request, &response);
  Print(step, status, Header(response.header()));
  return status;
}

void Driver::Leader(const std::string& step, const std::string& name) {
  grpc::ClientContext context;
  Deadline(context);
  v3electionpb::LeaderRequest request;
  request.set_name(name);
  v3electionpb::LeaderResponse response;
  grpc::Status status = election_->Leader(&context, request, &response);
  Print(step, status, Describe(response.kv()) + " " + Header(response.header()));
}

void Driver::Resign(const std::string& step, const LeaderKey* leader) {
  grpc::ClientContext context;
  Deadline(context);
  v3electionpb::ResignRequest request;
  if (leader != nullptr) *request.mutable_leader() = *leader;
  v3electionpb::ResignResponse response;
  grpc::Status status = election_->Resign(&context, request, &response);
  Print(step, status, Header(response.header()));
}

Driver::Locked Driver::Lock(const std::string& name, int64_t lease, int deadline_seconds) {
  grpc::ClientContext context;
  Deadline(context, deadline_seconds);
  v3lockpb::LockRequest request;
  request.set_name(name);
  request.set_lease(lease);
  Locked out;
  out.status = lock_->Lock(&context, request, &out.response);
  return out;
}

void Driver::PrintLock(const std::string& step, const Locked& locked) {
  Print(step, locked.status,
        "key=" + names_.Key(locked.response.key()) + " " + Header(locked.response.header()));
}

void Driver::Unlock(const std::string& step, const std::string& key) {
  grpc::ClientContext context;
  Deadline(context);
  v3lockpb::UnlockRequest request;
  request.set_key(key);
  v3lockpb::UnlockResponse response;
  grpc::Status status = lock_->Unlock(&context, request, &response);
  Print(step, status, Header(response.header()));
}

void Driver::Keys(const std::string& step, const std::string& prefix, int settled) {
  etcdserverpb::RangeRequest range;
  range.set_key(prefix);
  std::string end = prefix;
  end.back() = static_cast<char>(end.back() + 1);
  range.set_range_end(end);
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (true) {
    grpc::ClientContext context;
    Deadline(context);
    etcdserverpb::RangeResponse response;
    grpc::Status status = kv_->Range(&context, range, &response);
    if (!status.ok() || response.kvs_size() <= settled ||
        std::chrono::steady_clock::now() > give_up) {
      std::string keys;
      for (const auto& kv : response.kvs()) keys += names_.Key(kv.key()) + " ";
      Print(step, status, "keys=[" + keys + "] " + Header(response.header()));
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void Driver::Revoke(const std::string& step, int64_t lease) {
  grpc::ClientContext context;
  Deadline(context);
  etcdserverpb::LeaseRevokeRequest request;
  request.set_id(lease);
  etcdserverpb::LeaseRevokeResponse response;
  grpc::Status status = lease_->LeaseRevoke(&context, request, &response);
  Print(step, status, "");
}

// Whether a call started in the background is still waiting after `wait`.
template <typename T>
std::string Pending(std::future<T>& future, std::chrono::milliseconds wait) {
  return future.wait_for(wait) == std::future_status::timeout ? "blocked" : "returned";
}

void Driver::Run() {
  {
    grpc::ClientContext context;
    Deadline(context);
    etcdserverpb::PutRequest put;
    put.set_key("compat/base");
    put.set_value("x");
    etcdserverpb::PutResponse response;
    grpc::Status status = kv_->Put(&context, put, &response);
    if (!status.ok()) {
      std::cout << "base put failed: " << Outcome(status) << std::endl;
      return;
    }
    names_.set_base(response.header().revision());
  }
  const int64_t l1 = Grant(30), l2 = Grant(30), l3 = Grant(30), l4 = Grant(30);
  const auto kBlockWindow = std::chrono::milliseconds(700);

  // Campaign, Leader, Proclaim.
  Campaigned first = Campaign("e1", l1, "v1");
  PrintCampaign("campaign e1 L1 v1", first);
  const LeaderKey leader1 = first.response.leader();
  Leader("leader e1", "e1");
  Proclaim("proclaim L1 v2", &leader1, "v2");
  Leader("leader e1 after proclaim", "e1");
  LeaderKey stale = leader1;
  stale.set_rev(leader1.rev() + 1000);
  Proclaim("proclaim with a wrong rev", &stale, "nope");
  Proclaim("proclaim without leader", nullptr, "nope");
  Leader("leader of an empty election", "nobody");
  PrintCampaign("campaign with an unknown lease", Campaign("e1", 0x7777, "v"));
  PrintCampaign("campaign again with L1 (same key)", Campaign("e1", l1, "v1-again"));
  Leader("leader e1 after campaign again", "e1");
  // A candidate that gives up waiting (its deadline passes) takes its key away again.
  PrintCampaign("campaign e1 L3 with a 1s deadline while L1 leads",
                Campaign("e1", l3, "late", /*deadline_seconds=*/1));
  Keys("keys under e1/ after the abandoned campaign", "e1/", 1);

  // Observe, while a second candidate waits and the first resigns.
  grpc::ClientContext observe_context;
  Deadline(observe_context, 20);
  v3electionpb::LeaderRequest observe_request;
  observe_request.set_name("e1");
  auto observer = election_->Observe(&observe_context, observe_request);
  v3electionpb::LeaderResponse observed;
  bool read = observer->Read(&observed);
  std::cout << "observe 1: " << (read ? Describe(observed.kv()) : "stream ended") << std::endl;
  Proclaim("proclaim L1 v3", &leader1, "v3");
  read = observer->Read(&observed);
  std::cout << "observe 2: " << (read ? Describe(observed.kv()) : "stream ended") << std::endl;

  auto second = std::async(std::launch::async, [&] { return Campaign("e1", l2, "w1"); });
  std::cout << "campaign e1 L2 w1 while L1 leads: " << Pending(second, kBlockWindow) << std::endl;
  Resign("resign L1", &leader1);
  Campaigned won = second.get();
  PrintCampaign("campaign e1 L2 w1 after resign", won);
  read = observer->Read(&observed);
  std::cout << "observe 3: " << (read ? Describe(observed.kv()) : "stream ended") << std::endl;
  observe_context.TryCancel();
  observer->Finish();
  Resign("resign L1 again (no longer leader)", &leader1);
  Resign("resign without leader", nullptr);
  Revoke("revoke L2 (the leader's lease)", l2);
  Leader("leader e1 after its lease is revoked", "e1");
  LeaderKey gone = won.response.leader();
  Proclaim("proclaim with the revoked leader", &gone, "late");
  PrintCampaign("campaign with lease 0", Campaign("e2", 0, "auto"));

  // Observe an election before anyone campaigns: the first leader is the first message.
  grpc::ClientContext empty_context;
  Deadline(empty_context, 20);
  v3electionpb::LeaderRequest empty_request;
  empty_request.set_name("e3");
  auto empty_observer = election_->Observe(&empty_context, empty_request);
  auto first_seen = std::async(std::launch::async, [&] {
    v3electionpb::LeaderResponse seen;
    return empty_observer->Read(&seen) ? Describe(seen.kv()) : std::string("stream ended");
  });
  std::cout << "observe e3 before any campaign: " << Pending(first_seen, kBlockWindow) << std::endl;
  PrintCampaign("campaign e3 L1", Campaign("e3", l1, "first"));
  std::cout << "observe e3 after the campaign: " << first_seen.get() << std::endl;
  empty_context.TryCancel();
  empty_observer->Finish();

  // Lock and Unlock.
  Locked held = Lock("l1", l1);
  PrintLock("lock l1 L1", held);
  auto waiter = std::async(std::launch::async, [&] { return Lock("l1", l3); });
  std::cout << "lock l1 L3 while L1 holds it: " << Pending(waiter, kBlockWindow) << std::endl;
  PrintLock("lock l1 L1 again (re-entrant key)", Lock("l1", l1));
  PrintLock("lock l1 L4 with a 1s deadline while L1 holds it", Lock("l1", l4, 1));
  Keys("keys under l1/ after the abandoned lock", "l1/", 2);
  Unlock("unlock L1's key", held.response.key());
  PrintLock("lock l1 L3 after unlock", waiter.get());
  PrintLock("lock with an unknown lease", Lock("l1", 0x7777));
  Unlock("unlock a key that does not exist", "l1/none");
  Unlock("unlock an empty key", "");
  PrintLock("lock with lease 0", Lock("l2", 0));
  Revoke("revoke L3 (the holder's lease)", l3);
  PrintLock("lock l1 L1 after the holder's lease is revoked", Lock("l1", l1));
}

}  // namespace
}  // namespace quorum::compat

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: compat_elect_lock_driver HOST:PORT\n";
    return 2;
  }
  quorum::compat::Driver(argv[1]).Run();
  return 0;
}
