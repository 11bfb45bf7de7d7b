#include "storage/backup.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "storage/bbolt.h"
#include "storage/crc32c.h"
#include "storage/etcd_db.h"
#include "storage/revision.h"
#include "storage/state_snapshot.h"
#include "storage/write_txn.h"

namespace quorum::storage {
namespace {

constexpr size_t kHeaderBytes = 16;
constexpr size_t kSector = 512;
constexpr size_t kDigestBytes = 32;  // SHA-256
constexpr size_t kIoBlock = 1 << 20;
// A payload this long cannot be real; refusing it keeps the size arithmetic below from
// overflowing on a damaged header.
constexpr uint64_t kMaxPayloadBytes = uint64_t{1} << 56;

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

uint64_t RoundUpToSector(uint64_t n) { return (n + kSector - 1) / kSector * kSector; }

std::string ErrnoText() { return std::strerror(errno); }

// An open file descriptor, closed when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now, reporting what close() says (a deferred write error shows up here).
  bool Close() {
    int fd = fd_;
    fd_ = -1;
    return close(fd) == 0;
  }

 private:
  int fd_;
};

absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::InternalError(absl::StrCat("write ", path, ": ", ErrnoText()));
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Hands `fn` the bytes [begin, end) of the file, in blocks.
absl::Status ScanFile(int fd, uint64_t begin, uint64_t end, const std::string& path,
                      const std::function<void(uint64_t offset, std::string_view block)>& fn) {
  std::string block(kIoBlock, '\0');
  uint64_t offset = begin;
  while (offset < end) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(kIoBlock, end - offset));
    ssize_t n = pread(fd, block.data(), want, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::DataLossError(absl::StrCat("read ", path, ": ", ErrnoText()));
    if (n == 0) return absl::DataLossError(absl::StrCat(path, ": file shrank while being read"));
    fn(offset, std::string_view(block.data(), static_cast<size_t>(n)));
    offset += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr); }
  void Update(std::string_view data) { EVP_DigestUpdate(ctx_.get(), data.data(), data.size()); }
  std::string Final() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestFinal_ex(ctx_.get(), digest, &size);
    return std::string(reinterpret_cast<const char*>(digest), size);
  }

 private:
  struct Free {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx_;
};

// An opened backup whose header and size agree.
struct BackupFile {
  std::unique_ptr<Fd> fd;
  uint64_t size = 0;
  uint64_t payload_bytes = 0;
};

absl::StatusOr<BackupFile> OpenBackup(const std::string& path) {
  int raw = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) {
    std::string message = absl::StrCat("open ", path, ": ", ErrnoText());
    return errno == ENOENT ? absl::NotFoundError(message) : absl::FailedPreconditionError(message);
  }
  BackupFile file;
  file.fd = std::make_unique<Fd>(raw);
  struct stat st;
  if (fstat(raw, &st) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("stat ", path, ": ", ErrnoText()));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a regular file"));
  }
  file.size = static_cast<uint64_t>(st.st_size);

  unsigned char header[kHeaderBytes] = {};
  ssize_t got = pread(raw, header, kHeaderBytes, 0);
  if (got < 0) return absl::DataLossError(absl::StrCat("read ", path, ": ", ErrnoText()));
  const size_t magic = sizeof(kBackupMagic) - 1;
  if (static_cast<size_t>(got) < magic || std::memcmp(header, kBackupMagic, magic) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, " is not a snapshot file: neither an etcd backend (bbolt) nor a quorum backup"));
  }
  if (static_cast<size_t>(got) < kHeaderBytes) {
    return absl::DataLossError(absl::StrCat(path, ": truncated backup file: ", file.size,
                                            " bytes, shorter than its header"));
  }
  file.payload_bytes = GetBigEndian64(header + magic);
  if (file.payload_bytes > kMaxPayloadBytes) {
    return absl::DataLossError(absl::StrCat(path, ": damaged header: payload length ",
                                            file.payload_bytes, " is impossible"));
  }
  const uint64_t expected = RoundUpToSector(kHeaderBytes + file.payload_bytes) + kDigestBytes;
  if (file.size < expected) {
    return absl::DataLossError(absl::StrCat(path, ": truncated backup file: ", file.size,
                                            " bytes of the ", expected, " its header announces"));
  }
  if (file.size > expected) {
    return absl::DataLossError(absl::StrCat(path, ": ", file.size - expected,
                                            " unexpected bytes after the end of the backup"));
  }
  return file;
}

