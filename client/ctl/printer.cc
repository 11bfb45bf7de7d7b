#include "client/ctl/printer.h"

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/ctl/go_json.h"
#include "client/ctl/table.h"

namespace quorum::ctl {

using namespace etcdserverpb;  // the API's many message types

namespace {

constexpr int kExitBadFeature = 4;  // etcdctl: a valid flag with an unsupported value

void Line(const std::string& text) { std::cout << text << "\n"; }

// etcdctl's --hex form: every byte as \xNN.
std::string HexBytes(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) out += absl::StrFormat("\\x%02x", c);
  return out;
}

// Go's %q for a string: printable ASCII kept, the rest escaped.
std::string GoQuote(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += absl::StrFormat("\\x%02x", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out + "\"";
}

std::string Bool(bool b) { return b ? "true" : "false"; }

const char* EventType(int type) { return type == mvccpb::Event::DELETE ? "DELETE" : "PUT"; }

const char* AlarmName(int alarm) {
  switch (alarm) {
    case AlarmType::NOSPACE:
      return "NOSPACE";
    case AlarmType::CORRUPT:
      return "CORRUPT";
    default:
      return "NONE";
  }
}

std::vector<std::vector<std::string>> StatusRows(const std::vector<EndpointStatus>& list) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : list) {
    const auto& r = s.status;
    rows.push_back({s.endpoint, absl::StrFormat("%x", r.header().member_id()), r.version(),
                    HumanBytes(r.dbsize()), Bool(r.leader() == r.header().member_id()),
                    Bool(r.islearner()), absl::StrCat(r.raftterm()), absl::StrCat(r.raftindex()),
                    absl::StrCat(r.raftappliedindex()), absl::StrJoin(r.errors(), ", ")});
  }
  return rows;
}

}  // namespace

std::string GoDuration(int64_t nanos) {
  if (nanos == 0) return "0s";
  if (nanos < 1000) return absl::StrCat(nanos, "ns");
  auto trim = [](std::string s) {
    if (s.find('.') != std::string::npos) {
      while (s.back() == '0') s.pop_back();
      if (s.back() == '.') s.pop_back();
    }
    return s;
  };
  if (nanos < 1000000) return trim(absl::StrFormat("%.3f", nanos / 1e3)) + "µs";
  if (nanos < 1000000000) return trim(absl::StrFormat("%.6f", nanos / 1e6)) + "ms";
  return trim(absl::StrFormat("%.9f", nanos / 1e9)) + "s";
}

std::vector<std::vector<std::string>> MemberRows(const MemberListResponse& r) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : r.members()) {
    rows.push_back({absl::StrFormat("%x", m.id()), m.name().empty() ? "unstarted" : "started",
                    m.name(), absl::StrJoin(m.peerurls(), ","), absl::StrJoin(m.clienturls(), ","),
                    Bool(m.islearner())});
  }
  return rows;
}

void Printer::Unsupported() const {
  const char* name = format_ == OutputFormat::kTable    ? "table"
                     : format_ == OutputFormat::kFields ? "fields"
                     : format_ == OutputFormat::kJson   ? "json"
                                                        : "protobuf";
  std::cout.flush();
  std::cerr << "Error: " << name << " not supported as output format\n";
  std::exit(kExitBadFeature);
}

void Printer::PrintKv(const mvccpb::KeyValue& kv) const {
  if (!value_only_) Line(hex_ ? HexBytes(kv.key()) : kv.key());
  Line(hex_ ? HexBytes(kv.value()) : kv.value());
}

void Printer::FieldsHeader(const ResponseHeader& h) const {
  Line(absl::StrCat("\"ClusterID\" : ", h.cluster_id()));
  Line(absl::StrCat("\"MemberID\" : ", h.member_id()));
  Line(absl::StrCat("\"Revision\" : ", h.revision()));
  Line(absl::StrCat("\"RaftTerm\" : ", h.raft_term()));
}

void Printer::FieldsKv(const std::string& p, const mvccpb::KeyValue& kv) const {
  Line(absl::StrCat("\"", p, "Key\" : ", GoQuote(kv.key())));
  Line(absl::StrCat("\"", p, "CreateRevision\" : ", kv.create_revision()));
  Line(absl::StrCat("\"", p, "ModRevision\" : ", kv.mod_revision()));
  Line(absl::StrCat("\"", p, "Version\" : ", kv.version()));
  Line(absl::StrCat("\"", p, "Value\" : ", GoQuote(kv.value())));
  Line(absl::StrCat("\"", p, "Lease\" : ", kv.lease()));
}

