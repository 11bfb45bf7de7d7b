#include "server/http/member_routes.h"

#include <algorithm>
#include <memory>

#include "absl/synchronization/notification.h"
#include "server/member.h"
#include "spdlog/spdlog.h"

namespace quorum::server::http {
namespace {

// etcd waits a second for the health check's read through the cluster.
constexpr absl::Duration kHealthReadTimeout = absl::Seconds(1);

}  // namespace

bool CheckHealth(MemberApi* member, const std::vector<std::string>& excluded) {
  for (const etcdserverpb::AlarmMember& alarm : member->Alarms()) {
    const std::string& name = etcdserverpb::AlarmType_Name(alarm.alarm());
    if (std::find(excluded.begin(), excluded.end(), name) == excluded.end()) {
      spdlog::warn("/health error: alarm {} raised by member {:x}", name, alarm.memberid());
      return false;
    }
  }
  if (member->Status().leader() == 0) {
    spdlog::warn("/health error: no leader");
    return false;
  }
  // The read point needs a quorum: what a client's linearizable request would need.
  struct Outcome {
    absl::Notification done;
    absl::Status status;
  };
  auto outcome = std::make_shared<Outcome>();
  member->ReadBarrier(absl::Now() + kHealthReadTimeout, [outcome](absl::Status status) {
    outcome->status = std::move(status);
    outcome->done.Notify();
  });
  if (!outcome->done.WaitForNotificationWithTimeout(kHealthReadTimeout + absl::Seconds(1))) {
    spdlog::warn("/health error: no read point within {}",
                 absl::FormatDuration(kHealthReadTimeout));
    return false;
  }
  if (!outcome->status.ok()) {
    spdlog::warn("/health error: {}", std::string(outcome->status.message()));
    return false;
  }
  return true;
}

void AddMetricsRoutes(HttpFace& face, MemberApi* member, std::function<std::string()> metrics) {
  face.GetOnly("/metrics", [metrics = std::move(metrics)](const httplib::Request&,
                                                          httplib::Response& response) {
    response.set_content(metrics(), "text/plain; version=0.0.4; charset=utf-8");
  });
  face.GetOnly("/health", [member](const httplib::Request& request, httplib::Response& response) {
    std::vector<std::string> excluded;
    auto range = request.params.equal_range("exclude");
    for (auto it = range.first; it != range.second; ++it) excluded.push_back(it->second);
    if (CheckHealth(member, excluded)) {
      response.set_content(R"({"health":"true"})", "text/plain; charset=utf-8");
    } else {
      GoHttpError(response, 503, R"({"health":"false"})");
    }
  });
}

void AddMemberRoutes(HttpFace& face, MemberApi* member, std::function<std::string()> metrics) {
  AddMetricsRoutes(face, member, std::move(metrics));
  face.GetOnly("/version", [](const httplib::Request&, httplib::Response& response) {
    response.set_content(
        std::string(R"({"etcdserver":")") + kEtcdApiVersion + R"(","etcdcluster":"3.4.0"})",
        "application/json");
  });
}

}  // namespace quorum::server::http
