#include "client/bench/workload.h"

#include <limits>

#include "absl/strings/str_cat.h"

namespace quorum::bench {

const char* WorkloadName(Workload workload) {
  switch (workload) {
    case Workload::kPut:
      return "put";
    case Workload::kRange:
      return "range";
    case Workload::kTxn:
      return "txn";
    case Workload::kMixed:
      return "mixed";
    case Workload::kLeaseChurn:
      return "lease-churn";
  }
  return "unknown";
}

absl::Status ValidateSpec(const LoadSpec& spec) {
  if (spec.endpoints.empty()) return absl::InvalidArgumentError("--endpoints: none given");
  if (spec.conns < 1) return absl::InvalidArgumentError("--conns must be >= 1");
  if (spec.clients < 1) return absl::InvalidArgumentError("--clients must be >= 1");
  if (spec.key_space < 1) return absl::InvalidArgumentError("--key-space must be >= 1");
  if (spec.key_size < 1) return absl::InvalidArgumentError("--key-size must be >= 1");
  const size_t digits = std::to_string(spec.key_space - 1).size();
  if (spec.key_size < digits) {
    return absl::InvalidArgumentError(absl::StrCat("--key-size ", spec.key_size, " cannot hold ",
                                                   spec.key_space, " distinct keys (needs ", digits,
                                                   ")"));
  }
  if (spec.total == 0 && spec.duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("give --total > 0 or --duration > 0");
  }
  if (spec.rate < 0) return absl::InvalidArgumentError("--rate must be >= 0");
  if (spec.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--timeout must be > 0");
  }
  if (spec.warmup < absl::ZeroDuration()) return absl::InvalidArgumentError("--warmup < 0");
  if (spec.lease_ttl < 1) return absl::InvalidArgumentError("--ttl must be >= 1");
  if (spec.read_ratio < 0 || spec.read_ratio > 1) {
    return absl::InvalidArgumentError("--read-ratio must be in [0, 1]");
  }
  return absl::OkStatus();
}

std::string KeyAt(uint64_t index, size_t key_size) {
  std::string digits = std::to_string(index);
  if (digits.size() >= key_size) return digits;
  return std::string(key_size - digits.size(), '0') + digits;
}

RequestFactory::RequestFactory(const LoadSpec& spec, std::atomic<uint64_t>& sequential_cursor,
                               uint64_t seed)
    : spec_(spec), sequential_cursor_(sequential_cursor), rng_(seed) {
  // Random bytes, made once: the server's cost does not depend on the contents, and a value
  // that compresses well would flatter a store that compresses.
  value_.resize(spec.val_size);
  std::uniform_int_distribution<int> byte(0, 255);
  for (char& c : value_) c = static_cast<char>(byte(rng_));
}

Workload RequestFactory::NextKind() {
  if (spec_.workload != Workload::kMixed) return spec_.workload;
  return std::uniform_real_distribution<double>(0, 1)(rng_) < spec_.read_ratio ? Workload::kRange
                                                                               : Workload::kPut;
}

std::string RequestFactory::NextKey() {
  uint64_t index;
  if (spec_.sequential_keys) {
    index = sequential_cursor_.fetch_add(1, std::memory_order_relaxed) % spec_.key_space;
  } else {
    index = std::uniform_int_distribution<uint64_t>(0, spec_.key_space - 1)(rng_);
  }
  return KeyAt(index, spec_.key_size);
}

void RequestFactory::MakePut(etcdserverpb::PutRequest& request) {
  request.Clear();
  request.set_key(NextKey());
  request.set_value(value_);
}

void RequestFactory::MakeRange(etcdserverpb::RangeRequest& request) {
  request.Clear();
  request.set_key(NextKey());
  request.set_serializable(spec_.serializable);
}

void RequestFactory::MakeTxn(etcdserverpb::TxnRequest& request) {
  request.Clear();
  std::string key = NextKey();
  // mod_revision < max always holds (a missing key compares as revision 0 in etcd), so every
  // txn takes the success branch: the server pays for the compare and the put, and the
  // throughput of both servers is for the same work.
  etcdserverpb::Compare* compare = request.add_compare();
  compare->set_key(key);
  compare->set_target(etcdserverpb::Compare::MOD);
  compare->set_result(etcdserverpb::Compare::LESS);
  compare->set_mod_revision(std::numeric_limits<int64_t>::max());
  etcdserverpb::PutRequest* put = request.add_success()->mutable_request_put();
  put->set_key(std::move(key));
  put->set_value(value_);
}

}  // namespace quorum::bench
