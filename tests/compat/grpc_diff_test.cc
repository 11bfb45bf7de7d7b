// Differential test at the gRPC level: the same KV requests, including what etcdctl cannot
// express (nested txns, ranged compares, revision filters, sort/limit combinations), go to the
// real etcd 3.4 and to quorumd; responses and errors must be equal once ids and terms are masked.
// A second session does the same for auth tokens, simple and JWT: what a token allows, a token
// made stale by a change to the auth state, and when a token expires (simple tokens live as long
// as they are used, JWT ones until their expiry).
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <thread>
#include <tuple>
#include <type_traits>

#include "client/kv_client.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "tests/compat/count_differences.h"
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

// One named step's outcome.
using Step = std::pair<std::string, Outcome>;

using testing::CountDifferences;

// Starts a one-member etcd (`etcd` is its path) or quorumd with `extra` flags, data and log
// under `dir`, and waits for it to have a leader.
Target StartTarget(const std::string& etcd, const std::string& dir, bool is_etcd,
                   std::vector<std::string> extra = {}) {
  Target t;
  int port = FreeLoopbackPort();
  std::string url = "http://127.0.0.1:" + std::to_string(port);
  std::vector<std::string> argv;
  if (is_etcd) {
    std::string peer = "http://127.0.0.1:" + std::to_string(FreeLoopbackPort());
    argv = {etcd,          "--name",
            "diff",        "--data-dir",
            dir + "/etcd", "--listen-client-urls",
            url,           "--advertise-client-urls",
            url,           "--listen-peer-urls",
            peer,          "--initial-advertise-peer-urls",
            peer,          "--initial-cluster",
            "diff=" + peer};
    argv.insert(argv.end(), extra.begin(), extra.end());
  } else {
    testing::MemberSpec self{"diff", port, FreeLoopbackPort()};
    argv = testing::QuorumdArgs(self, {self}, dir + "/quorumd", extra);
  }
  t.process = std::make_unique<ChildProcess>(argv, dir + (is_etcd ? "/etcd.log" : "/quorumd.log"));
  client::KvClient probe("127.0.0.1:" + std::to_string(port));
  EXPECT_TRUE(probe.WaitLeader(std::chrono::seconds(30)).ok()) << t.process->Log();
  t.channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  t.kv = etcdserverpb::KV::NewStub(t.channel);
  return t;
}

TEST(GrpcDiff, KvSessionMatchesEtcd) {
  std::string etcd = EtcdPath();
  ASSERT_FALSE(etcd.empty()) << "etcd 3.4 is required (deploy/install-deps.sh --tests)";
  TempDir dir;
  auto start = [&](bool is_etcd) { return StartTarget(etcd, dir.path(), is_etcd); };
  Target want = start(true);
  Target got = start(false);
  std::vector<Step> expected;
  std::vector<Step> actual;
  for (const auto& [name, call] : Session()) {
    expected.push_back({name, call(want.kv.get())});
    actual.push_back({name, call(got.kv.get())});
  }
  EXPECT_EQ(CountDifferences(expected, actual), 0);
}

