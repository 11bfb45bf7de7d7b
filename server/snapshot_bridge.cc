#include "server/snapshot_bridge.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "storage/state_snapshot.h"

namespace quorum::server {
namespace {

class StateReader final : public SnapshotReader {
 public:
  explicit StateReader(std::unique_ptr<storage::StateSnapshotReader> reader)
      : reader_(std::move(reader)) {}
  absl::StatusOr<bool> Next(internalpb::SnapshotChunk* chunk, size_t max_bytes) override {
    return reader_->Next(chunk, max_bytes);
  }

 private:
  std::unique_ptr<storage::StateSnapshotReader> reader_;
};

}  // namespace

absl::StatusOr<std::pair<raftpb::Message, std::unique_ptr<SnapshotReader>>> OpenOutgoingSnapshot(
    storage::Backend* backend, const raftpb::Message& message) {
  auto reader = storage::StateSnapshotReader::Open(backend);
  if (!reader.ok()) return reader.status();
  raftpb::Message out = message;
  auto* metadata = out.mutable_snapshot()->mutable_metadata();
  metadata->set_index((*reader)->applied_index());
  metadata->set_term((*reader)->applied_term());
  *metadata->mutable_conf_state() = (*reader)->conf_state();
  out.mutable_snapshot()->clear_data();
  return std::make_pair(std::move(out),
                        std::unique_ptr<SnapshotReader>(new StateReader(*std::move(reader))));
}

absl::Status InstallStagedSnapshot(storage::Backend* backend, const raftpb::Snapshot& snapshot) {
  const std::string& path = snapshot.data();
  auto staged = StagedSnapshot::Open(path);
  if (!staged.ok()) return staged.status();
  storage::StateInstaller installer(backend);
  if (auto s = installer.Begin(snapshot); !s.ok()) return s;
  internalpb::SnapshotChunk chunk;
  while (true) {
    chunk.Clear();
    auto more = (*staged)->Next(&chunk);
    if (!more.ok()) return more.status();
    if (!*more) break;
    if (auto s = installer.Add(chunk); !s.ok()) return s;
  }
  if (auto s = installer.Finish(snapshot.metadata()); !s.ok()) return s;
  std::error_code ec;
  std::filesystem::remove(path, ec);
  return absl::OkStatus();
}

}  // namespace quorum::server
