#include "client/ctl/kv_ops.h"

#include <iostream>
#include <iterator>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "client/client.h"
#include "client/ctl/ctl.h"

namespace quorum::ctl {

using namespace etcdserverpb;  // the API's many message types

namespace {

struct KeyRange {
  std::string key;
  std::string range_end;
};

// The key and range end that get and del select, as etcdctl derives them from the arguments,
// --prefix and --from-key ("\0" stands for the empty key and for "every key from `key` on").
KeyRange ResolveKeyRange(const std::vector<std::string>& args, bool prefix, bool from_key) {
  KeyRange range{.key = args[0]};
  if (args.size() > 1) {
    if (prefix || from_key) {
      Fail(kExitBadArgs,
           "too many arguments, only accept one argument when `--prefix` or "
           "`--from-key` is set");
    }
    range.range_end = args[1];
  }
  if (prefix) {
    if (range.key.empty()) {
      range.key = std::string(1, '\0');
      range.range_end = std::string(1, '\0');
    } else {
      range.range_end = client::PrefixRangeEnd(range.key);
    }
  }
  if (from_key) {
    if (range.key.empty()) range.key = std::string(1, '\0');
    range.range_end = std::string(1, '\0');
  }
  return range;
}

}  // namespace

CLI::App* DefineGet(CLI::App& parent, GetArgs* a) {
  auto* cmd = parent.add_subcommand("get", "Gets the key or a range of keys");
  cmd->add_option("key_and_range_end", a->args, "<key> [range_end]");
  cmd->add_option("--consistency", a->consistency, "Linearizable(l) or Serializable(s)");
  cmd->add_option("--order", a->order, "Order of results; ASCEND or DESCEND");
  cmd->add_option("--sort-by", a->sort_by, "Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION");
  cmd->add_option("--limit", a->limit, "Maximum number of results");
  cmd->add_flag("--prefix", a->prefix, "Get keys with matching prefix");
  cmd->add_flag("--from-key", a->from_key, "Get keys that are greater than or equal to the key");
  cmd->add_option("--rev", a->rev, "Specify the kv revision");
  cmd->add_flag("--keys-only", a->keys_only, "Get only the keys");
  cmd->add_flag("--print-value-only", a->print_value_only,
                "Only write values when using the \"simple\" output format");
  return cmd;
}

CLI::App* DefinePut(CLI::App& parent, PutArgs* a) {
  auto* cmd = parent.add_subcommand("put", "Puts the given key into the store");
  cmd->add_option("key_and_value", a->args, "<key> <value> (<value> can also come from stdin)");
  cmd->add_option("--lease", a->lease, "lease ID (in hexadecimal) to attach to the key");
  cmd->add_flag("--prev-kv", a->prev_kv, "return the previous key-value pair");
  cmd->add_flag("--ignore-value", a->ignore_value, "updates the key using its current value");
  cmd->add_flag("--ignore-lease", a->ignore_lease, "updates the key using its current lease");
  return cmd;
}

CLI::App* DefineDel(CLI::App& parent, DelArgs* a) {
  auto* cmd = parent.add_subcommand("del", "Removes the specified key or range of keys");
  cmd->add_option("key_and_range_end", a->args, "<key> [range_end]");
  cmd->add_flag("--prefix", a->prefix, "delete keys with matching prefix");
  cmd->add_flag("--prev-kv", a->prev_kv, "return deleted key-value pairs");
  cmd->add_flag("--from-key", a->from_key, "delete keys greater than or equal to the key");
  return cmd;
}

RangeRequest BuildRange(const GetArgs& a) {
  if (a.args.empty()) {
    Fail(kExitBadArgs,
         "get command needs one argument as key and an optional argument as "
         "range_end");
  }
  if (a.prefix && a.from_key) {
    Fail(kExitBadArgs, "`--prefix` and `--from-key` cannot be set at the same time, choose one");
  }
  RangeRequest r;
  if (a.consistency == "s") {
    r.set_serializable(true);
  } else if (a.consistency != "l") {
    Fail(kExitBadFeature, "unknown consistency flag \"" + a.consistency + "\"");
  }
  KeyRange range = ResolveKeyRange(a.args, a.prefix, a.from_key);
  r.set_key(range.key);
  r.set_range_end(range.range_end);
  r.set_limit(a.limit);
  if (a.rev > 0) r.set_revision(a.rev);
  std::string order = absl::AsciiStrToUpper(a.order);
  auto sort_order = RangeRequest::NONE;
  if (order == "ASCEND")
    sort_order = RangeRequest::ASCEND;
  else if (order == "DESCEND")
    sort_order = RangeRequest::DESCEND;
  else if (!order.empty())
    Fail(kExitBadFeature, "bad sort order " + a.order);
  std::string target = absl::AsciiStrToUpper(a.sort_by);
  auto sort_target = RangeRequest::KEY;
  if (target == "CREATE")
    sort_target = RangeRequest::CREATE;
  else if (target == "KEY")
    sort_target = RangeRequest::KEY;
  else if (target == "MODIFY")
    sort_target = RangeRequest::MOD;
  else if (target == "VALUE")
    sort_target = RangeRequest::VALUE;
  else if (target == "VERSION")
    sort_target = RangeRequest::VERSION;
  else if (!target.empty())
    Fail(kExitBadFeature, "bad sort target " + a.sort_by);
  // etcd's clients send no order for ascending by key: the server's natural order, and a
  // request the server need not sort.
  if (sort_target == RangeRequest::KEY && sort_order == RangeRequest::ASCEND) {
    sort_order = RangeRequest::NONE;
  }
  r.set_sort_order(sort_order);
  r.set_sort_target(sort_target);
  r.set_keys_only(a.keys_only);
  return r;
}

PutRequest BuildPut(const PutArgs& a) {
  const char* kUsage = "put command needs 1 argument and input from stdin or 2 arguments";
  if (a.args.empty()) Fail(kExitBadArgs, kUsage);
  if (a.ignore_value && a.args.size() > 1) {
    Fail(kExitBadArgs, "put command needs only 1 argument when 'ignore-value' is set");
  }
  PutRequest r;
  r.set_key(a.args[0]);
  if (!a.ignore_value) {
    if (a.args.size() > 1) {
      r.set_value(a.args[1]);
    } else if (a.value_from_stdin) {
      std::string value((std::istreambuf_iterator<char>(std::cin)),
                        std::istreambuf_iterator<char>());
      if (value.empty()) Fail(kExitBadArgs, kUsage);
      r.set_value(value);
    } else {
      Fail(kExitBadArgs, kUsage);
    }
  }
  uint64_t id = 0;
  if (!absl::SimpleHexAtoi(a.lease, &id) || id > static_cast<uint64_t>(INT64_MAX)) {
    Fail(kExitBadArgs, "bad lease ID (strconv.ParseInt: parsing \"" + a.lease +
                           "\": invalid syntax), expecting ID in Hex");
  }
  r.set_lease(static_cast<int64_t>(id));
  r.set_prev_kv(a.prev_kv);
  r.set_ignore_value(a.ignore_value);
  r.set_ignore_lease(a.ignore_lease);
  return r;
}

DeleteRangeRequest BuildDel(const DelArgs& a) {
  if (a.args.empty() || a.args.size() > 2) {
    Fail(kExitBadArgs,
         "del command needs one argument as key and an optional argument as "
         "range_end");
  }
  if (a.prefix && a.from_key) {
    Fail(kExitBadArgs, "`--prefix` and `--from-key` cannot be set at the same time, choose one");
  }
  KeyRange range = ResolveKeyRange(a.args, a.prefix, a.from_key);
  DeleteRangeRequest r;
  r.set_key(range.key);
  r.set_range_end(range.range_end);
  r.set_prev_kv(a.prev_kv);
  return r;
}

}  // namespace quorum::ctl
