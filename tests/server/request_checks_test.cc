#include "server/request_checks.h"

#include <gtest/gtest.h>

namespace quorum::server {
namespace {

using etcdserverpb::RequestOp;
using etcdserverpb::TxnRequest;

RequestOp PutOp(const std::string& key) {
  RequestOp op;
  op.mutable_request_put()->set_key(key);
  op.mutable_request_put()->set_value("v");
  return op;
}

RequestOp DeleteOp(const std::string& key, const std::string& end = "") {
  RequestOp op;
  op.mutable_request_delete_range()->set_key(key);
  op.mutable_request_delete_range()->set_range_end(end);
  return op;
}

TEST(RequestChecks, EmptyKeyIsRejectedWithEtcdMessage) {
  etcdserverpb::PutRequest put;
  absl::Status s = CheckPutRequest(put);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "etcdserver: key is not provided");
  EXPECT_EQ(CheckRangeRequest({}).message(), "etcdserver: key is not provided");
  EXPECT_EQ(CheckDeleteRangeRequest({}).message(), "etcdserver: key is not provided");
}

TEST(RequestChecks, IgnoreValueWithValueIsRejected) {
  etcdserverpb::PutRequest put;
  put.set_key("k");
  put.set_value("v");
  put.set_ignore_value(true);
  EXPECT_EQ(CheckPutRequest(put).message(), "etcdserver: value is provided");
}

TEST(RequestChecks, IgnoreLeaseWithLeaseIsRejected) {
  etcdserverpb::PutRequest put;
  put.set_key("k");
  put.set_lease(7);
  put.set_ignore_lease(true);
  EXPECT_EQ(CheckPutRequest(put).message(), "etcdserver: lease is provided");
}

TEST(RequestChecks, TxnOverMaxOpsIsRejected) {
  TxnRequest txn;
  for (int i = 0; i < 129; ++i) *txn.add_success() = PutOp("k" + std::to_string(i));
  EXPECT_EQ(CheckTxnRequest(txn, 128).message(),
            "etcdserver: too many operations in txn request");
  txn.mutable_success()->RemoveLast();
  EXPECT_TRUE(CheckTxnRequest(txn, 128).ok());
}

TEST(RequestChecks, TxnPuttingOneKeyTwiceIsDuplicate) {
  TxnRequest txn;
  *txn.add_success() = PutOp("a");
  *txn.add_success() = PutOp("a");
  EXPECT_EQ(CheckTxnRequest(txn, 128).message(),
            "etcdserver: duplicate key given in txn request");
}

TEST(RequestChecks, TxnPutInsideDeletedRangeIsDuplicate) {
  TxnRequest txn;
  *txn.add_success() = DeleteOp("a", "c");
  *txn.add_success() = PutOp("b");
  EXPECT_EQ(CheckTxnRequest(txn, 128).code(), absl::StatusCode::kInvalidArgument);
  TxnRequest outside;
  *outside.add_success() = DeleteOp("a", "c");
  *outside.add_success() = PutOp("c");
  EXPECT_TRUE(CheckTxnRequest(outside, 128).ok());
}

TEST(RequestChecks, NestedBranchesMayPutTheSameKey) {
  TxnRequest txn;
  RequestOp nested;
  *nested.mutable_request_txn()->add_success() = PutOp("x");
  *nested.mutable_request_txn()->add_failure() = PutOp("x");
  *txn.add_success() = nested;
  EXPECT_TRUE(CheckTxnRequest(txn, 128).ok());
  // ... but not a key the outer level also puts.
  *txn.add_success() = PutOp("x");
  EXPECT_EQ(CheckTxnRequest(txn, 128).message(),
            "etcdserver: duplicate key given in txn request");
}

TEST(RequestChecks, SuccessAndFailureAreCheckedSeparately) {
  TxnRequest txn;
  *txn.add_success() = PutOp("a");
  *txn.add_failure() = PutOp("a");
  EXPECT_TRUE(CheckTxnRequest(txn, 128).ok());
}

TEST(RequestChecks, EmptyOpAnswersKeyNotFound) {
  TxnRequest txn;
  txn.add_success();
  EXPECT_EQ(CheckTxnRequest(txn, 128).message(), "etcdserver: key not found");
}

TEST(RequestChecks, CompareWithEmptyKeyIsRejected) {
  TxnRequest txn;
  txn.add_compare();
  EXPECT_EQ(CheckTxnRequest(txn, 128).message(), "etcdserver: key is not provided");
}

}  // namespace
}  // namespace quorum::server
