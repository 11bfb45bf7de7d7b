#include "server/http/gateway_json.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace quorum::server::http {
namespace {

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Go's quoting of the byte a syntax error names (encoding/json's quoteChar).
std::string GoQuoteChar(unsigned char c) {
  if (c == '\'') return R"('\'')";
  if (c == '"') return R"('"')";
  switch (c) {
    case '\a':
      return R"('\a')";
    case '\b':
      return R"('\b')";
    case '\f':
      return R"('\f')";
    case '\n':
      return R"('\n')";
    case '\r':
      return R"('\r')";
    case '\t':
      return R"('\t')";
    case '\v':
      return R"('\v')";
    case '\\':
      return R"('\\')";
  }
  if (c < 0x20 || c == 0x7f) return absl::StrFormat(R"('\x%02x')", c);
  if (c < 0x80) return std::string("'") + static_cast<char>(c) + "'";
  // Go takes the byte for a code point: U+0080..U+00FF, written in UTF-8.
  std::string utf8 = {static_cast<char>(0xc0 | (c >> 6)), static_cast<char>(0x80 | (c & 0x3f))};
  return "'" + utf8 + "'";
}

// Reads one JSON value starting at `at` (not whitespace) the way Go's encoding/json scanner
// does, and moves `at` past it. Errors carry the scanner's own texts, which etcd's gateway
// returns for a body that is not JSON.
class GoJsonScanner {
 public:
  explicit GoJsonScanner(std::string_view text) : text_(text) {}

  absl::Status Value(size_t& at) {
    at_ = at;
    absl::Status status = ReadValue();
    at = at_;
    return status;
  }

