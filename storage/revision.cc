#include "storage/revision.h"

namespace quorum::storage {
namespace {

void PutBigEndian64(uint64_t v, char* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

uint64_t GetBigEndian64(const char* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[i]);
  return v;
}

}  // namespace

size_t EncodeRevisionKey(Revision rev, bool tombstone, char* out) {
  PutBigEndian64(static_cast<uint64_t>(rev.main), out);
  out[8] = '_';
  PutBigEndian64(static_cast<uint64_t>(rev.sub), out + 9);
  if (!tombstone) return kRevisionKeySize;
  out[kRevisionKeySize] = kTombstoneMark;
  return kTombstoneKeySize;
}

std::string RevisionKey(Revision rev, bool tombstone) {
  char buf[kTombstoneKeySize];
  return std::string(buf, EncodeRevisionKey(rev, tombstone, buf));
}

bool DecodeRevisionKey(std::string_view key, Revision* rev, bool* tombstone) {
  if (key.size() != kRevisionKeySize && key.size() != kTombstoneKeySize) return false;
  if (key[8] != '_') return false;
  if (key.size() == kTombstoneKeySize && key[kRevisionKeySize] != kTombstoneMark) return false;
  rev->main = static_cast<int64_t>(GetBigEndian64(key.data()));
  rev->sub = static_cast<int64_t>(GetBigEndian64(key.data() + 9));
  *tombstone = key.size() == kTombstoneKeySize;
  return true;
}

}  // namespace quorum::storage
