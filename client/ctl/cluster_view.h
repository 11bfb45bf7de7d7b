// What `quorumctl cluster status` knows about each member and the verdict it draws: how many
// voters are up, the quorum size, whether writes can commit, and how many more members may
// fail. Pure logic (no I/O) so the rules are tested on their own; cluster_status.cc gathers the
// views and prints them.
#ifndef QUORUM_CLIENT_CTL_CLUSTER_VIEW_H_
#define QUORUM_CLIENT_CTL_CLUSTER_VIEW_H_

#include <cstdint>
#include <string>
#include <vector>

namespace quorum::ctl {

struct MemberView {
  std::string name;      // "" for a member added but not started yet
  std::string endpoint;  // its first client URL, or the --endpoints entry when no list is known
  uint64_t id = 0;
  bool learner = false;
  bool up = false;      // answered Status in time
  std::string error;    // why it is down
  uint64_t leader = 0;  // the leader it reports (0: none)
  uint64_t term = 0;
  uint64_t commit_index = 0;
  uint64_t applied_index = 0;
  int64_t db_size = 0;
  int64_t latency_us = 0;
};

struct Verdict {
  int voters = 0;       // members that vote (learners do not)
  int up = 0;           // voters that answered
  int quorum = 0;       // voters / 2 + 1 (Raft's majority)
  uint64_t leader = 0;  // the leader an up member reports, if that leader is itself up
  bool writes_available = false;
  int can_lose = 0;     // voters that may still fail with writes going on
  std::string summary;  // the one-line verdict
  std::string reason;   // why writes are unavailable ("" when they are available)
};

Verdict Judge(const std::vector<MemberView>& members);

// The member table and the verdict below it.
std::string RenderClusterStatus(const std::vector<MemberView>& members, const Verdict& verdict);
// The same as one JSON object (for scripts and tests).
std::string ClusterStatusJson(const std::vector<MemberView>& members, const Verdict& verdict);

}  // namespace quorum::ctl

#endif  // QUORUM_CLIENT_CTL_CLUSTER_VIEW_H_
