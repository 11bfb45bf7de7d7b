#include "server/http/dashboard.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "proto/etcd_errors.h"
#include "server/http/gateway_json.h"

namespace quorum::server::http {

// The page's text, generated from dashboard.html at build time (dashboard_page.cc.in).
extern const char kDashboardPage[];

namespace {

// Ids go out as decimal strings, as the gateway writes 64-bit integers: JavaScript's numbers
// cannot hold them exactly.
std::string Id(uint64_t id) { return absl::StrCat(id); }

// OK when auth is disabled or `request` carries a token this member accepts; otherwise the
// error the gateway would answer for a call without valid credentials.
absl::Status CheckCaller(const httplib::Request& request, MemberApi& member) {
  if (!member.auth().Current()->enabled()) return absl::OkStatus();
  if (!request.has_header("Authorization")) return ErrUserEmpty();
  return member.auth().InfoFromToken(request.get_header_value("Authorization")).status();
}

}  // namespace

std::string DashboardEventsJson(MemberApi& member, const LeaderHistory& history) {
  nlohmann::json changes = nlohmann::json::array();
  for (const LeaderHistory::Change& change : history.List()) {
    changes.push_back({{"time_ms", absl::ToUnixMillis(change.time)},
                       {"leader", Id(change.leader)},
                       {"term", Id(change.term)}});
  }
  nlohmann::json alarms = nlohmann::json::array();
  for (const etcdserverpb::AlarmMember& alarm : member.Alarms()) {
    alarms.push_back({{"memberID", Id(alarm.memberid())},
                      {"alarm", etcdserverpb::AlarmType_Name(alarm.alarm())}});
  }
  const nlohmann::json body = {
      {"member_id", Id(member.CurrentHeader().member_id())},
      {"now_ms", absl::ToUnixMillis(absl::Now())},
      {"auth_enabled", member.auth().Current()->enabled()},
      {"leader_changes", std::move(changes)},
      {"alarms", std::move(alarms)},
  };
  return body.dump();
}

void AddDashboardRoutes(HttpFace& face, MemberApi* member, const LeaderHistory* history) {
  face.GetOnly("/dashboard", [](const httplib::Request&, httplib::Response& response) {
    // Everything the page needs is inline; it must not be framed by another site.
    response.set_header("Cache-Control", "no-store");
    response.set_header("X-Frame-Options", "DENY");
    response.set_content(kDashboardPage, "text/html; charset=utf-8");
  });
  face.GetOnly("/dashboard/events",
               [member, history](const httplib::Request& request, httplib::Response& response) {
                 response.set_header("Cache-Control", "no-store");
                 if (absl::Status denied = CheckCaller(request, *member); !denied.ok()) {
                   const grpc::Status status = ToGrpcStatus(denied);
                   response.status = HttpStatusFromGrpcCode(status.error_code());
                   response.set_content(ErrorBody(status.error_code(), status.error_message()),
                                        "application/json");
                   return;
                 }
                 response.set_content(DashboardEventsJson(*member, *history), "application/json");
               });
}

}  // namespace quorum::server::http
