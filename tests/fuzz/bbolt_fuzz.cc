// libFuzzer target: arbitrary bytes as a bbolt file. The reader must refuse or read them without
// a crash, an out-of-bounds access (AddressSanitizer) or an endless walk; what it reads in full
// must be ordered, and a file written from it must read back the same.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "storage/bbolt.h"

namespace {

using Contents = std::map<std::string, std::map<std::string, std::string>>;

bool ReadAll(const quorum::storage::BoltReader& reader, Contents* out) {
  if (!reader.Check().ok()) return false;
  auto names = reader.Buckets();
  if (!names.ok()) return false;
  for (const std::string& name : *names) {
    auto& keys = (*out)[name];
    auto walked = reader.ForEach(name, [&](std::string_view key, std::string_view value, bool) {
      if (!keys.empty() && key <= keys.rbegin()->first) std::abort();  // order was checked
      keys.emplace(key, value);
      return absl::OkStatus();
    });
    if (!walked.ok()) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using quorum::storage::BoltReader;
  using quorum::storage::BoltWriter;
  using quorum::storage::ByteSource;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto reader = BoltReader::Open(ByteSource::OfBytes(bytes));
  if (!reader.ok()) return 0;
  Contents read;
  if (!ReadAll(**reader, &read)) return 0;
  // Written back (nested buckets' headers become plain values: the writer has top-level buckets
  // only), the file must read back the same.
  // Memory-backed where there is one: the writer fsyncs, once per input.
  static const std::string path = std::string(access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") +
                                  "/bbolt-fuzz-" + std::to_string(getpid()) + ".db";
  auto writer = BoltWriter::Create(path, 1024);
  if (!writer.ok()) std::abort();
  for (const auto& [name, keys] : read) {
    if (!(*writer)->BeginBucket(name).ok()) std::abort();
    for (const auto& [key, value] : keys) {
      if (!(*writer)->Put(key, value).ok()) std::abort();
    }
  }
  if (!(*writer)->Finish().ok()) std::abort();
  std::ifstream in(path, std::ios::binary);
  std::stringstream written;
  written << in.rdbuf();
  std::remove(path.c_str());
  const std::string copy = written.str();
  auto again = BoltReader::Open(ByteSource::OfBytes(copy));
  Contents reread;
  if (!again.ok() || !ReadAll(**again, &reread) || reread != read) std::abort();
  return 0;
}
