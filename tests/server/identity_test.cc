// Member, cluster and request ids: etcd's derivations (reference values read off etcd 3.4), and
// request ids that a restarted member does not hand out again.
#include "server/identity.h"

#include <gtest/gtest.h>

#include <set>

#include "server/id_generator.h"

namespace quorum::server {
namespace {

// etcd 3.4: `etcd --name n1 --initial-advertise-peer-urls http://127.0.0.1:26680
// --initial-cluster n1=http://127.0.0.1:26680 --initial-cluster-token tok`.
TEST(IdentityTest, OneMemberClusterGetsEtcdsIds) {
  const uint64_t member = ComputeMemberId({"http://127.0.0.1:26680"}, "tok");
  EXPECT_EQ(member, 0xe2fa0e16435bf1f5ULL);
  EXPECT_EQ(ComputeClusterId({member}), 0xd7e59de9fd2274b7ULL);
}

// etcd 3.4 with three members on peer ports 40681-40683 and token tok3.
TEST(IdentityTest, ThreeMemberClusterGetsEtcdsIds) {
  const uint64_t m1 = ComputeMemberId({"http://127.0.0.1:40681"}, "tok3");
  const uint64_t m2 = ComputeMemberId({"http://127.0.0.1:40682"}, "tok3");
  const uint64_t m3 = ComputeMemberId({"http://127.0.0.1:40683"}, "tok3");
  EXPECT_EQ(m1, 0x61b751ed980a2c9bULL);
  EXPECT_EQ(m2, 0x7f30f2d58e472f1aULL);
  EXPECT_EQ(m3, 0x64a5a1ee82481620ULL);
  // The order the members are listed in does not matter.
  EXPECT_EQ(ComputeClusterId({m3, m1, m2}), 0x9b14d812ff607bfbULL);
}

// etcd 3.4's MemberAdd of peer URL http://127.0.0.1:40684 at Unix second 1796619000.
TEST(IdentityTest, AddedMemberGetsEtcdsTimeBasedId) {
  EXPECT_EQ(ComputeAddedMemberId({"http://127.0.0.1:40684"}, absl::FromUnixSeconds(1796619000)),
            0x327294649349b1e1ULL);
}

TEST(IdGeneratorTest, RestartedMemberDoesNotRepeatIds) {
  const absl::Time start = absl::FromUnixMillis(1796619000123);
  IdGenerator before(0xe2fa0e16435bf1f5ULL, start);
  std::set<uint64_t> issued;
  for (int i = 0; i < 200; ++i) issued.insert(before.Next());
  EXPECT_EQ(issued.size(), 200u);
  // A restart a millisecond later: none of its ids was issued before.
  IdGenerator after(0xe2fa0e16435bf1f5ULL, start + absl::Milliseconds(1));
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(issued.count(after.Next()), 0u);
  // The member's low 16 bits lead every id, so members do not collide either.
  EXPECT_EQ(before.Next() >> 48, 0xf1f5u);
}

}  // namespace
}  // namespace quorum::server
