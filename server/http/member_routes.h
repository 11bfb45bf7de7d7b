// The member's own HTTP routes, as etcd 3.4 serves them on its client URLs:
//   GET /version  {"etcdserver":"3.4.0","etcdcluster":"3.4.0"}
//   GET /health   {"health":"true"} (200) when no alarm is raised (?exclude=NOSPACE leaves one
//                 out), a leader is known and a linearizable read point is reached within a
//                 second; else {"health":"false"} with 503.
// Other methods get 405, unknown paths Go's 404.
#ifndef QUORUM_SERVER_HTTP_MEMBER_ROUTES_H_
#define QUORUM_SERVER_HTTP_MEMBER_ROUTES_H_

#include <functional>
#include <string>
#include <vector>

#include "server/http/http_face.h"
#include "server/member_api.h"

namespace quorum::server::http {

// The health check behind /health; true when healthy. `excluded` names alarms to ignore.
bool CheckHealth(MemberApi* member, const std::vector<std::string>& excluded);

// /health and /metrics, all that --listen-metrics-urls serve. `metrics` renders the exposition
// text for one scrape; it must be callable from any thread.
void AddMetricsRoutes(HttpFace& face, MemberApi* member, std::function<std::string()> metrics);
// Those and /version, for the client URLs.
void AddMemberRoutes(HttpFace& face, MemberApi* member, std::function<std::string()> metrics);

}  // namespace quorum::server::http

#endif  // QUORUM_SERVER_HTTP_MEMBER_ROUTES_H_
