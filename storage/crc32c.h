// CRC-32C (Castagnoli), the checksum etcd's HashKV uses, so that our hashes of equal histories
// equal etcd's. Pure function; any thread.
#ifndef QUORUM_STORAGE_CRC32C_H_
#define QUORUM_STORAGE_CRC32C_H_

#include <cstdint>
#include <string_view>

namespace quorum::storage {

// Extends `crc` (0 to start) with `data`, as Go's crc32.Update with the Castagnoli table.
uint32_t Crc32cExtend(uint32_t crc, std::string_view data);

}  // namespace quorum::storage

#endif  // QUORUM_STORAGE_CRC32C_H_
