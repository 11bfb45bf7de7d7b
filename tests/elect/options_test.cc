// Unit tests of quorum-elect's flag parsing and its Kubernetes-style timing rules.
#include "client/elect/options.h"

#include <gtest/gtest.h>

namespace quorum::elect {
namespace {

absl::StatusOr<Options> Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "quorum-elect");
  return ParseOptions(static_cast<int>(args.size()), args.data());
}

TEST(ElectOptions, DefaultsAreKubernetesLeaderElectionDefaults) {
  auto options = Parse({"svc"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->lease_duration, absl::Seconds(15));
  EXPECT_EQ(options->renew_deadline, absl::Seconds(10));
  EXPECT_EQ(options->retry_period, absl::Seconds(2));
  EXPECT_EQ(options->LeaseTtlSeconds(), 15);
  EXPECT_EQ(options->stop_grace, absl::Milliseconds(2500));
  EXPECT_EQ(options->endpoints, std::vector<std::string>{"127.0.0.1:2379"});
  EXPECT_EQ(options->value, options->id);
  EXPECT_TRUE(options->command.empty());
}

TEST(ElectOptions, CommandAfterDoubleDashIsPassedThroughUntouched) {
  auto options = Parse({"--endpoints", "http://a:1,b:2/", "svc", "--", "serve", "--port", "8"});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->election, "svc");
  EXPECT_EQ(options->endpoints, (std::vector<std::string>{"a:1", "b:2"}));
  EXPECT_EQ(options->command, (std::vector<std::string>{"serve", "--port", "8"}));
}

TEST(ElectOptions, TlsFlagsAreEtcdctls) {
  auto plain = Parse({"svc"});
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_FALSE(plain->tls.Configured());

  auto https = Parse({"--endpoints", "https://a:1", "--insecure-skip-tls-verify", "svc"});
  ASSERT_TRUE(https.ok()) << https.status();
  EXPECT_EQ(https->endpoints, std::vector<std::string>{"a:1"});
  EXPECT_TRUE(https->tls.Configured());
  EXPECT_TRUE(https->tls.insecure_skip_verify);

  auto missing = Parse({"--cacert", "/nonexistent/ca.pem", "svc"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("--cacert"), std::string::npos);
}

TEST(ElectOptions, UserFlagsAreEtcdctls) {
  auto none = Parse({"svc"});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->user, "");

  auto joined = Parse({"--user", "elector:s3cret", "svc"});
  ASSERT_TRUE(joined.ok()) << joined.status();
  EXPECT_EQ(joined->user, "elector");
  EXPECT_EQ(joined->password, "s3cret");

  // The name ends at the first colon; the password may hold more.
  auto colons = Parse({"--user", "elector:a:b", "svc"});
  ASSERT_TRUE(colons.ok()) << colons.status();
  EXPECT_EQ(colons->user, "elector");
  EXPECT_EQ(colons->password, "a:b");

  // With --password, --user is taken whole, colon included (etcdctl 3.4).
  auto separate = Parse({"--user", "team:elector", "--password", "pw", "svc"});
  ASSERT_TRUE(separate.ok()) << separate.status();
  EXPECT_EQ(separate->user, "team:elector");
  EXPECT_EQ(separate->password, "pw");

  // An empty password is a password.
  auto empty = Parse({"--user", "elector:", "svc"});
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->user, "elector");
  EXPECT_EQ(empty->password, "");
}

TEST(ElectOptions, UserWithoutPasswordIsRefusedInsteadOfAsked) {
  auto options = Parse({"--user", "elector", "svc"});
  ASSERT_FALSE(options.ok());
  EXPECT_EQ(options.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(options.status().message().find("--user elector: no password"), std::string::npos)
      << options.status();
  EXPECT_NE(options.status().message().find("--password"), std::string::npos) << options.status();
}

TEST(ElectOptions, LeaseDurationMustExceedRenewDeadline) {
  auto options = Parse({"--lease-duration", "10s", "--renew-deadline", "10s", "svc"});
  ASSERT_FALSE(options.ok());
  EXPECT_NE(options.status().message().find("--lease-duration"), std::string::npos);
}

TEST(ElectOptions, RenewDeadlineMustExceedJitteredRetryPeriod) {
  // 2.4 s is exactly 2 s * 1.2: not enough room for one jittered retry.
  EXPECT_FALSE(Parse({"--renew-deadline", "2.4s", "--lease-duration", "5s", "svc"}).ok());
  EXPECT_TRUE(Parse({"--renew-deadline", "2.5s", "--lease-duration", "5s", "svc"}).ok());
}

TEST(ElectOptions, LeaseDurationIsWholeSeconds) {
  EXPECT_FALSE(Parse({"--lease-duration", "6500ms", "svc"}).ok());
  EXPECT_FALSE(Parse({"--retry-period", "0s", "svc"}).ok());
  EXPECT_FALSE(Parse({"--lease-duration", "soon", "svc"}).ok());
  EXPECT_TRUE(Parse({"--lease-duration", "16", "svc"}).ok());
}

TEST(ElectOptions, ElectionNameIsRequired) { EXPECT_FALSE(Parse({}).ok()); }

}  // namespace
}  // namespace quorum::elect