void Printer::Get(const RangeResponse& r) {
  switch (format_) {
    case OutputFormat::kSimple:
      for (const auto& kv : r.kvs()) PrintKv(kv);
      return;
    case OutputFormat::kJson:
      return Line(GoJson(r));
    case OutputFormat::kFields:
      FieldsHeader(r.header());
      for (const auto& kv : r.kvs()) FieldsKv("", kv);
      Line("\"More\" : " + Bool(r.more()));
      Line(absl::StrCat("\"Count\" : ", r.count()));
      return;
    default:
      Unsupported();
  }
}

void Printer::Put(const PutResponse& r) {
  switch (format_) {
    case OutputFormat::kSimple:
      Line("OK");
      if (r.has_prev_kv()) PrintKv(r.prev_kv());
      return;
    case OutputFormat::kJson:
      return Line(GoJson(r));
    case OutputFormat::kFields:
      FieldsHeader(r.header());
      if (r.has_prev_kv()) FieldsKv("Prev", r.prev_kv());
      return;
    default:
      Unsupported();
  }
}

void Printer::Del(const DeleteRangeResponse& r) {
  switch (format_) {
    case OutputFormat::kSimple:
      Line(absl::StrCat(r.deleted()));
      for (const auto& kv : r.prev_kvs()) PrintKv(kv);
      return;
    case OutputFormat::kJson:
      return Line(GoJson(r));
    case OutputFormat::kFields:
      FieldsHeader(r.header());
      Line(absl::StrCat("\"Deleted\" : ", r.deleted()));
      for (const auto& kv : r.prev_kvs()) FieldsKv("Prev", kv);
      return;
    default:
      Unsupported();
  }
}

void Printer::Txn(const TxnResponse& r) {
  switch (format_) {
    case OutputFormat::kSimple:
      Line(r.succeeded() ? "SUCCESS" : "FAILURE");
      for (const auto& op : r.responses()) {
        Line("");
        if (op.has_response_range()) Get(op.response_range());
        if (op.has_response_put()) Put(op.response_put());
        if (op.has_response_delete_range()) Del(op.response_delete_range());
      }
      return;
    case OutputFormat::kJson:
      return Line(GoJson(r));
    case OutputFormat::kFields:
      FieldsHeader(r.header());
      Line("\"Succeeded\" : " + Bool(r.succeeded()));
      for (const auto& op : r.responses()) {
        if (op.has_response_range()) Get(op.response_range());
        if (op.has_response_put()) Put(op.response_put());
        if (op.has_response_delete_range()) Del(op.response_delete_range());
      }
      return;
    default:
      Unsupported();
  }
}

void Printer::Watch(const WatchResponse& r) {
  switch (format_) {
    case OutputFormat::kSimple:
      for (const auto& e : r.events()) {
        Line(EventType(e.type()));
        if (e.has_prev_kv()) PrintKv(e.prev_kv());
        PrintKv(e.kv());
      }
      break;
    case OutputFormat::kJson: {
      // clientv3.WatchResponse: Go field names, no omitempty.
      std::vector<std::string> events;
      for (const auto& e : r.events()) events.push_back(GoJson(e));
      Line(absl::StrCat(
          "{\"Header\":", GoJson(r.header()),
          ",\"Events\":", events.empty() ? "null" : "[" + absl::StrJoin(events, ",") + "]",
          ",\"CompactRevision\":", r.compact_revision(), ",\"Canceled\":", Bool(r.canceled()),
          ",\"Created\":", Bool(r.created()), "}"));
      break;
    }
    case OutputFormat::kFields:
      FieldsHeader(r.header());
      for (const auto& e : r.events()) {
        Line(absl::StrCat("\"Type\" : ", EventType(e.type())));
        if (e.has_prev_kv()) FieldsKv("Prev", e.prev_kv());
        FieldsKv("", e.kv());
      }
      break;
    default:
      Unsupported();
  }
  std::cout.flush();
}

