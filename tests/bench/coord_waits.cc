#include "tests/bench/coord_waits.h"

#include <algorithm>
#include <thread>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "v3electionpb/v3election.grpc.pb.h"
#include "v3lockpb/v3lock.grpc.pb.h"

namespace quorum::bench {

namespace {

// Leases the load asks for: far longer than any run, so no key goes by expiry.
constexpr int64_t kLeaseTtl = 3600;
// Calls started at once: all at once, a server's proposals for them could outlast the
// request timeout and fail calls that should wait.
constexpr int kBatch = 500;
constexpr std::chrono::seconds kBatchWait(120);

}  // namespace

struct WaitingCalls::LockCall {
  grpc::ClientContext grant_context;
  etcdserverpb::LeaseGrantRequest grant;
  etcdserverpb::LeaseGrantResponse granted;
  grpc::ClientContext context;
  v3lockpb::LockRequest request;
  v3lockpb::LockResponse response;
};

class WaitingCalls::Observer final : public grpc::ClientReadReactor<v3electionpb::LeaderResponse> {
 public:
  Observer(WaitingCalls* owner, v3electionpb::Election::Stub* stub, const std::string& name)
      : owner_(owner) {
    request_.set_name(name);
    stub->async()->Observe(&context_, &request_, this);
    StartRead(&response_);
    StartCall();
  }
  void Cancel() { context_.TryCancel(); }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (!seen_) {
      seen_ = true;
      std::lock_guard<std::mutex> lock(owner_->mu_);
      ++owner_->observed_;
      owner_->changed_.notify_all();
    }
    StartRead(&response_);
  }
  void OnDone(const grpc::Status&) override { owner_->Ended(); }

 private:
  WaitingCalls* owner_;
  grpc::ClientContext context_;
  v3electionpb::LeaderRequest request_;
  v3electionpb::LeaderResponse response_;
  bool seen_ = false;  // only the reactor's reads touch it, one at a time
};

WaitingCalls::WaitingCalls(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)), lease_(etcdserverpb::Lease::NewStub(channel_)) {}

int64_t WaitingCalls::GrantLease() {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  etcdserverpb::LeaseGrantRequest grant;
  grant.set_ttl(kLeaseTtl);
  etcdserverpb::LeaseGrantResponse granted;
  if (!lease_->LeaseGrant(&context, grant, &granted).ok()) return 0;
  std::lock_guard<std::mutex> lock(mu_);
  own_leases_.push_back(granted.id());
  return granted.id();
}

WaitingCalls::~WaitingCalls() {
  CancelAll();
  WaitAllEnded(std::chrono::seconds(60));
}

bool WaitingCalls::TakeLock(const std::string& name) {
  auto lock = v3lockpb::Lock::NewStub(channel_);
  grpc::ClientContext lock_context;
  lock_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v3lockpb::LockRequest lock_request;
  lock_request.set_name(name);
  lock_request.set_lease(GrantLease());
  v3lockpb::LockResponse locked;
  return lock->Lock(&lock_context, lock_request, &locked).ok();
}

bool WaitingCalls::Lead(const std::string& name) {
  auto election = v3electionpb::Election::NewStub(channel_);
  grpc::ClientContext campaign_context;
  campaign_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v3electionpb::CampaignRequest campaign;
  campaign.set_name(name);
  campaign.set_lease(GrantLease());
  campaign.set_value("leader");
  v3electionpb::CampaignResponse led;
  return election->Campaign(&campaign_context, campaign, &led).ok();
}

