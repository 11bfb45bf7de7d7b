#include "client/ctl/go_json.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proto/go_json_string.h"

namespace quorum::ctl {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

namespace {

// Go's exported name for a proto identifier: response_put -> ResponsePut.
std::string GoName(const std::string& proto_name) {
  std::string out;
  bool upper = true;
  for (char c : proto_name) {
    if (c == '_') {
      upper = true;
      continue;
    }
    out.push_back(upper ? static_cast<char>(toupper(c)) : c);
    upper = false;
  }
  return out;
}

std::string Scalar(const Message& m, const Reflection* r, const FieldDescriptor* f, int index) {
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
    case FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f));
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f));
    case FieldDescriptor::CPPTYPE_BOOL:
      return (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "true" : "false";
    case FieldDescriptor::CPPTYPE_ENUM:
      return absl::StrCat(rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f));
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string value = rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
      return f->type() == FieldDescriptor::TYPE_BYTES ? absl::StrCat("\"", Base64(value), "\"")
                                                      : GoJsonString(value);
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return GoJson(rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f));
    default:
      return "null";
  }
}

bool IsEmpty(const Message& m, const Reflection* r, const FieldDescriptor* f) {
  if (f->is_repeated()) return r->FieldSize(m, f) == 0;
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) return !r->HasField(m, f);
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) return r->GetString(m, f).empty();
  std::string value = Scalar(m, r, f, -1);
  return value == "0" || value == "false";
}

}  // namespace

std::string Base64(const std::string& bytes) { return absl::Base64Escape(bytes); }

std::string GoJsonString(const std::string& text) { return GoJsonQuote(text); }

std::string GoJsonFields(const Message& message) {
  const auto* descriptor = message.GetDescriptor();
  const auto* reflection = message.GetReflection();
  std::string out;
  auto add = [&](const std::string& item) {
    if (!out.empty()) out += ",";
    out += item;
  };
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* f = descriptor->field(i);
    if (f->real_containing_oneof() != nullptr) {
      // A oneof appears once, where its first member is declared.
      const auto* oneof = f->real_containing_oneof();
      if (oneof->field(0) != f) continue;
      const FieldDescriptor* set = reflection->GetOneofFieldDescriptor(message, oneof);
      if (set == nullptr) continue;
      add(absl::StrCat("\"", GoName(oneof->name()), "\":{\"", GoName(set->name()),
                       "\":", Scalar(message, reflection, set, -1), "}"));
      continue;
    }
    if (IsEmpty(message, reflection, f)) continue;
    std::string value;
    if (f->is_repeated()) {
      value = "[";
      for (int j = 0; j < reflection->FieldSize(message, f); ++j) {
        if (j > 0) value += ",";
        value += Scalar(message, reflection, f, j);
      }
      value += "]";
    } else {
      value = Scalar(message, reflection, f, -1);
    }
    add(absl::StrCat("\"", f->name(), "\":", value));
  }
  return out;
}

std::string GoJson(const Message& message) { return "{" + GoJsonFields(message) + "}"; }

}  // namespace quorum::ctl
