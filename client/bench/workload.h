// What quorum-bench sends: the workload kinds, the knobs of one run (LoadSpec), and the keys,
// values and etcd v3 requests built from them. The command line (main.cc) fills a LoadSpec;
// the LoadRunner asks a RequestFactory for each request it sends.
#ifndef QUORUM_CLIENT_BENCH_WORKLOAD_H_
#define QUORUM_CLIENT_BENCH_WORKLOAD_H_

#include <atomic>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "client/tls_options.h"
#include "etcdserverpb/rpc.pb.h"

namespace quorum::bench {

enum class Workload {
  kPut,    // Put of one key
  kRange,  // Range of one key, linearizable or serializable
  kTxn,    // Txn: compare the key's mod revision, then put it
  kMixed,  // Range or Put, chosen per request by read_ratio
  // One lease's life per operation: LeaseGrant through one member, one keep-alive through the
  // next member (a client may use a lease wherever it was granted), LeaseRevoke through the
  // first. A keep-alive answered with TTL 0 (lease not found) is an error.
  kLeaseChurn,
};
const char* WorkloadName(Workload workload);

// Everything that defines one run. Defaults match the command line's.
struct LoadSpec {
  Workload workload = Workload::kPut;
  std::vector<std::string> endpoints = {"127.0.0.1:2379"};  // host:port, http:// or https://
  client::TlsOptions tls;                                   // etcdctl's TLS flags, files loaded
  int conns = 1;    // gRPC channels (TCP connections), spread round-robin over endpoints
  int clients = 1;  // requests outstanding at once, spread round-robin over conns
  size_t val_size = 256;
  size_t key_size = 8;
  uint64_t key_space = 10000;    // distinct keys, see KeyAt
  bool sequential_keys = false;  // false: uniform random over the key space
  uint64_t total = 0;            // measured requests; 0 means run for `duration`
  absl::Duration duration = absl::Seconds(10);
  double rate = 0;  // requests per second over all clients; 0 means as fast as answered
  absl::Duration warmup = absl::ZeroDuration();
  absl::Duration timeout = absl::Seconds(5);  // per-request deadline
  bool serializable = false;                  // for range and the reads of mixed
  double read_ratio = 0.5;                    // mixed only
  int64_t lease_ttl = 10;                     // lease-churn only: TTL of each granted lease
};

// Checks the spec's values against each other; the message names the offending flag.
absl::Status ValidateSpec(const LoadSpec& spec);

// The key for index i in [0, key_space): the decimal index, zero-padded to key_size bytes
// (so every key has the same size and sorts by index).
std::string KeyAt(uint64_t index, size_t key_size);

// Builds requests. One per load-generating thread; the sequential key cursor is shared by all
// of them so that "sequential" covers the key space once in order across threads.
class RequestFactory {
 public:
  RequestFactory(const LoadSpec& spec, std::atomic<uint64_t>& sequential_cursor, uint64_t seed);

  // Which request the next operation sends; for kMixed a fresh choice each call.
  Workload NextKind();
  void MakePut(etcdserverpb::PutRequest& request);
  void MakeRange(etcdserverpb::RangeRequest& request);
  void MakeTxn(etcdserverpb::TxnRequest& request);

 private:
  std::string NextKey();

  const LoadSpec& spec_;
  std::atomic<uint64_t>& sequential_cursor_;
  std::mt19937_64 rng_;
  std::string value_;
};

}  // namespace quorum::bench

#endif  // QUORUM_CLIENT_BENCH_WORKLOAD_H_
