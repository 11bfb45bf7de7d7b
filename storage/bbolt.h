// Reading and writing bbolt database files: the backend format of etcd, and so the format of an
// etcd snapshot (`etcdctl snapshot save` gives a bbolt file with a SHA-256 of it appended).
//
// The format, as this code relies on it (all integers little-endian, as bbolt writes them on the
// machines etcd runs on):
//   - The file is a sequence of pages of one size (the page size in the meta page, 4096 on
//     x86-64 Linux). Every page starts with a 16-byte header: id (u64), flags (u16: 0x01 branch,
//     0x02 leaf, 0x04 meta, 0x10 freelist), count (u16), overflow (u32: how many pages after this
//     one belong to it).
//   - Pages 0 and 1 are meta pages: magic 0xED0CDAED, version 2, page size, flags, the root
//     bucket (root page id, sequence), the freelist's page id, the high-water page id, the
//     transaction id and an FNV-1a 64 checksum of the meta's bytes before it. The valid meta with
//     the higher transaction id is the current one.
//   - A leaf page holds `count` 16-byte elements (flags u32, pos u32, ksize u32, vsize u32) and
//     then their keys and values; `pos` counts from the element itself. Element flag 0x01 marks a
//     nested bucket, whose value is a bucket header (root page id u64, sequence u64); with root 0
//     the bucket is inline: a leaf page (header and elements) follows the header in the value.
//   - A branch page holds `count` 16-byte elements (pos u32, ksize u32, child page id u64), then
//     the keys: each the first key under its child.
//   - The freelist page lists free page ids (u64 each); a count of 0xFFFF means the real count is
//     the first u64 after the header.
// The root bucket's keys are the top-level bucket names.
#ifndef QUORUM_STORAGE_BBOLT_H_
#define QUORUM_STORAGE_BBOLT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace quorum::storage {

// Read access to a bbolt file's bytes: a file on disk, or bytes in memory (tests, fuzzing).
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t size() const = 0;
  // Reads exactly `length` bytes at `offset` into `out`; an error past the end.
  virtual absl::Status ReadAt(uint64_t offset, size_t length, std::string* out) const = 0;

  static absl::StatusOr<std::unique_ptr<ByteSource>> OpenFile(const std::string& path);
  // `bytes` must outlive the source.
  static std::unique_ptr<ByteSource> OfBytes(std::string_view bytes);
};

// A read-only view of one bbolt file, checked as it is read: every page id, element and length
// is validated before use, keys must come in order, and a page is visited at most once, so a
// damaged file gives DATA_LOSS (or INVALID_ARGUMENT for a file that is not bbolt at all), never
// a crash or an endless walk.
class BoltReader {
 public:
  static absl::StatusOr<std::unique_ptr<BoltReader>> Open(std::unique_ptr<ByteSource> source);

  uint32_t page_size() const { return page_size_; }
  uint64_t txid() const { return txid_; }
  // Pages the file claims (the meta's high-water mark); the file may be longer (an appended hash).
  uint64_t page_count() const { return page_count_; }

  // Names of the top-level buckets, in order.
  absl::StatusOr<std::vector<std::string>> Buckets() const;
  // Every key of the top-level bucket `bucket` in order. Nested buckets are reported with
  // `is_bucket` set and their raw header as value. NOT_FOUND if there is no such bucket.
  using Visitor =
      std::function<absl::Status(std::string_view key, std::string_view value, bool is_bucket)>;
  absl::Status ForEach(std::string_view bucket, const Visitor& visit) const;
  // Walks every bucket (nested ones too) and every key, and reads the freelist: the whole
  // file's consistency check.
  absl::Status Check() const;

 private:
  BoltReader() = default;
  struct BucketRoot;
  absl::StatusOr<BucketRoot> RootOf(std::string_view parent_value) const;
  absl::Status Walk(const BucketRoot& root, const Visitor& visit) const;
  absl::Status CheckBucket(const BucketRoot& root, int depth) const;
  absl::Status CheckFreelist() const;

  std::unique_ptr<ByteSource> source_;
  uint32_t page_size_ = 0;
  uint64_t txid_ = 0;
  uint64_t page_count_ = 0;
  uint64_t root_page_ = 0;
  uint64_t freelist_page_ = 0;  // ~0: none recorded (bbolt's NoFreelistSync)
};

// Writes a new bbolt file in one pass: top-level buckets in name order, each filled with keys
// in order. Memory stays around one page per tree level, whatever the data's size. The result
// is a file bbolt (and so etcd) opens and can write to: pages 0 and 1 are metas, the freelist is
// empty, every page is referenced.
class BoltWriter {
 public:
  // Creates (or truncates) `path`.
  static absl::StatusOr<std::unique_ptr<BoltWriter>> Create(const std::string& path,
                                                            uint32_t page_size = 4096);
  ~BoltWriter();

  // Starts the next top-level bucket; names must be non-empty and increase.
  absl::Status BeginBucket(std::string_view name);
  // Adds a key to the open bucket; keys must be non-empty and increase.
  absl::Status Put(std::string_view key, std::string_view value);
  // Writes the metas and freelist, fsyncs and closes. Returns the file's size in bytes.
  absl::StatusOr<uint64_t> Finish();

 private:
  struct Level;
  explicit BoltWriter(int fd, uint32_t page_size);
  absl::Status EndBucket();
  absl::Status FlushLeaf();
  absl::Status AddToLevel(size_t level, std::string first_key, uint64_t page);
  // Writes one page image (padded to whole pages) and returns its id.
  absl::StatusOr<uint64_t> WritePage(uint16_t flags, uint16_t count, const std::string& body);
  absl::StatusOr<uint64_t> WriteBranch(Level* level);

  int fd_;
  uint32_t page_size_;
  uint64_t next_page_ = 2;  // pages 0 and 1 are the metas, written last
  std::string last_bucket_;
  bool in_bucket_ = false;
  std::vector<std::pair<std::string, uint64_t>> buckets_;  // name, root page
  // The leaf being filled: its elements' keys and values.
  std::vector<std::pair<std::string, std::string>> leaf_;
  size_t leaf_bytes_ = 0;
  std::string last_key_;
  std::vector<Level> levels_;       // branch levels above the leaves, lowest first
  bool leaf_flags_bucket_ = false;  // writing the root bucket: every element is a bucket
  uint64_t root_of_last_ = 0;       // root page of the bucket ended last
};

}  // namespace quorum::storage

#endif  // QUORUM_STORAGE_BBOLT_H_
