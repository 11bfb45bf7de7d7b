#include "server/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <vector>

namespace quorum::server {
namespace {

absl::StatusOr<Config> Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "quorumd");
  return ParseConfig(static_cast<int>(args.size()), args.data());
}

TEST(Config, DefaultsAreEtcds) {
  auto config = Parse({});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->name, "default");
  EXPECT_EQ(config->data_dir, "default.etcd");
  EXPECT_EQ(config->listen_client_urls[0].original, "http://localhost:2379");
  EXPECT_EQ(config->max_request_bytes, 1572864u);
  EXPECT_EQ(config->max_txn_ops, 128u);
  EXPECT_EQ(config->heartbeat_interval_ms, 100u);
  EXPECT_EQ(config->election_timeout_ms, 1000u);
  EXPECT_EQ(config->EffectiveQuotaBytes(), int64_t{2} << 30);
  ASSERT_EQ(config->initial_cluster.size(), 1u);
  EXPECT_EQ(config->initial_cluster[0].name, "default");
}

TEST(Config, ParsesEtcdFlagNames) {
  auto config = Parse({"--name", "m1", "--data-dir=/tmp/d", "--listen-client-urls",
                       "http://127.0.0.1:3000,http://127.0.0.1:3001", "--initial-cluster",
                       "m1=http://127.0.0.1:4000,m2=http://127.0.0.1:4001", "--max-txn-ops", "10"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->data_dir, "/tmp/d");
  ASSERT_EQ(config->listen_client_urls.size(), 2u);
  EXPECT_EQ(config->listen_client_urls[1].HostPort(), "127.0.0.1:3001");
  EXPECT_EQ(config->initial_cluster.size(), 2u);
  EXPECT_EQ(config->max_txn_ops, 10u);
}

TEST(Config, EnvironmentVariablesSetFlagsAndFlagsWin) {
  setenv("ETCD_NAME", "from-env", 1);
  setenv("ETCD_MAX_TXN_OPS", "5", 1);
  auto config = Parse({"--max-txn-ops", "7", "--initial-cluster", "from-env=http://h:1"});
  unsetenv("ETCD_NAME");
  unsetenv("ETCD_MAX_TXN_OPS");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->name, "from-env");
  EXPECT_EQ(config->max_txn_ops, 7u);
}

TEST(Config, AutoCompactionRetentionReadsAsEtcdReadsIt) {
  auto off = Parse({});
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->auto_compaction_mode, "periodic");
  EXPECT_EQ(off->auto_compaction_period, absl::ZeroDuration());
  auto hours = Parse({"--auto-compaction-retention", "1"});
  ASSERT_TRUE(hours.ok());
  EXPECT_EQ(hours->auto_compaction_period, absl::Hours(1));  // a bare number is hours
  auto minutes = Parse({"--auto-compaction-retention", "30m"});
  ASSERT_TRUE(minutes.ok());
  EXPECT_EQ(minutes->auto_compaction_period, absl::Minutes(30));
  auto revisions =
      Parse({"--auto-compaction-mode", "revision", "--auto-compaction-retention", "1000"});
  ASSERT_TRUE(revisions.ok());
  EXPECT_EQ(revisions->auto_compaction_revisions, 1000);
  EXPECT_EQ(revisions->auto_compaction_period, absl::ZeroDuration());

  auto mode = Parse({"--auto-compaction-mode", "hourly"});
  EXPECT_EQ(mode.status().message(), "unknown auto-compaction-mode \"hourly\"");
  auto duration_as_revisions =
      Parse({"--auto-compaction-mode", "revision", "--auto-compaction-retention", "1h"});
  EXPECT_FALSE(duration_as_revisions.ok());
  EXPECT_NE(duration_as_revisions.status().message().find("number of revisions"),
            absl::string_view::npos);
  auto garbage = Parse({"--auto-compaction-retention", "soon"});
  EXPECT_FALSE(garbage.ok());
  EXPECT_NE(garbage.status().message().find("--auto-compaction-retention \"soon\""),
            absl::string_view::npos);
}

