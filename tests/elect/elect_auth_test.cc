// quorum-elect and the C++ client against a 3-member cluster with client and peer mutual TLS and
// auth enabled, where user "elector" may read and write only "jobs/", the prefix of election
// "jobs". The client certificate's CN names no user, so a call that came without the user's
// token would be refused: every success below shows the token went along. Timings: lease 6 s,
// renew deadline 4 s, retry 1 s.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <iostream>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "client/watcher.h"
#include "tests/elect/elect_harness.h"

namespace quorum {
namespace {

using namespace std::chrono_literals;
using testing::ElectInstance;
using testing::ElectTimings;
using testing::ExpectRidesOutLeaderKill;
using testing::ExpectTakeoverAfterKill;
using testing::HasLine;
using testing::kLeaseDuration;
using testing::kRenewDeadline;
using testing::LastRenewalSent;
using testing::Seconds;
using testing::ServerCluster;
using testing::StateLine;
using testing::Takeover;
using testing::TempDir;
using testing::TestCertificates;
using testing::WaitUntil;

constexpr char kRootPassword[] = "root-pw";
constexpr char kElectorPassword[] = "elector-pw";
constexpr char kOtherPassword[] = "other-pw";
// The client certificate of the elector and the C++ client, and the cluster's own one.
constexpr char kClientCert[] = "elect-client";
constexpr char kHarnessCert[] = "harness";

bool HasLineContaining(const std::vector<StateLine>& lines, const std::string& text) {
  for (const auto& line : lines) {
    if (absl::StrContains(line.text, text)) return true;
  }
  return false;
}

class ElectAuth : public ::testing::Test {
 protected:
  ElectAuth() : certs_({"m1", "m2", "m3"}) {
    certs_.AddClient(kHarnessCert);
    certs_.AddClient(kClientCert);
  }

  void SetUp() override {
    cluster_ = std::make_unique<ServerCluster>(3, certs_, kHarnessCert);
    cluster_->StartAll();
    leader_ = cluster_->WaitForLeader();
    ASSERT_TRUE(leader_.has_value());
  }

  // Every member's https:// endpoint, starting with member `first`.
  std::vector<std::string> Endpoints(int first = 0) const {
    std::vector<std::string> out;
    for (const auto& e : absl::StrSplit(cluster_->Endpoints(first), ',')) {
      out.push_back(absl::StrCat("https://", e));
    }
    return out;
  }

  client::ClientOptions Options(const std::string& user, const std::string& password,
                                const std::string& cert = kClientCert) const {
    client::ClientOptions options;
    options.endpoints = Endpoints();
    options.tls = certs_.ClientTls(cert);
    options.user = user;
    options.password = password;
    options.request_timeout = 5s;
    return options;
  }

  // Users and roles: root; "elector" with readwrite on ["jobs/", "jobs0"), what etcdctl's
  // `role grant-permission elector-role --prefix readwrite jobs/` stores; "other" with readwrite
  // on "other/" only.
  void AddUsers() {
    client::Client admin(Options("", ""));
    ASSERT_TRUE(admin.RoleAdd("root").ok());
    ASSERT_TRUE(admin.UserAdd("root", kRootPassword, false).ok());
    ASSERT_TRUE(admin.UserGrantRole("root", "root").ok());
    for (auto [user, password, prefix] : {std::tuple{"elector", kElectorPassword, "jobs/"},
                                          std::tuple{"other", kOtherPassword, "other/"}}) {
      std::string role = std::string(user) + "-role";
      ASSERT_TRUE(admin.RoleAdd(role).ok());
      authpb::Permission perm;
      perm.set_permtype(authpb::Permission::READWRITE);
      perm.set_key(prefix);
      perm.set_range_end(client::PrefixRangeEnd(prefix));
      ASSERT_EQ(perm.range_end(), std::string(prefix).substr(0, strlen(prefix) - 1) + "0");
      ASSERT_TRUE(admin.RoleGrantPermission(role, perm).ok());
      ASSERT_TRUE(admin.UserAdd(user, password, false).ok());
      ASSERT_TRUE(admin.UserGrantRole(user, role).ok());
    }
  }

  void EnableAuth() {
    client::Client admin(Options("", ""));
    auto enabled = admin.AuthEnable();
    ASSERT_TRUE(enabled.ok()) << enabled.status();
  }

  // quorum-elect's TLS flags and `--user <user_flag>` (none if empty).
  std::vector<std::string> ElectFlags(const std::string& user_flag) const {
    std::vector<std::string> flags = certs_.ClientFlags(kClientCert);
    if (!user_flag.empty()) {
      flags.push_back("--user");
      flags.push_back(user_flag);
    }
    return flags;
  }

  std::string ElectorUser() const { return absl::StrCat("elector:", kElectorPassword); }