// Compares the trailing SHA-256 with the rest of the file; on the way, extends `payload_crc`
// (when given) over the payload bytes.
absl::Status CheckFile(const BackupFile& file, const std::string& path, bool verify_checksum,
                       uint32_t* payload_crc) {
  const uint64_t body = file.size - kDigestBytes;
  const uint64_t payload_end = kHeaderBytes + file.payload_bytes;
  Sha256 sha;
  uint32_t crc = 0;
  const uint64_t end = verify_checksum ? body : payload_end;
  const uint64_t begin = verify_checksum ? 0 : kHeaderBytes;
  if (payload_crc != nullptr || verify_checksum) {
    auto s = ScanFile(file.fd->get(), begin, end, path, [&](uint64_t offset, std::string_view b) {
      if (verify_checksum) sha.Update(b);
      if (payload_crc == nullptr) return;
      // The part of this block inside the payload.
      uint64_t from = std::max(offset, uint64_t{kHeaderBytes});
      uint64_t to = std::min(offset + b.size(), payload_end);
      if (from < to) crc = Crc32cExtend(crc, b.substr(from - offset, to - from));
    });
    if (!s.ok()) return s;
  }
  if (payload_crc != nullptr) *payload_crc = crc;
  if (!verify_checksum) return absl::OkStatus();
  std::string stored(kDigestBytes, '\0');
  if (pread(file.fd->get(), stored.data(), kDigestBytes, static_cast<off_t>(body)) !=
      static_cast<ssize_t>(kDigestBytes)) {
    return absl::DataLossError(absl::StrCat("read ", path, ": ", ErrnoText()));
  }
  if (sha.Final() != stored) {
    return absl::DataLossError(
        absl::StrCat(path, ": sha256 checksum mismatch: the backup file is damaged"));
  }
  return absl::OkStatus();
}

// Parses the payload's frames in order. Every frame must parse, fill its length exactly and
// end inside the payload; the last must say so, and nothing may follow it.
absl::Status ForEachFrame(const BackupFile& file, const std::string& path,
                          const std::function<absl::Status(const internalpb::SnapshotChunk&)>& fn) {
  if (lseek(file.fd->get(), static_cast<off_t>(kHeaderBytes), SEEK_SET) < 0) {
    return absl::DataLossError(absl::StrCat("seek ", path, ": ", ErrnoText()));
  }
  google::protobuf::io::FileInputStream raw(file.fd->get(), static_cast<int>(kIoBlock));
  google::protobuf::io::LimitingInputStream payload(&raw, static_cast<int64_t>(file.payload_bytes));
  auto corrupt = [&](uint64_t at, std::string_view what) {
    if (raw.GetErrno() != 0) {
      return absl::DataLossError(absl::StrCat("read ", path, ": ", std::strerror(raw.GetErrno())));
    }
    return absl::DataLossError(
        absl::StrCat(path, ": corrupt backup frame at payload byte ", at, ": ", std::string(what)));
  };
  internalpb::SnapshotChunk chunk;
  uint64_t consumed = 0;
  bool last_seen = false;
  while (consumed < file.payload_bytes) {
    if (last_seen) return corrupt(consumed, "data after the last frame");
    // One stream per frame: a CodedInputStream reads at most 2 GiB in all, a backup may be
    // larger. Its destructor hands unread bytes back to `payload`.
    google::protobuf::io::CodedInputStream in(&payload);
    uint32_t size = 0;
    if (!in.ReadVarint32(&size)) return corrupt(consumed, "unreadable frame length");
    const uint64_t remaining = file.payload_bytes - consumed - in.CurrentPosition();
    if (size > remaining || size > INT_MAX) {
      return corrupt(consumed, absl::StrCat("frame of ", size, " bytes runs past the payload"));
    }
    auto limit = in.PushLimit(static_cast<int>(size));
    if (!chunk.ParseFromCodedStream(&in) || !in.ConsumedEntireMessage()) {
      return corrupt(consumed, "frame does not parse");
    }
    in.PopLimit(limit);
    consumed += static_cast<uint64_t>(in.CurrentPosition());
    last_seen = chunk.last();
    if (auto s = fn(chunk); !s.ok()) return s;
    chunk.Clear();
  }
  if (!last_seen) return corrupt(consumed, "the payload ends before its last frame");
  return absl::OkStatus();
}

