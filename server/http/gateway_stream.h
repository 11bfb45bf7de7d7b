// One streaming call of the JSON gateway (watch, lease keep-alive, snapshot, election observe):
// the request messages go out on an in-process gRPC stream, each response message comes back as
// one chunk {"result":<message JSON>} plus a newline, and an error that ends the call as
// grpc-gateway v1's {"error":{...}} object. Used by gateway.cc; the HTTP connection's thread
// drives it through WriteNext, gRPC's threads feed it.
#ifndef QUORUM_SERVER_HTTP_GATEWAY_STREAM_H_
#define QUORUM_SERVER_HTTP_GATEWAY_STREAM_H_

#include <google/protobuf/descriptor.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace quorum::server::http {

class GatewayStream final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  // Starts `method` on `stub`, sends `requests` in order and half-closes the call after the
  // last, as etcd's gateway closes its side when the request body ends. What the call does
  // then is the service's: a lease keep-alive ends once it has answered, a watch goes on until
  // Cancel. `prepare` adds metadata to the call's context.
  static std::shared_ptr<GatewayStream> Start(
      grpc::GenericStub& stub, const std::string& method,
      const google::protobuf::Descriptor* response_type, std::vector<grpc::ByteBuffer> requests,
      const std::function<void(grpc::ClientContext&)>& prepare);

  // Blocks until a message arrives, the call ends or the client of this thread's connection goes
  // away. True when there is something to answer (a message or the call's end).
  bool WaitFirstEvent();
  // When the call has ended with an error before any message: its gRPC status.
  bool FailedBeforeAnyMessage(grpc::Status& status);

  // Writes the next chunk to `sink`, blocking until there is one; ends the body with the call.
  // False when the client went away or the write failed: the connection is dropped.
  bool WriteNext(httplib::DataSink& sink);

  // Ends the call (the client went away or the response is over). Idempotent.
  void Cancel();

  void OnWriteDone(bool ok) override;
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  GatewayStream() = default;
  // Waits a bounded time for a message or the end; true if one of them is there.
  bool WaitEvent();
  // Asks gRPC for the next message unless a read is pending or the queue is full.
  void MaybeRead();
  // Writes the next request, the last one with the half-close; with none, only half-closes.
  void WriteNextRequest();

  const google::protobuf::Descriptor* response_type_ = nullptr;
  grpc::ClientContext context_;
  std::vector<grpc::ByteBuffer> requests_;  // written one at a time by gRPC's threads
  size_t next_write_ = 0;
  grpc::ByteBuffer incoming_;

  absl::Mutex mu_;
  std::deque<std::string> messages_ ABSL_GUARDED_BY(mu_);  // JSON, not yet written out
  bool read_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_over_ ABSL_GUARDED_BY(mu_) = false;
  bool any_message_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  // Keeps the call alive while gRPC may still call back; released by OnDone.
  std::shared_ptr<GatewayStream> self_ ABSL_GUARDED_BY(mu_);
};

}  // namespace quorum::server::http

#endif  // QUORUM_SERVER_HTTP_GATEWAY_STREAM_H_
