// Election.Observe's stream: the election's current leader, then each change (a proclaimed
// value, or the next leader once the current one's key is deleted), until the client cancels,
// as etcd's Election.Observe. Made by the Election service (election_service.cc); it waits in
// the member's read barriers and the watch hub, never on a thread of its own.
#ifndef QUORUM_SERVER_ELECTION_OBSERVER_H_
#define QUORUM_SERVER_ELECTION_OBSERVER_H_

#include <grpcpp/grpcpp.h>

#include <string>

#include "server/member_api.h"
#include "v3electionpb/v3election.pb.h"

namespace quorum::server {

// The reactor for one Observe call on the election `name`; gRPC owns it until it is done.
grpc::ServerWriteReactor<v3electionpb::LeaderResponse>* NewElectionObserver(MemberApi* member,
                                                                            std::string name);

}  // namespace quorum::server

#endif  // QUORUM_SERVER_ELECTION_OBSERVER_H_
