// Differential test at the gRPC level: the same KV requests, including what etcdctl cannot
// express (nested txns, ranged compares, revision filters, sort/limit combinations), go to the
// real etcd 3.4 and to quorumd; responses and errors must be equal once ids and terms are masked.
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>

#include "client/kv_client.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "tests/support/process.h"

namespace quorum {
namespace {

using etcdserverpb::Compare;
using etcdserverpb::RangeRequest;
using etcdserverpb::RequestOp;
using etcdserverpb::TxnRequest;
using testing::ChildProcess;
using testing::FreeLoopbackPort;
using testing::TempDir;

std::string EtcdPath() {
  for (const char* p : {"/usr/bin/etcd", "/usr/local/bin/etcd"}) {
    if (std::filesystem::exists(p)) return p;
  }
  return "";
}

// One server under test with raw stubs, so requests go out exactly as written here.
struct Target {
  std::unique_ptr<ChildProcess> process;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
};

// A call's outcome, printable for comparison.
struct Outcome {
  int code = 0;
  std::string message;
  std::string response;  // text format, header ids/term masked

  bool operator==(const Outcome& o) const {
    return code == o.code && message == o.message && response == o.response;
  }
};

std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  return os << "code=" << o.code << " message=\"" << o.message << "\"\n" << o.response;
}

template <typename Response>
Outcome Capture(const grpc::Status& status, Response response) {
  Outcome out;
  out.code = status.error_code();
  out.message = status.error_message();
  if (status.ok()) {
    auto* header = response.mutable_header();
    header->clear_cluster_id();
    header->clear_member_id();
    header->clear_raft_term();
    google::protobuf::TextFormat::PrintToString(response, &out.response);
  }
  return out;
}

using Call = std::function<Outcome(etcdserverpb::KV::Stub*)>;

template <typename Request, typename Response>
Call Unary(Request request,
           grpc::Status (etcdserverpb::KV::Stub::*method)(grpc::ClientContext*, const Request&,
                                                          Response*)) {
  return [request, method](etcdserverpb::KV::Stub* stub) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    Response response;
    grpc::Status status = (stub->*method)(&context, request, &response);
    return Capture(status, response);
  };
}

Call Put(const std::string& key, const std::string& value) {
  etcdserverpb::PutRequest r;
  r.set_key(key);
  r.set_value(value);
  r.set_prev_kv(true);
  return Unary(r, &etcdserverpb::KV::Stub::Put);
}
Call Range(RangeRequest r) { return Unary(r, &etcdserverpb::KV::Stub::Range); }
Call Txn(TxnRequest r) { return Unary(r, &etcdserverpb::KV::Stub::Txn); }
Call Del(const std::string& key, const std::string& end) {
  etcdserverpb::DeleteRangeRequest r;
  r.set_key(key);
  r.set_range_end(end);
  r.set_prev_kv(true);
  return Unary(r, &etcdserverpb::KV::Stub::DeleteRange);
}
Call Compact(int64_t revision) {
  etcdserverpb::CompactionRequest r;
  r.set_revision(revision);
  return Unary(r, &etcdserverpb::KV::Stub::Compact);
}

RangeRequest ParseRange(const std::string& text) {
  RangeRequest r;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &r)) << text;
  return r;
}
TxnRequest ParseTxn(const std::string& text) {
  TxnRequest r;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &r)) << text;
  return r;
}

