// quorumd: one member of a quorum cluster. Parses etcd-style flags, opens the data dir, serves
// the etcd v3 gRPC API and the HTTP face (/version, /health, the JSON gateway) on
// --listen-client-urls, and shuts down cleanly on SIGINT/SIGTERM.
#include <grpcpp/grpcpp.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "raft/crash_point.h"
#include "raft/fatal.h"
#include "server/auto_compactor.h"
#include "server/config.h"
#include "server/corruption_check.h"
#include "server/http/client_port.h"
#include "server/http/dashboard.h"
#include "server/http/gateway.h"
#include "server/http/http_face.h"
#include "server/http/member_routes.h"
#include "server/http/tls_context.h"
#include "server/jwt_tokens.h"
#include "server/logging.h"
#include "server/member.h"
#include "server/service_notify.h"
#include "server/services.h"
#include "spdlog/spdlog.h"

namespace {

// gRPC frames and headers around the largest request etcd accepts (etcd's allowance).
constexpr int kGrpcOverheadBytes = 512 * 1024;

// --- TLS setup ---
// Resolves auto-TLS (certificates kept under <data-dir>/fixtures/{client,peer}, as etcd keeps
// them), builds the peer credentials into `config`, and returns the credentials of https://
// client listeners (null when there is none).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> PrepareTls(
    quorum::server::Config& config) {
  using quorum::server::Url;
  namespace fs = std::filesystem;
  // gRPC reads its cipher list once, from the environment, before its first TLS handshake.
  if (!config.cipher_list.empty()) setenv("GRPC_SSL_CIPHER_SUITES", config.cipher_list.c_str(), 1);
  auto hosts = [](const std::vector<Url>& urls) {
    std::vector<std::string> out;
    for (const Url& url : urls) out.push_back(url.host);
    return out;
  };
  fs::path fixtures = fs::path(config.data_dir) / "fixtures";
  if (absl::Status s = quorum::server::ApplyAutoTls(
          config.client_tls, (fixtures / "client").string(), hosts(config.listen_client_urls));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = quorum::server::ApplyAutoTls(config.peer_tls, (fixtures / "peer").string(),
                                                    hosts(config.listen_peer_urls));
      !s.ok()) {
    return s;
  }
  if (config.peer_tls.HasCertificate()) {
    auto server =
        quorum::server::MakeServerCredentials(config.peer_tls, (fixtures / "crl-peer").string());
    if (!server.ok()) return server.status();
    auto channel = quorum::server::MakePeerChannelCredentials(config.peer_tls);
    if (!channel.ok()) return channel.status();
    config.peer_security = {*server, *channel};
  }
  std::shared_ptr<grpc::ServerCredentials> client_credentials;
  if (config.client_tls.HasCertificate()) {
    auto server = quorum::server::MakeServerCredentials(config.client_tls,
                                                        (fixtures / "crl-client").string());
    if (!server.ok()) return server.status();
    client_credentials = *server;
  }
  return client_credentials;
}
// --- end TLS setup ---

