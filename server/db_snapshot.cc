#include "server/db_snapshot.h"

#include <fcntl.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "storage/state_snapshot.h"

namespace quorum::server {
namespace {

constexpr size_t kHeaderBytes = 16;
constexpr size_t kSector = 512;

void PutBigEndian64(uint64_t v, char* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

uint64_t GetBigEndian64(const unsigned char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | in[i];
  return v;
}

}  // namespace

absl::StatusOr<uint64_t> WriteDbSnapshot(storage::Backend* backend, const std::string& path) {
  auto reader = storage::StateSnapshotReader::Open(backend);
  if (!reader.ok()) return reader.status();

  std::string payload;
  {
    google::protobuf::io::StringOutputStream raw(&payload);
    google::protobuf::io::CodedOutputStream out(&raw);
    internalpb::SnapshotChunk chunk;
    // The first frame records where the state stands (applied index, term, membership).
    chunk.mutable_message()->mutable_snapshot()->mutable_metadata()->set_index(
        (*reader)->applied_index());
    chunk.mutable_message()->mutable_snapshot()->mutable_metadata()->set_term(
        (*reader)->applied_term());
    *chunk.mutable_message()->mutable_snapshot()->mutable_metadata()->mutable_conf_state() =
        (*reader)->conf_state();
    bool more = true;
    while (more) {
      auto next = (*reader)->Next(&chunk, 1 << 20);
      if (!next.ok()) return next.status();
      more = *next;
      chunk.set_last(!more);
      out.WriteVarint32(static_cast<uint32_t>(chunk.ByteSizeLong()));
      chunk.SerializeWithCachedSizes(&out);
      chunk.Clear();
    }
  }
  std::string file(kHeaderBytes, '\0');
  std::memcpy(file.data(), kDbSnapshotMagic, 8);
  PutBigEndian64(payload.size(), file.data() + 8);
  file += payload;
  file.resize((file.size() + kSector - 1) / kSector * kSector, '\0');
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(file.data()), file.size(), digest);
  file.append(reinterpret_cast<const char*>(digest), SHA256_DIGEST_LENGTH);

  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("create ", path, ": ", strerror(errno)));
  size_t written = 0;
  while (written < file.size()) {
    ssize_t n = write(fd, file.data() + written, file.size() - written);
    if (n <= 0) {
      close(fd);
      return absl::InternalError(absl::StrCat("write ", path, ": ", strerror(errno)));
    }
    written += static_cast<size_t>(n);
  }
  fsync(fd);
  close(fd);
  return static_cast<uint64_t>(file.size());
}

absl::Status ReadDbSnapshot(
    const std::string& path,
    const std::function<absl::Status(const internalpb::SnapshotChunk&)>& chunk_fn) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open snapshot file ", path));
  std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (file.size() < kHeaderBytes + SHA256_DIGEST_LENGTH ||
      file.size() % kSector != SHA256_DIGEST_LENGTH ||
      std::memcmp(file.data(), kDbSnapshotMagic, 8) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a quorum snapshot file"));
  }
  size_t body = file.size() - SHA256_DIGEST_LENGTH;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(file.data()), body, digest);
  if (std::memcmp(digest, file.data() + body, SHA256_DIGEST_LENGTH) != 0) {
    return absl::DataLossError(absl::StrCat(path, ": sha256 checksum mismatch"));
  }
  uint64_t payload_size = GetBigEndian64(reinterpret_cast<const unsigned char*>(file.data()) + 8);
  if (kHeaderBytes + payload_size > body) {
    return absl::DataLossError(absl::StrCat(path, ": truncated payload"));
  }
  google::protobuf::io::ArrayInputStream raw(file.data() + kHeaderBytes,
                                             static_cast<int>(payload_size));
  google::protobuf::io::CodedInputStream input(&raw);
  input.SetTotalBytesLimit(INT32_MAX);
  internalpb::SnapshotChunk chunk;
  while (!input.ExpectAtEnd()) {
    uint32_t size = 0;
    if (!input.ReadVarint32(&size)) break;
    auto limit = input.PushLimit(static_cast<int>(size));
    if (!chunk.ParseFromCodedStream(&input) || !input.ConsumedEntireMessage()) {
      return absl::DataLossError(absl::StrCat(path, ": corrupt snapshot frame"));
    }
    input.PopLimit(limit);
    if (auto s = chunk_fn(chunk); !s.ok()) return s;
    chunk.Clear();
  }
  return absl::OkStatus();
}

absl::Status RestoreDbSnapshot(const std::string& snapshot_path, const std::string& data_dir) {
  std::error_code ec;
  if (std::filesystem::exists(data_dir, ec)) {
    return absl::AlreadyExistsError(absl::StrCat("data-dir \"", data_dir, "\" exists"));
  }
  // Checked in full before anything is created, so a bad file leaves no data dir behind.
  if (auto s = ReadDbSnapshot(snapshot_path,
                              [](const internalpb::SnapshotChunk&) { return absl::OkStatus(); });
      !s.ok()) {
    return s;
  }
  const std::filesystem::path member = std::filesystem::path(data_dir) / "member";
  std::filesystem::create_directories(member / "snap", ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create data dir \"", data_dir, "\": ", ec.message()));
  }
  storage::Backend::Options options;
  options.path = (member / "db").string();
  auto backend = storage::Backend::Open(options);
  if (!backend.ok()) return backend.status();
  absl::Status status = ReadDbSnapshot(snapshot_path, [&](const internalpb::SnapshotChunk& chunk) {
    rocksdb::WriteBatch batch;
    for (const internalpb::StateRecord& record : chunk.records()) {
      // The old cluster's members, identity and alarms do not carry over.
      if (record.family() == storage::ColumnFamilyName(storage::ColumnFamily::kMembers)) continue;
      rocksdb::ColumnFamilyHandle* family = nullptr;
      for (storage::ColumnFamily f : storage::kStateFamilies) {
        if (storage::ColumnFamilyName(f) == record.family()) family = (*backend)->Family(f);
      }
      if (family == nullptr) {
        return absl::DataLossError(
            absl::StrCat(snapshot_path, ": record of unknown family \"", record.family(), "\""));
      }
      batch.Put(family, record.key(), record.value());
    }
    return (*backend)->Write(&batch, /*sync=*/true);
  });
  if (!status.ok()) {
    backend->reset();
    std::filesystem::remove_all(data_dir, ec);
  }
  return status;
}

}  // namespace quorum::server
