// Renders protobuf messages the way etcdctl's `-w json` does: Go's encoding/json applied to the
// gogo-generated structs. quorumctl's printers call it so that scripts written against etcdctl
// parse quorumctl's output unchanged.
#ifndef QUORUM_CLIENT_CTL_GO_JSON_H_
#define QUORUM_CLIENT_CTL_GO_JSON_H_

#include <google/protobuf/message.h>

#include <string>

namespace quorum::ctl {

// The rules of those structs: fields in declaration order, named by the proto field name, each
// left out when zero/empty (omitempty); bytes as standard base64; enums as numbers; a oneof as
// {"<OneofGoName>": {"<FieldGoName>": value}}; 64-bit integers as plain numbers.
std::string GoJson(const google::protobuf::Message& message);

// The fields of `message` without the surrounding braces ("" when all are empty), for Go structs
// that embed a message (clientv3's lease responses embed the header this way).
std::string GoJsonFields(const google::protobuf::Message& message);

// A JSON string literal with Go's escaping (<, >, & as \u003c, \u003e, \u0026).
std::string GoJsonString(const std::string& text);

// Standard base64 with padding.
std::string Base64(const std::string& bytes);

}  // namespace quorum::ctl

#endif  // QUORUM_CLIENT_CTL_GO_JSON_H_