// True when `path` starts like a bbolt file (the first meta page's magic number).
bool IsBbolt(const std::string& path) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return false;
  unsigned char magic[4];
  if (pread(fd.get(), magic, sizeof magic, 16) != sizeof magic) return false;
  return magic[0] == 0xED && magic[1] == 0xDA && magic[2] == 0x0C && magic[3] == 0xED;
}

// An etcd backend's trailing SHA-256 (present when size % 512 == 32, as etcd's restore decides)
// against the bytes before it. Without one, only `verify` false lets the file through.
absl::Status CheckEtcdHash(const std::string& path, bool verify) {
  if (!verify) return absl::OkStatus();
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st;
  if (fd.get() < 0 || fstat(fd.get(), &st) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("open ", path, ": ", ErrnoText()));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size % kSector != kDigestBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path,
                     ": the snapshot has no sha256 hash at its end (a database copied from a data "
                     "dir restores with --skip-hash-check)"));
  }
  Sha256 sha;
  if (auto s = ScanFile(fd.get(), 0, size - kDigestBytes, path,
                        [&](uint64_t, std::string_view block) { sha.Update(block); });
      !s.ok()) {
    return s;
  }
  std::string stored(kDigestBytes, '\0');
  if (pread(fd.get(), stored.data(), kDigestBytes, static_cast<off_t>(size - kDigestBytes)) !=
      static_cast<ssize_t>(kDigestBytes)) {
    return absl::DataLossError(absl::StrCat("read ", path, ": ", ErrnoText()));
  }
  if (sha.Final() != stored) {
    return absl::DataLossError(
        absl::StrCat(path, ": sha256 checksum mismatch: the snapshot file is damaged"));
  }
  return absl::OkStatus();
}

// `status` with the file's name in front of its message.
absl::Status Named(const std::string& path, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(path, ": ", status.message()));
}

// The etcd format: the backend, then its SHA-256 appended and synced.
absl::StatusOr<uint64_t> WriteEtcdBackup(Backend* backend, const std::string& path) {
  auto reader = StateSnapshotReader::Open(backend);
  if (!reader.ok()) return reader.status();
  auto db_size = WriteEtcdDb(reader->get(), path);
  if (!db_size.ok()) {
    unlink(path.c_str());
    return db_size.status();
  }
  Fd fd(open(path.c_str(), O_RDWR | O_CLOEXEC));
  auto written = [&]() -> absl::StatusOr<uint64_t> {
    if (fd.get() < 0) return absl::InternalError(absl::StrCat("open ", path, ": ", ErrnoText()));
    Sha256 sha;
    if (auto s = ScanFile(fd.get(), 0, *db_size, path,
                          [&](uint64_t, std::string_view block) { sha.Update(block); });
        !s.ok()) {
      return s;
    }
    const std::string digest = sha.Final();
    if (pwrite(fd.get(), digest.data(), digest.size(), static_cast<off_t>(*db_size)) !=
            static_cast<ssize_t>(digest.size()) ||
        fsync(fd.get()) != 0) {
      return absl::InternalError(absl::StrCat("write ", path, ": ", ErrnoText()));
    }
    return *db_size + digest.size();
  }();
  if (!written.ok()) unlink(path.c_str());
  return written;
}

}  // namespace

