#include "client/bench/load_runner.h"

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/tls_options.h"
#include "etcdserverpb/rpc.grpc.pb.h"

namespace quorum::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Different per connection and per run, so that connections do not walk the same keys.
uint64_t Seed(int index) {
  return (uint64_t{std::random_device{}()} << 32) ^ static_cast<uint64_t>(index);
}

// gRPC deadlines and alarms take system_clock time; all our measuring uses the steady clock.
std::chrono::system_clock::time_point ToSystem(Clock::time_point at) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(at - Clock::now());
}

// State shared by every connection of one run.
struct RunState {
  explicit RunState(const LoadSpec& spec) : spec(spec) {}

  const LoadSpec& spec;
  Clock::time_point run_start;
  Clock::time_point measure_start;  // end of warmup
  Clock::time_point measure_end;    // used when spec.total == 0
  std::atomic<uint64_t> measured_claimed{0};
  std::atomic<uint64_t> rate_slots{0};
  std::atomic<uint64_t> sequential_cursor{0};
};

// One client: at most one request (or one wait for its rate slot) outstanding at a time.
// Its address is the completion-queue tag; `state` says which event a tag is. A lease-churn
// operation is several calls in a row; `step` says which one is in flight.
struct Call {
  enum class State { kRetired, kWaitingForSlot, kInFlight };
  enum class Step {
    kGrant,
    kKeepAliveStart,
    kKeepAliveWrite,
    kKeepAliveRead,
    kKeepAliveDone,
    kKeepAliveFinish,
    kRevoke
  };
  State state = State::kRetired;
  Step step = Step::kGrant;
  Workload kind = Workload::kPut;
  bool measured = false;
  Clock::time_point sent;
  std::unique_ptr<grpc::ClientContext> context;
  grpc::Status status;
  std::unique_ptr<grpc::Alarm> alarm;

  etcdserverpb::PutRequest put;
  etcdserverpb::PutResponse put_response;
  std::unique_ptr<grpc::ClientAsyncResponseReader<etcdserverpb::PutResponse>> put_reader;
  etcdserverpb::RangeRequest range;
  etcdserverpb::RangeResponse range_response;
  std::unique_ptr<grpc::ClientAsyncResponseReader<etcdserverpb::RangeResponse>> range_reader;
  etcdserverpb::TxnRequest txn;
  etcdserverpb::TxnResponse txn_response;
  std::unique_ptr<grpc::ClientAsyncResponseReader<etcdserverpb::TxnResponse>> txn_reader;

  etcdserverpb::LeaseGrantRequest grant;
  etcdserverpb::LeaseGrantResponse grant_response;
  std::unique_ptr<grpc::ClientAsyncResponseReader<etcdserverpb::LeaseGrantResponse>> grant_reader;
  std::unique_ptr<grpc::ClientContext> keep_alive_context;
  std::unique_ptr<grpc::ClientAsyncReaderWriter<etcdserverpb::LeaseKeepAliveRequest,
                                                etcdserverpb::LeaseKeepAliveResponse>>
      keep_alive;
  etcdserverpb::LeaseKeepAliveRequest keep_alive_request;
  etcdserverpb::LeaseKeepAliveResponse keep_alive_response;
  // The first failure of this operation's steps (the revoke still runs after a failed
  // keep-alive, so that the lease does not outlive the operation).
  grpc::Status failure;
  etcdserverpb::LeaseRevokeRequest revoke;
  etcdserverpb::LeaseRevokeResponse revoke_response;
  std::unique_ptr<grpc::ClientAsyncResponseReader<etcdserverpb::LeaseRevokeResponse>> revoke_reader;
};