// Writes `yaml` to a fresh file; returns its path.
std::string YamlFile(const std::string& yaml) {
  static int count = 0;
  const std::string path = ::testing::TempDir() + "/quorum-config-" + std::to_string(getpid()) +
                           "-" + std::to_string(++count) + ".yml";
  std::ofstream(path) << yaml;
  return path;
}

TEST(Config, ConfigFileTakesEtcdsKeysAndOverridesEverythingElse) {
  const std::string path = YamlFile(R"(
name: m2
data-dir: /var/lib/quorum/m2
listen-client-urls: https://10.0.0.2:2379,http://127.0.0.1:2379
advertise-client-urls: https://10.0.0.2:2379
listen-peer-urls: https://10.0.0.2:2380
initial-advertise-peer-urls: https://10.0.0.2:2380
initial-cluster: m1=https://10.0.0.1:2380,m2=https://10.0.0.2:2380,m3=https://10.0.0.3:2380
initial-cluster-state: new
initial-cluster-token: prod
heartbeat-interval: 200
election-timeout: 2000
auto-compaction-mode: periodic
auto-compaction-retention: "1h"
experimental-initial-corrupt-check: true
cipher-suites:
  - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
  - TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
wal-dir:
client-transport-security:
  cert-file: /etc/quorum/m2.pem
  key-file: /etc/quorum/m2-key.pem
  trusted-ca-file: /etc/quorum/ca.pem
  client-cert-auth: true
peer-transport-security:
  cert-file: /etc/quorum/m2-peer.pem
  key-file: /etc/quorum/m2-peer-key.pem
  trusted-ca-file: /etc/quorum/ca.pem
  client-cert-auth: true
  crl-file: /etc/quorum/crl.pem
  cert-allowed-cn: quorum-peer
)");
  setenv("ETCD_NAME", "from-env", 1);
  auto config = Parse({"--config-file", path.c_str(), "--name", "from-flag"});
  unsetenv("ETCD_NAME");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->name, "m2");  // neither the flag nor the variable
  EXPECT_EQ(config->data_dir, "/var/lib/quorum/m2");
  ASSERT_EQ(config->listen_client_urls.size(), 2u);
  EXPECT_EQ(config->listen_client_urls[0].scheme, "https");
  EXPECT_EQ(config->initial_cluster.size(), 3u);
  EXPECT_EQ(config->heartbeat_interval_ms, 200);
  EXPECT_EQ(config->election_timeout_ms, 2000);
  EXPECT_EQ(config->auto_compaction_period, absl::Hours(1));
  EXPECT_TRUE(config->initial_corrupt_check);
  EXPECT_FALSE(config->cipher_list.empty());
  EXPECT_EQ(config->client_tls.cert_file, "/etc/quorum/m2.pem");
  EXPECT_TRUE(config->client_tls.client_cert_auth);
  EXPECT_EQ(config->peer_tls.key_file, "/etc/quorum/m2-peer-key.pem");
  EXPECT_TRUE(config->peer_tls.client_cert_auth);
  EXPECT_EQ(config->peer_tls.crl_file, "/etc/quorum/crl.pem");
  EXPECT_EQ(config->peer_tls.allowed_cn, "quorum-peer");
}