absl::StatusOr<uint64_t> WriteBackup(Backend* backend, const std::string& path,
                                     const BackupWriteOptions& options) {
  if (options.format == BackupFormat::kEtcd) return WriteEtcdBackup(backend, path);
  auto reader = StateSnapshotReader::Open(backend);
  if (!reader.ok()) return reader.status();

  int raw = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (raw < 0) return absl::InternalError(absl::StrCat("create ", path, ": ", ErrnoText()));
  Fd fd(raw);
  auto written = [&]() -> absl::StatusOr<uint64_t> {
    // The length is known only at the end: the header is written last, over this placeholder.
    if (auto s = WriteAll(fd.get(), std::string(kHeaderBytes, '\0'), path); !s.ok()) return s;
    uint64_t payload_bytes = 0;
    internalpb::SnapshotChunk chunk;
    // The first frame records where the state stands (applied index, term, membership).
    auto* metadata = chunk.mutable_message()->mutable_snapshot()->mutable_metadata();
    metadata->set_index((*reader)->applied_index());
    metadata->set_term((*reader)->applied_term());
    *metadata->mutable_conf_state() = (*reader)->conf_state();
    std::string frame;
    bool more = true;
    while (more) {
      auto next = (*reader)->Next(&chunk, 1 << 20);
      if (!next.ok()) return next.status();
      more = *next;
      chunk.set_last(!more);
      frame.clear();
      {
        google::protobuf::io::StringOutputStream raw_out(&frame);
        google::protobuf::io::CodedOutputStream out(&raw_out);
        out.WriteVarint32(static_cast<uint32_t>(chunk.ByteSizeLong()));
        chunk.SerializeWithCachedSizes(&out);
      }
      if (auto s = WriteAll(fd.get(), frame, path); !s.ok()) return s;
      payload_bytes += frame.size();
      chunk.Clear();
    }
    const uint64_t body = RoundUpToSector(kHeaderBytes + payload_bytes);
    if (auto s = WriteAll(fd.get(), std::string(body - kHeaderBytes - payload_bytes, '\0'), path);
        !s.ok()) {
      return s;
    }
    char header[kHeaderBytes];
    std::memcpy(header, kBackupMagic, 8);
    PutBigEndian64(payload_bytes, header + 8);
    if (pwrite(fd.get(), header, kHeaderBytes, 0) != static_cast<ssize_t>(kHeaderBytes)) {
      return absl::InternalError(absl::StrCat("write ", path, ": ", ErrnoText()));
    }
    // Read back from the page cache rather than kept in memory: a backup may be gigabytes.
    Sha256 sha;
    if (auto s = ScanFile(fd.get(), 0, body, path,
                          [&](uint64_t, std::string_view block) { sha.Update(block); });
        !s.ok()) {
      return s;
    }
    if (auto s = WriteAll(fd.get(), sha.Final(), path); !s.ok()) return s;
    if (fsync(fd.get()) != 0) {
      return absl::InternalError(absl::StrCat("fsync ", path, ": ", ErrnoText()));
    }
    if (!fd.Close()) return absl::InternalError(absl::StrCat("close ", path, ": ", ErrnoText()));
    return body + kDigestBytes;
  }();
  if (!written.ok()) unlink(path.c_str());
  return written;
}

absl::Status ReadBackup(const std::string& path,
                        const std::function<absl::Status(const internalpb::SnapshotChunk&)>& chunk,
                        const BackupReadOptions& options) {
  if (IsBbolt(path)) {
    // The metas first: a truncated file says so rather than that its hash is missing.
    auto source = ByteSource::OpenFile(path);
    if (!source.ok()) return source.status();
    if (auto opened = BoltReader::Open(std::move(*source)); !opened.ok()) {
      return Named(path, opened.status());
    }
    if (auto s = CheckEtcdHash(path, options.verify_checksum); !s.ok()) return s;
    return Named(path, ReadEtcdDb(path, chunk));
  }
  auto file = OpenBackup(path);
  if (!file.ok()) return file.status();
  if (auto s = CheckFile(*file, path, options.verify_checksum, nullptr); !s.ok()) return s;
  return ForEachFrame(*file, path, chunk);
}