// One gRPC channel, its completion queue, and the thread that serves it. The thread owns
// everything here until Join(); the results are read after that.
class Connection {
 public:
  // `next_target` is the member after `target` in --endpoints: lease churn keeps its leases
  // alive there.
  // Both are endpoints as given (http://, https:// or host:port); https:// ones use TLS.
  Connection(RunState& run, const std::string& target, const std::string& next_target, int index,
             int calls)
      : run_(run), factory_(run.spec, run.sequential_cursor, Seed(index)), calls_(calls) {
    grpc::ChannelArguments args;
    // Channels with equal arguments share TCP connections inside gRPC; --conns promises
    // distinct ones.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("quorum.bench.connection", index);
    channel_ = grpc::CreateCustomChannel(client::EndpointTarget(target),
                                         client::EndpointCredentials(target, run.spec.tls), args);
    stub_ = etcdserverpb::KV::NewStub(channel_);
    if (run.spec.workload == Workload::kLeaseChurn) {
      lease_ = etcdserverpb::Lease::NewStub(channel_);
      next_channel_ =
          grpc::CreateCustomChannel(client::EndpointTarget(next_target),
                                    client::EndpointCredentials(next_target, run.spec.tls), args);
      next_lease_ = etcdserverpb::Lease::NewStub(next_channel_);
    }
  }

  // Connects ahead of the clock so that the first requests do not pay for it; a server that
  // does not answer shows up as request errors later, not here.
  void Connect(Clock::time_point deadline) {
    channel_->WaitForConnected(ToSystem(deadline));
    if (next_channel_) next_channel_->WaitForConnected(ToSystem(deadline));
  }

  void Start() { thread_ = std::thread(&Connection::Serve, this); }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

  void AddTo(RunResult& result, Clock::time_point& last_answer) const {
    result.latency.Merge(histogram_);
    result.ok += ok_;
    for (const auto& [code, count] : errors_) result.errors[code] += count;
    for (const auto& [code, message] : error_examples_) result.error_examples[code] = message;
    last_answer = std::max(last_answer, last_answer_);
  }

 private:
  void Serve() {
    active_ = calls_.size();
    for (Call& call : calls_) Schedule(call);
    void* tag = nullptr;
    bool ok = false;
    while (active_ > 0 && cq_.Next(&tag, &ok)) {
      Call& call = *static_cast<Call*>(tag);
      if (call.state == Call::State::kWaitingForSlot) {
        Send(call);
        continue;
      }
      if (call.kind == Workload::kLeaseChurn && NextLeaseStep(call, ok)) continue;
      Answered(call, Clock::now());
      Schedule(call);
    }
    cq_.Shutdown();
    while (cq_.Next(&tag, &ok)) {
    }
  }

