#include "storage/bbolt.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace quorum::storage {
namespace {

constexpr uint32_t kMagic = 0xED0CDAED;
constexpr uint32_t kVersion = 2;
constexpr size_t kPageHeaderSize = 16;
constexpr size_t kElementSize = 16;  // leaf and branch elements alike
constexpr size_t kMetaSize = 64;
constexpr size_t kMetaChecksumOffset = 56;
constexpr size_t kBucketHeaderSize = 16;
constexpr uint16_t kBranchPage = 0x01;
constexpr uint16_t kLeafPage = 0x02;
constexpr uint16_t kMetaPage = 0x04;
constexpr uint16_t kFreelistPage = 0x10;
constexpr uint32_t kBucketElement = 0x01;
constexpr uint64_t kNoFreelist = ~uint64_t{0};
// Deeper than any tree bbolt builds (a billion keys need about six levels) yet small enough
// that a damaged file cannot recurse far.
constexpr int kMaxDepth = 32;
constexpr int kMaxBucketNesting = 16;

template <typename T>
T Load(std::string_view bytes, size_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

template <typename T>
void Store(std::string* bytes, size_t offset, T value) {
  std::memcpy(bytes->data() + offset, &value, sizeof(T));
}

uint64_t Fnv1a64(std::string_view bytes) {
  uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

absl::Status Damaged(std::string_view what) {
  return absl::DataLossError(absl::StrCat("damaged bbolt file: ", std::string(what)));
}

class FileSource final : public ByteSource {
 public:
  FileSource(int fd, uint64_t size) : fd_(fd), size_(size) {}
  ~FileSource() override { close(fd_); }
  uint64_t size() const override { return size_; }
  absl::Status ReadAt(uint64_t offset, size_t length, std::string* out) const override {
    if (offset > size_ || length > size_ - offset) {
      return Damaged(absl::StrCat("read of ", length, " bytes at ", offset, " is past the end (",
                                  size_, " bytes)"));
    }
    out->resize(length);
    size_t done = 0;
    while (done < length) {
      const ssize_t n = pread(fd_, out->data() + done, length - done, offset + done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return absl::DataLossError(absl::StrCat("read failed: ", std::strerror(errno)));
      done += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

 private:
  int fd_;
  uint64_t size_;
};

class MemorySource final : public ByteSource {
 public:
  explicit MemorySource(std::string_view bytes) : bytes_(bytes) {}
  uint64_t size() const override { return bytes_.size(); }
  absl::Status ReadAt(uint64_t offset, size_t length, std::string* out) const override {
    if (offset > bytes_.size() || length > bytes_.size() - offset) {
      return Damaged(absl::StrCat("read of ", length, " bytes at ", offset, " is past the end (",
                                  bytes_.size(), " bytes)"));
    }
    out->assign(bytes_.data() + offset, length);
    return absl::OkStatus();
  }

 private:
  std::string_view bytes_;
};

struct Meta {
  uint32_t page_size = 0;
  uint64_t root = 0;
  uint64_t freelist = 0;
  uint64_t page_count = 0;
  uint64_t txid = 0;
};

// The meta in a page image, or why it is not one.
absl::StatusOr<Meta> ParseMeta(std::string_view page) {
  if (page.size() < kPageHeaderSize + kMetaSize) return absl::InvalidArgumentError("too short");
  std::string_view meta = page.substr(kPageHeaderSize, kMetaSize);
  if (Load<uint32_t>(meta, 0) != kMagic) return absl::InvalidArgumentError("wrong magic");
  if (Load<uint32_t>(meta, 4) != kVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("version ", Load<uint32_t>(meta, 4), " (only version 2 is known)"));
  }
  const uint64_t checksum = Load<uint64_t>(meta, kMetaChecksumOffset);
  if (checksum != 0 && checksum != Fnv1a64(meta.substr(0, kMetaChecksumOffset))) {
    return absl::DataLossError("meta checksum mismatch");
  }
  if ((Load<uint16_t>(page, 8) & kMetaPage) == 0) return absl::DataLossError("not a meta page");
  Meta parsed;
  parsed.page_size = Load<uint32_t>(meta, 8);
  parsed.root = Load<uint64_t>(meta, 16);
  parsed.freelist = Load<uint64_t>(meta, 32);
  parsed.page_count = Load<uint64_t>(meta, 40);
  parsed.txid = Load<uint64_t>(meta, 48);
  const uint32_t size = parsed.page_size;
  if (size < 1024 || size > 65536 || (size & (size - 1)) != 0) {
    return absl::DataLossError(
        absl::StrCat("page size ", size, " is not a power of two in [1 KiB, 64 KiB]"));
  }
  return parsed;
}

// One element of a leaf or branch page, located inside the page image.
struct Element {
  uint32_t flags = 0;  // leaf only
  std::string_view key;
  std::string_view value;  // leaf only
  uint64_t child = 0;      // branch only
};

// Reads the elements of a page image (a whole page with its overflow, or an inline bucket's
// page), checking that each lies inside it.
absl::Status ParseElements(std::string_view page, bool leaf, std::vector<Element>* out) {
  const uint16_t count = Load<uint16_t>(page, 10);
  if (kPageHeaderSize + uint64_t{count} * kElementSize > page.size()) {
    return Damaged(absl::StrCat("page of ", page.size(), " bytes claims ", count, " elements"));
  }
  out->clear();
  out->reserve(count);
  for (uint16_t i = 0; i < count; ++i) {
    const size_t at = kPageHeaderSize + size_t{i} * kElementSize;
    Element element;
    uint64_t pos;
    uint64_t key_size;
    uint64_t value_size = 0;
    if (leaf) {
      element.flags = Load<uint32_t>(page, at);
      pos = Load<uint32_t>(page, at + 4);
      key_size = Load<uint32_t>(page, at + 8);
      value_size = Load<uint32_t>(page, at + 12);
    } else {
      pos = Load<uint32_t>(page, at);
      key_size = Load<uint32_t>(page, at + 4);
      element.child = Load<uint64_t>(page, at + 8);
    }
    const uint64_t start = at + pos;
    if (start + key_size + value_size > page.size()) {
      return Damaged(absl::StrCat("element ", i, " reaches past its page"));
    }
    element.key = page.substr(start, key_size);
    element.value = page.substr(start + key_size, value_size);
    out->push_back(element);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ByteSource>> ByteSource::OpenFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat(path, ": ", std::strerror(errno)));
  const off_t size = lseek(fd, 0, SEEK_END);
  if (size < 0) {
    close(fd);
    return absl::InternalError(absl::StrCat(path, ": ", std::strerror(errno)));
  }
  return std::unique_ptr<ByteSource>(new FileSource(fd, static_cast<uint64_t>(size)));
}

std::unique_ptr<ByteSource> ByteSource::OfBytes(std::string_view bytes) {
  return std::make_unique<MemorySource>(bytes);
}

// A bucket's tree: a root page, or an inline page image carried in its parent's value.
struct BoltReader::BucketRoot {
  uint64_t page = 0;
  std::string inline_page;
};

absl::StatusOr<std::unique_ptr<BoltReader>> BoltReader::Open(std::unique_ptr<ByteSource> source) {
  std::string first;
  const uint64_t probe = std::min<uint64_t>(source->size(), 4096);
  if (probe < kPageHeaderSize + kMetaSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a bbolt file: ", source->size(), " bytes is too short"));
  }
  if (auto read = source->ReadAt(0, probe, &first); !read.ok()) return read;
  absl::StatusOr<Meta> meta0 = ParseMeta(first);
  if (!meta0.ok() && absl::IsInvalidArgument(meta0.status())) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a bbolt file (", meta0.status().message(), ")"));
  }
  // The second meta sits one page in: the first meta's page size if it can be trusted, else the
  // usual 4 KiB (as bbolt itself guesses).
  const uint64_t page_size = meta0.ok() ? meta0->page_size : 4096;
  absl::StatusOr<Meta> meta1 = absl::DataLossError("file ends before the second meta page");
  if (source->size() >= page_size + kPageHeaderSize + kMetaSize) {
    std::string second;
    if (auto read = source->ReadAt(page_size, kPageHeaderSize + kMetaSize, &second); !read.ok()) {
      return read;
    }
    meta1 = ParseMeta(second);
  }
  const Meta* chosen = nullptr;
  if (meta0.ok()) chosen = &*meta0;
  if (meta1.ok() && (chosen == nullptr || meta1->txid > chosen->txid)) chosen = &*meta1;
  if (chosen == nullptr) {
    return Damaged(absl::StrCat("no valid meta page (first: ", meta0.status().message(),
                                "; second: ", meta1.status().message(), ")"));
  }
  auto reader = std::unique_ptr<BoltReader>(new BoltReader());
  reader->page_size_ = chosen->page_size;
  reader->txid_ = chosen->txid;
  reader->page_count_ = chosen->page_count;
  reader->root_page_ = chosen->root;
  reader->freelist_page_ = chosen->freelist;
  const uint64_t needed = chosen->page_count * chosen->page_size;
  if (chosen->page_count < 3 || needed / chosen->page_size != chosen->page_count) {
    return Damaged(absl::StrCat("meta claims ", chosen->page_count, " pages"));
  }
  if (needed > source->size()) {
    return Damaged(absl::StrCat("truncated: the meta claims ", chosen->page_count, " pages (",
                                needed, " bytes) but the file has ", source->size(), " bytes"));
  }
  if (chosen->root < 2 || chosen->root >= chosen->page_count) {
    return Damaged(absl::StrCat("root page ", chosen->root, " is outside the file"));
  }
  if (chosen->freelist != kNoFreelist &&
      (chosen->freelist < 2 || chosen->freelist >= chosen->page_count)) {
    return Damaged(absl::StrCat("freelist page ", chosen->freelist, " is outside the file"));
  }
  reader->source_ = std::move(source);
  return reader;
}

namespace {

// Reads page `id` with its overflow pages, checking its header against where it was found.
absl::StatusOr<std::string> ReadPage(const ByteSource& source, uint32_t page_size,
                                     uint64_t page_count, uint64_t id) {
  if (id < 2 || id >= page_count) {
    return Damaged(absl::StrCat("page ", id, " is outside the file (", page_count, " pages)"));
  }
  std::string page;
  if (auto read = source.ReadAt(id * page_size, page_size, &page); !read.ok()) return read;
  if (Load<uint64_t>(page, 0) != id) {
    return Damaged(absl::StrCat("page ", id, " carries the id ", Load<uint64_t>(page, 0)));
  }
  const uint64_t overflow = Load<uint32_t>(page, 12);
  if (overflow > 0) {
    if (overflow >= page_count - id) {
      return Damaged(absl::StrCat("page ", id, " overflows past the end of the file"));
    }
    std::string rest;
    if (auto read = source.ReadAt((id + 1) * page_size, overflow * page_size, &rest); !read.ok()) {
      return read;
    }
    page += rest;
  }
  return page;
}

}  // namespace

absl::StatusOr<BoltReader::BucketRoot> BoltReader::RootOf(std::string_view value) const {
  if (value.size() < kBucketHeaderSize) return Damaged("bucket header is too short");
  BucketRoot root;
  root.page = Load<uint64_t>(value, 0);
  if (root.page == 0) {
    root.inline_page = std::string(value.substr(kBucketHeaderSize));
    if (root.inline_page.size() < kPageHeaderSize) return Damaged("inline bucket is too short");
    if ((Load<uint16_t>(root.inline_page, 8) & kLeafPage) == 0) {
      return Damaged("inline bucket is not a leaf");
    }
  }
  return root;
}

absl::Status BoltReader::Walk(const BucketRoot& root, const Visitor& visit) const {
  // Depth-first over the tree; a page seen twice means a cycle or shared subtree: damage.
  absl::flat_hash_set<uint64_t> seen;
  std::string last_key;
  bool have_key = false;
  std::function<absl::Status(uint64_t, const std::string*, int)> visit_page =
      [&](uint64_t id, const std::string* image, int depth) -> absl::Status {
    if (depth > kMaxDepth) return Damaged("tree is deeper than any bbolt writes");
    std::string owned;
    if (image == nullptr) {
      if (!seen.insert(id).second) return Damaged(absl::StrCat("page ", id, " is reached twice"));
      auto page = ReadPage(*source_, page_size_, page_count_, id);
      if (!page.ok()) return page.status();
      owned = std::move(*page);
      image = &owned;
    }
    const uint16_t flags = Load<uint16_t>(*image, 8);
    const bool leaf = (flags & kLeafPage) != 0;
    if (!leaf && (flags & kBranchPage) == 0) {
      return Damaged(absl::StrCat("page ", id, " is neither a branch nor a leaf"));
    }
    std::vector<Element> mine;
    if (auto parsed = ParseElements(*image, leaf, &mine); !parsed.ok()) return parsed;
    for (const Element& element : mine) {
      if (element.key.empty()) return Damaged(absl::StrCat("page ", id, " holds an empty key"));
      if (!leaf) {
        if (auto child = visit_page(element.child, nullptr, depth + 1); !child.ok()) return child;
        continue;
      }
      if (have_key && element.key <= last_key) {
        return Damaged(absl::StrCat("keys out of order on page ", id));
      }
      last_key.assign(element.key);
      have_key = true;
      if (auto visited = visit(element.key, element.value, (element.flags & kBucketElement) != 0);
          !visited.ok()) {
        return visited;
      }
    }
    return absl::OkStatus();
  };
  if (root.page == 0) return visit_page(0, &root.inline_page, 0);
  return visit_page(root.page, nullptr, 0);
}

absl::StatusOr<std::vector<std::string>> BoltReader::Buckets() const {
  std::vector<std::string> names;
  BucketRoot top{root_page_, {}};
  auto walked = Walk(top, [&](std::string_view key, std::string_view, bool is_bucket) {
    if (!is_bucket) return Damaged("the root holds a plain key");
    names.emplace_back(key);
    return absl::OkStatus();
  });
  if (!walked.ok()) return walked;
  return names;
}

absl::Status BoltReader::ForEach(std::string_view bucket, const Visitor& visit) const {
  BucketRoot top{root_page_, {}};
  std::string header;
  bool found = false;
  auto walked = Walk(top, [&](std::string_view key, std::string_view value, bool is_bucket) {
    if (key == bucket && is_bucket) {
      header.assign(value);
      found = true;
    }
    return absl::OkStatus();
  });
  if (!walked.ok()) return walked;
  if (!found) return absl::NotFoundError(absl::StrCat("no bucket \"", std::string(bucket), "\""));
  auto root = RootOf(header);
  if (!root.ok()) return root.status();
  return Walk(*root, visit);
}

absl::Status BoltReader::CheckBucket(const BucketRoot& root, int depth) const {
  if (depth > kMaxBucketNesting) return Damaged("buckets nested too deep");
  std::vector<std::string> nested;
  auto walked = Walk(root, [&](std::string_view, std::string_view value, bool is_bucket) {
    if (is_bucket) nested.emplace_back(value);
    return absl::OkStatus();
  });
  if (!walked.ok()) return walked;
  for (const std::string& header : nested) {
    auto child = RootOf(header);
    if (!child.ok()) return child.status();
    if (auto checked = CheckBucket(*child, depth + 1); !checked.ok()) return checked;
  }
  return absl::OkStatus();
}

absl::Status BoltReader::CheckFreelist() const {
  if (freelist_page_ == kNoFreelist) return absl::OkStatus();
  auto page = ReadPage(*source_, page_size_, page_count_, freelist_page_);
  if (!page.ok()) return page.status();
  if ((Load<uint16_t>(*page, 8) & kFreelistPage) == 0) {
    return Damaged(absl::StrCat("page ", freelist_page_, " is not the freelist the meta names"));
  }
  // A count of 0xFFFF means the real count is the first id slot.
  uint64_t count = Load<uint16_t>(*page, 10);
  size_t first = kPageHeaderSize;
  if (count == 0xFFFF) {
    if (page->size() < kPageHeaderSize + 8) return Damaged("freelist too short");
    count = Load<uint64_t>(*page, kPageHeaderSize);
    first += 8;
  }
  if (count > (page->size() - first) / 8) {
    return Damaged(absl::StrCat("freelist claims ", count, " pages it cannot hold"));
  }
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t id = Load<uint64_t>(*page, first + i * 8);
    if (id < 2 || id >= page_count_) {
      return Damaged(absl::StrCat("freelist names page ", id, ", outside the file"));
    }
  }
  return absl::OkStatus();
}

absl::Status BoltReader::Check() const {
  if (auto buckets = Buckets(); !buckets.ok()) return buckets.status();
  if (auto freelist = CheckFreelist(); !freelist.ok()) return freelist;
  return CheckBucket(BucketRoot{root_page_, {}}, 0);
}

// ---- writer ----

struct BoltWriter::Level {
  std::vector<std::pair<std::string, uint64_t>> entries;  // first key under the child, child
  size_t bytes = 0;                                       // elements and keys
};

absl::StatusOr<std::unique_ptr<BoltWriter>> BoltWriter::Create(const std::string& path,
                                                               uint32_t page_size) {
  if (page_size < 1024 || page_size > 65536 || (page_size & (page_size - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad page size ", page_size));
  }
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat(path, ": ", std::strerror(errno)));
  return std::unique_ptr<BoltWriter>(new BoltWriter(fd, page_size));
}

BoltWriter::BoltWriter(int fd, uint32_t page_size) : fd_(fd), page_size_(page_size) {}

BoltWriter::~BoltWriter() {
  if (fd_ >= 0) close(fd_);
}

absl::StatusOr<uint64_t> BoltWriter::WritePage(uint16_t flags, uint16_t count,
                                               const std::string& body) {
  const uint64_t total = kPageHeaderSize + body.size();
  const uint64_t pages = (total + page_size_ - 1) / page_size_;
  if (pages - 1 > UINT32_MAX) return absl::InvalidArgumentError("value too large for a page");
  std::string image(pages * page_size_, '\0');
  const uint64_t id = next_page_;
  Store<uint64_t>(&image, 0, id);
  Store<uint16_t>(&image, 8, flags);
  Store<uint16_t>(&image, 10, count);
  Store<uint32_t>(&image, 12, static_cast<uint32_t>(pages - 1));
  std::memcpy(image.data() + kPageHeaderSize, body.data(), body.size());
  size_t done = 0;
  while (done < image.size()) {
    const ssize_t n = pwrite(fd_, image.data() + done, image.size() - done, id * page_size_ + done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::InternalError(absl::StrCat("write failed: ", std::strerror(errno)));
    done += static_cast<size_t>(n);
  }
  next_page_ += pages;
  return id;
}

absl::Status BoltWriter::BeginBucket(std::string_view name) {
  if (fd_ < 0) return absl::FailedPreconditionError("the file is finished");
  if (name.empty()) return absl::InvalidArgumentError("empty bucket name");
  if (!buckets_.empty() || in_bucket_) {
    if (name <= last_bucket_) {
      return absl::InvalidArgumentError(
          absl::StrCat("bucket \"", std::string(name), "\" is out of order"));
    }
  }
  if (in_bucket_) {
    if (auto ended = EndBucket(); !ended.ok()) return ended;
  }
  last_bucket_.assign(name);
  in_bucket_ = true;
  last_key_.clear();
  return absl::OkStatus();
}

absl::Status BoltWriter::Put(std::string_view key, std::string_view value) {
  if (!in_bucket_) return absl::FailedPreconditionError("no bucket is open");
  if (key.empty()) return absl::InvalidArgumentError("empty key");
  if (!last_key_.empty() && key <= last_key_) {
    return absl::InvalidArgumentError("keys must be added in increasing order");
  }
  if (key.size() > UINT32_MAX || value.size() > UINT32_MAX) {
    return absl::InvalidArgumentError("key or value too large");
  }
  last_key_.assign(key);
  const size_t bytes = kElementSize + key.size() + value.size();
  if (!leaf_.empty() &&
      (kPageHeaderSize + leaf_bytes_ + bytes > page_size_ || leaf_.size() == 0xFFFE)) {
    if (auto flushed = FlushLeaf(); !flushed.ok()) return flushed;
  }
  leaf_.emplace_back(std::string(key), std::string(value));
  leaf_bytes_ += bytes;
  return absl::OkStatus();
}

absl::Status BoltWriter::FlushLeaf() {
  // Elements first, then each key and value; an element's pos counts from the element.
  const size_t data_start = leaf_.size() * kElementSize;
  std::string body(data_start, '\0');
  for (size_t i = 0; i < leaf_.size(); ++i) {
    const size_t element = i * kElementSize;
    Store<uint32_t>(&body, element, leaf_flags_bucket_ ? kBucketElement : 0);
    Store<uint32_t>(&body, element + 4, static_cast<uint32_t>(body.size() - element));
    Store<uint32_t>(&body, element + 8, static_cast<uint32_t>(leaf_[i].first.size()));
    Store<uint32_t>(&body, element + 12, static_cast<uint32_t>(leaf_[i].second.size()));
    body += leaf_[i].first;
    body += leaf_[i].second;
  }
  auto id = WritePage(kLeafPage, static_cast<uint16_t>(leaf_.size()), body);
  if (!id.ok()) return id.status();
  std::string first = std::move(leaf_.front().first);
  leaf_.clear();
  leaf_bytes_ = 0;
  return AddToLevel(0, std::move(first), *id);
}

absl::StatusOr<uint64_t> BoltWriter::WriteBranch(Level* level) {
  std::string body(level->entries.size() * kElementSize, '\0');
  for (size_t i = 0; i < level->entries.size(); ++i) {
    const size_t element = i * kElementSize;
    Store<uint32_t>(&body, element, static_cast<uint32_t>(body.size() - element));
    Store<uint32_t>(&body, element + 4, static_cast<uint32_t>(level->entries[i].first.size()));
    Store<uint64_t>(&body, element + 8, level->entries[i].second);
    body += level->entries[i].first;
  }
  auto id = WritePage(kBranchPage, static_cast<uint16_t>(level->entries.size()), body);
  level->entries.clear();
  level->bytes = 0;
  return id;
}

absl::Status BoltWriter::AddToLevel(size_t index, std::string first_key, uint64_t page) {
  if (levels_.size() <= index) levels_.resize(index + 1);
  const size_t bytes = kElementSize + first_key.size();
  Level& level = levels_[index];
  if (!level.entries.empty() &&
      (kPageHeaderSize + level.bytes + bytes > page_size_ || level.entries.size() == 0xFFFE)) {
    std::string level_first = level.entries.front().first;
    auto id = WriteBranch(&level);
    if (!id.ok()) return id.status();
    // May grow levels_: `level` is not used after this.
    if (auto added = AddToLevel(index + 1, std::move(level_first), *id); !added.ok()) return added;
  }
  levels_[index].entries.emplace_back(std::move(first_key), page);
  levels_[index].bytes += bytes;
  return absl::OkStatus();
}

absl::Status BoltWriter::EndBucket() {
  if (!leaf_.empty()) {
    if (auto flushed = FlushLeaf(); !flushed.ok()) return flushed;
  }
  uint64_t root = 0;
  if (levels_.empty()) {
    // An empty bucket still has a root: an empty leaf.
    auto id = WritePage(kLeafPage, 0, "");
    if (!id.ok()) return id.status();
    root = *id;
  }
  for (size_t index = 0; root == 0; ++index) {
    if (index + 1 == levels_.size() && levels_[index].entries.size() == 1) {
      root = levels_[index].entries.front().second;
      break;
    }
    std::string first = levels_[index].entries.front().first;
    auto id = WriteBranch(&levels_[index]);
    if (!id.ok()) return id.status();
    if (auto added = AddToLevel(index + 1, std::move(first), *id); !added.ok()) return added;
  }
  levels_.clear();
  if (!leaf_flags_bucket_) buckets_.emplace_back(last_bucket_, root);
  root_of_last_ = root;
  in_bucket_ = false;
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> BoltWriter::Finish() {
  if (fd_ < 0) return absl::FailedPreconditionError("the file is finished");
  if (in_bucket_) {
    if (auto ended = EndBucket(); !ended.ok()) return ended;
  }
  // The root bucket: one element per top-level bucket, flagged as a bucket, valued with the
  // bucket's header (its root page, sequence 0).
  leaf_flags_bucket_ = true;
  in_bucket_ = true;
  last_key_.clear();
  for (const auto& [name, page] : buckets_) {
    std::string header(kBucketHeaderSize, '\0');
    Store<uint64_t>(&header, 0, page);
    if (auto put = Put(name, header); !put.ok()) return put;
  }
  if (auto ended = EndBucket(); !ended.ok()) return ended;
  const uint64_t root = root_of_last_;
  auto freelist = WritePage(kFreelistPage, 0, "");
  if (!freelist.ok()) return freelist.status();
  for (uint64_t id = 0; id < 2; ++id) {
    std::string image(page_size_, '\0');
    Store<uint64_t>(&image, 0, id);
    Store<uint16_t>(&image, 8, kMetaPage);
    const size_t meta = kPageHeaderSize;
    Store<uint32_t>(&image, meta + 0, kMagic);
    Store<uint32_t>(&image, meta + 4, kVersion);
    Store<uint32_t>(&image, meta + 8, page_size_);
    Store<uint64_t>(&image, meta + 16, root);
    Store<uint64_t>(&image, meta + 32, *freelist);
    Store<uint64_t>(&image, meta + 40, next_page_);
    // Transaction ids 0 and 1, as bbolt gives a new file: its next write lands on page 0.
    Store<uint64_t>(&image, meta + 48, id);
    Store<uint64_t>(&image, meta + kMetaChecksumOffset,
                    Fnv1a64(std::string_view(image).substr(meta, kMetaChecksumOffset)));
    if (pwrite(fd_, image.data(), image.size(), id * page_size_) !=
        static_cast<ssize_t>(image.size())) {
      return absl::InternalError(absl::StrCat("write failed: ", std::strerror(errno)));
    }
  }
  if (fsync(fd_) != 0) {
    return absl::InternalError(absl::StrCat("fsync failed: ", std::strerror(errno)));
  }
  close(fd_);
  fd_ = -1;
  return next_page_ * page_size_;
}

}  // namespace quorum::storage