// The token session, run against one server: auth set up by root, a user "u" allowed to write
// under "u/" only, its token used, made stale by a change to the auth state, and left to expire.
// `ttl` is the servers' token lifetime; a simple token lives on while it is used.
std::vector<Step> TokenSession(Target& target, bool simple, std::chrono::seconds ttl) {
  std::vector<Step> steps;
  auto auth = etcdserverpb::Auth::NewStub(target.channel);
  auto call = [&](const std::string& name, const std::string& token, auto stub, auto method,
                  const auto& request, auto response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    if (!token.empty()) context.AddMetadata("token", token);
    grpc::Status status = (stub->*method)(&context, request, &response);
    std::string issued;
    if constexpr (std::is_same_v<decltype(response), etcdserverpb::AuthenticateResponse>) {
      issued = response.token();  // differs from server to server: left out of the comparison
      response.clear_token();
    }
    steps.push_back({name, Capture(status, response)});
    return issued;
  };
  using etcdserverpb::Auth;
  auto login = [&](const std::string& name, const std::string& user, const std::string& password) {
    etcdserverpb::AuthenticateRequest r;
    r.set_name(user);
    r.set_password(password);
    return call(name, "", auth.get(), &Auth::Stub::Authenticate, r,
                etcdserverpb::AuthenticateResponse());
  };
  auto put = [&](const std::string& name, const std::string& token, const std::string& key) {
    etcdserverpb::PutRequest r;
    r.set_key(key);
    r.set_value("v");
    call(name, token, target.kv.get(), &etcdserverpb::KV::Stub::Put, r,
         etcdserverpb::PutResponse());
  };
  auto get = [&](const std::string& name, const std::string& token, const std::string& key) {
    etcdserverpb::RangeRequest r;
    r.set_key(key);
    call(name, token, target.kv.get(), &etcdserverpb::KV::Stub::Range, r,
         etcdserverpb::RangeResponse());
  };
  auto grant = [&](const std::string& name, const std::string& token, const std::string& key,
                   const std::string& end) {
    etcdserverpb::AuthRoleGrantPermissionRequest r;
    r.set_name("writer");
    r.mutable_perm()->set_key(key);
    r.mutable_perm()->set_range_end(end);
    r.mutable_perm()->set_permtype(authpb::Permission::READWRITE);
    call(name, token, auth.get(), &Auth::Stub::RoleGrantPermission, r,
         etcdserverpb::AuthRoleGrantPermissionResponse());
  };

  etcdserverpb::AuthRoleAddRequest role;
  role.set_name("root");
  call("add role root", "", auth.get(), &Auth::Stub::RoleAdd, role,
       etcdserverpb::AuthRoleAddResponse());
  role.set_name("writer");
  call("add role writer", "", auth.get(), &Auth::Stub::RoleAdd, role,
       etcdserverpb::AuthRoleAddResponse());
  grant("grant writer u/", "", "u/", "u0");
  for (const auto& [user, password, with_role] :
       {std::tuple{"root", "rootpw", "root"}, std::tuple{"u", "upw", "writer"}}) {
    etcdserverpb::AuthUserAddRequest add;
    add.set_name(user);
    add.set_password(password);
    call(std::string("add user ") + user, "", auth.get(), &Auth::Stub::UserAdd, add,
         etcdserverpb::AuthUserAddResponse());
    etcdserverpb::AuthUserGrantRoleRequest to;
    to.set_user(user);
    to.set_role(with_role);
    call(std::string("grant role to ") + user, "", auth.get(), &Auth::Stub::UserGrantRole, to,
         etcdserverpb::AuthUserGrantRoleResponse());
  }
  call("enable", "", auth.get(), &Auth::Stub::AuthEnable, etcdserverpb::AuthEnableRequest(),
       etcdserverpb::AuthEnableResponse());

  const std::string root = login("login root", "root", "rootpw");
  std::string u = login("login u", "u", "upw");
  login("login u, wrong password", "u", "nope");
  put("u puts under u/", u, "u/a");
  put("u puts elsewhere", u, "x");
  get("u reads under u/", u, "u/a");
  put("no token", "", "u/a");
  put("made-up token", "not-a-token", "u/a");
  grant("root widens writer", root, "x", "");
  put("u's token after the auth state changed", u, "u/b");
  u = login("login u again", "u", "upw");
  put("u puts x now", u, "x");

  // Expiry. Uses half a lifetime apart: a simple token lives on, a JWT one runs out.
  const auto half = ttl / 2;
  std::this_thread::sleep_for(half);
  put("after half a lifetime", u, "u/c");
  if (simple) {
    std::this_thread::sleep_for(half);
    put("after a lifetime, used in between", u, "u/d");
    std::this_thread::sleep_for(half);
    put("after a lifetime and a half, used in between", u, "u/e");
  }
  // Unused for a lifetime and more (simple tokens are swept once a second).
  std::this_thread::sleep_for(ttl + std::chrono::seconds(2));
  put("after a lifetime unused", u, "u/f");
  get("root's token, unused as long", root, "u/f");
  u = login("login u once more", "u", "upw");
  get("a fresh token", u, "u/a");
  return steps;
}

class TokenDiff : public ::testing::TestWithParam<bool> {};  // true: simple tokens; false: JWT

TEST_P(TokenDiff, TokenSessionMatchesEtcd) {
  const bool simple = GetParam();
  std::string etcd = EtcdPath();
  ASSERT_FALSE(etcd.empty()) << "etcd 3.4 is required (deploy/install-deps.sh --tests)";
  TempDir dir;
  constexpr auto kTtl = std::chrono::seconds(4);
  std::vector<std::string> flags = {"--auth-token", "simple", "--auth-token-ttl",
                                    std::to_string(kTtl.count())};
  if (!simple) {
    const std::string key = dir.path() + "/jwt.key";
    const std::string pub = dir.path() + "/jwt.pub";
    ASSERT_EQ(std::system(("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " +
                           key + " 2>/dev/null && openssl pkey -in " + key + " -pubout -out " +
                           pub + " 2>/dev/null")
                              .c_str()),
              0);
    flags = {"--auth-token", "jwt,pub-key=" + pub + ",priv-key=" + key +
                                 ",sign-method=ES256,ttl=" + std::to_string(kTtl.count()) + "s"};
  }
  std::filesystem::create_directories(dir.path() + "/e");
  std::filesystem::create_directories(dir.path() + "/q");
  Target want = StartTarget(etcd, dir.path() + "/e", true, flags);
  Target got = StartTarget(etcd, dir.path() + "/q", false, flags);
  // Side by side, so that both servers see the same waits.
  std::vector<Step> expected;
  std::thread reference([&] { expected = TokenSession(want, simple, kTtl); });
  std::vector<Step> actual = TokenSession(got, simple, kTtl);
  reference.join();
  EXPECT_EQ(CountDifferences(expected, actual), 0);
}

INSTANTIATE_TEST_SUITE_P(Tokens, TokenDiff, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Simple" : "Jwt";
                         });

}  // namespace
}  // namespace quorum