// The scripted session. Requests are in protobuf text format for readability.
std::vector<std::pair<std::string, Call>> Session() {
  std::vector<std::pair<std::string, Call>> s;
  for (const char* k : {"a", "b", "c", "d", "e"})
    s.push_back({"put", Put(k, std::string(k) + "1")});
  s.push_back({"put b again", Put("b", "b2")});
  s.push_back({"put d again", Put("d", "d2")});
  s.push_back({"put a again", Put("a", "a3")});
  s.push_back({"del c", Del("c", "")});
  s.push_back({"put c again", Put("c", "c4")});
  s.push_back({"range all", Range(ParseRange(R"(key: "\0" range_end: "\0")"))});
  s.push_back({"range [b,d)", Range(ParseRange(R"(key: "b" range_end: "d")"))});
  s.push_back({"range from b", Range(ParseRange(R"(key: "b" range_end: "\0")"))});
  s.push_back({"empty interval", Range(ParseRange(R"(key: "d" range_end: "b")"))});
  s.push_back({"limit+more", Range(ParseRange(R"(key: "a" range_end: "z" limit: 2)"))});
  s.push_back({"count_only", Range(ParseRange(R"(key: "a" range_end: "z" count_only: true)"))});
  s.push_back({"keys_only", Range(ParseRange(R"(key: "a" range_end: "z" keys_only: true)"))});
  s.push_back({"sort value desc limit",
               Range(ParseRange(
                   R"(key: "a" range_end: "z" sort_order: DESCEND sort_target: VALUE limit: 3)"))});
  s.push_back({"sort none target mod",
               Range(ParseRange(R"(key: "a" range_end: "z" sort_order: NONE sort_target: MOD)"))});
  s.push_back(
      {"sort ascend version",
       Range(ParseRange(R"(key: "a" range_end: "z" sort_order: ASCEND sort_target: VERSION)"))});
  s.push_back(
      {"sort create descend",
       Range(ParseRange(R"(key: "a" range_end: "z" sort_order: DESCEND sort_target: CREATE)"))});
  s.push_back(
      {"min_mod_revision", Range(ParseRange(R"(key: "a" range_end: "z" min_mod_revision: 6)"))});
  s.push_back({"max_mod_revision + limit",
               Range(ParseRange(R"(key: "a" range_end: "z" max_mod_revision: 5 limit: 1)"))});
  s.push_back({"min/max create revision",
               Range(ParseRange(
                   R"(key: "a" range_end: "z" min_create_revision: 2 max_create_revision: 4)"))});
  s.push_back({"at revision 3", Range(ParseRange(R"(key: "a" range_end: "z" revision: 3)"))});
  s.push_back({"at revision 9 (c deleted)", Range(ParseRange(R"(key: "c" revision: 9)"))});
  s.push_back({"serializable", Range(ParseRange(R"(key: "a" serializable: true)"))});
  s.push_back({"future revision", Range(ParseRange(R"(key: "a" revision: 100)"))});
  s.push_back({"empty key", Range(ParseRange(R"(range_end: "z")"))});
  s.push_back({"txn compares all true, nested", Txn(ParseTxn(R"(
      compare { target: VALUE key: "a" result: EQUAL value: "a3" }
      compare { target: VERSION key: "b" result: GREATER version: 1 }
      compare { target: CREATE key: "zzz" result: EQUAL create_revision: 0 }
      compare { target: MOD key: "d" result: LESS mod_revision: 100 }
      compare { target: LEASE key: "e" result: EQUAL lease: 0 }
      success { request_put { key: "n1" value: "x" prev_kv: true } }
      success { request_range { key: "n1" } }
      success { request_txn {
          compare { target: VALUE key: "n1" result: EQUAL value: "x" }
          success { request_put { key: "n2" value: "inner" } }
          success { request_delete_range { key: "e" prev_kv: true } }
          failure { request_put { key: "never" value: "!" } } } }
      success { request_range { key: "a" range_end: "z" keys_only: true } }
      failure { request_put { key: "never" value: "!" } })"))});
  s.push_back({"txn ranged compare fails", Txn(ParseTxn(R"(
      compare { target: VERSION key: "a" range_end: "e" result: EQUAL version: 1 }
      success { request_put { key: "never" value: "!" } }
      failure { request_range { key: "a" range_end: "e" } }
      failure { request_delete_range { key: "n2" } })"))});
  s.push_back({"txn ranged compare not_equal", Txn(ParseTxn(R"(
      compare { target: MOD key: "a" range_end: "c" result: NOT_EQUAL mod_revision: 0 }
      success { request_range { key: "a" range_end: "c" count_only: true } })"))});
  s.push_back({"txn value compare on missing key", Txn(ParseTxn(R"(
      compare { target: VALUE key: "missing" result: NOT_EQUAL value: "x" }
      success { request_put { key: "never" value: "!" } }
      failure { request_range { key: "missing" } })"))});
  s.push_back(
      {"read-only txn keeps revision", Txn(ParseTxn(R"(success { request_range { key: "a" } })"))});
  s.push_back({"empty txn", Txn(TxnRequest())});
  s.push_back({"txn duplicate put", Txn(ParseTxn(R"(
      success { request_put { key: "q" value: "1" } }
      success { request_put { key: "q" value: "2" } })"))});
  s.push_back({"txn put in deleted range", Txn(ParseTxn(R"(
      success { request_delete_range { key: "p" range_end: "r" } }
      success { request_put { key: "q" value: "2" } })"))});
  s.push_back({"txn empty op", Txn(ParseTxn(R"(success { })"))});
  s.push_back({"delete range with prev_kv", Del("a", "c")});
  s.push_back({"delete nothing", Del("zz", "zzz")});
  s.push_back({"compact 4", Compact(4)});
  s.push_back({"read compacted", Range(ParseRange(R"(key: "a" revision: 3)"))});
  s.push_back({"read at compacted", Range(ParseRange(R"(key: "\0" range_end: "\0" revision: 4)"))});
  s.push_back({"compact again 4", Compact(4)});
  s.push_back({"compact future", Compact(1000)});
  s.push_back({"all after compaction", Range(ParseRange(R"(key: "\0" range_end: "\0")"))});
  return s;
}

TEST(GrpcDiff, KvSessionMatchesEtcd) {
  std::string etcd = EtcdPath();
  ASSERT_FALSE(etcd.empty()) << "etcd 3.4 is required (deploy/install-deps.sh --tests)";
  TempDir dir;
  auto start = [&](bool is_etcd) {
    Target t;
    int port = FreeLoopbackPort();
    std::string url = "http://127.0.0.1:" + std::to_string(port);
    std::vector<std::string> argv;
    if (is_etcd) {
      std::string peer = "http://127.0.0.1:" + std::to_string(FreeLoopbackPort());
      argv = {etcd,
              "--name",
              "diff",
              "--data-dir",
              dir.path() + "/etcd",
              "--listen-client-urls",
              url,
              "--advertise-client-urls",
              url,
              "--listen-peer-urls",
              peer,
              "--initial-advertise-peer-urls",
              peer,
              "--initial-cluster",
              "diff=" + peer};
    } else {
      testing::MemberSpec self{"diff", port, FreeLoopbackPort()};
      argv = testing::QuorumdArgs(self, {self}, dir.path() + "/quorumd");
    }
    t.process =
        std::make_unique<ChildProcess>(argv, dir.path() + (is_etcd ? "/etcd.log" : "/quorumd.log"));
    client::KvClient probe("127.0.0.1:" + std::to_string(port));
    EXPECT_TRUE(probe.WaitLeader(std::chrono::seconds(30)).ok()) << t.process->Log();
    t.channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                    grpc::InsecureChannelCredentials());
    t.kv = etcdserverpb::KV::NewStub(t.channel);
    return t;
  };
  Target want = start(true);
  Target got = start(false);
  int differences = 0;
  for (const auto& [name, call] : Session()) {
    Outcome expected = call(want.kv.get());
    Outcome actual = call(got.kv.get());
    if (std::getenv("QUORUM_DIFF_VERBOSE") != nullptr) {
      std::cout << "== " << name << "\n" << expected;
    }
    if (!(expected == actual)) {
      ++differences;
      ADD_FAILURE() << "step \"" << name << "\" differs\n--- etcd:\n"
                    << expected << "--- quorumd:\n"
                    << actual;
    }
  }
  EXPECT_EQ(differences, 0);
}

}  // namespace
}  // namespace quorum