 private:
  absl::Status Invalid(const char* context) const {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid character ", GoQuoteChar(static_cast<unsigned char>(text_[at_])), " ", context));
  }
  static absl::Status UnexpectedEnd() { return absl::InvalidArgumentError("unexpected EOF"); }
  bool AtEnd() const { return at_ >= text_.size(); }
  char Peek() const { return text_[at_]; }
  void SkipSpace() {
    while (!AtEnd() && IsJsonSpace(Peek())) ++at_;
  }
  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }
  static bool IsHex(char c) {
    return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }

  absl::Status ReadValue() {
    SkipSpace();
    if (AtEnd()) return UnexpectedEnd();
    switch (Peek()) {
      case '{':
        return ReadObject();
      case '[':
        return ReadArray();
      case '"':
        return ReadString();
      case 't':
        return ReadLiteral("true");
      case 'f':
        return ReadLiteral("false");
      case 'n':
        return ReadLiteral("null");
      default:
        if (Peek() == '-' || IsDigit(Peek())) return ReadNumber();
        return Invalid("looking for beginning of value");
    }
  }

  absl::Status ReadObject() {
    ++at_;  // {
    SkipSpace();
    if (AtEnd()) return UnexpectedEnd();
    if (Peek() == '}') {
      ++at_;
      return absl::OkStatus();
    }
    while (true) {
      SkipSpace();
      if (AtEnd()) return UnexpectedEnd();
      if (Peek() != '"') return Invalid("looking for beginning of object key string");
      if (absl::Status s = ReadString(); !s.ok()) return s;
      SkipSpace();
      if (AtEnd()) return UnexpectedEnd();
      if (Peek() != ':') return Invalid("after object key");
      ++at_;
      if (absl::Status s = ReadValue(); !s.ok()) return s;
      SkipSpace();
      if (AtEnd()) return UnexpectedEnd();
      if (Peek() == '}') {
        ++at_;
        return absl::OkStatus();
      }
      if (Peek() != ',') return Invalid("after object key:value pair");
      ++at_;
    }
  }

  absl::Status ReadArray() {
    ++at_;  // [
    SkipSpace();
    if (AtEnd()) return UnexpectedEnd();
    if (Peek() == ']') {
      ++at_;
      return absl::OkStatus();
    }
    while (true) {
      if (absl::Status s = ReadValue(); !s.ok()) return s;
      SkipSpace();
      if (AtEnd()) return UnexpectedEnd();
      if (Peek() == ']') {
        ++at_;
        return absl::OkStatus();
      }
      if (Peek() != ',') return Invalid("after array element");
      ++at_;
    }
  }

  absl::Status ReadString() {
    ++at_;  // "
    while (true) {
      if (AtEnd()) return UnexpectedEnd();
      const unsigned char c = static_cast<unsigned char>(Peek());
      if (c == '"') {
        ++at_;
        return absl::OkStatus();
      }
      if (c < 0x20) return Invalid("in string literal");
      if (c != '\\') {
        ++at_;
        continue;
      }
      ++at_;
      if (AtEnd()) return UnexpectedEnd();
      const char e = Peek();
      if (e == 'u') {
        ++at_;
        for (int i = 0; i < 4; ++i, ++at_) {
          if (AtEnd()) return UnexpectedEnd();
          if (!IsHex(Peek())) return Invalid("in \\u hexadecimal character escape");
        }
        continue;
      }
      if (std::string_view("bfnrt\\/\"").find(e) == std::string_view::npos) {
        return Invalid("in string escape code");
      }
      ++at_;
    }
  }

  absl::Status ReadLiteral(std::string_view word) {
    ++at_;
    for (size_t i = 1; i < word.size(); ++i, ++at_) {
      if (AtEnd()) return UnexpectedEnd();
      if (Peek() != word[i]) {
        return Invalid(absl::StrCat("in literal ", std::string(word), " (expecting ",
                                    GoQuoteChar(static_cast<unsigned char>(word[i])), ")")
                           .c_str());
      }
    }
    return absl::OkStatus();
  }

  // A number ends at the first byte that cannot continue it (or at the end of the body).
  absl::Status ReadNumber() {
    if (Peek() == '-') {
      ++at_;
      if (AtEnd()) return UnexpectedEnd();
      if (!IsDigit(Peek())) return Invalid("in numeric literal");
    }
    if (Peek() == '0') {
      ++at_;
    } else {
      while (!AtEnd() && IsDigit(Peek())) ++at_;
    }
    if (!AtEnd() && Peek() == '.') {
      ++at_;
      if (AtEnd()) return UnexpectedEnd();
      if (!IsDigit(Peek())) return Invalid("after decimal point in numeric literal");
      while (!AtEnd() && IsDigit(Peek())) ++at_;
    }
    if (!AtEnd() && (Peek() == 'e' || Peek() == 'E')) {
      ++at_;
      if (!AtEnd() && (Peek() == '+' || Peek() == '-')) ++at_;
      if (AtEnd()) return UnexpectedEnd();
      if (!IsDigit(Peek())) return Invalid("in exponent of numeric literal");
      while (!AtEnd() && IsDigit(Peek())) ++at_;
    }
    return absl::OkStatus();
  }

  std::string_view text_;
  size_t at_ = 0;
};

// Go's name for the JSON kind a top-level value of `text` has, when it is not an object.
const char* NonObjectKind(std::string_view text) {
  switch (text.empty() ? '{' : text[0]) {
    case '[':
      return "array";
    case '"':
      return "string";
    case 't':
    case 'f':
      return "bool";
    case '{':
    case 'n':
      return nullptr;
    default:
      return absl::ascii_isdigit(static_cast<unsigned char>(text[0])) || text[0] == '-' ? "number"
                                                                                        : nullptr;
  }
}

}  // namespace

std::vector<std::string_view> SplitJsonValues(std::string_view body, absl::Status* error) {
  std::vector<std::string_view> values;
  GoJsonScanner scanner(body);
  *error = absl::OkStatus();
  size_t at = 0;
  while (true) {
    while (at < body.size() && IsJsonSpace(body[at])) ++at;
    if (at >= body.size()) break;
    const size_t start = at;
    if (absl::Status s = scanner.Value(at); !s.ok()) {
      *error = std::move(s);
      break;
    }
    values.push_back(body.substr(start, at - start));
  }
  return values;
}

