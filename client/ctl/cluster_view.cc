#include "client/ctl/cluster_view.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/ctl/go_json.h"
#include "client/ctl/table.h"

namespace quorum::ctl {

namespace {

std::string Label(const MemberView& m) {
  return m.name.empty() ? absl::StrFormat("%x", m.id) : m.name;
}

std::string Latency(int64_t us) {
  if (us < 1000) return absl::StrCat(us, "µs");
  return absl::StrFormat("%.1fms", us / 1000.0);
}

}  // namespace

Verdict Judge(const std::vector<MemberView>& members) {
  Verdict v;
  std::vector<std::string> down;
  for (const auto& m : members) {
    if (m.learner) continue;
    ++v.voters;
    if (m.up) {
      ++v.up;
    } else {
      down.push_back(Label(m) + (m.error.empty() ? "" : " (" + m.error + ")"));
    }
  }
  v.quorum = v.voters / 2 + 1;
  // A leader counts only if it is itself up: a member may still name a leader that just died.
  for (const auto& m : members) {
    if (!m.up || m.leader == 0) continue;
    for (const auto& l : members) {
      if (l.id == m.leader && l.up) v.leader = m.leader;
    }
  }
  std::string head = absl::StrFormat("%d/%d members up · quorum %d", v.up, v.voters, v.quorum);
  if (v.up < v.quorum) {
    int missing = v.quorum - v.up;
    v.summary = absl::StrFormat("%s · NO QUORUM: writes unavailable · need %d more member%s up",
                                head, missing, missing == 1 ? "" : "s");
    v.reason = absl::StrFormat("a write commits only when %d of %d voters store it; down: %s",
                               v.quorum, v.voters, absl::StrJoin(down, ", "));
  } else if (v.leader == 0) {
    v.summary =
        absl::StrFormat("%s · no leader yet: writes unavailable until one is elected", head);
    v.reason = "a majority is up but no member reports a live leader (election in progress)";
  } else {
    v.writes_available = true;
    v.can_lose = v.up - v.quorum;
    v.summary = absl::StrFormat("%s · writes available · can lose %d more", head, v.can_lose);
  }
  return v;
}

std::string RenderClusterStatus(const std::vector<MemberView>& members, const Verdict& verdict) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : members) {
    std::string role = m.learner ? "learner" : "";
    // A leader cut off from the majority keeps its title until it notices; say so.
    if (m.up && m.id == verdict.leader)
      role = verdict.up < verdict.quorum ? "leader?" : "LEADER";
    else if (m.up && !m.learner)
      role = "follower";
    if (!m.up) {
      rows.push_back({Label(m), m.endpoint, "DOWN", role, "-", "-", "-", "-", m.error});
      continue;
    }
    rows.push_back({Label(m), m.endpoint, "up", role, absl::StrCat(m.term),
                    absl::StrCat(m.commit_index), absl::StrCat(m.applied_index),
                    HumanBytes(static_cast<uint64_t>(m.db_size)), Latency(m.latency_us)});
  }
  std::string out = RenderTable({"name", "endpoint", "status", "role", "raft term", "commit index",
                                 "applied index", "db size", "latency"},
                                rows, /*left_align=*/true);
  out += verdict.summary + "\n";
  if (!verdict.reason.empty()) out += "why: " + verdict.reason + "\n";
  return out;
}

std::string ClusterStatusJson(const std::vector<MemberView>& members, const Verdict& v) {
  std::vector<std::string> items;
  for (const auto& m : members) {
    items.push_back(absl::StrCat(
        "{\"name\":", GoJsonString(m.name), ",\"endpoint\":", GoJsonString(m.endpoint), ",\"id\":",
        m.id, ",\"learner\":", m.learner ? "true" : "false", ",\"up\":", m.up ? "true" : "false",
        ",\"error\":", GoJsonString(m.error), ",\"leader\":", m.leader, ",\"raft_term\":", m.term,
        ",\"commit_index\":", m.commit_index, ",\"applied_index\":", m.applied_index,
        ",\"db_size\":", m.db_size, ",\"latency_us\":", m.latency_us, "}"));
  }
  return absl::StrCat(
      "{\"members\":[", absl::StrJoin(items, ","), "],\"verdict\":{\"voters\":", v.voters,
      ",\"up\":", v.up, ",\"quorum\":", v.quorum, ",\"leader\":", v.leader,
      ",\"writes_available\":", v.writes_available ? "true" : "false", ",\"can_lose\":", v.can_lose,
      ",\"summary\":", GoJsonString(v.summary), ",\"reason\":", GoJsonString(v.reason), "}}");
}

}  // namespace quorum::ctl
