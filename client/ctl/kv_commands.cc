// quorumctl get / put / del / txn / compaction: etcdctl's KV commands.
#include <iostream>

#include "absl/strings/numbers.h"
#include "client/ctl/ctl.h"
#include "client/ctl/kv_ops.h"
#include "client/ctl/txn_input.h"

namespace quorum::ctl {

void AddKvCommands(CLI::App& app, CtlContext& ctx) {
  auto get = std::make_shared<GetArgs>();
  DefineGet(app, get.get())->callback([&ctx, get] {
    auto request = BuildRange(*get);
    auto response = ctx.client().Range(request);
    if (!response.ok()) Fail(kExitError, ErrorText(response.status()));
    if (get->print_value_only) {
      if (ctx.printer().format() != OutputFormat::kSimple) {
        Fail(kExitBadArgs, "print-value-only is only for `--write-out=simple`");
      }
      ctx.printer().set_value_only(true);
    }
    ctx.printer().Get(*response);
  });

  auto put = std::make_shared<PutArgs>();
  put->value_from_stdin = true;
  DefinePut(app, put.get())->callback([&ctx, put] {
    auto response = ctx.client().Put(BuildPut(*put));
    if (!response.ok()) Fail(kExitError, ErrorText(response.status()));
    ctx.printer().Put(*response);
  });

  auto del = std::make_shared<DelArgs>();
  DefineDel(app, del.get())->callback([&ctx, del] {
    auto response = ctx.client().Delete(BuildDel(*del));
    if (!response.ok()) Fail(kExitError, ErrorText(response.status()));
    ctx.printer().Del(*response);
  });

  auto interactive = std::make_shared<bool>(false);
  auto txn_args = std::make_shared<std::vector<std::string>>();
  auto* txn = app.add_subcommand("txn", "Txn processes all the requests in one transaction");
  txn->add_flag("-i,--interactive", *interactive, "Input transaction in interactive mode");
  txn->add_option("args", *txn_args);
  txn->callback([&ctx, interactive, txn_args] {
    if (!txn_args->empty()) Fail(kExitBadArgs, "txn command does not accept argument");
    auto request = ReadTxn(std::cin, *interactive);
    auto response = ctx.client().Txn(request);
    if (!response.ok()) Fail(kExitError, ErrorText(response.status()));
    ctx.printer().Txn(*response);
  });

  auto compact_args = std::make_shared<std::vector<std::string>>();
  auto physical = std::make_shared<bool>(false);
  auto* compaction = app.add_subcommand("compaction", "Compacts the event history in etcd");
  compaction->add_option("revision", *compact_args);
  compaction->add_flag("--physical", *physical,
                       "'true' to wait for compaction to physically remove all old revisions");
  compaction->callback([&ctx, compact_args, physical] {
    if (compact_args->size() != 1) Fail(kExitBadArgs, "compaction command needs 1 argument");
    int64_t revision = 0;
    if (!absl::SimpleAtoi((*compact_args)[0], &revision)) {
      Fail(kExitError, "strconv.ParseInt: parsing \"" + (*compact_args)[0] + "\": invalid syntax");
    }
    auto response = ctx.client().Compact(revision, *physical);
    if (!response.ok()) Fail(kExitError, ErrorText(response.status()));
    std::cout << "compacted revision " << revision << "\n";
  });
}

}  // namespace quorum::ctl