// clientv3's lease responses embed *pb.ResponseHeader, so its fields sit at the top level.
void Printer::Grant(const LeaseGrantResponse& r) {
  switch (format_) {
    case OutputFormat::kSimple:
      return Line(absl::StrFormat("lease %016x granted with TTL(%ds)", r.id(), r.ttl()));
    case OutputFormat::kJson: {
      std::string header = GoJsonFields(r.header());
      return Line(absl::StrCat("{", header, header.empty() ? "" : ",", "\"ID\":", r.id(),
                               ",\"TTL\":", r.ttl(), ",\"Error\":", GoJsonString(r.error()), "}"));
    }
    case OutputFormat::kFields:
      FieldsHeader(r.header());
      Line(absl::StrCat("\"ID\" : ", r.id()));
      return Line(absl::StrCat("\"TTL\" : ", r.ttl()));
    default:
      Unsupported();
  }
}

void Printer::Revoke(int64_t id, const LeaseRevokeResponse& r) {
  switch (format_) {
    case OutputFormat::kSimple:
      return Line(absl::StrFormat("lease %016x revoked", id));
    case OutputFormat::kJson:
      return Line(GoJson(r));
    case OutputFormat::kFields:
      return FieldsHeader(r.header());
    default:
      Unsupported();
  }
}

void Printer::KeepAlive(const LeaseKeepAliveResponse& r) {
  switch (format_) {
    case OutputFormat::kSimple:
      Line(absl::StrFormat("lease %016x keepalived with TTL(%d)", r.id(), r.ttl()));
      break;
    case OutputFormat::kJson: {
      std::string header = GoJsonFields(r.header());
      Line(absl::StrCat("{", header, header.empty() ? "" : ",", "\"ID\":", r.id(),
                        ",\"TTL\":", r.ttl(), "}"));
      break;
    }
    case OutputFormat::kFields:
      FieldsHeader(r.header());
      Line(absl::StrCat("\"ID\" : ", r.id()));
      Line(absl::StrCat("\"TTL\" : ", r.ttl()));
      break;
    default:
      Unsupported();
  }
  std::cout.flush();
}

void Printer::TimeToLive(const LeaseTimeToLiveResponse& r, bool keys) {
  switch (format_) {
    case OutputFormat::kSimple: {
      if (r.grantedttl() == 0 && r.ttl() == -1) {
        return Line(absl::StrFormat("lease %016x already expired", r.id()));
      }
      std::string text = absl::StrFormat("lease %016x granted with TTL(%ds), remaining(%ds)",
                                         r.id(), r.grantedttl(), r.ttl());
      if (keys) text += absl::StrCat(", attached keys([", absl::StrJoin(r.keys(), " "), "])");
      return Line(text);
    }
    case OutputFormat::kJson: {
      std::string header = GoJsonFields(r.header());
      std::vector<std::string> encoded;
      for (const auto& k : r.keys()) encoded.push_back("\"" + Base64(k) + "\"");
      return Line(absl::StrCat(
          "{", header, header.empty() ? "" : ",", "\"id\":", r.id(), ",\"ttl\":", r.ttl(),
          ",\"granted-ttl\":", r.grantedttl(),
          ",\"keys\":", encoded.empty() ? "null" : "[" + absl::StrJoin(encoded, ",") + "]", "}"));
    }
    case OutputFormat::kFields:
      FieldsHeader(r.header());
      Line(absl::StrCat("\"ID\" : ", r.id()));
      Line(absl::StrCat("\"TTL\" : ", r.ttl()));
      Line(absl::StrCat("\"GrantedTTL\" : ", r.grantedttl()));
      for (const auto& k : r.keys()) Line("\"Key\" : " + GoQuote(k));
      return;
    default:
      Unsupported();
  }
}

void Printer::Leases(const LeaseLeasesResponse& r) {
  switch (format_) {
    case OutputFormat::kSimple:
      Line(absl::StrFormat("found %d leases", r.leases_size()));
      for (const auto& l : r.leases()) Line(absl::StrFormat("%016x", l.id()));
      return;
    case OutputFormat::kJson: {
      std::string header = GoJsonFields(r.header());
      std::vector<std::string> ids;
      for (const auto& l : r.leases()) ids.push_back(absl::StrCat("{\"id\":", l.id(), "}"));
      return Line(absl::StrCat("{", header, header.empty() ? "" : ",", "\"leases\":[",
                               absl::StrJoin(ids, ","), "]}"));
    }
    case OutputFormat::kFields:
      FieldsHeader(r.header());
      for (const auto& l : r.leases()) Line(absl::StrCat("\"ID\" : ", l.id()));
      return;
    default:
      Unsupported();
  }
}

