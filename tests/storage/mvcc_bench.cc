// MVCC store benchmarks: Put of 256-byte values, Range of one key and of a 100-key prefix, and
// a compare-and-put Txn. Writes run with sync_writes off and on (the "sync" argument); reads run
// with the in-memory value cache on and off (the "cache" argument). Run by hand:
// <build-dir>/storage_mvcc_bench.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "etcdserverpb/rpc.pb.h"
#include "storage/backend.h"
#include "storage/mvcc_store.h"

namespace quorum::storage {
namespace {

constexpr int kKeys = 10000;
const std::string kValue(256, 'v');

// A store in a fresh temporary directory, removed afterwards.
class BenchStore {
 public:
  explicit BenchStore(bool sync, bool cache_values = true) {
    std::string pattern = std::filesystem::temp_directory_path() / "quorum-bench-XXXXXX";
    dir_ = mkdtemp(pattern.data());
    Backend::Options options;
    options.path = dir_ + "/db";
    options.sync_writes = sync;
    backend_ = std::move(Backend::Open(options).value());
    MvccStore::Options store_options;
    if (!cache_values) store_options.value_cache_bytes = 0;
    store_ = std::move(MvccStore::Open(backend_.get(), store_options).value());
  }
  ~BenchStore() {
    store_.reset();
    backend_.reset();
    std::filesystem::remove_all(dir_);
  }
  MvccStore& store() { return *store_; }
  ApplyMeta Next() { return ApplyMeta{++index_, 1}; }

 private:
  std::string dir_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<MvccStore> store_;
  uint64_t index_ = 0;
};

std::string Key(int i) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "key/%08d", i);
  return buf;
}

void BM_Put(benchmark::State& state) {
  BenchStore bench(state.range(0) != 0);
  etcdserverpb::PutRequest req;
  req.set_value(kValue);
  int i = 0;
  for (auto _ : state) {
    req.set_key(Key(i++ % kKeys));
    auto resp = bench.store().Put(req, bench.Next());
    if (!resp.ok()) state.SkipWithError(resp.status().ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kValue.size()));
}
BENCHMARK(BM_Put)->ArgName("sync")->Arg(0)->Arg(1)->UseRealTime();

void BM_TxnComparePut(benchmark::State& state) {
  BenchStore bench(state.range(0) != 0);
  // Optimistic update: put only if the key was not modified since it was last read.
  std::vector<int64_t> mod(kKeys, 0);
  etcdserverpb::TxnRequest txn;
  etcdserverpb::Compare* cmp = txn.add_compare();
  cmp->set_target(etcdserverpb::Compare::MOD);
  cmp->set_result(etcdserverpb::Compare::EQUAL);
  etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
  put->set_value(kValue);
  txn.add_failure()->mutable_request_range();
  int i = 0;
  for (auto _ : state) {
    int k = i++ % kKeys;
    std::string key = Key(k);
    cmp->set_key(key);
    cmp->set_mod_revision(mod[k]);
    put->set_key(key);
    txn.mutable_failure(0)->mutable_request_range()->set_key(key);
    auto resp = bench.store().Txn(txn, bench.Next());
    if (!resp.ok() || !resp->succeeded()) {
      state.SkipWithError("txn failed");
      break;
    }
    mod[k] = resp->header().revision();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TxnComparePut)->ArgName("sync")->Arg(0)->Arg(1)->UseRealTime();

// Stores with kKeys keys for the read benchmarks (100 prefixes of 100 keys each), one with the
// latest values cached in memory and one reading everything from RocksDB.
BenchStore& ReadStore(bool cache_values) {
  static BenchStore* stores[2] = {nullptr, nullptr};
  static std::once_flag once[2];
  std::call_once(once[cache_values], [&] {
    auto* s = new BenchStore(false, cache_values);
    etcdserverpb::PutRequest req;
    req.set_value(kValue);
    for (int i = 0; i < kKeys; ++i) {
      req.set_key(Key(i));
      (void)s->store().Put(req, s->Next());
    }
    stores[cache_values] = s;
  });
  return *stores[cache_values];
}

void BM_RangeSingleKey(benchmark::State& state) {
  MvccStore& store = ReadStore(state.range(0) != 0).store();
  std::mt19937 rng(state.thread_index());
  etcdserverpb::RangeRequest req;
  for (auto _ : state) {
    req.set_key(Key(static_cast<int>(rng() % kKeys)));
    auto resp = store.Range(req);
    if (!resp.ok() || resp->kvs_size() != 1) state.SkipWithError("range failed");
    benchmark::DoNotOptimize(resp);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RangeSingleKey)->ArgName("cache")->Arg(1)->Arg(0)->ThreadRange(1, 2)->UseRealTime();

void BM_RangePrefix100(benchmark::State& state) {
  MvccStore& store = ReadStore(state.range(0) != 0).store();
  std::mt19937 rng(state.thread_index());
  etcdserverpb::RangeRequest req;
  for (auto _ : state) {
    // Keys key/000PPxxx for prefix PP: [key/000PP, key/000PP+1).
    int p = static_cast<int>(rng() % (kKeys / 100));
    char begin[32], end[32];
    std::snprintf(begin, sizeof(begin), "key/%06d", p);
    std::snprintf(end, sizeof(end), "key/%06d", p + 1);
    req.set_key(begin);
    req.set_range_end(end);
    auto resp = store.Range(req);
    if (!resp.ok() || resp->kvs_size() != 100) state.SkipWithError("range failed");
    benchmark::DoNotOptimize(resp);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RangePrefix100)->ArgName("cache")->Arg(1)->Arg(0)->ThreadRange(1, 2)->UseRealTime();

}  // namespace
}  // namespace quorum::storage

BENCHMARK_MAIN();
