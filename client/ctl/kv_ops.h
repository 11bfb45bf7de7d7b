// The get / put / del commands' flags and how they become etcd requests, shared by the
// top-level commands (kv_commands.cc) and the operation lines of `txn` (txn_input.cc).
#ifndef QUORUM_CLIENT_CTL_KV_OPS_H_
#define QUORUM_CLIENT_CTL_KV_OPS_H_

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "etcdserverpb/rpc.pb.h"

namespace quorum::ctl {

struct GetArgs {
  std::vector<std::string> args;
  std::string consistency = "l";
  std::string order, sort_by;
  int64_t limit = 0;
  int64_t rev = 0;
  bool prefix = false, from_key = false, keys_only = false;
  bool print_value_only = false;
};

struct PutArgs {
  std::vector<std::string> args;
  std::string lease = "0";
  bool prev_kv = false, ignore_value = false, ignore_lease = false;
  // The value read from stdin when only a key is given (top-level `put` only).
  bool value_from_stdin = false;
};

struct DelArgs {
  std::vector<std::string> args;
  bool prefix = false, prev_kv = false, from_key = false;
};

CLI::App* DefineGet(CLI::App& parent, GetArgs* a);
CLI::App* DefinePut(CLI::App& parent, PutArgs* a);
CLI::App* DefineDel(CLI::App& parent, DelArgs* a);

// Each checks the arguments as etcdctl does and ends the process with its message and exit code
// when they are wrong.
etcdserverpb::RangeRequest BuildRange(const GetArgs& a);
etcdserverpb::PutRequest BuildPut(const PutArgs& a);
etcdserverpb::DeleteRangeRequest BuildDel(const DelArgs& a);

}  // namespace quorum::ctl

#endif  // QUORUM_CLIENT_CTL_KV_OPS_H_
