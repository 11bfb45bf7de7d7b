// Readiness for a service manager: under a systemd unit of Type=notify, quorumd says "READY=1"
// once it serves clients and "STOPPING=1" when it begins to stop, so `systemctl start` returns
// when the member is up and units ordered after it wait for that. The protocol is one datagram
// to the unix socket named by $NOTIFY_SOCKET (a path, or '@' for the abstract namespace);
// without that variable nothing is sent.
#ifndef QUORUM_SERVER_SERVICE_NOTIFY_H_
#define QUORUM_SERVER_SERVICE_NOTIFY_H_

#include <string_view>

namespace quorum::server {

// Sends `state` (e.g. "READY=1"). Failures are logged, never fatal: the member serves either way.
void NotifyServiceManager(std::string_view state);

}  // namespace quorum::server

#endif  // QUORUM_SERVER_SERVICE_NOTIFY_H_
