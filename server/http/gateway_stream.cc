#include "server/http/gateway_stream.h"

#include "absl/strings/str_cat.h"
#include "server/http/gateway_json.h"
#include "server/http/http_face.h"

namespace quorum::server::http {
namespace {

// Messages read ahead of the HTTP writer; past this, reading waits for the writer.
constexpr size_t kMaxQueuedMessages = 64;
// How often a waiting writer looks whether its client is still there.
constexpr absl::Duration kPeerCheckInterval = absl::Milliseconds(100);

}  // namespace

std::shared_ptr<GatewayStream> GatewayStream::Start(
    grpc::GenericStub& stub, const std::string& method,
    const google::protobuf::Descriptor* response_type, std::vector<grpc::ByteBuffer> requests,
    const std::function<void(grpc::ClientContext&)>& prepare) {
  std::shared_ptr<GatewayStream> call(new GatewayStream());
  call->response_type_ = response_type;
  call->requests_ = std::move(requests);
  prepare(call->context_);
  {
    absl::MutexLock lock(&call->mu_);
    call->self_ = call;
    call->read_pending_ = true;
  }
  stub.PrepareBidiStreamingCall(&call->context_, method, grpc::StubOptions(), call.get());
  call->StartRead(&call->incoming_);
  call->WriteNextRequest();
  call->StartCall();
  return call;
}

void GatewayStream::WriteNextRequest() {
  if (next_write_ == requests_.size()) {
    if (requests_.empty()) StartWritesDone();
    return;
  }
  const size_t index = next_write_++;
  if (next_write_ == requests_.size()) {
    StartWriteLast(&requests_[index], grpc::WriteOptions());
  } else {
    StartWrite(&requests_[index]);
  }
}

void GatewayStream::OnWriteDone(bool ok) {
  if (ok) WriteNextRequest();
}

void GatewayStream::OnReadDone(bool ok) {
  std::string json;
  if (ok) {
    std::unique_ptr<google::protobuf::Message> message = NewMessage(response_type_);
    json = ParseByteBuffer(incoming_, *message) ? MessageToJson(*message) : "{}";
  }
  {
    absl::MutexLock lock(&mu_);
    read_pending_ = false;
    if (!ok) {
      reads_over_ = true;
      return;
    }
    messages_.push_back(absl::StrCat(R"({"result":)", json, "}\n"));
    any_message_ = true;
  }
  MaybeRead();
}

void GatewayStream::OnDone(const grpc::Status& status) {
  std::shared_ptr<GatewayStream> self;
  absl::MutexLock lock(&mu_);
  done_ = true;
  status_ = status;
  self = std::move(self_);  // may be the last reference: released after the lock
}

void GatewayStream::MaybeRead() {
  {
    absl::MutexLock lock(&mu_);
    if (read_pending_ || reads_over_ || done_ || messages_.size() >= kMaxQueuedMessages) return;
    read_pending_ = true;
  }
  StartRead(&incoming_);
}

bool GatewayStream::WaitEvent() {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !messages_.empty() || done_; };
  return mu_.AwaitWithTimeout(absl::Condition(&ready), kPeerCheckInterval);
}

bool GatewayStream::WaitFirstEvent() {
  while (!WaitEvent()) {
    if (HttpFace::PeerGone()) return false;
  }
  return true;
}

bool GatewayStream::FailedBeforeAnyMessage(grpc::Status& status) {
  absl::MutexLock lock(&mu_);
  if (!done_ || any_message_ || status_.ok()) return false;
  status = status_;
  return true;
}

bool GatewayStream::WriteNext(httplib::DataSink& sink) {
  while (!WaitEvent()) {
    if (HttpFace::PeerGone()) return false;
  }
  std::string chunk;
  bool end = false;
  {
    absl::MutexLock lock(&mu_);
    if (!messages_.empty()) {
      chunk = std::move(messages_.front());
      messages_.pop_front();
    } else {
      end = true;
      if (!status_.ok()) chunk = StreamErrorBody(status_.error_code(), status_.error_message());
    }
  }
  if (!end) {
    MaybeRead();
    return sink.write(chunk.data(), chunk.size());
  }
  if (!chunk.empty() && !sink.write(chunk.data(), chunk.size())) return false;
  sink.done();
  return true;
}

void GatewayStream::Cancel() { context_.TryCancel(); }

}  // namespace quorum::server::http