  // Decides whether `call` sends another request and when.
  void Schedule(Call& call) {
    const LoadSpec& spec = run_.spec;
    const Clock::time_point now = Clock::now();
    if (spec.total == 0 && now >= run_.measure_end) return Retire(call);
    call.measured = now >= run_.measure_start;
    if (spec.total > 0 && call.measured &&
        run_.measured_claimed.fetch_add(1, std::memory_order_relaxed) >= spec.total) {
      return Retire(call);
    }
    if (spec.rate > 0) {
      // Slot n of the whole run starts at n / rate: the cap holds across all connections.
      const uint64_t slot = run_.rate_slots.fetch_add(1, std::memory_order_relaxed);
      const auto at = run_.run_start + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(slot / spec.rate));
      // A slot past the end of a timed run would only keep the run waiting for it.
      if (spec.total == 0 && at >= run_.measure_end) return Retire(call);
      if (at > now) {
        call.state = Call::State::kWaitingForSlot;
        call.alarm = std::make_unique<grpc::Alarm>();
        call.alarm->Set(&cq_, ToSystem(at), &call);
        return;
      }
    }
    Send(call);
  }

  void Retire(Call& call) {
    call.state = Call::State::kRetired;
    --active_;
  }

  void Send(Call& call) {
    call.kind = factory_.NextKind();
    // The last request's readers live in its call's arena: they go before its context.
    call.put_reader.reset();
    call.range_reader.reset();
    call.txn_reader.reset();
    call.grant_reader.reset();
    call.revoke_reader.reset();
    call.context = std::make_unique<grpc::ClientContext>();
    call.context->set_deadline(
        ToSystem(Clock::now() + absl::ToChronoNanoseconds(run_.spec.timeout)));
    call.state = Call::State::kInFlight;
    switch (call.kind) {
      case Workload::kPut:
      case Workload::kMixed:  // not returned by NextKind(), which picks put or range
        factory_.MakePut(call.put);
        call.put_reader = stub_->PrepareAsyncPut(call.context.get(), call.put, &cq_);
        call.sent = Clock::now();
        call.put_reader->StartCall();
        call.put_reader->Finish(&call.put_response, &call.status, &call);
        break;
      case Workload::kRange:
        factory_.MakeRange(call.range);
        call.range_reader = stub_->PrepareAsyncRange(call.context.get(), call.range, &cq_);
        call.sent = Clock::now();
        call.range_reader->StartCall();
        call.range_reader->Finish(&call.range_response, &call.status, &call);
        break;
      case Workload::kLeaseChurn:
        call.step = Call::Step::kGrant;
        call.failure = grpc::Status::OK;
        call.grant.Clear();
        call.grant.set_ttl(run_.spec.lease_ttl);
        call.grant_reader = lease_->PrepareAsyncLeaseGrant(call.context.get(), call.grant, &cq_);
        call.sent = Clock::now();
        call.grant_reader->StartCall();
        call.grant_reader->Finish(&call.grant_response, &call.status, &call);
        break;
      case Workload::kTxn:
        factory_.MakeTxn(call.txn);
        call.txn_reader = stub_->PrepareAsyncTxn(call.context.get(), call.txn, &cq_);
        call.sent = Clock::now();
        call.txn_reader->StartCall();
        call.txn_reader->Finish(&call.txn_response, &call.status, &call);
        break;
    }
  }

  // Advances a lease-churn operation after the event of its current step (`ok`: the event's
  // success, for the keep-alive stream's steps). False once the operation is over, with its
  // outcome in call.status.
  bool NextLeaseStep(Call& call, bool ok) {
    using Step = Call::Step;
    auto fail = [&call](grpc::Status status) {
      if (call.failure.ok()) call.failure = std::move(status);
    };
    switch (call.step) {
      case Step::kGrant:
        if (!call.status.ok()) return false;  // nothing granted, nothing to revoke
        call.step = Step::kKeepAliveStart;
        // The last operation's stream lives in its call's arena: it goes before its context.
        call.keep_alive.reset();
        call.keep_alive_context = std::make_unique<grpc::ClientContext>();
        call.keep_alive_context->set_deadline(call.context->deadline());
        call.keep_alive =
            next_lease_->PrepareAsyncLeaseKeepAlive(call.keep_alive_context.get(), &cq_);
        call.keep_alive->StartCall(&call);
        return true;
      case Step::kKeepAliveStart:
        if (!ok) return FinishKeepAlive(call);
        call.step = Step::kKeepAliveWrite;
        call.keep_alive_request.set_id(call.grant_response.id());
        call.keep_alive->Write(call.keep_alive_request, &call);
        return true;
      case Step::kKeepAliveWrite:
        if (!ok) return FinishKeepAlive(call);
        call.step = Step::kKeepAliveRead;
        call.keep_alive->Read(&call.keep_alive_response, &call);
        return true;
      case Step::kKeepAliveRead:
        if (ok && call.keep_alive_response.ttl() <= 0) {
          // etcd's clients turn a keep-alive answered with TTL 0 into this error.
          fail(grpc::Status(grpc::StatusCode::NOT_FOUND,
                            "keep-alive: etcdserver: requested lease not found"));
        }
        if (!ok) return FinishKeepAlive(call);
        call.step = Step::kKeepAliveDone;
        call.keep_alive->WritesDone(&call);
        return true;
      case Step::kKeepAliveDone:
        return FinishKeepAlive(call);
      case Step::kKeepAliveFinish:
        if (!call.status.ok()) fail(call.status);
        call.step = Step::kRevoke;
        call.revoke.set_id(call.grant_response.id());
        call.grant_reader.reset();
        call.revoke_reader.reset();
        call.context = std::make_unique<grpc::ClientContext>();
        call.context->set_deadline(call.keep_alive_context->deadline());
        call.revoke_reader = lease_->PrepareAsyncLeaseRevoke(call.context.get(), call.revoke, &cq_);
        call.revoke_reader->StartCall();
        call.revoke_reader->Finish(&call.revoke_response, &call.status, &call);
        return true;
      case Step::kRevoke:
        if (!call.failure.ok()) call.status = call.failure;
        return false;
    }
    return false;
  }

  bool FinishKeepAlive(Call& call) {
    call.step = Call::Step::kKeepAliveFinish;
    call.keep_alive->Finish(&call.status, &call);
    return true;
  }

  void Answered(Call& call, Clock::time_point now) {
    if (!call.measured) return;
    last_answer_ = std::max(last_answer_, now);
    if (call.status.ok()) {
      histogram_.Record(static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(now - call.sent).count()));
      ++ok_;
      return;
    }
    // gRPC's and absl's code numbers are the same, and absl has the names.
    std::string code =
        absl::StatusCodeToString(static_cast<absl::StatusCode>(call.status.error_code()));
    ++errors_[code];
    error_examples_.try_emplace(code, call.status.error_message());
  }

  RunState& run_;
  RequestFactory factory_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<etcdserverpb::KV::Stub> stub_;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease_;
  std::shared_ptr<grpc::Channel> next_channel_;
  std::unique_ptr<etcdserverpb::Lease::Stub> next_lease_;
  grpc::CompletionQueue cq_;
  std::vector<Call> calls_;
  size_t active_ = 0;
  std::thread thread_;

  LatencyHistogram histogram_;
  uint64_t ok_ = 0;
  std::map<std::string, uint64_t> errors_;
  std::map<std::string, std::string> error_examples_;
  Clock::time_point last_answer_;
};