void WaitingCalls::StartLocks(const std::string& name, int count) {
  const int64_t before = LockKeys(name);
  for (int started = 0; started < count; started += kBatch) {
    const int batch = std::min(kBatch, count - started);
    StartLockBatch(name, batch);
    // Each waiter has placed its key before the next batch goes.
    const auto deadline = std::chrono::steady_clock::now() + kBatchWait;
    while (LockKeys(name) < before + started + batch) {
      if (std::chrono::steady_clock::now() >= deadline || lock_errors() > 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

void WaitingCalls::StartLockBatch(const std::string& name, int count) {
  auto lock_stub = std::shared_ptr<v3lockpb::Lock::Stub>(v3lockpb::Lock::NewStub(channel_));
  for (int i = 0; i < count; ++i) {
    auto call = std::make_unique<LockCall>();
    call->request.set_name(name);
    call->grant.set_ttl(kLeaseTtl);
    LockCall* raw = call.get();
    {
      std::lock_guard<std::mutex> lock(mu_);
      locks_.push_back(std::move(call));
      ++open_;
    }
    // The lease first, then the Lock on it, both without waiting here.
    lease_->async()->LeaseGrant(&raw->grant_context, &raw->grant, &raw->granted,
                                [this, raw, lock_stub](grpc::Status granted) {
                                  {
                                    std::lock_guard<std::mutex> lock(mu_);
                                    if (!granted.ok() || cancelling_) {
                                      if (!cancelling_) ++lock_errors_;
                                      --open_;
                                      changed_.notify_all();
                                      return;
                                    }
                                    raw->request.set_lease(raw->granted.id());
                                  }
                                  lock_stub->async()->Lock(
                                      &raw->context, &raw->request, &raw->response,
                                      [this](grpc::Status) {
                                        {
                                          std::lock_guard<std::mutex> lock(mu_);
                                          // Before the cancel, a waiter has no business ending.
                                          if (!cancelling_) ++lock_errors_;
                                        }
                                        Ended();
                                      });
                                });
  }
}

void WaitingCalls::StartObservers(const std::string& name, int count) {
  auto stub = v3electionpb::Election::NewStub(channel_);
  for (int i = 0; i < count; ++i) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++open_;
    }
    auto observer = std::make_unique<Observer>(this, stub.get(), name);
    std::unique_lock<std::mutex> lock(mu_);
    observers_.push_back(std::move(observer));
    if (observers_.size() % kBatch != 0) continue;
    // Each stream has seen the leader before the next batch goes.
    if (!changed_.wait_for(lock, kBatchWait,
                           [&] { return observed_ >= static_cast<int64_t>(observers_.size()); })) {
      return;
    }
  }
}

int64_t WaitingCalls::LockKeys(const std::string& name) {
  auto kv = etcdserverpb::KV::NewStub(channel_);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  etcdserverpb::RangeRequest range;
  const std::string prefix = name + "/";
  std::string end = prefix;
  end.back() = static_cast<char>(end.back() + 1);
  range.set_key(prefix);
  range.set_range_end(end);
  range.set_count_only(true);
  etcdserverpb::RangeResponse response;
  if (!kv->Range(&context, range, &response).ok()) return -1;
  return response.count();
}

bool WaitingCalls::WaitAllWaiting(const std::string& lock_name, int64_t locks_waiting,
                                  std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!changed_.wait_until(
            lock, deadline, [&] { return observed_ >= static_cast<int64_t>(observers_.size()); })) {
      return false;
    }
  }
  while (LockKeys(lock_name) < locks_waiting) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

void WaitingCalls::CancelAll() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelling_ = true;
  }
  // Calls end (and their callbacks run) on gRPC's threads; the call objects stay until here.
  for (auto& call : locks_) {
    call->grant_context.TryCancel();
    call->context.TryCancel();
  }
  for (auto& observer : observers_) observer->Cancel();
}

int64_t WaitingCalls::RevokeLeases(std::chrono::milliseconds wait) {
  std::vector<int64_t> ids;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ids = own_leases_;
    for (const auto& call : locks_) {
      if (call->granted.id() != 0) ids.push_back(call->granted.id());
    }
  }
  struct Revoke {
    grpc::ClientContext context;
    etcdserverpb::LeaseRevokeRequest request;
    etcdserverpb::LeaseRevokeResponse response;
  };
  std::vector<std::unique_ptr<Revoke>> revokes;
  int64_t pending = 0;
  int64_t failed = 0;
  const auto deadline = std::chrono::system_clock::now() + wait;
  // In batches, as the calls were started, so that the server's proposals do not time out.
  for (size_t first = 0; first < ids.size(); first += kBatch) {
    const size_t last = std::min(ids.size(), first + kBatch);
    for (size_t i = first; i < last; ++i) {
      auto revoke = std::make_unique<Revoke>();
      revoke->context.set_deadline(deadline);
      revoke->request.set_id(ids[i]);
      Revoke* raw = revoke.get();
      revokes.push_back(std::move(revoke));
      std::lock_guard<std::mutex> lock(mu_);
      ++pending;
      lease_->async()->LeaseRevoke(&raw->context, &raw->request, &raw->response,
                                   [this, &pending, &failed](grpc::Status status) {
                                     std::lock_guard<std::mutex> lock(mu_);
                                     if (!status.ok()) ++failed;
                                     --pending;
                                     changed_.notify_all();
                                   });
    }
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait(lock, [&] { return pending == 0; });
  }
  std::lock_guard<std::mutex> lock(mu_);
  return failed;
}

bool WaitingCalls::WaitAllEnded(std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mu_);
  return changed_.wait_for(lock, wait, [&] { return open_ == 0; });
}

void WaitingCalls::Ended() {
  std::lock_guard<std::mutex> lock(mu_);
  --open_;
  changed_.notify_all();
}

int64_t WaitingCalls::observed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return observed_;
}

int64_t WaitingCalls::lock_errors() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lock_errors_;
}

}  // namespace quorum::bench