  TestCertificates certs_;
  std::unique_ptr<ServerCluster> cluster_;
  std::optional<int> leader_;
  TempDir logs_;
};

TEST_F(ElectAuth, StandbyTakesOverAfterKill9AndActiveRidesOutClusterLeaderKill) {
  AddUsers();
  EnableAuth();
  // The active instance talks to the cluster leader first, so the leader's death makes it fail
  // over to another endpoint (and log in there with the same token).
  ElectInstance a("a", "jobs", cluster_->Endpoints(*leader_), logs_.path(), {}, ElectTimings(),
                  ElectFlags(ElectorUser()));
  ASSERT_TRUE(a.WaitFor("active", 15s)) << a.Log();
  ElectInstance b("b", "jobs", cluster_->Endpoints((*leader_ + 1) % 3), logs_.path(), {},
                  ElectTimings(), ElectFlags(ElectorUser()));
  ASSERT_TRUE(b.WaitFor("standby", 15s)) << b.Log();

  // kill -9 the cluster leader while a is active: a keeps renewing and stays active.
  ExpectRidesOutLeaderKill(*cluster_, *leader_, a, b);

  // kill -9 the active instance: the standby takes over once the lease has expired.
  ASSERT_TRUE(ExpectTakeoverAfterKill(a, b).has_value());
  EXPECT_FALSE(HasLine(b.Lines(), "refused")) << b.Log();

  // The election's keys are where the user may write them, as observers read them.
  client::Client elector(Options("elector", kElectorPassword));
  etcdserverpb::RangeRequest keys;
  keys.set_key("jobs/");
  keys.set_range_end(client::PrefixRangeEnd("jobs/"));
  auto listed = elector.Range(keys);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->kvs_size(), 1);
  EXPECT_EQ(listed->kvs(0).value(), "b");
}

TEST_F(ElectAuth, ClientUserReachesOnlyItsPrefix) {
  AddUsers();
  EnableAuth();
  client::Client elector(Options("elector", kElectorPassword));
  ASSERT_TRUE(elector.Login().ok());

  std::atomic<int> events{0};
  client::WatchOptions watch;
  watch.key = "jobs/";
  watch.range_end = client::PrefixRangeEnd("jobs/");
  auto watcher = elector.Watch(watch, [&](const etcdserverpb::WatchResponse& response) {
    events += response.events_size();
  });
  ASSERT_TRUE(watcher->WaitCreated(5s));
  auto put = elector.Put("jobs/config", "v1");
  ASSERT_TRUE(put.ok()) << put.status();
  auto got = elector.Get("jobs/config");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->kvs_size(), 1);
  EXPECT_EQ(got->kvs(0).value(), "v1");
  EXPECT_TRUE(WaitUntil([&] { return events.load() == 1; }, 5s));

  // Outside the prefix: refused, reads and writes alike ("jobs0" is the range's end, excluded).
  for (const char* key : {"other/x", "jobs", "jobs0", "a"}) {
    auto denied_put = elector.Put(key, "x");
    ASSERT_FALSE(denied_put.ok()) << key;
    EXPECT_EQ(denied_put.status().code(), absl::StatusCode::kPermissionDenied) << key;
    EXPECT_EQ(denied_put.status().message(), "etcdserver: permission denied") << key;
    auto denied_get = elector.Get(key);
    ASSERT_FALSE(denied_get.ok()) << key;
    EXPECT_EQ(denied_get.status().message(), "etcdserver: permission denied") << key;
  }
  // A watch outside the prefix is cancelled by the server.
  client::WatchOptions outside;
  outside.key = "other/";
  outside.range_end = client::PrefixRangeEnd("other/");
  auto refused_watch = elector.Watch(outside, [](const etcdserverpb::WatchResponse&) {});
  absl::Status watch_end = refused_watch->WaitEnded(5s);
  EXPECT_EQ(watch_end.code(), absl::StatusCode::kCancelled) << watch_end;
  EXPECT_TRUE(absl::StrContains(watch_end.message(), "etcdserver: permission denied")) << watch_end;

  // A wrong password: etcd's error, at login and on a call.
  client::Client wrong(Options("elector", "not-the-password"));
  // A fresh client's first TLS connection may not be up in time on a slow (sanitizer) build:
  // that UNAVAILABLE is not the answer under test, so it is asked again, bounded.
  absl::Status login;
  ASSERT_TRUE(WaitUntil(
      [&] {
        login = wrong.Login();
        return login.code() != absl::StatusCode::kUnavailable;
      },
      20s))
      << login;
  EXPECT_EQ(login.code(), absl::StatusCode::kInvalidArgument) << login;
  EXPECT_EQ(login.message(), "etcdserver: authentication failed, invalid user ID or password");
  auto wrong_get = wrong.Get("jobs/config");
  ASSERT_FALSE(wrong_get.ok());
  EXPECT_EQ(wrong_get.status().message(),
            "etcdserver: authentication failed, invalid user ID or password");

  // No client certificate: the members refuse the connection itself.
  client::ClientOptions no_cert = Options("elector", kElectorPassword, "");
  no_cert.request_timeout = 3s;
  client::Client anonymous(no_cert);
  auto refused = anonymous.Get("jobs/config");
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.status().code() == absl::StatusCode::kUnavailable ||
              refused.status().code() == absl::StatusCode::kDeadlineExceeded)
      << refused.status();
  EXPECT_EQ(events.load(), 1);
}