absl::StatusOr<BackupStatus> ReadBackupStatus(const std::string& path) {
  if (IsBbolt(path)) {
    // Unlike etcd's status, a hash that is there is compared: a damaged value would pass the
    // page checks and a status would call the file good.
    struct stat st;
    const bool hashed = stat(path.c_str(), &st) == 0 && st.st_size % kSector == kDigestBytes;
    if (auto s = CheckEtcdHash(path, hashed); !s.ok()) return s;
    auto etcd = ReadEtcdDbStatus(path);
    if (!etcd.ok()) return Named(path, etcd.status());
    return BackupStatus{.hash = etcd->hash,
                        .revision = etcd->revision,
                        .total_keys = etcd->total_keys,
                        .total_size = static_cast<int64_t>(etcd->size)};
  }
  auto file = OpenBackup(path);
  if (!file.ok()) return file.status();
  BackupStatus status;
  status.total_size = static_cast<int64_t>(file->size);
  if (auto s = CheckFile(*file, path, /*verify_checksum=*/true, &status.hash); !s.ok()) return s;
  const std::string_view kv = ColumnFamilyName(ColumnFamily::kKv);
  const std::string_view meta = ColumnFamilyName(ColumnFamily::kMeta);
  int64_t applied_revision = -1;
  int64_t newest_record = 0;
  auto s = ForEachFrame(*file, path, [&](const internalpb::SnapshotChunk& chunk) {
    for (const internalpb::StateRecord& record : chunk.records()) {
      ++status.total_keys;
      if (record.family() == kv) {
        Revision rev;
        bool tombstone = false;
        if (DecodeRevisionKey(record.key(), &rev, &tombstone)) {
          newest_record = std::max(newest_record, rev.main);
        }
      } else if (record.family() == meta && record.key() == kMetaApplied) {
        uint64_t index = 0;
        uint64_t term = 0;
        if (!DecodeApplied(record.value(), &index, &term, &applied_revision)) {
          return absl::DataLossError(absl::StrCat(path, ": malformed applied-position record"));
        }
      }
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  // The store records its revision with each applied entry; a state that never applied one
  // has only its records to go by, as etcd's status reads the newest key.
  status.revision = applied_revision >= 0 ? applied_revision : newest_record;
  return status;
}

absl::Status RestoreBackup(const std::string& backup_path, const std::string& data_dir,
                           const RestoreOptions& options) {
  std::error_code ec;
  if (std::filesystem::exists(data_dir, ec)) {
    return absl::AlreadyExistsError(absl::StrCat("data-dir \"", data_dir, "\" exists"));
  }
  const BackupReadOptions read_options{.verify_checksum = !options.skip_hash_check};
  // Checked in full before anything is created, so a bad file leaves no data dir behind.
  if (auto s = ReadBackup(
          backup_path, [](const internalpb::SnapshotChunk&) { return absl::OkStatus(); },
          read_options);
      !s.ok()) {
    return s;
  }
  const std::filesystem::path member = std::filesystem::path(data_dir) / "member";
  std::filesystem::create_directories(member / "snap", ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create data dir \"", data_dir, "\": ", ec.message()));
  }
  Backend::Options backend_options;
  backend_options.path = (member / "db").string();
  auto backend = Backend::Open(backend_options);
  absl::Status status = backend.status();
  if (status.ok()) {
    status = ReadBackup(
        backup_path,
        [&](const internalpb::SnapshotChunk& chunk) {
          rocksdb::WriteBatch batch;
          for (const internalpb::StateRecord& record : chunk.records()) {
            // The old cluster's members, identity and alarms do not carry over.
            if (record.family() == ColumnFamilyName(ColumnFamily::kMembers)) continue;
            rocksdb::ColumnFamilyHandle* family = nullptr;
            for (ColumnFamily f : kStateFamilies) {
              if (ColumnFamilyName(f) == record.family()) family = (*backend)->Family(f);
            }
            if (family == nullptr) {
              return absl::DataLossError(absl::StrCat(backup_path, ": record of unknown family \"",
                                                      record.family(), "\""));
            }
            batch.Put(family, record.key(), record.value());
          }
          return (*backend)->Write(&batch, /*sync=*/true);
        },
        read_options);
  }
  if (!status.ok()) {
    if (backend.ok()) backend->reset();
    std::filesystem::remove_all(data_dir, ec);
  }
  return status;
}

}  // namespace quorum::storage