TEST(Config, ConfigFileErrorsNameTheFileAndTheKey) {
  auto unknown = Parse({"--config-file", YamlFile("name: m1\nlisten-clients: x\n").c_str()});
  EXPECT_NE(unknown.status().message().find("unknown key \"listen-clients\""),
            absl::string_view::npos)
      << unknown.status();
  auto section =
      Parse({"--config-file", YamlFile("client-transport-security:\n  cert: a.pem\n").c_str()});
  EXPECT_NE(section.status().message().find("unknown key \"client-transport-security.cert\""),
            absl::string_view::npos)
      << section.status();
  auto value = Parse({"--config-file", YamlFile("heartbeat-interval: often\n").c_str()});
  EXPECT_FALSE(value.ok());
  EXPECT_NE(value.status().message().find("--config-file"), absl::string_view::npos)
      << value.status();
  EXPECT_NE(value.status().message().find("heartbeat-interval"), absl::string_view::npos)
      << value.status();
  auto missing = Parse({"--config-file=/nonexistent/quorum.yml"});
  EXPECT_EQ(missing.status().message(), "--config-file /nonexistent/quorum.yml: cannot be read");
  auto not_yaml = Parse({"--config-file", YamlFile("name: [unclosed\n").c_str()});
  EXPECT_NE(not_yaml.status().message().find("not YAML"), absl::string_view::npos)
      << not_yaml.status();
  auto not_map = Parse({"--config-file", YamlFile("- a\n- b\n").c_str()});
  EXPECT_NE(not_map.status().message().find("must hold a map"), absl::string_view::npos);
}

TEST(Config, UnknownFlagIsAnError) {
  auto config = Parse({"--no-such-flag", "1"});
  EXPECT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("no-such-flag"), std::string::npos);
}

TEST(Config, BadUrlNamesTheFlag) {
  auto config = Parse({"--listen-client-urls", "127.0.0.1:2379"});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("--listen-client-urls"), std::string::npos);
}

TEST(Config, ElectionTimeoutMustCoverFiveHeartbeats) {
  auto config = Parse({"--heartbeat-interval", "100", "--election-timeout", "300"});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("5 times"), std::string::npos);
}

TEST(Config, InitialClusterMustListThisMember) {
  auto config = Parse({"--name", "x", "--initial-cluster", "y=http://127.0.0.1:1"});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("\"x\""), std::string::npos);
}

TEST(Config, BadLogLevelIsRejected) { EXPECT_FALSE(Parse({"--log-level", "loud"}).ok()); }

TEST(Config, TlsFlagsUseEtcdNames) {
  auto config =
      Parse({"--listen-client-urls", "https://127.0.0.1:3000,http://127.0.0.1:3001", "--cert-file",
             "c.pem", "--key-file", "k.pem", "--trusted-ca-file", "ca.pem", "--client-cert-auth",
             "--client-crl-file", "crl.pem", "--peer-auto-tls", "--peer-cert-allowed-cn", "peer",
             "--peer-client-cert-auth", "--listen-peer-urls", "https://127.0.0.1:4000"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen_client_urls[0].scheme, "https");
  EXPECT_EQ(config->listen_client_urls[1].scheme, "http");
  EXPECT_EQ(config->client_tls.cert_file, "c.pem");
  EXPECT_EQ(config->client_tls.crl_file, "crl.pem");
  EXPECT_TRUE(config->client_tls.client_cert_auth);
  EXPECT_TRUE(config->peer_tls.auto_tls);
  EXPECT_TRUE(config->peer_tls.client_cert_auth);
  EXPECT_EQ(config->peer_tls.allowed_cn, "peer");
}

TEST(Config, HttpsClientUrlWithoutCertificateIsRejected) {
  auto config = Parse({"--listen-client-urls", "https://127.0.0.1:3000"});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("--cert-file, --key-file"), std::string::npos);
  EXPECT_TRUE(Parse({"--listen-client-urls", "https://127.0.0.1:3000", "--auto-tls"}).ok());
}

TEST(Config, HttpsPeerUrlWithoutCertificateIsRejected) {
  auto config = Parse({"--listen-peer-urls", "https://127.0.0.1:4000"});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("--peer-cert-file"), std::string::npos);
}

TEST(Config, CipherSuitesMapToOpenSslNames) {
  auto config =
      Parse({"--cipher-suites",
             "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->cipher_list, "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305");
  auto bad = Parse({"--cipher-suites", "TLS_FOO"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("\"TLS_FOO\""), std::string::npos);
}

}  // namespace
}  // namespace quorum::server
