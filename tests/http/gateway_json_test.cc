// The gateway's JSON rules without a server: bodies split and refused as Go's decoder does,
// protobuf JSON in and out as etcd's gateway writes it, and grpc-gateway's error shapes.
#include "server/http/gateway_json.h"

#include <gtest/gtest.h>

#include "etcdserverpb/rpc.pb.h"

namespace quorum::server::http {
namespace {

std::string SyntaxError(std::string_view body) {
  absl::Status error;
  SplitJsonValues(body, &error);
  return std::string(error.message());
}

TEST(GatewayJsonTest, SplitsBodiesIntoValuesLikeGoDecoder) {
  absl::Status error;
  auto values = SplitJsonValues(R"( {"a":1} {"b":[1,{"c":"}"}]}
    "s" 12 true)",
                                &error);
  EXPECT_TRUE(error.ok()) << error;
  ASSERT_EQ(values.size(), 5u);
  EXPECT_EQ(values[0], R"({"a":1})");
  EXPECT_EQ(values[1], R"({"b":[1,{"c":"}"}]})");
  EXPECT_EQ(values[2], R"("s")");
  EXPECT_EQ(values[3], "12");
  EXPECT_EQ(values[4], "true");
  EXPECT_TRUE(SplitJsonValues("  \n", &error).empty());
  EXPECT_TRUE(error.ok());
  // A broken value ends the list; the ones before it stay.
  values = SplitJsonValues(R"({"a":1} {bad)", &error);
  EXPECT_EQ(values.size(), 1u);
  EXPECT_FALSE(error.ok());
}

TEST(GatewayJsonTest, SyntaxErrorsUseGoDecoderTexts) {
  EXPECT_EQ(SyntaxError("{bad"),
            "invalid character 'b' looking for beginning of object key string");
  EXPECT_EQ(SyntaxError(R"({"k":"v")"), "unexpected EOF");
  EXPECT_EQ(SyntaxError(R"({"k" 1})"), "invalid character '1' after object key");
  EXPECT_EQ(SyntaxError(R"({"k":1 "j":2})"), "invalid character '\"' after object key:value pair");
  EXPECT_EQ(SyntaxError("[1 2]"), "invalid character '2' after array element");
  EXPECT_EQ(SyntaxError(R"({"k":nul})"), "invalid character '}' in literal null (expecting 'l')");
  EXPECT_EQ(SyntaxError(R"({"k":"\x"})"), "invalid character 'x' in string escape code");
  EXPECT_EQ(SyntaxError(R"({"k":"\u12g4"})"),
            "invalid character 'g' in \\u hexadecimal character escape");
  EXPECT_EQ(SyntaxError("{\"k\":\"a\nb\"}"), "invalid character '\\n' in string literal");
  EXPECT_EQ(SyntaxError(R"({"k":1.})"),
            "invalid character '}' after decimal point in numeric literal");
  EXPECT_EQ(SyntaxError(R"({"k":1e})"), "invalid character '}' in exponent of numeric literal");
  EXPECT_EQ(SyntaxError("?"), "invalid character '?' looking for beginning of value");
  EXPECT_EQ(SyntaxError("{'k':1}"),
            R"(invalid character '\'' looking for beginning of object key string)");
}

TEST(GatewayJsonTest, RequestsTakeProtoNamesStringsAndNumbers) {
  etcdserverpb::RangeRequest range;
  ASSERT_TRUE(JsonToMessage(R"({"key":"YQ==","range_end":"eg==","limit":"5","revision":7,)"
                            R"("sort_order":"DESCEND","sortTarget":2,"unknown":{"x":[1]}})",
                            range)
                  .ok());
  EXPECT_EQ(range.key(), "a");
  EXPECT_EQ(range.range_end(), "z");
  EXPECT_EQ(range.limit(), 5);
  EXPECT_EQ(range.revision(), 7);
  EXPECT_EQ(range.sort_order(), etcdserverpb::RangeRequest::DESCEND);
  EXPECT_EQ(range.sort_target(), etcdserverpb::RangeRequest::CREATE);
  EXPECT_TRUE(JsonToMessage("", range).ok());
  EXPECT_EQ(range.key(), "");
  // Unknown fields are skipped, unknown enum names are not (etcd refuses them).
  absl::Status unknown_enum = JsonToMessage(R"({"key":"YQ==","sort_order":"FOO"})", range);
  EXPECT_EQ(unknown_enum.message(),
            R"(unknown value "FOO" for enum etcdserverpb.RangeRequest_SortOrder)");
  EXPECT_EQ(JsonToMessage("[1]", range).message(),
            "json: cannot unmarshal array into Go value of type map[string]json.RawMessage");
}

TEST(GatewayJsonTest, ResponsesUseProtoNamesAndOmitDefaults) {
  etcdserverpb::RangeResponse response;
  response.mutable_header()->set_revision(3);
  auto* kv = response.add_kvs();
  kv->set_key("a");
  kv->set_value("b");
  kv->set_version(1);
  response.set_count(1);
  EXPECT_EQ(MessageToJson(response),
            R"({"header":{"revision":"3"},"kvs":[{"key":"YQ==","version":"1","value":"Yg=="}],)"
            R"("count":"1"})");
  etcdserverpb::HashResponse hash;
  hash.set_hash(42);
  EXPECT_EQ(MessageToJson(hash), R"({"hash":42})");  // 32-bit integers stay numbers
}

TEST(GatewayJsonTest, ErrorsAsGrpcGatewayWritesThem) {
  EXPECT_EQ(ErrorBody(3, "etcdserver: key is not provided"),
            R"({"error":"etcdserver: key is not provided",)"
            R"("message":"etcdserver: key is not provided","code":3})");
  EXPECT_EQ(
      ErrorBody(2, "a<b>&\"c\"\n"),
      R"({"error":"a\u003cb\u003e\u0026\"c\"\n","message":"a\u003cb\u003e\u0026\"c\"\n","code":2})");
  EXPECT_EQ(StreamErrorBody(2, "auth: user name is empty"),
            R"({"error":{"grpc_code":2,"http_code":500,"message":"auth: user name is empty",)"
            R"("http_status":"Internal Server Error"}})");
  EXPECT_EQ(HttpStatusFromGrpcCode(3), 400);
  EXPECT_EQ(HttpStatusFromGrpcCode(5), 404);
  EXPECT_EQ(HttpStatusFromGrpcCode(7), 403);
  EXPECT_EQ(HttpStatusFromGrpcCode(9), 412);
  EXPECT_EQ(HttpStatusFromGrpcCode(11), 400);
  EXPECT_EQ(HttpStatusFromGrpcCode(14), 503);
  EXPECT_EQ(HttpStatusFromGrpcCode(16), 401);
  EXPECT_EQ(HttpStatusFromGrpcCode(4), 504);
}

}  // namespace
}  // namespace quorum::server::http
