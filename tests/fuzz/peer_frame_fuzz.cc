// libFuzzer target: what a member decodes from its peers. The first byte picks one of:
// - a message stream: the rest is a sequence of PeerFrames (each preceded by its length as a
//   varint, as gRPC hands them over one by one); the first must be a hello RaftPeerService
//   accepts, every later batch is delivered without its MSG_SNAPSHOTs, in order;
// - a staged snapshot file (snapshot_staging.cc): the rest is the file as a peer's chunks left
//   it; StagedSnapshot must read it to its end or refuse it (torn frame), never crash, and the
//   chunks it read must stage and read back the same.
#include <fuzzer/FuzzedDataProvider.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/stubs/logging.h"
#include "internalpb/peer.pb.h"
#include "server/peer/peer_service.h"
#include "server/peer/snapshot_staging.h"
#include "server/peer/transport.h"
#include "spdlog/spdlog.h"

namespace {

using quorum::internalpb::PeerFrame;
using quorum::internalpb::SnapshotChunk;
using quorum::raftpb::Message;
using quorum::server::RaftPeerService;

constexpr uint64_t kCluster = 0x1000;
constexpr uint64_t kSelf = 1;

void FuzzStream(const std::string& bytes) {
  static quorum::server::StagingWorker* worker = new quorum::server::StagingWorker();
  static quorum::server::PeerCounters* counters = new quorum::server::PeerCounters();
  std::vector<Message> delivered;
  RaftPeerService::Config config;
  config.cluster_id = kCluster;
  config.self_id = kSelf;
  config.is_removed = [](uint64_t id) { return id == 4; };
  RaftPeerService service(
      config, [&](Message m) { delivered.push_back(std::move(m)); }, worker, counters);

  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  bool accepted = false;
  uint32_t length = 0;
  while (in.ReadVarint32(&length)) {
    std::string payload;
    if (!in.ReadString(&payload, static_cast<int>(length))) return;
    PeerFrame frame;
    if (!frame.ParseFromString(payload)) return;  // gRPC ends the stream
    if (!accepted) {
      const bool ok = frame.has_hello() && service.CheckHello(frame.hello()).ok();
      const bool expected = frame.has_hello() && frame.hello().cluster_id() == kCluster &&
                            frame.hello().to() == kSelf && frame.hello().from() != 4;
      if (ok != expected) std::abort();
      if (!ok) return;
      accepted = true;
      continue;
    }
    if (!frame.has_batch()) continue;
    std::vector<Message> want;
    for (const Message& m : frame.batch().messages()) {
      if (m.type() != quorum::raftpb::MSG_SNAPSHOT) want.push_back(m);
    }
    delivered.clear();
    if (!service.Deliver(frame.mutable_batch())) std::abort();
    if (delivered.size() != want.size()) std::abort();
    for (size_t i = 0; i < want.size(); ++i) {
      if (delivered[i].SerializeAsString() != want[i].SerializeAsString()) std::abort();
    }
  }
}

std::string StagingDir() {
  // Leaked, so that the exit handler below still finds it.
  static const std::string* dir = [] {
    std::string d = "/dev/shm";
    if (!std::filesystem::is_directory(d)) d = std::filesystem::temp_directory_path().string();
    d += "/quorum-peer-frame-fuzz-" + std::to_string(::getpid());
    if (!quorum::server::PrepareSnapshotDir(d).ok()) std::abort();
    std::atexit([] { std::filesystem::remove_all(*dir); });
    return new std::string(d);
  }();
  return *dir;
}

// Reads every chunk of a staged file; false when it was refused.
bool ReadStaged(const std::string& path, std::vector<std::string>* chunks) {
  auto staged = quorum::server::StagedSnapshot::Open(path);
  if (!staged.ok()) std::abort();
  SnapshotChunk chunk;
  while (true) {
    absl::StatusOr<bool> more = (*staged)->Next(&chunk);
    if (!more.ok()) {
      if (!absl::IsDataLoss(more.status())) std::abort();
      return false;
    }
    if (!*more) return true;
    chunks->push_back(chunk.SerializeAsString());
  }
}

void FuzzStagedFile(const std::string& bytes) {
  const std::string dir = StagingDir();
  const std::string path = dir + "/input.snap";
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) std::abort();
    if (std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) std::abort();
    std::fclose(f);
  }
  std::vector<std::string> read;
  ReadStaged(path, &read);
  // What was read stages to a file that reads back the same.
  auto file = quorum::server::SnapshotStagingFile::Create(dir, "copy.snap");
  if (!file.ok()) std::abort();
  for (const std::string& bytes : read) {
    SnapshotChunk chunk;
    if (!chunk.ParseFromString(bytes)) std::abort();
    if (!(*file)->Append(chunk).ok()) std::abort();
  }
  absl::StatusOr<std::string> copy = (*file)->Commit();
  if (!copy.ok()) std::abort();
  std::vector<std::string> again;
  if (!ReadStaged(*copy, &again) || again != read) std::abort();
  std::remove(copy->c_str());
  std::remove(path.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    // Refusing a frame is the expected answer to most inputs; its log lines are noise here.
    spdlog::set_level(spdlog::level::off);
    google::protobuf::SetLogHandler(
        [](google::protobuf::LogLevel, const char*, int, const std::string&) {});
    return true;
  }();
  (void)quiet;
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    FuzzStagedFile(rest);
  } else {
    FuzzStream(rest);
  }
  return 0;
}
