// libFuzzer target: request bodies as the JSON gateway reads them. The body is split into JSON
// values the way Go's decoder splits a stream; each value is read into a message with the field
// kinds etcd's requests use (64-bit integers, bytes, strings, enums, booleans, repeated and
// nested messages, upper-case names like ID and TTL). Neither step may crash; the values must be
// pieces of the body in order; and a message that was read must read back the same from the
// JSON the gateway would write for it.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/http/gateway_json.h"

namespace {

using google::protobuf::FieldDescriptorProto;

void AddField(google::protobuf::DescriptorProto* message, const std::string& name, int number,
              FieldDescriptorProto::Type type, const std::string& type_name = "",
              bool repeated = false) {
  FieldDescriptorProto* field = message->add_field();
  field->set_name(name);
  field->set_number(number);
  field->set_type(type);
  field->set_label(repeated ? FieldDescriptorProto::LABEL_REPEATED
                            : FieldDescriptorProto::LABEL_OPTIONAL);
  if (!type_name.empty()) field->set_type_name(type_name);
}

// A request type shaped like etcd's (a range, a put, a lease grant and a txn compare in one).
const google::protobuf::Descriptor* RequestType() {
  static google::protobuf::DescriptorPool* pool = new google::protobuf::DescriptorPool();
  static const google::protobuf::Descriptor* type = [] {
    google::protobuf::FileDescriptorProto file;
    file.set_name("gateway_fuzz.proto");
    file.set_package("fuzz");
    file.set_syntax("proto3");
    google::protobuf::EnumDescriptorProto* result = file.add_enum_type();
    result->set_name("CompareResult");
    int number = 0;
    for (const char* name : {"EQUAL", "GREATER", "LESS", "NOT_EQUAL"}) {
      auto* value = result->add_value();
      value->set_name(name);
      value->set_number(number++);
    }
    google::protobuf::DescriptorProto* compare = file.add_message_type();
    compare->set_name("Compare");
    AddField(compare, "result", 1, FieldDescriptorProto::TYPE_ENUM, ".fuzz.CompareResult");
    AddField(compare, "key", 3, FieldDescriptorProto::TYPE_BYTES);
    AddField(compare, "version", 4, FieldDescriptorProto::TYPE_INT64);
    AddField(compare, "value", 7, FieldDescriptorProto::TYPE_BYTES);
    google::protobuf::DescriptorProto* request = file.add_message_type();
    request->set_name("Request");
    AddField(request, "key", 1, FieldDescriptorProto::TYPE_BYTES);
    AddField(request, "range_end", 2, FieldDescriptorProto::TYPE_BYTES);
    AddField(request, "limit", 3, FieldDescriptorProto::TYPE_INT64);
    AddField(request, "revision", 4, FieldDescriptorProto::TYPE_INT64);
    AddField(request, "serializable", 7, FieldDescriptorProto::TYPE_BOOL);
    AddField(request, "lease", 8, FieldDescriptorProto::TYPE_INT64);
    AddField(request, "ID", 9, FieldDescriptorProto::TYPE_INT64);
    AddField(request, "TTL", 10, FieldDescriptorProto::TYPE_INT64);
    AddField(request, "member_id", 11, FieldDescriptorProto::TYPE_UINT64);
    AddField(request, "name", 12, FieldDescriptorProto::TYPE_STRING);
    AddField(request, "peerURLs", 13, FieldDescriptorProto::TYPE_STRING, "", true);
    AddField(request, "compare", 14, FieldDescriptorProto::TYPE_MESSAGE, ".fuzz.Compare", true);
    AddField(request, "watch_id", 15, FieldDescriptorProto::TYPE_INT64);
    const google::protobuf::FileDescriptor* built = pool->BuildFile(file);
    if (built == nullptr) std::abort();
    return built->FindMessageTypeByName("Request");
  }();
  return type;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static google::protobuf::DynamicMessageFactory* factory =
      new google::protobuf::DynamicMessageFactory();
  const google::protobuf::Message* prototype = factory->GetPrototype(RequestType());
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  absl::Status syntax;
  const std::vector<std::string_view> values = quorum::server::http::SplitJsonValues(body, &syntax);
  const char* previous_end = body.data();
  for (std::string_view value : values) {
    if (value.data() < previous_end || value.data() + value.size() > body.data() + body.size()) {
      std::abort();  // not a piece of the body after the one before
    }
    previous_end = value.data() + value.size();
    std::unique_ptr<google::protobuf::Message> message(prototype->New());
    if (!quorum::server::http::JsonToMessage(value, *message).ok()) continue;
    const std::string json = quorum::server::http::MessageToJson(*message);
    std::unique_ptr<google::protobuf::Message> again(prototype->New());
    if (!quorum::server::http::JsonToMessage(json, *again).ok()) std::abort();
    if (again->SerializeAsString() != message->SerializeAsString()) std::abort();
  }
  return 0;
}
