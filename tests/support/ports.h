// Loopback ports for tests that start servers: chosen so that two servers of one test program
// never get the same port and an outgoing connection is unlikely to hold it.
#ifndef QUORUM_TESTS_SUPPORT_PORTS_H_
#define QUORUM_TESTS_SUPPORT_PORTS_H_

namespace quorum::testing {

// A port on 127.0.0.1 that was free a moment ago and that this program has not handed out before.
int FreeLoopbackPort();

}  // namespace quorum::testing

#endif  // QUORUM_TESTS_SUPPORT_PORTS_H_
