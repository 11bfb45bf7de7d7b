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
// Its address is the completion-queue tag; `state` says which event a tag is.
struct Call {
  enum class State { kRetired, kWaitingForSlot, kInFlight };
  State state = State::kRetired;
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
};

// One gRPC channel, its completion queue, and the thread that serves it. The thread owns
// everything here until Join(); the results are read after that.
class Connection {
 public:
  Connection(RunState& run, const std::string& target, int index, int calls)
      : run_(run), factory_(run.spec, run.sequential_cursor, Seed(index)), calls_(calls) {
    grpc::ChannelArguments args;
    // Channels with equal arguments share TCP connections inside gRPC; --conns promises
    // distinct ones.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("quorum.bench.connection", index);
    channel_ = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
    stub_ = etcdserverpb::KV::NewStub(channel_);
  }

  // Connects ahead of the clock so that the first requests do not pay for it; a server that
  // does not answer shows up as request errors later, not here.
  void Connect(Clock::time_point deadline) { channel_->WaitForConnected(ToSystem(deadline)); }

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
      case Workload::kTxn:
        factory_.MakeTxn(call.txn);
        call.txn_reader = stub_->PrepareAsyncTxn(call.context.get(), call.txn, &cq_);
        call.sent = Clock::now();
        call.txn_reader->StartCall();
        call.txn_reader->Finish(&call.txn_response, &call.status, &call);
        break;
    }
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

absl::StatusOr<std::string> GrpcTarget(const std::string& endpoint) {
  if (absl::StartsWith(endpoint, "https://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--endpoints: TLS is not supported: \"", endpoint, "\""));
  }
  std::string target = absl::StartsWith(endpoint, "http://") ? endpoint.substr(7) : endpoint;
  if (!target.empty() && target.back() == '/') target.pop_back();
  if (target.empty()) return absl::InvalidArgumentError("--endpoints: empty endpoint");
  return target;
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
    // Clients are dealt round-robin, so connections differ by at most one client.
    const int calls = spec.clients / spec.conns + (i < spec.clients % spec.conns ? 1 : 0);
    connections.push_back(std::make_unique<Connection>(run, *target, i, calls));
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
