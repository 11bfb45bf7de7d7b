// Test support for storage/: a fresh database in a temporary directory per test, a store on it
// that can be closed and reopened, and short builders for etcd requests.
#ifndef QUORUM_TESTS_STORAGE_STORE_FIXTURE_H_
#define QUORUM_TESTS_STORAGE_STORE_FIXTURE_H_

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "etcdserverpb/rpc.pb.h"
#include "storage/backend.h"
#include "storage/mvcc_store.h"

namespace quorum::storage::testing {

using etcdserverpb::Compare;
using etcdserverpb::RangeRequest;
using etcdserverpb::RequestOp;
using etcdserverpb::TxnRequest;

// A directory removed when the object goes.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "quorum-storage-XXXXXX");
    char* made = mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ec);
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline RangeRequest RangeReq(std::string key, std::string end = "", int64_t rev = 0) {
  RangeRequest req;
  req.set_key(std::move(key));
  req.set_range_end(std::move(end));
  req.set_revision(rev);
  return req;
}

inline etcdserverpb::PutRequest PutReq(std::string key, std::string value, int64_t lease = 0) {
  etcdserverpb::PutRequest req;
  req.set_key(std::move(key));
  req.set_value(std::move(value));
  req.set_lease(lease);
  return req;
}

inline etcdserverpb::DeleteRangeRequest DelReq(std::string key, std::string end = "",
                                               bool prev_kv = false) {
  etcdserverpb::DeleteRangeRequest req;
  req.set_key(std::move(key));
  req.set_range_end(std::move(end));
  req.set_prev_kv(prev_kv);
  return req;
}

inline RequestOp OpPut(std::string key, std::string value) {
  RequestOp op;
  *op.mutable_request_put() = PutReq(std::move(key), std::move(value));
  return op;
}
inline RequestOp OpRange(std::string key, std::string end = "", int64_t rev = 0) {
  RequestOp op;
  *op.mutable_request_range() = RangeReq(std::move(key), std::move(end), rev);
  return op;
}
inline RequestOp OpDel(std::string key, std::string end = "") {
  RequestOp op;
  *op.mutable_request_delete_range() = DelReq(std::move(key), std::move(end));
  return op;
}
inline RequestOp OpTxn(TxnRequest txn) {
  RequestOp op;
  *op.mutable_request_txn() = std::move(txn);
  return op;
}

inline Compare CmpVersion(std::string key, Compare::CompareResult result, int64_t version) {
  Compare c;
  c.set_key(std::move(key));
  c.set_target(Compare::VERSION);
  c.set_result(result);
  c.set_version(version);
  return c;
}
inline Compare CmpCreate(std::string key, Compare::CompareResult result, int64_t rev) {
  Compare c;
  c.set_key(std::move(key));
  c.set_target(Compare::CREATE);
  c.set_result(result);
  c.set_create_revision(rev);
  return c;
}
inline Compare CmpMod(std::string key, Compare::CompareResult result, int64_t rev) {
  Compare c;
  c.set_key(std::move(key));
  c.set_target(Compare::MOD);
  c.set_result(result);
  c.set_mod_revision(rev);
  return c;
}
inline Compare CmpValue(std::string key, Compare::CompareResult result, std::string value) {
  Compare c;
  c.set_key(std::move(key));
  c.set_target(Compare::VALUE);
  c.set_result(result);
  c.set_value(std::move(value));
  return c;
}
inline Compare CmpLease(std::string key, Compare::CompareResult result, int64_t lease) {
  Compare c;
  c.set_key(std::move(key));
  c.set_target(Compare::LEASE);
  c.set_result(result);
  c.set_lease(lease);
  return c;
}

inline TxnRequest Txn(std::vector<Compare> compares, std::vector<RequestOp> success,
                      std::vector<RequestOp> failure = {}) {
  TxnRequest txn;
  for (auto& c : compares) *txn.add_compare() = std::move(c);
  for (auto& op : success) *txn.add_success() = std::move(op);
  for (auto& op : failure) *txn.add_failure() = std::move(op);
  return txn;
}

// Keys of a range response, in order.
inline std::vector<std::string> Keys(const etcdserverpb::RangeResponse& resp) {
  std::vector<std::string> keys;
  for (const auto& kv : resp.kvs()) keys.push_back(kv.key());
  return keys;
}

// Store options for tests. QUORUM_STORAGE_VALUE_CACHE_BYTES overrides the value cache budget,
// so the whole suite also runs with every read going to RocksDB (ctest runs it both ways).
inline MvccStore::Options StoreOptions() {
  MvccStore::Options options;
  if (const char* bytes = std::getenv("QUORUM_STORAGE_VALUE_CACHE_BYTES")) {
    options.value_cache_bytes = std::strtoull(bytes, nullptr, 10);
  }
  return options;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override { OpenStore(); }
  void TearDown() override { CloseStore(); }

  void OpenStore(bool sync_writes = false) {
    Backend::Options options;
    options.path = dir_.path() + "/db";
    options.sync_writes = sync_writes;
    options.block_cache_bytes = 8 << 20;
    auto backend = Backend::Open(options);
    ASSERT_TRUE(backend.ok()) << backend.status();
    backend_ = std::move(*backend);
    auto store = MvccStore::Open(backend_.get(), StoreOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  void CloseStore() {
    store_.reset();
    backend_.reset();
  }
  void Reopen() {
    CloseStore();
    OpenStore();
  }

  ApplyMeta NextMeta() { return ApplyMeta{++index_, 1}; }

  // Puts and returns the revision of the write.
  int64_t Put(const std::string& key, const std::string& value, int64_t lease = 0) {
    auto resp = store_->Put(PutReq(key, value, lease), NextMeta());
    EXPECT_TRUE(resp.ok()) << resp.status();
    return resp.ok() ? resp->header().revision() : -1;
  }
  int64_t Delete(const std::string& key, const std::string& end = "") {
    auto resp = store_->DeleteRange(DelReq(key, end), NextMeta());
    EXPECT_TRUE(resp.ok()) << resp.status();
    return resp.ok() ? resp->deleted() : -1;
  }
  etcdserverpb::RangeResponse Get(const RangeRequest& req) {
    auto resp = store_->Range(req);
    EXPECT_TRUE(resp.ok()) << resp.status();
    return resp.ok() ? *resp : etcdserverpb::RangeResponse();
  }
  etcdserverpb::RangeResponse Get(const std::string& key, const std::string& end = "",
                                  int64_t rev = 0) {
    return Get(RangeReq(key, end, rev));
  }
  etcdserverpb::TxnResponse DoTxn(const TxnRequest& txn) {
    auto resp = store_->Txn(txn, NextMeta());
    EXPECT_TRUE(resp.ok()) << resp.status();
    return resp.ok() ? *resp : etcdserverpb::TxnResponse();
  }
  absl::Status Compact(int64_t rev, bool physical = false) {
    etcdserverpb::CompactionRequest req;
    req.set_revision(rev);
    req.set_physical(physical);
    return store_->Compact(req, NextMeta()).status();
  }

  TempDir dir_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<MvccStore> store_;
  uint64_t index_ = 0;
};

}  // namespace quorum::storage::testing

#endif  // QUORUM_TESTS_STORAGE_STORE_FIXTURE_H_