// The endpoint itself (its scheme picks TLS); an error if it names no host:port.
absl::StatusOr<std::string> GrpcTarget(const std::string& endpoint) {
  if (client::EndpointTarget(endpoint).empty()) {
    return absl::InvalidArgumentError("--endpoints: empty endpoint");
  }
  return endpoint;
}

}  // namespace

uint64_t RunResult::ErrorCount() const {
  uint64_t n = 0;
  for (const auto& [code, count] : errors) n += count;
  return n;
}

absl::StatusOr<RunResult> RunLoad(const LoadSpec& spec) {
  if (absl::Status valid = ValidateSpec(spec); !valid.ok()) return valid;
  RunState run(spec);
  std::vector<std::unique_ptr<Connection>> connections;
  for (int i = 0; i < spec.conns; ++i) {
    absl::StatusOr<std::string> target = GrpcTarget(spec.endpoints[i % spec.endpoints.size()]);
    if (!target.ok()) return target.status();
    absl::StatusOr<std::string> next = GrpcTarget(spec.endpoints[(i + 1) % spec.endpoints.size()]);
    if (!next.ok()) return next.status();
    // Clients are dealt round-robin, so connections differ by at most one client.
    const int calls = spec.clients / spec.conns + (i < spec.clients % spec.conns ? 1 : 0);
    connections.push_back(std::make_unique<Connection>(run, *target, *next, i, calls));
  }
  const Clock::time_point connect_deadline = Clock::now() + absl::ToChronoNanoseconds(spec.timeout);
  for (auto& connection : connections) connection->Connect(connect_deadline);

  run.run_start = Clock::now();
  run.measure_start = run.run_start + absl::ToChronoNanoseconds(spec.warmup);
  run.measure_end = run.measure_start + absl::ToChronoNanoseconds(spec.duration);
  for (auto& connection : connections) connection->Start();
  for (auto& connection : connections) connection->Join();

  RunResult result;
  Clock::time_point last_answer = run.measure_start;
  for (const auto& connection : connections) connection->AddTo(result, last_answer);
  result.seconds = std::chrono::duration<double>(last_answer - run.measure_start).count();
  return result;
}

}  // namespace quorum::bench
