// quorumutl: the offline tool for quorum's backup files, as etcdutl is to etcd. It needs no
// running member and no network:
//   quorumutl snapshot restore <file> [--data-dir DIR] [etcdutl's restore flags]
//   quorumutl snapshot status <file> [-w simple|table|json|fields]
//   quorumutl version
// Exit codes are etcdutl's: 0, 1 on any error (a missing or damaged file among them), 128 for
// bad arguments. Errors go to stderr as "Error: ...".
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "client/ctl/table.h"
#include "storage/backup.h"

namespace quorum::utl {
namespace {

constexpr int kExitError = 1;
constexpr int kExitBadArgs = 128;

[[noreturn]] void Fail(int code, const std::string& message) {
  std::cerr << "Error: " << message << "\n";
  std::exit(code);
}

// etcdutl's restore flags. Only --data-dir and --name (for the default dir) shape what is
// written: the new cluster's membership comes from the flags quorumd is first started with on
// the restored dir, so the membership flags are accepted for scripts written against etcdutl.
struct RestoreFlags {
  std::vector<std::string> args;
  std::string data_dir;
  std::string wal_dir;
  std::string name = "default";
  std::string initial_cluster;
  std::string initial_cluster_token = "etcd-cluster";
  std::string initial_advertise_peer_urls = "http://localhost:2380";
  bool skip_hash_check = false;
};

void AddRestore(CLI::App& snapshot) {
  auto flags = std::make_shared<RestoreFlags>();
  auto* restore = snapshot.add_subcommand(
      "restore", "Restores a backup file (from `snapshot save`) to a new data directory");
  restore->add_option("filename", flags->args, "the backup file");
  restore->add_option("--data-dir", flags->data_dir,
                      "path to the new data directory (default: <name>.etcd)");
  restore->add_option("--wal-dir", flags->wal_dir,
                      "accepted for etcdutl's scripts; quorum keeps its log in the data directory");
  restore->add_option("--name", flags->name, "human-readable name for this member")
      ->capture_default_str();
  restore->add_option("--initial-cluster", flags->initial_cluster,
                      "accepted for etcdutl's scripts; give it to quorumd when it first starts");
  restore
      ->add_option("--initial-cluster-token", flags->initial_cluster_token,
                   "accepted for etcdutl's scripts; give it to quorumd when it first starts")
      ->capture_default_str();
  restore
      ->add_option("--initial-advertise-peer-urls", flags->initial_advertise_peer_urls,
                   "accepted for etcdutl's scripts; give it to quorumd when it first starts")
      ->capture_default_str();
  restore->add_flag("--skip-hash-check", flags->skip_hash_check,
                    "do not verify the backup's sha256 (its framing is still checked)");
  restore->callback([flags] {
    if (flags->args.size() != 1)
      Fail(kExitBadArgs, "snapshot restore requires exactly one argument");
    const std::string dir = flags->data_dir.empty() ? flags->name + ".etcd" : flags->data_dir;
    absl::Status s =
        storage::RestoreBackup(flags->args[0], dir, {.skip_hash_check = flags->skip_hash_check});
    if (!s.ok()) Fail(kExitError, std::string(s.message()));
    std::cerr << "restored snapshot " << flags->args[0] << " to " << dir << "\n";
  });
}

void PrintStatus(const storage::BackupStatus& status, const std::string& format) {
  if (format == "json") {
    // etcd's snapshot.Status as Go's encoding/json writes it.
    std::cout << absl::StrFormat(R"({"hash":%u,"revision":%d,"totalKey":%d,"totalSize":%d})",
                                 status.hash, status.revision, status.total_keys, status.total_size)
              << "\n";
    return;
  }
  if (format == "fields") {
    std::cout << "\"Hash\" : " << status.hash << "\n"
              << "\"Revision\" : " << status.revision << "\n"
              << "\"Keys\" : " << status.total_keys << "\n"
              << "\"Size\" : " << status.total_size << "\n";
    return;
  }
  const std::vector<std::string> row = {absl::StrFormat("%x", status.hash),
                                        absl::StrFormat("%d", status.revision),
                                        absl::StrFormat("%d", status.total_keys),
                                        ctl::HumanBytes(static_cast<uint64_t>(status.total_size))};
  if (format == "table") {
    std::cout << ctl::RenderTable({"hash", "revision", "total keys", "total size"}, {row});
    return;
  }
  std::cout << row[0] << ", " << row[1] << ", " << row[2] << ", " << row[3] << "\n";
}

void AddStatus(CLI::App& snapshot, const std::string& write_out) {
  auto args = std::make_shared<std::vector<std::string>>();
  auto* status = snapshot.add_subcommand(
      "status", "Prints the hash, revision, number of keys and size of a backup file");
  status->add_option("filename", *args, "the backup file");
  status->callback([args, &write_out] {
    if (args->size() != 1) Fail(kExitBadArgs, "snapshot status requires exactly one argument");
    if (write_out != "simple" && write_out != "table" && write_out != "json" &&
        write_out != "fields") {
      Fail(kExitBadArgs, "unsupported output format \"" + write_out +
                             "\" for snapshot status (simple, table, json, fields)");
    }
    auto result = storage::ReadBackupStatus((*args)[0]);
    if (!result.ok()) Fail(kExitError, std::string(result.status().message()));
    PrintStatus(*result, write_out);
  });
}

}  // namespace
}  // namespace quorum::utl

int main(int argc, char** argv) {
  CLI::App app{"An offline tool for quorum's data directories and backup files."};
  app.name("quorumutl");
  // -w may follow the command, as with etcdutl.
  app.fallthrough();
  app.require_subcommand(1);
  std::string write_out = "simple";
  app.add_option("-w,--write-out", write_out, "set the output format (simple, table, json, fields)")
      ->capture_default_str();

  auto* snapshot = app.add_subcommand("snapshot", "Manages quorum backup files");
  snapshot->require_subcommand(1);
  quorum::utl::AddRestore(*snapshot);
  quorum::utl::AddStatus(*snapshot, write_out);

  auto* version = app.add_subcommand("version", "Prints the version of quorumutl");
  version->callback(
      [] { std::cout << "quorumutl version: " << QUORUM_VERSION << "\nAPI version: 3.4\n"; });
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "Error: " << e.what() << "\n";
    return quorum::utl::kExitBadArgs;
  }
  return 0;
}