void Printer::MemberAdd(const MemberAddResponse& r) {
  if (format_ == OutputFormat::kJson) return Line(GoJson(r));
  if (format_ != OutputFormat::kSimple) Unsupported();
  Line(absl::StrFormat("Member %16x added to cluster %16x", r.member().id(),
                       r.header().cluster_id()));
}

void Printer::MemberRemove(uint64_t id, const MemberRemoveResponse& r) {
  if (format_ == OutputFormat::kJson) return Line(GoJson(r));
  if (format_ != OutputFormat::kSimple) Unsupported();
  Line(absl::StrFormat("Member %16x removed from cluster %16x", id, r.header().cluster_id()));
}

void Printer::MemberUpdate(uint64_t id, const MemberUpdateResponse& r) {
  if (format_ == OutputFormat::kJson) return Line(GoJson(r));
  if (format_ != OutputFormat::kSimple) Unsupported();
  Line(absl::StrFormat("Member %16x updated in cluster %16x", id, r.header().cluster_id()));
}

void Printer::MemberPromote(uint64_t id, const MemberPromoteResponse& r) {
  if (format_ == OutputFormat::kJson) return Line(GoJson(r));
  if (format_ != OutputFormat::kSimple) Unsupported();
  Line(absl::StrFormat("Member %16x promoted in cluster %16x", id, r.header().cluster_id()));
}

void Printer::MemberList(const MemberListResponse& r) {
  static const std::vector<std::string> kHeader = {"ID",         "Status",       "Name",
                                                   "Peer Addrs", "Client Addrs", "Is Learner"};
  switch (format_) {
    case OutputFormat::kSimple:
      for (const auto& row : MemberRows(r)) Line(absl::StrJoin(row, ", "));
      return;
    case OutputFormat::kJson:
      return Line(GoJson(r));
    case OutputFormat::kTable:
      std::cout << RenderTable(kHeader, MemberRows(r));
      return;
    case OutputFormat::kFields:
      FieldsHeader(r.header());
      for (const auto& m : r.members()) {
        Line(absl::StrCat("\"ID\" : ", m.id()));
        Line("\"Name\" : " + GoQuote(m.name()));
        for (const auto& u : m.peerurls()) Line("\"PeerURL\" : " + GoQuote(u));
        for (const auto& u : m.clienturls()) Line("\"ClientURL\" : " + GoQuote(u));
        Line("\"IsLearner\" : " + Bool(m.islearner()));
        Line("");
      }
      return;
    default:
      Unsupported();
  }
}

void Printer::Health(const std::vector<EndpointHealth>& list) {
  switch (format_) {
    case OutputFormat::kSimple:
      for (const auto& h : list) {
        if (h.error.empty()) {
          std::cerr << h.endpoint
                    << " is healthy: successfully committed proposal: took = " << h.took << "\n";
        } else {
          std::cerr << h.endpoint << " is unhealthy: failed to commit proposal: " << h.error
                    << "\n";
        }
      }
      return;
    case OutputFormat::kJson: {
      std::vector<std::string> items;
      for (const auto& h : list) {
        items.push_back(
            absl::StrCat("{\"endpoint\":", GoJsonString(h.endpoint), ",\"health\":", Bool(h.health),
                         ",\"took\":", GoJsonString(h.took),
                         h.error.empty() ? "" : ",\"error\":" + GoJsonString(h.error), "}"));
      }
      return Line("[" + absl::StrJoin(items, ",") + "]");
    }
    case OutputFormat::kTable: {
      std::vector<std::vector<std::string>> rows;
      for (const auto& h : list) rows.push_back({h.endpoint, Bool(h.health), h.took, h.error});
      std::cout << RenderTable({"endpoint", "health", "took", "error"}, rows);
      return;
    }
    case OutputFormat::kFields:
      for (const auto& h : list) {
        Line("\"Endpoint\" : " + GoQuote(h.endpoint));
        Line("\"Health\" : " + Bool(h.health));
        Line("\"Took\" : " + h.took);
        Line("\"Error\" : " + h.error);
        Line("");
      }
      return;
    default:
      Unsupported();
  }
}

