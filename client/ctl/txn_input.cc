#include "client/ctl/txn_input.h"

#include <iostream>
#include <regex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "client/ctl/ctl.h"
#include "client/ctl/kv_ops.h"

namespace quorum::ctl {

using namespace etcdserverpb;  // the API's many message types

namespace {

// Undoes Go's %q quoting of a double-quoted word; false when it is not well formed.
bool Unquote(const std::string& quoted, std::string* out) {
  if (quoted.size() < 2 || quoted.front() != '"' || quoted.back() != '"') return false;
  out->clear();
  for (size_t i = 1; i + 1 < quoted.size(); ++i) {
    char c = quoted[i];
    if (c != '\\') {
      out->push_back(c);
      continue;
    }
    if (++i + 1 > quoted.size() - 1) return false;
    switch (quoted[i]) {
      case 'n':
        out->push_back('\n');
        break;
      case 't':
        out->push_back('\t');
        break;
      case 'r':
        out->push_back('\r');
        break;
      case '\\':
        out->push_back('\\');
        break;
      case '"':
        out->push_back('"');
        break;
      case 'x': {
        int value = 0;
        if (i + 2 >= quoted.size() - 0 || !absl::SimpleHexAtoi(quoted.substr(i + 1, 2), &value)) {
          return false;
        }
        out->push_back(static_cast<char>(value));
        i += 2;
        break;
      }
      default:
        return false;
    }
  }
  return true;
}

// Reads `"key") op "value"` after the target's "(".
bool ScanCompare(const std::string& rest, std::string* key, std::string* op, std::string* value) {
  static const std::regex kPattern(
      R"re(^\s*("(?:[^"\\]|\\.)*")\)\s+(\S+)\s+("(?:[^"\\]|\\.)*")\s*$)re");
  std::smatch m;
  if (!std::regex_match(rest, m, kPattern)) return false;
  *op = m[2];
  return Unquote(m[1], key) && Unquote(m[3], value);
}

std::string NextLine(std::istream& in) {
  std::string line;
  if (!std::getline(in, line)) Fail(kExitInvalidInput, "EOF");
  return std::string(absl::StripAsciiWhitespace(line));
}

RequestOp ParseOp(const std::string& line) {
  auto args = Argify(line);
  if (args.size() < 2) Fail(kExitInvalidInput, "invalid txn compare request: " + line);
  CLI::App parser;
  GetArgs get;
  PutArgs put;
  DelArgs del;
  auto* get_cmd = DefineGet(parser, &get);
  auto* put_cmd = DefinePut(parser, &put);
  auto* del_cmd = DefineDel(parser, &del);
  parser.require_subcommand(1);
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    parser.parse(reversed);
  } catch (const CLI::ParseError&) {
    Fail(kExitInvalidInput, "invalid txn request: " + line);
  }
  RequestOp op;
  if (get_cmd->parsed()) *op.mutable_request_range() = BuildRange(get);
  if (put_cmd->parsed()) *op.mutable_request_put() = BuildPut(put);
  if (del_cmd->parsed()) *op.mutable_request_delete_range() = BuildDel(del);
  return op;
}

void ReadOps(std::istream& in, google::protobuf::RepeatedPtrField<RequestOp>* ops) {
  for (std::string line = NextLine(in); !line.empty(); line = NextLine(in)) {
    *ops->Add() = ParseOp(line);
  }
}

}  // namespace

std::vector<std::string> Argify(const std::string& line) {
  static const std::regex kWord(R"re("(?:[^"\\]|\\.)*"|'[^']*'|[^'"\s]\S*[^'"\s]?)re");
  std::vector<std::string> out;
  for (auto it = std::sregex_iterator(line.begin(), line.end(), kWord);
       it != std::sregex_iterator(); ++it) {
    std::string word = it->str();
    if (word.size() >= 2 && word.front() == '\'') {
      word = word.substr(1, word.size() - 2);
    } else if (!word.empty() && word.front() == '"') {
      std::string unquoted;
      if (!Unquote(word, &unquoted)) Fail(kExitInvalidInput, "invalid syntax");
      word = unquoted;
    }
    out.push_back(word);
  }
  return out;
}

absl::StatusOr<Compare> ParseCompare(const std::string& line) {
  size_t paren = line.find('(');
  if (paren == std::string::npos) {
    return absl::InvalidArgumentError("malformed comparison: " + line);
  }
  std::string target = line.substr(0, paren);
  std::string key, op, value;
  if (!ScanCompare(line.substr(paren + 1), &key, &op, &value)) {
    return absl::InvalidArgumentError("malformed comparison: " + line);
  }
  Compare cmp;
  cmp.set_key(key);
  if (op == "=")
    cmp.set_result(Compare::EQUAL);
  else if (op == "!=")
    cmp.set_result(Compare::NOT_EQUAL);
  else if (op == "<")
    cmp.set_result(Compare::LESS);
  else if (op == ">")
    cmp.set_result(Compare::GREATER);
  else
    return absl::InvalidArgumentError("Unknown compare type " + op);
  int64_t number = 0;
  bool numeric = absl::SimpleAtoi(value, &number);
  auto invalid = absl::InvalidArgumentError("invalid txn compare request: " + line);
  if (target == "ver" || target == "version") {
    if (!numeric) return invalid;
    cmp.set_target(Compare::VERSION);
    cmp.set_version(number);
  } else if (target == "c" || target == "create") {
    if (!numeric) return invalid;
    cmp.set_target(Compare::CREATE);
    cmp.set_create_revision(number);
  } else if (target == "m" || target == "mod") {
    if (!numeric) return invalid;
    cmp.set_target(Compare::MOD);
    cmp.set_mod_revision(number);
  } else if (target == "val" || target == "value") {
    cmp.set_target(Compare::VALUE);
    cmp.set_value(value);
  } else if (target == "lease") {
    if (!numeric) return invalid;
    cmp.set_target(Compare::LEASE);
    cmp.set_lease(number);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed comparison: ", line, " (unknown target ", target, ")"));
  }
  return cmp;
}

TxnRequest ReadTxn(std::istream& in, bool interactive) {
  TxnRequest txn;
  if (interactive) std::cout << "compares:\n" << std::flush;
  for (std::string line = NextLine(in); !line.empty(); line = NextLine(in)) {
    auto cmp = ParseCompare(line);
    if (!cmp.ok()) Fail(kExitInvalidInput, std::string(cmp.status().message()));
    *txn.add_compare() = *cmp;
  }
  if (interactive) std::cout << "success requests (get, put, del):\n" << std::flush;
  ReadOps(in, txn.mutable_success());
  if (interactive) std::cout << "failure requests (get, put, del):\n" << std::flush;
  ReadOps(in, txn.mutable_failure());
  return txn;
}

}  // namespace quorum::ctl
