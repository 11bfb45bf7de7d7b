// quorumctl's formatting rules and quorum verdicts, without a server: Go-style JSON, tables and
// sizes as etcdctl prints them, and the verdict for each number of members up.
#include <gtest/gtest.h>

#include "client/ctl/cluster_view.h"
#include "client/ctl/go_json.h"
#include "client/ctl/printer.h"
#include "client/ctl/table.h"

namespace quorum::ctl {
namespace {

TEST(GoJson, OmitsEmptyFieldsAndEncodesBytesAsBase64) {
  etcdserverpb::RangeResponse r;
  r.mutable_header()->set_cluster_id(7);
  r.mutable_header()->set_revision(3);
  auto* kv = r.add_kvs();
  kv->set_key("k1");
  kv->set_value("v1");
  kv->set_create_revision(2);
  kv->set_mod_revision(3);
  kv->set_version(2);
  r.set_count(1);
  EXPECT_EQ(GoJson(r),
            R"({"header":{"cluster_id":7,"revision":3},"kvs":[{"key":"azE=","create_revision":2,)"
            R"("mod_revision":3,"version":2,"value":"djE="}],"count":1})");
}

TEST(GoJson, OneofIsNamedByGoFieldNames) {
  etcdserverpb::TxnResponse r;
  r.set_succeeded(true);
  r.add_responses()->mutable_response_put()->mutable_header()->set_revision(8);
  EXPECT_EQ(GoJson(r), R"({"succeeded":true,"responses":[{"Response":{"ResponsePut":{"header":)"
                       R"({"revision":8}}}}]})");
}

TEST(GoJson, EscapesLikeGo) {
  EXPECT_EQ(GoJsonString("a<b>&\"\n"), R"("a\u003cb\u003e\u0026\"\n")");
}

TEST(Table, CentresHeaderAndRightAlignsCells) {
  EXPECT_EQ(RenderTable({"endpoint", "health"}, {{"127.0.0.1:23791", "true"}}),
            "+-----------------+--------+\n"
            "|    ENDPOINT     | HEALTH |\n"
            "+-----------------+--------+\n"
            "| 127.0.0.1:23791 |   true |\n"
            "+-----------------+--------+\n");
}

TEST(HumanBytes, UsesSiUnitsLikeEtcdctl) {
  EXPECT_EQ(HumanBytes(5), "5 B");
  EXPECT_EQ(HumanBytes(1500), "1.5 kB");
  EXPECT_EQ(HumanBytes(20480), "20 kB");
  EXPECT_EQ(HumanBytes(3200000), "3.2 MB");
}

TEST(GoDuration, PrintsLikeGo) {
  EXPECT_EQ(GoDuration(12850944), "12.850944ms");
  EXPECT_EQ(GoDuration(1500000000), "1.5s");
  EXPECT_EQ(GoDuration(850000), "850µs");
}

std::vector<MemberView> Members(int total, int up, int leader_index) {
  std::vector<MemberView> members;
  for (int i = 0; i < total; ++i) {
    MemberView m;
    m.name = "m" + std::to_string(i + 1);
    m.id = 100 + i;
    m.up = i < up;
    if (!m.up) m.error = "unreachable";
    if (m.up && leader_index >= 0) m.leader = 100 + leader_index;
    members.push_back(m);
  }
  return members;
}

TEST(Verdict, FiveUpCanLoseTwo) {
  auto v = Judge(Members(5, 5, 0));
  EXPECT_TRUE(v.writes_available);
  EXPECT_EQ(v.can_lose, 2);
  EXPECT_EQ(v.summary, "5/5 members up · quorum 3 · writes available · can lose 2 more");
}

TEST(Verdict, ThreeOfFiveUpCanLoseNone) {
  auto v = Judge(Members(5, 3, 1));
  EXPECT_TRUE(v.writes_available);
  EXPECT_EQ(v.summary, "3/5 members up · quorum 3 · writes available · can lose 0 more");
}

TEST(Verdict, TwoOfFiveUpHasNoQuorumAndSaysWhy) {
  auto v = Judge(Members(5, 2, 0));
  EXPECT_FALSE(v.writes_available);
  EXPECT_EQ(v.summary,
            "2/5 members up · quorum 3 · NO QUORUM: writes unavailable · need 1 more member up");
  EXPECT_NE(v.reason.find("m3 (unreachable), m4 (unreachable), m5 (unreachable)"),
            std::string::npos)
      << v.reason;
}

TEST(Verdict, MajorityUpWithDeadLeaderWaitsForElection) {
  auto members = Members(3, 2, 2);  // both live members still name the dead m3
  auto v = Judge(members);
  EXPECT_FALSE(v.writes_available);
  EXPECT_NE(v.summary.find("no leader yet"), std::string::npos);
}

TEST(Verdict, LearnersDoNotVote) {
  auto members = Members(4, 3, 0);
  members[3].learner = true;
  auto v = Judge(members);
  EXPECT_EQ(v.voters, 3);
  EXPECT_EQ(v.can_lose, 1);
}

}  // namespace
}  // namespace quorum::ctl