TEST_F(ElectAuth, ClientThatFoundAuthOffLogsInOnceItIsEnabled) {
  AddUsers();
  client::Client elector(Options("elector", kElectorPassword));
  // Auth off: the login finds it off and the calls go without a token.
  ASSERT_TRUE(elector.Put("jobs/early", "1").ok());
  EnableAuth();
  // Now a call without a token runs as the certificate's CN, which is no user: refused, then
  // made again after a login as "elector".
  auto got = elector.Get("jobs/early");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->kvs_size(), 1);
  EXPECT_TRUE(elector.Put("jobs/late", "2").ok());
  EXPECT_EQ(elector.Put("elsewhere", "3").status().message(), "etcdserver: permission denied");
}

TEST_F(ElectAuth, UsersWithoutTheElectionsKeysAreRefusedAndExit) {
  AddUsers();
  EnableAuth();
  // "other" may not touch jobs/; "elector" with a wrong password; no user at all (the
  // certificate's CN names no user).
  ElectInstance other("other", "jobs", cluster_->Endpoints(), logs_.path(), {"/bin/sleep", "600"},
                      ElectTimings(), ElectFlags(absl::StrCat("other:", kOtherPassword)));
  ElectInstance wrong("wrong", "jobs", cluster_->Endpoints(1), logs_.path(), {}, ElectTimings(),
                      ElectFlags("elector:not-the-password"));
  ElectInstance nobody("nobody", "jobs", cluster_->Endpoints(2), logs_.path(), {}, ElectTimings(),
                       ElectFlags(""));
  for (ElectInstance* instance : {&other, &wrong, &nobody}) {
    auto code = instance->process().WaitExit(20s);
    ASSERT_TRUE(code.has_value()) << instance->Log();
    EXPECT_EQ(*code, 3) << instance->Log();
    EXPECT_FALSE(HasLine(instance->Lines(), "active")) << instance->Log();
  }
  auto refusal = [](const ElectInstance& instance) {
    for (const auto& line : instance.Lines()) {
      if (line.StartsWith("refused: ")) return line.text;
    }
    return std::string();
  };
  std::string other_refusal = refusal(other);
  EXPECT_TRUE(absl::StrContains(other_refusal, "etcdserver: permission denied")) << other.Log();
  EXPECT_TRUE(absl::StrContains(other_refusal,
                                "user other needs read and write permission on the "
                                "prefix jobs/"))
      << other.Log();
  EXPECT_TRUE(absl::StrContains(refusal(wrong), "authentication failed")) << wrong.Log();
  EXPECT_TRUE(absl::StrContains(refusal(wrong), "check --user and --password")) << wrong.Log();
  EXPECT_TRUE(absl::StrContains(refusal(nobody), "etcdserver: permission denied")) << nobody.Log();
  EXPECT_TRUE(absl::StrContains(refusal(nobody), "give --user")) << nobody.Log();
  std::cout << other_refusal << "\n";
}

TEST_F(ElectAuth, ActiveLogsInAgainWhenTheClusterForgetsItsToken) {
  AddUsers();
  EnableAuth();
  ElectInstance a("a", "jobs", cluster_->Endpoints(), logs_.path(), {}, ElectTimings(),
                  ElectFlags(ElectorUser()));
  auto active = a.WaitFor("active", 15s);
  ASSERT_TRUE(active.has_value()) << a.Log();
  // Steady state first (a renewal sent well after the login): etcd commits its applied index
  // every 100 ms, and a member killed before that applies the login again at restart, token
  // included.
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::optional<absl::Time> sent = LastRenewalSent(a.Lines());
        return sent.has_value() && *sent > active->first.time + absl::Milliseconds(500);
      },
      5s))
      << a.Log();
  // Tokens live in the members' memory: after every member restarts, none is known.
  for (int i = 0; i < cluster_->size(); ++i) cluster_->Kill(i);
  cluster_->RestartAll();
  ASSERT_TRUE(cluster_->WaitForLeader().has_value());
  ASSERT_TRUE(WaitUntil([&] { return HasLineContaining(a.Lines(), "(logging in again)"); }, 20s))
      << a.Log();
  // Whether it rode out the restart or stepped down and won again, it acts and renews.
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto lines = a.Lines();
        size_t relogin = 0, last_active = 0, last_renewal = 0;
        for (size_t i = 0; i < lines.size(); ++i) {
          if (absl::StrContains(lines[i].text, "(logging in again)")) relogin = i;
          if (lines[i].StartsWith("active")) last_active = i;
          if (lines[i].StartsWith("stepped down")) last_active = 0;
          if (lines[i].StartsWith("renewed")) last_renewal = i;
        }
        return last_active > 0 && last_renewal > relogin;
      },
      20s))
      << a.Log();
  EXPECT_FALSE(HasLine(a.Lines(), "refused")) << a.Log();
  EXPECT_FALSE(a.process().WaitExit(0ms).has_value()) << a.Log();
  for (const auto& line : a.Lines()) {
    if (absl::StrContains(line.text, "(logging in again)")) std::cout << line.text << "\n";
  }
}

}  // namespace
}  // namespace quorum
