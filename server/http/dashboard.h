// The dashboard every member serves on its client URLs (read-only):
//   GET /dashboard          one self-contained HTML page (dashboard.html, compiled in) whose
//                           script polls the cluster every second through the JSON gateway
//                           (member list here, Maintenance.Status at every member's client URL)
//                           and shows members, roles, terms, indexes, lag, alarms, leader changes
//                           and the quorum verdict, worded as `quorumctl cluster status` words it.
//   GET /dashboard/events   {"member_id","now_ms","auth_enabled","leader_changes":[...],
//                           "alarms":[...]}: what only this member knows (the leader changes it
//                           saw, with wall-clock times) and the alarms it applied, read locally so
//                           the page never adds entries to the log. With auth enabled it needs a
//                           valid token in Authorization, and answers as the gateway would
//                           without one: the page then asks for credentials.
// main() adds the routes to the client URLs' HTTP face.
#ifndef QUORUM_SERVER_HTTP_DASHBOARD_H_
#define QUORUM_SERVER_HTTP_DASHBOARD_H_

#include <string>

#include "server/http/http_face.h"
#include "server/leader_history.h"
#include "server/member_api.h"

namespace quorum::server::http {

// The body of /dashboard/events for `member` now (auth not checked here).
std::string DashboardEventsJson(MemberApi& member, const LeaderHistory& history);

// Adds /dashboard and /dashboard/events to `face`. `member` and `history` must outlive it.
void AddDashboardRoutes(HttpFace& face, MemberApi* member, const LeaderHistory* history);

}  // namespace quorum::server::http

#endif  // QUORUM_SERVER_HTTP_DASHBOARD_H_
