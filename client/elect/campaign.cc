#include "client/elect/campaign.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "proto/etcd_keys.h"

namespace quorum::elect {
namespace {

// A watch the server refuses at creation comes back cancelled, with the gRPC error's text as
// its reason (etcd: "rpc error: code = PermissionDenied desc = etcdserver: permission denied").
// Returns that error, or OK for a reason that is not a refusal (compaction, none).
absl::Status WatchRefusal(const std::string& reason) {
  const std::string kDesc = " desc = ";
  size_t desc = reason.find(kDesc);
  if (desc == std::string::npos) return absl::OkStatus();
  std::string message = reason.substr(desc + kDesc.size());
  for (auto [name, code] :
       {std::pair{"code = PermissionDenied", absl::StatusCode::kPermissionDenied},
        std::pair{"code = Unauthenticated", absl::StatusCode::kUnauthenticated},
        std::pair{"code = InvalidArgument", absl::StatusCode::kInvalidArgument}}) {
    if (absl::StrContains(reason.substr(0, desc), name)) return absl::Status(code, message);
  }
  return absl::OkStatus();
}

}  // namespace

Campaign::Campaign(EndpointPool& endpoints, CampaignSettings settings, EventQueue& events,
                   StateLog& log)
    : endpoints_(endpoints), settings_(std::move(settings)), events_(events), log_(log) {}

Campaign::~Campaign() { Stop(); }

std::string Campaign::KeyFor(int64_t lease) const {
  return absl::StrFormat("%s/%x", settings_.election, lease);
}

void Campaign::Start(int64_t lease) {
  Stop();
  cancellation_.Reset();
  thread_ = std::thread([this, lease] { Run(lease); });
}

void Campaign::Stop() {
  cancellation_.Cancel();
  if (thread_.joinable()) thread_.join();
}

void Campaign::MoveToCurrentEndpoint() { cancellation_.InterruptCall(); }

template <typename T>
absl::StatusOr<T> Campaign::WithRetries(
    const std::function<absl::StatusOr<T>(const EndpointPool::Endpoint&, grpc::ClientContext&)>&
        call) {
  bool failing = false;
  while (true) {
    EndpointPool::Endpoint endpoint = endpoints_.Current();
    absl::StatusOr<T> result;
    {
      grpc::ClientContext context;
      CallScope scope(cancellation_, &context);
      if (!scope.entered()) return absl::CancelledError("campaign stopped");
      absl::Status authorized = endpoints_.Authorize(endpoint, &context);
      result = authorized.ok() ? call(endpoint, context) : absl::StatusOr<T>(authorized);
    }
    if (cancellation_.cancelled()) return absl::CancelledError("campaign stopped");
    // Interrupted to move to the endpoint that is now current: go there at once.
    if (result.status().code() == absl::StatusCode::kCancelled &&
        endpoints_.Current().index != endpoint.index) {
      continue;
    }
    if (result.ok() || !endpoints_.MayPassLater(result.status())) return result;
    bool stale_token = endpoints_.StaleToken(result.status());
    bool moved = endpoints_.Failed(endpoint.index, result.status());
    if (!failing || moved || stale_token) {
      log_.Line(absl::StrCat("campaign call failed: ", endpoint.address, ": ",
                             result.status().ToString(),
                             moved         ? " (trying next endpoint)"
                             : stale_token ? " (logging in again)"
                                           : ""));
    }
    failing = true;
    if (!cancellation_.Pause(absl::ToChronoNanoseconds(settings_.call_timeout / 2))) {
      return absl::CancelledError("campaign stopped");
    }
  }
}

void Campaign::Run(int64_t lease) {
  const std::string key = KeyFor(lease);
  // Reports a failure that ends this campaign; the elector starts over with a new lease.
  auto fail = [&](const absl::Status& status, const std::string& what) {
    if (status.code() == absl::StatusCode::kCancelled) return;
    Event::Kind kind = status.code() == absl::StatusCode::kNotFound ? Event::Kind::kLeaseLost
                       : endpoints_.Refused(status)                 ? Event::Kind::kRefused
                                                                    : Event::Kind::kKeyLost;
    events_.Push({.kind = kind, .key = key, .detail = absl::StrCat(what, ": ", status.ToString())});
  };

  absl::StatusOr<int64_t> created = WithRetries<int64_t>(
      [&](const EndpointPool::Endpoint& endpoint, grpc::ClientContext& context) {
        return CreateKey(endpoint, context, key, lease);
      });
  if (!created.ok()) return fail(created.status(), "creating " + key);
  const int64_t our_revision = *created;

  std::string waiting_for;
  while (true) {
    absl::StatusOr<Predecessor> predecessor = WithRetries<Predecessor>(
        [&](const EndpointPool::Endpoint& endpoint, grpc::ClientContext& context) {
          return FindPredecessor(endpoint, context, our_revision);
        });
    if (!predecessor.ok()) return fail(predecessor.status(), "reading the candidates");
    if (!predecessor->key.has_value()) break;
    if (*predecessor->key != waiting_for) {
      waiting_for = *predecessor->key;
      events_.Push({.kind = Event::Kind::kStandby, .key = waiting_for, .revision = our_revision});
    }
    absl::StatusOr<bool> deleted = WithRetries<bool>(
        [&](const EndpointPool::Endpoint& endpoint, grpc::ClientContext& context) {
          return WaitDeleted(endpoint, context, waiting_for, predecessor->revision);
        });
    if (!deleted.ok()) return fail(deleted.status(), "watching " + waiting_for);
  }

  // Every older key is gone. Ours must still be the one we created: a lease that expired while
  // we waited took our key with it, and an empty field is not a win.
  int64_t watch_from = 0;
  while (true) {
    absl::StatusOr<OwnKey> own = WithRetries<OwnKey>(
        [&](const EndpointPool::Endpoint& endpoint, grpc::ClientContext& context) {
          return ReadKey(endpoint, context, key);
        });
    if (!own.ok()) return fail(own.status(), "reading " + key);
    if (!own->exists || own->create_revision != our_revision) {
      events_.Push({.kind = Event::Kind::kKeyLost,
                    .key = key,
                    .detail = absl::StrCat(key, " is gone (its lease expired or it was deleted)")});
      return;
    }
    if (watch_from == 0) {
      events_.Push({.kind = Event::Kind::kElected, .key = key, .revision = our_revision});
    }
    watch_from = own->revision + 1;
    absl::StatusOr<bool> deleted = WithRetries<bool>(
        [&](const EndpointPool::Endpoint& endpoint, grpc::ClientContext& context) {
          return WaitDeleted(endpoint, context, key, watch_from);
        });
    if (!deleted.ok()) return fail(deleted.status(), "watching " + key);
    // Deleted or not, read it again: the read decides, the watch only wakes us.
  }
}

absl::StatusOr<int64_t> Campaign::CreateKey(const EndpointPool::Endpoint& endpoint,
                                            grpc::ClientContext& context, const std::string& key,
                                            int64_t lease) {
  context.set_deadline(DeadlineAfter(settings_.call_timeout));
  // If absent, create it under our lease; if present (an earlier try that timed out may have
  // succeeded), read it: its create_revision is our place in line either way.
  etcdserverpb::TxnRequest txn;
  auto* compare = txn.add_compare();
  compare->set_key(key);
  compare->set_target(etcdserverpb::Compare::CREATE);
  compare->set_result(etcdserverpb::Compare::EQUAL);
  compare->set_create_revision(0);
  auto* put = txn.add_success()->mutable_request_put();
  put->set_key(key);
  put->set_value(settings_.value);
  put->set_lease(lease);
  txn.add_failure()->mutable_request_range()->set_key(key);
  etcdserverpb::TxnResponse response;
  auto stub = etcdserverpb::KV::NewStub(endpoint.channel);
  absl::Status status = FromGrpc(stub->Txn(&context, txn, &response));
  if (!status.ok()) return status;
  if (response.succeeded()) return response.header().revision();
  const auto& range = response.responses(0).response_range();
  if (range.kvs_size() == 0) return absl::UnavailableError(key + " vanished while created");
  return range.kvs(0).create_revision();
}

absl::StatusOr<Campaign::Predecessor> Campaign::FindPredecessor(
    const EndpointPool::Endpoint& endpoint, grpc::ClientContext& context, int64_t revision) {
  context.set_deadline(DeadlineAfter(settings_.call_timeout));
  // The newest key created before ours (etcd's waitDeletes): when it goes, look again.
  etcdserverpb::RangeRequest range;
  std::string prefix = settings_.election + "/";
  range.set_key(prefix);
  range.set_range_end(PrefixRangeEnd(prefix));
  range.set_sort_target(etcdserverpb::RangeRequest::CREATE);
  range.set_sort_order(etcdserverpb::RangeRequest::DESCEND);
  range.set_limit(1);
  range.set_max_create_revision(revision - 1);
  range.set_keys_only(true);
  etcdserverpb::RangeResponse response;
  auto stub = etcdserverpb::KV::NewStub(endpoint.channel);
  absl::Status status = FromGrpc(stub->Range(&context, range, &response));
  if (!status.ok()) return status;
  Predecessor predecessor;
  predecessor.revision = response.header().revision();
  if (response.kvs_size() > 0) predecessor.key = response.kvs(0).key();
  return predecessor;
}

absl::StatusOr<Campaign::OwnKey> Campaign::ReadKey(const EndpointPool::Endpoint& endpoint,
                                                   grpc::ClientContext& context,
                                                   const std::string& key) {
  context.set_deadline(DeadlineAfter(settings_.call_timeout));
  etcdserverpb::RangeRequest range;
  range.set_key(key);
  etcdserverpb::RangeResponse response;
  auto stub = etcdserverpb::KV::NewStub(endpoint.channel);
  absl::Status status = FromGrpc(stub->Range(&context, range, &response));
  if (!status.ok()) return status;
  OwnKey own;
  own.revision = response.header().revision();
  if (response.kvs_size() > 0) {
    own.exists = true;
    own.create_revision = response.kvs(0).create_revision();
  }
  return own;
}

absl::StatusOr<bool> Campaign::WaitDeleted(const EndpointPool::Endpoint& endpoint,
                                           grpc::ClientContext& context, const std::string& key,
                                           int64_t revision) {
  auto deadline = SteadyClock::now() + absl::ToChronoNanoseconds(settings_.watch_timeout);
  context.set_deadline(DeadlineAfter(settings_.watch_timeout));
  auto stub = etcdserverpb::Watch::NewStub(endpoint.channel);
  auto stream = stub->Watch(&context);
  etcdserverpb::WatchRequest request;
  auto* create = request.mutable_create_request();
  create->set_key(key);
  create->set_start_revision(revision);
  create->add_filters(etcdserverpb::WatchCreateRequest::NOPUT);
  bool deleted = false;
  bool cancelled_by_server = false;
  if (stream->Write(request)) {
    etcdserverpb::WatchResponse response;
    while (!deleted && stream->Read(&response)) {
      if (response.canceled()) {
        // Refused (our token, our permissions): that error. Otherwise compacted past our
        // revision, or the server dropped the watch: read again.
        if (absl::Status refused = WatchRefusal(response.cancel_reason()); !refused.ok()) {
          context.TryCancel();
          stream->Finish();
          return refused;
        }
        cancelled_by_server = true;
        break;
      }
      for (const auto& event : response.events()) {
        if (event.type() == mvccpb::Event::DELETE) deleted = true;
      }
    }
  }
  if (deleted || cancelled_by_server) {
    context.TryCancel();
    stream->Finish();
    return deleted;
  }
  absl::Status status = FromGrpc(stream->Finish());
  // Our own bound ran out with the member answering: nothing happened, read again.
  if (status.code() == absl::StatusCode::kDeadlineExceeded && SteadyClock::now() >= deadline) {
    return false;
  }
  if (status.ok()) return absl::UnavailableError("watch stream ended by the server");
  return status;
}

}  // namespace quorum::elect
