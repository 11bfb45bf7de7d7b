// Text tables and sizes as etcdctl prints them (`-w table`, "20 kB"), for quorumctl's printers
// and `cluster status`.
#ifndef QUORUM_CLIENT_CTL_TABLE_H_
#define QUORUM_CLIENT_CTL_TABLE_H_

#include <cstdint>
#include <string>
#include <vector>

namespace quorum::ctl {

// A boxed table: header upper-cased and centred, cells right-aligned, one space of padding, as
// etcdctl's tablewriter draws them. `left_align` is for tables of our own (cluster status).
std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows, bool left_align = false);

// A byte count in SI units the way etcdctl prints sizes: "9 B", "1.5 kB", "20 kB", "3.2 MB".
std::string HumanBytes(uint64_t bytes);

}  // namespace quorum::ctl

#endif  // QUORUM_CLIENT_CTL_TABLE_H_
