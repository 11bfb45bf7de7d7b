// quorum-bench: a load generator for any server of the etcd v3 gRPC API (quorumd or etcd).
//   quorum-bench put   --endpoints 127.0.0.1:2379 --conns 8 --clients 128 --total 100000
//   quorum-bench range --consistency s --duration 30s --format json
//   quorum-bench txn   --rate 2000 --duration 1m
//   quorum-bench mixed --read-ratio 0.9
//   quorum-bench lease-churn --endpoints a:2379,b:2379,c:2379 --clients 16 --duration 30s
// Prints throughput, errors by gRPC code and latency percentiles. Exits 0 when any measured
// request succeeded, 1 when none did, 2 on bad flags.
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "client/bench/load_runner.h"
#include "client/bench/report.h"
#include "client/bench/workload.h"

namespace quorum::bench {
namespace {

// Go-style durations ("1.5s", "300ms", "2m") as etcd's tools take them, or plain seconds.
absl::StatusOr<absl::Duration> ParseFlagDuration(const std::string& flag, const std::string& text) {
  absl::Duration duration;
  if (absl::ParseDuration(text, &duration)) return duration;
  double seconds = 0;
  if (absl::SimpleAtod(text, &seconds)) return absl::Seconds(seconds);
  return absl::InvalidArgumentError("--" + flag + ": not a duration: \"" + text + "\"");
}

// Range and mixed read keys that must exist, or they measure the cost of a miss: write every
// key once, in order, before the measured run.
absl::Status Prefill(const LoadSpec& spec) {
  LoadSpec fill = spec;
  fill.workload = Workload::kPut;
  fill.sequential_keys = true;
  fill.total = spec.key_space;
  fill.rate = 0;
  fill.warmup = absl::ZeroDuration();
  fill.clients = std::max(spec.clients, std::min(64, spec.conns * 16));
  absl::StatusOr<RunResult> result = RunLoad(fill);
  if (!result.ok()) return result.status();
  std::cerr << "prefilled " << result->ok << " of " << spec.key_space << " keys in "
            << result->seconds << " s";
  if (result->ErrorCount() > 0) std::cerr << " (" << result->ErrorCount() << " errors)";
  std::cerr << "\n";
  if (result->ok == 0) return absl::UnavailableError("prefill: no put succeeded");
  return absl::OkStatus();
}

int Main(int argc, char** argv) {
  CLI::App app{"quorum-bench: load generator for etcd v3 API servers (quorumd, etcd)",
               "quorum-bench"};
  app.require_subcommand(1, 1);
  // Common flags may come before or after the workload's name.
  app.fallthrough();

  LoadSpec spec;
  std::string endpoints = "127.0.0.1:2379";
  std::string duration = "10s", warmup = "0s", timeout = "5s", format = "table";
  std::string consistency = "l";
  bool prefill = false, no_prefill = false;

  app.add_option("--endpoints", endpoints,
                 "Comma-separated host:port (or http:// or https://host:port)")
      ->capture_default_str();
  app.add_option("--cacert", spec.tls.ca_file,
                 "verify certificates of TLS-enabled secure servers using this CA bundle");
  app.add_option("--cert", spec.tls.cert_file,
                 "identify secure client using this TLS certificate file");
  app.add_option("--key", spec.tls.key_file, "identify secure client using this TLS key file");
  app.add_flag("--insecure-transport", spec.tls.insecure_transport,
               "disable transport security for client connections");
  app.add_flag("--insecure-skip-tls-verify", spec.tls.insecure_skip_verify,
               "skip server certificate verification");
  app.add_option("--conns", spec.conns, "gRPC connections, spread over the endpoints")
      ->capture_default_str();
  app.add_option("--clients", spec.clients, "Requests outstanding at once")->capture_default_str();
  app.add_option("--val-size", spec.val_size, "Value size in bytes")->capture_default_str();
  app.add_option("--key-size", spec.key_size, "Key size in bytes")->capture_default_str();
  app.add_option("--key-space", spec.key_space, "Number of distinct keys")->capture_default_str();
  app.add_flag("--sequential-keys", spec.sequential_keys,
               "Walk the key space in order instead of picking keys uniformly at random");
  app.add_option("--total", spec.total, "Measured requests to send (overrides --duration)");
  app.add_option("--duration", duration, "Measured time to run, e.g. 30s, 2m")
      ->capture_default_str();
  app.add_option("--rate", spec.rate, "Cap in requests/s over all clients; 0: no cap")
      ->capture_default_str();
  app.add_option("--warmup", warmup, "Time to run before measuring")->capture_default_str();
  app.add_option("--timeout", timeout, "Deadline of each request")->capture_default_str();
  app.add_option("--format", format, "Output: table, json or csv")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->capture_default_str();
  app.add_flag("--prefill", prefill, "Write every key of the key space before measuring");
  app.add_flag("--no-prefill", no_prefill, "Skip the prefill that range and mixed do");

  CLI::App* put = app.add_subcommand("put", "Put one key per request");
  CLI::App* range = app.add_subcommand("range", "Range (get) one key per request");
  CLI::App* txn =
      app.add_subcommand("txn", "Txn per request: compare the key's mod revision, then put it");
  CLI::App* mixed = app.add_subcommand("mixed", "Range or put per request, by --read-ratio");
  CLI::App* lease_churn = app.add_subcommand(
      "lease-churn",
      "Per operation: grant a lease through one member, keep it alive once through the next, "
      "revoke it through the first");
  lease_churn->add_option("--ttl", spec.lease_ttl, "TTL of each lease in seconds")
      ->capture_default_str();
  for (CLI::App* reader : {range, mixed}) {
    reader
        ->add_option("--consistency", consistency,
                     "l: linearizable, s: serializable (may be stale)")
        ->check(CLI::IsMember({"l", "s"}))
        ->capture_default_str();
  }
  mixed->add_option("--read-ratio", spec.read_ratio, "Fraction of requests that read")
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (put->parsed()) spec.workload = Workload::kPut;
  if (range->parsed()) spec.workload = Workload::kRange;
  if (txn->parsed()) spec.workload = Workload::kTxn;
  if (mixed->parsed()) spec.workload = Workload::kMixed;
  if (lease_churn->parsed()) spec.workload = Workload::kLeaseChurn;
  spec.serializable = consistency == "s";
  spec.endpoints = absl::StrSplit(endpoints, ',', absl::SkipWhitespace());
  if (absl::Status s = client::LoadTlsFiles(spec.tls); !s.ok()) {
    std::cerr << s.message() << "\n";
    return 2;
  }
  for (auto [flag, text, target] : {std::tuple{"duration", &duration, &spec.duration},
                                    std::tuple{"warmup", &warmup, &spec.warmup},
                                    std::tuple{"timeout", &timeout, &spec.timeout}}) {
    absl::StatusOr<absl::Duration> parsed = ParseFlagDuration(flag, *text);
    if (!parsed.ok()) {
      std::cerr << parsed.status().message() << "\n";
      return 2;
    }
    *target = *parsed;
  }
  if (spec.total > 0) spec.duration = absl::ZeroDuration();
  if (absl::Status valid = ValidateSpec(spec); !valid.ok()) {
    std::cerr << valid.message() << "\n";
    return 2;
  }

  const bool reads = spec.workload == Workload::kRange || spec.workload == Workload::kMixed;
  if (prefill || (reads && !no_prefill)) {
    if (absl::Status filled = Prefill(spec); !filled.ok()) {
      std::cerr << filled.message() << "\n";
      return 1;
    }
  }

  absl::StatusOr<RunResult> result = RunLoad(spec);
  if (!result.ok()) {
    std::cerr << result.status().message() << "\n";
    return 2;
  }
  const ReportFormat report_format = format == "json"  ? ReportFormat::kJson
                                     : format == "csv" ? ReportFormat::kCsv
                                                       : ReportFormat::kTable;
  std::cout << FormatReport(spec, *result, report_format) << std::flush;
  return result->ok > 0 ? 0 : 1;
}

}  // namespace
}  // namespace quorum::bench

int main(int argc, char** argv) { return quorum::bench::Main(argc, argv); }
