// quorumctl's output: each response printed in etcdctl 3.4's formats (simple, json, table,
// fields) so that scripts written for etcdctl read quorumctl unchanged. The command handlers
// call it after a successful call.
#ifndef QUORUM_CLIENT_CTL_PRINTER_H_
#define QUORUM_CLIENT_CTL_PRINTER_H_

#include <string>
#include <vector>

#include "etcdserverpb/rpc.pb.h"

namespace quorum::ctl {

// One `endpoint health` result.
struct EndpointHealth {
  std::string endpoint;
  bool health = false;
  std::string took;   // Go duration text ("12.85ms")
  std::string error;  // empty when healthy
};

struct EndpointStatus {
  std::string endpoint;
  etcdserverpb::StatusResponse status;
};

struct EndpointHash {
  std::string endpoint;
  etcdserverpb::HashKVResponse hash;
};

enum class OutputFormat { kSimple, kJson, kTable, kFields, kProtobuf };

// Each method prints to stdout (health's simple form to stderr, as etcdctl does). A format the
// command has no form for ends the process with etcdctl's "<format> not supported as output
// format" and exit code 4.
class Printer {
 public:
  Printer(OutputFormat format, bool hex) : format_(format), hex_(hex) {}
  OutputFormat format() const { return format_; }
  void set_value_only(bool value_only) { value_only_ = value_only; }

  void Get(const etcdserverpb::RangeResponse& r);
  void Put(const etcdserverpb::PutResponse& r);
  void Del(const etcdserverpb::DeleteRangeResponse& r);
  void Txn(const etcdserverpb::TxnResponse& r);
  void Watch(const etcdserverpb::WatchResponse& r);

  void Grant(const etcdserverpb::LeaseGrantResponse& r);
  void Revoke(int64_t id, const etcdserverpb::LeaseRevokeResponse& r);
  void KeepAlive(const etcdserverpb::LeaseKeepAliveResponse& r);
  void TimeToLive(const etcdserverpb::LeaseTimeToLiveResponse& r, bool keys);
  void Leases(const etcdserverpb::LeaseLeasesResponse& r);

  void MemberAdd(const etcdserverpb::MemberAddResponse& r);
  void MemberRemove(uint64_t id, const etcdserverpb::MemberRemoveResponse& r);
  void MemberUpdate(uint64_t id, const etcdserverpb::MemberUpdateResponse& r);
  void MemberPromote(uint64_t id, const etcdserverpb::MemberPromoteResponse& r);
  void MemberList(const etcdserverpb::MemberListResponse& r);

  void Health(const std::vector<EndpointHealth>& list);
  void Status(const std::vector<EndpointStatus>& list);
  void HashKV(const std::vector<EndpointHash>& list);
  void MoveLeader(uint64_t leader, uint64_t target, const etcdserverpb::MoveLeaderResponse& r);
  void Alarm(const etcdserverpb::AlarmResponse& r);

 private:
  [[noreturn]] void Unsupported() const;
  void PrintKv(const mvccpb::KeyValue& kv) const;
  void FieldsKv(const std::string& prefix, const mvccpb::KeyValue& kv) const;
  void FieldsHeader(const etcdserverpb::ResponseHeader& h) const;

  const OutputFormat format_;
  const bool hex_;
  bool value_only_ = false;
};

// Go's time.Duration text for `nanos` ("1.5s", "12.850944ms", "850µs").
std::string GoDuration(int64_t nanos);
// etcd's member status words for member list: "started" once the member published its name.
std::vector<std::vector<std::string>> MemberRows(const etcdserverpb::MemberListResponse& r);

}  // namespace quorum::ctl

#endif  // QUORUM_CLIENT_CTL_PRINTER_H_