int Run(int argc, char** argv) {
  // The lock-order graph absl keeps for deadlock detection costs a few percent of CPU on every
  // lock; the tests (Debug, sanitizers) keep it.
#ifdef NDEBUG
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
  auto config = quorum::server::ParseConfig(argc, argv);
  if (!config.ok()) {
    if (config.status().code() == absl::StatusCode::kCancelled) {
      if (config.status().message() == "version") {
        std::printf("quorumd Version: %s\netcd API Version: %s\n", quorum::server::kQuorumVersion,
                    quorum::server::kEtcdApiVersion);
      } else {
        std::printf("%s", std::string(config.status().message()).c_str());
      }
      return 0;
    }
    std::fprintf(stderr, "quorumd: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  if (absl::Status s =
          quorum::server::SetUpLogging(config->logger, config->log_outputs, config->log_level);
      !s.ok()) {
    std::fprintf(stderr, "quorumd: %s\n", std::string(s.message()).c_str());
    return 2;
  }

  if (absl::Status s = quorum::ValidateArmedCrashPoint(); !s.ok()) {
    std::fprintf(stderr, "quorumd: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  // A fatal stop writes to stderr itself; flush what the log holds before it.
  quorum::SetFatalObserver([](std::string_view) { spdlog::default_logger()->flush(); });

  // Before any thread starts: TLS setup may set gRPC's cipher list in the environment.
  auto client_credentials = PrepareTls(*config);
  if (!client_credentials.ok()) {
    std::fprintf(stderr, "quorumd: %s\n",
                 std::string(client_credentials.status().message()).c_str());
    return 1;
  }

  if (absl::StartsWith(config->auth_token, "jwt,")) {
    auto jwt = quorum::server::JwtTokens::Make(config->auth_token.substr(4));
    if (!jwt.ok()) {
      std::fprintf(stderr, "quorumd: %s\n", std::string(jwt.status().message()).c_str());
      return 2;
    }
    config->jwt = *std::move(jwt);
  }

  // Block the stop signals before any thread starts so that only sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // quorumd stops on SIGINT/SIGTERM, or once its member learns it was removed from the cluster
  // (etcd behaviour): whichever comes first.
  absl::Mutex stop_mu;
  std::string stop_reason;
  auto request_stop = [&](std::string reason) {
    absl::MutexLock lock(&stop_mu);
    if (stop_reason.empty()) stop_reason = std::move(reason);
  };
  std::thread signal_waiter([&] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    request_stop(absl::StrCat("received signal ", signal_number));
  });
  // Ends the signal waiter whatever stopped us: a signal it has not taken yet is taken now.
  auto join_signal_waiter = [&] {
    pthread_kill(signal_waiter.native_handle(), SIGTERM);
    signal_waiter.join();
  };

  auto member =
      quorum::server::Member::Start(*config, [&] { request_stop("removed from the cluster"); });
  if (!member.ok()) {
    std::fprintf(stderr, "quorumd: %s\n", std::string(member.status().message()).c_str());
    join_signal_waiter();
    return 1;
  }

  // etcd checks its data against the peers' before serving anyone.
  if (config->initial_corrupt_check) {
    if (absl::Status s = quorum::server::CheckInitialHash(member->get(), config->peer_security);
        !s.ok()) {
      std::fprintf(stderr, "quorumd: %s\n", std::string(s.message()).c_str());
      member->reset();
      join_signal_waiter();
      return 1;
    }
  }

  // The client URLs' sockets are ours: each connection goes to gRPC or to the HTTP face.
  auto port = quorum::server::http::ClientPort::Listen(config->listen_client_urls);
  if (!port.ok()) {
    std::fprintf(stderr, "quorumd: %s\n", std::string(port.status().message()).c_str());
    join_signal_waiter();
    return 1;
  }
  // --listen-metrics-urls: HTTP/1.1 only, /metrics and /health.
  std::unique_ptr<quorum::server::http::ClientPort> metrics_port;
  if (!config->listen_metrics_urls.empty()) {
    auto listened = quorum::server::http::ClientPort::Listen(config->listen_metrics_urls);
    if (!listened.ok()) {
      std::fprintf(stderr, "quorumd: %s\n", std::string(listened.status().message()).c_str());
      join_signal_waiter();
      return 1;
    }
    metrics_port = *std::move(listened);
  }
  quorum::server::http::SslCtx http_tls;
  if ((*port)->HasTls() || (metrics_port && metrics_port->HasTls())) {
    auto context =
        quorum::server::http::MakeHttpTlsContext(config->client_tls, config->cipher_list);
    if (!context.ok()) {
      std::fprintf(stderr, "quorumd: %s\n", std::string(context.status().message()).c_str());
      join_signal_waiter();
      return 1;
    }
    http_tls = *std::move(context);
  }

  quorum::server::ApiServices services(member->get());
  grpc::ServerBuilder builder;
  // gRPC listens only where TLS connections are relayed to; plain ones are handed over.
  int tls_bound = 0;
  if ((*port)->HasTls()) {
    builder.AddListeningPort((*port)->TlsGrpcAddress(), *client_credentials, &tls_bound);
  }
  builder.SetMaxReceiveMessageSize(static_cast<int>(config->max_request_bytes) +
                                   kGrpcOverheadBytes);
  builder.SetMaxSendMessageSize(INT32_MAX);
  services.RegisterWith(&builder);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || ((*port)->HasTls() && tls_bound == 0)) {
    std::fprintf(stderr, "quorumd: cannot start the gRPC server%s\n",
                 (*port)->HasTls() ? " for https:// client URLs" : "");
    if (server) server->Shutdown();
    join_signal_waiter();
    return 1;
  }
  // Only the leader's compactor compacts; every member runs one, ready to lead.
  std::unique_ptr<quorum::server::AutoCompactor> compactor =
      quorum::server::StartAutoCompactor(*config, member->get());

  std::unique_ptr<quorum::server::CorruptionMonitor> corruption_monitor;
  if (config->corrupt_check_interval > absl::ZeroDuration()) {
    corruption_monitor = std::make_unique<quorum::server::CorruptionMonitor>(
        member->get(), config->peer_security, config->corrupt_check_interval);
    corruption_monitor->Start();
  }

  // The JSON gateway calls the gRPC server in process; it lives as long as the face.
  quorum::server::http::Gateway gateway(server.get());
  quorum::server::http::HttpFace face;
  quorum::server::http::AddMemberRoutes(face, member->get(),
                                        [m = member->get()] { return m->metrics().Render(); });
  gateway.AddRoutes(face);
  quorum::server::http::AddDashboardRoutes(face, member->get(), &(*member)->leader_history());
  (*port)->Start(server.get(), http_tls.get(),
                 [&face](int fd, SSL* ssl) { face.ServeConnection(fd, ssl); });
  quorum::server::http::HttpFace metrics_face;
  if (metrics_port) {
    quorum::server::http::AddMetricsRoutes(metrics_face, member->get(),
                                           [m = member->get()] { return m->metrics().Render(); });
    metrics_port->Start(/*grpc=*/nullptr, http_tls.get(), [&metrics_face](int fd, SSL* ssl) {
      metrics_face.ServeConnection(fd, ssl);
    });
    for (const auto& url : config->listen_metrics_urls) {
      spdlog::info("serving /metrics and /health on {}", url.original);
    }
  }
  for (const auto& url : config->listen_client_urls) {
    spdlog::info("serving client requests on {}", url.original);
  }
  spdlog::info("ready to serve client requests");
  quorum::server::NotifyServiceManager("READY=1");

  {
    absl::MutexLock lock(&stop_mu);
    stop_mu.Await(absl::Condition(
        +[](std::string* reason) { return !reason->empty(); }, &stop_reason));
    spdlog::info("{}, shutting down", stop_reason);
  }
  quorum::server::NotifyServiceManager("STOPPING=1");
  if (compactor) compactor->Stop();
  if (corruption_monitor) corruption_monitor->Stop();
  if (metrics_port) metrics_port->Stop();
  (*port)->Stop();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server->Wait();
  join_signal_waiter();
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(argc, argv); }