absl::Status JsonToMessage(std::string_view json, google::protobuf::Message& message) {
  message.Clear();
  if (json.empty() || json == "null") return absl::OkStatus();
  // etcd's decoder reads the body into a map of fields first: Go names what it got instead.
  if (const char* kind = NonObjectKind(json); kind != nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "json: cannot unmarshal ", kind, " into Go value of type map[string]json.RawMessage"));
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &message, options);
  if (!status.ok()) return absl::InvalidArgumentError(std::string(status.message()));
  // Skipping unknown fields also skips enum names the type does not have, which etcd refuses:
  // a strict parse finds them (unless an unknown field comes first and stops it).
  google::protobuf::util::JsonParseOptions strict;
  std::unique_ptr<google::protobuf::Message> probe(message.New());
  auto strict_status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), probe.get(), strict);
  // Its text: `(field): invalid value "X" for type type.googleapis.com/pkg.Message.Enum`.
  const std::string text(strict_status.message());
  constexpr std::string_view kValue = "invalid value ";
  constexpr std::string_view kType = " for type type.googleapis.com/";
  const size_t value = text.find(kValue);
  const size_t type = text.find(kType);
  if (strict_status.ok() || value == std::string::npos || type == std::string::npos ||
      type < value) {
    return absl::OkStatus();  // nothing else a strict parse refuses is refused by etcd
  }
  // Go names the enum type package.Message_Enum.
  std::string go_type = text.substr(type + kType.size());
  const size_t package_end = go_type.find('.');
  for (size_t i = package_end + 1; package_end != std::string::npos && i < go_type.size(); ++i) {
    if (go_type[i] == '.') go_type[i] = '_';
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown value ", text.substr(value + kValue.size(), type - value - kValue.size()),
      " for enum ", go_type));
}

std::string MessageToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = false;
  options.always_print_enums_as_ints = false;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) return "{}";
  return out;
}

std::unique_ptr<google::protobuf::Message> NewMessage(
    const google::protobuf::Descriptor* descriptor) {
  const google::protobuf::Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor);
  return std::unique_ptr<google::protobuf::Message>(prototype->New());
}

bool ParseByteBuffer(const grpc::ByteBuffer& buffer, google::protobuf::Message& message) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return false;
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return message.ParseFromString(bytes);
}

grpc::ByteBuffer SerializeToByteBuffer(const google::protobuf::Message& message) {
  const std::string bytes = message.SerializeAsString();
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

int HttpStatusFromGrpcCode(int code) {
  switch (code) {
    case 0:  // OK
      return 200;
    case 1:  // CANCELLED
      return 408;
    case 3:   // INVALID_ARGUMENT
    case 11:  // OUT_OF_RANGE
      return 400;
    case 4:  // DEADLINE_EXCEEDED
      return 504;
    case 5:  // NOT_FOUND
      return 404;
    case 6:   // ALREADY_EXISTS
    case 10:  // ABORTED
      return 409;
    case 7:  // PERMISSION_DENIED
      return 403;
    case 16:  // UNAUTHENTICATED
      return 401;
    case 8:  // RESOURCE_EXHAUSTED
      return 429;
    case 9:  // FAILED_PRECONDITION
      return 412;
    case 12:  // UNIMPLEMENTED
      return 501;
    case 14:  // UNAVAILABLE
      return 503;
    default:  // UNKNOWN, INTERNAL, DATA_LOSS and codes gRPC does not define
      return 500;
  }
}

std::string HttpStatusText(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 412:
      return "Precondition Failed";
    case 429:
      return "Too Many Requests";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Internal Server Error";
  }
}

std::string ErrorBody(int code, std::string_view message) {
  const std::string quoted = GoJsonQuote(message);
  return absl::StrCat(R"({"error":)", quoted, R"(,"message":)", quoted, R"(,"code":)", code, "}");
}

std::string StreamErrorBody(int code, std::string_view message) {
  // Fields at their zero value are left out, as for any message etcd's marshaler writes.
  const int status = HttpStatusFromGrpcCode(code);
  std::string body = R"({"error":{)";
  if (code != 0) absl::StrAppend(&body, R"("grpc_code":)", code, ",");
  absl::StrAppend(&body, R"("http_code":)", status);
  if (!message.empty()) absl::StrAppend(&body, R"(,"message":)", GoJsonQuote(message));
  absl::StrAppend(&body, R"(,"http_status":)", GoJsonQuote(HttpStatusText(status)), "}}");
  return body;
}

}  // namespace quorum::server::http
