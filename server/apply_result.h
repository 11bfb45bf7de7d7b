// What applying a proposal gives back to the one who proposed it: etcd's error, or the typed
// response (PutResponse, TxnResponse, ...). Made by the applier, carried by the wait list to the
// gRPC services; a light header so that the services need nothing of the apply path.
#ifndef QUORUM_SERVER_APPLY_RESULT_H_
#define QUORUM_SERVER_APPLY_RESULT_H_

#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "google/protobuf/message.h"
#include "raft/fatal.h"

namespace quorum::server {

struct ApplyResult {
  absl::Status status;
  // The typed response matching the request; null on error.
  std::unique_ptr<google::protobuf::Message> response;
};

// A proposal's completion: runs exactly once, with the applied result or the proposal's error.
using ProposalDone = absl::AnyInvocable<void(ApplyResult)>;
// A wait's completion (a read point reached, an index applied): OK or etcd's error.
using ReadDone = absl::AnyInvocable<void(absl::Status)>;

// `response` as the type the caller's request produces. Another type is a broken invariant of
// the apply path (a completion matched to the wrong request), so the process stops.
template <typename Response>
Response* CheckedResponse(google::protobuf::Message* response) {
  Response* typed = google::protobuf::DynamicCastToGenerated<Response>(response);
  QUORUM_CHECK(typed != nullptr, "applied response is ",
               response != nullptr ? response->GetTypeName() : std::string("missing"), ", not ",
               Response::descriptor()->full_name());
  return typed;
}

}  // namespace quorum::server

#endif  // QUORUM_SERVER_APPLY_RESULT_H_