void Printer::Status(const std::vector<EndpointStatus>& list) {
  switch (format_) {
    case OutputFormat::kSimple:
      for (const auto& row : StatusRows(list)) Line(absl::StrJoin(row, ", "));
      return;
    case OutputFormat::kJson: {
      std::vector<std::string> items;
      for (const auto& s : list) {
        items.push_back(absl::StrCat("{\"Endpoint\":", GoJsonString(s.endpoint),
                                     ",\"Status\":", GoJson(s.status), "}"));
      }
      return Line("[" + absl::StrJoin(items, ",") + "]");
    }
    case OutputFormat::kTable:
      std::cout << RenderTable({"endpoint", "ID", "version", "db size", "is leader", "is learner",
                                "raft term", "raft index", "raft applied index", "errors"},
                               StatusRows(list));
      return;
    case OutputFormat::kFields:
      for (const auto& s : list) {
        const auto& r = s.status;
        FieldsHeader(r.header());
        Line("\"Version\" : " + GoQuote(r.version()));
        Line(absl::StrCat("\"DBSize\" : ", r.dbsize()));
        Line(absl::StrCat("\"Leader\" : ", r.leader()));
        Line("\"IsLearner\" : " + Bool(r.islearner()));
        Line(absl::StrCat("\"RaftIndex\" : ", r.raftindex()));
        Line(absl::StrCat("\"RaftTerm\" : ", r.raftterm()));
        Line(absl::StrCat("\"RaftAppliedIndex\" : ", r.raftappliedindex()));
        Line("\"Errors\" : [" + absl::StrJoin(r.errors(), " ") + "]");
        Line("\"Endpoint\" : " + GoQuote(s.endpoint));
        Line("");
      }
      return;
    default:
      Unsupported();
  }
}

void Printer::HashKV(const std::vector<EndpointHash>& list) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& h : list) rows.push_back({h.endpoint, absl::StrCat(h.hash.hash())});
  switch (format_) {
    case OutputFormat::kSimple:
      for (const auto& row : rows) Line(absl::StrJoin(row, ", "));
      return;
    case OutputFormat::kJson: {
      std::vector<std::string> items;
      for (const auto& h : list) {
        items.push_back(absl::StrCat("{\"Endpoint\":", GoJsonString(h.endpoint),
                                     ",\"HashKV\":", GoJson(h.hash), "}"));
      }
      return Line("[" + absl::StrJoin(items, ",") + "]");
    }
    case OutputFormat::kTable:
      std::cout << RenderTable({"endpoint", "hash"}, rows);
      return;
    case OutputFormat::kFields:
      for (const auto& h : list) {
        FieldsHeader(h.hash.header());
        Line("\"Endpoint\" : " + GoQuote(h.endpoint));
        Line(absl::StrCat("\"Hash\" : ", h.hash.hash()));
        Line("");
      }
      return;
    default:
      Unsupported();
  }
}

void Printer::MoveLeader(uint64_t leader, uint64_t target, const MoveLeaderResponse& r) {
  if (format_ == OutputFormat::kJson) return Line(GoJson(r));
  if (format_ != OutputFormat::kSimple) Unsupported();
  Line(absl::StrFormat("Leadership transferred from %x to %x", leader, target));
}

void Printer::Alarm(const AlarmResponse& r) {
  switch (format_) {
    case OutputFormat::kSimple:
      // Go's %+v of the generated struct: its compact text form.
      for (const auto& a : r.alarms()) {
        Line(absl::StrFormat("memberID:%d alarm:%s ", a.memberid(), AlarmName(a.alarm())));
      }
      return;
    case OutputFormat::kJson:
      return Line(GoJson(r));
    case OutputFormat::kFields:
      FieldsHeader(r.header());
      for (const auto& a : r.alarms()) {
        Line(absl::StrCat("\"MemberID\" : ", a.memberid()));
        Line(absl::StrCat("\"AlarmType\" : ", AlarmName(a.alarm())));
        Line("");
      }
      return;
    default:
      Unsupported();
  }
}

}  // namespace quorum::ctl
