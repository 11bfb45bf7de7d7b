#include "client/bench/report.h"

#include <array>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace quorum::bench {
namespace {

struct Quantile {
  const char* name;
  double q;
};
constexpr std::array<Quantile, 4> kQuantiles = {
    {{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}, {"p999", 0.999}}};

double Ms(double nanos) { return nanos / 1e6; }

// The consistency only means something when the workload reads.
std::string Consistency(const LoadSpec& spec) {
  if (spec.workload != Workload::kRange && spec.workload != Workload::kMixed) return "";
  return spec.serializable ? "s" : "l";
}

std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += absl::StrFormat("\\u%04x", static_cast<unsigned char>(c));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string Table(const LoadSpec& spec, const RunResult& r) {
  const LatencyHistogram& h = r.latency;
  std::string workload = WorkloadName(spec.workload);
  if (!Consistency(spec).empty()) {
    absl::StrAppend(&workload, " (", spec.serializable ? "serializable" : "linearizable", ")");
  }
  std::string out;
  absl::StrAppendFormat(&out, "workload     %s\n", workload);
  absl::StrAppendFormat(&out, "endpoints    %s\n", absl::StrJoin(spec.endpoints, ","));
  absl::StrAppendFormat(&out, "conns        %d\nclients      %d\nvalue size   %d B\n", spec.conns,
                        spec.clients, spec.val_size);
  absl::StrAppendFormat(&out, "requests     %d ok, %d errors in %.3f s\n", r.ok, r.ErrorCount(),
                        r.seconds);
  absl::StrAppendFormat(&out, "throughput   %.1f req/s\n", r.Throughput());
  absl::StrAppendFormat(&out, "latency ms   %9s %9s %9s %9s %9s %9s %9s\n", "min", "avg", "p50",
                        "p90", "p99", "p99.9", "max");
  absl::StrAppendFormat(&out, "             %9.3f %9.3f", Ms(h.Min()), Ms(h.Mean()));
  for (const Quantile& q : kQuantiles) absl::StrAppendFormat(&out, " %9.3f", Ms(h.Percentile(q.q)));
  absl::StrAppendFormat(&out, " %9.3f\n", Ms(h.Max()));
  for (const auto& [code, count] : r.errors) {
    auto example = r.error_examples.find(code);
    absl::StrAppendFormat(&out, "error        %s x%d: %s\n", code, count,
                          example == r.error_examples.end() ? "" : example->second);
  }
  return out;
}

std::string Json(const LoadSpec& spec, const RunResult& r) {
  const LatencyHistogram& h = r.latency;
  std::string errors;
  for (const auto& [code, count] : r.errors) {
    absl::StrAppend(&errors, errors.empty() ? "" : ",", JsonString(code), ":", count);
  }
  std::string latency = absl::StrFormat("\"min\":%.3f,\"avg\":%.3f", Ms(h.Min()), Ms(h.Mean()));
  for (const Quantile& q : kQuantiles) {
    absl::StrAppendFormat(&latency, ",\"%s\":%.3f", q.name, Ms(h.Percentile(q.q)));
  }
  absl::StrAppendFormat(&latency, ",\"max\":%.3f", Ms(h.Max()));
  std::vector<std::string> endpoints;
  for (const std::string& e : spec.endpoints) endpoints.push_back(JsonString(e));
  return absl::StrFormat(
      "{\"workload\":\"%s\",\"consistency\":\"%s\",\"endpoints\":[%s],\"conns\":%d,"
      "\"clients\":%d,\"val_size\":%d,\"ok\":%d,\"errors\":%d,\"errors_by_code\":{%s},"
      "\"seconds\":%.3f,\"throughput\":%.1f,\"latency_ms\":{%s}}\n",
      WorkloadName(spec.workload), Consistency(spec), absl::StrJoin(endpoints, ","), spec.conns,
      spec.clients, spec.val_size, r.ok, r.ErrorCount(), errors, r.seconds, r.Throughput(),
      latency);
}

std::string Csv(const LoadSpec& spec, const RunResult& r) {
  const LatencyHistogram& h = r.latency;
  std::vector<std::string> codes;
  for (const auto& [code, count] : r.errors) codes.push_back(absl::StrCat(code, ":", count));
  std::string out =
      "workload,consistency,endpoints,conns,clients,val_size,ok,errors,seconds,throughput,"
      "min_ms,avg_ms,p50_ms,p90_ms,p99_ms,p999_ms,max_ms,error_codes\n";
  absl::StrAppendFormat(&out, "%s,%s,%s,%d,%d,%d,%d,%d,%.3f,%.1f,%.3f,%.3f",
                        WorkloadName(spec.workload), Consistency(spec),
                        absl::StrJoin(spec.endpoints, ";"), spec.conns, spec.clients, spec.val_size,
                        r.ok, r.ErrorCount(), r.seconds, r.Throughput(), Ms(h.Min()), Ms(h.Mean()));
  for (const Quantile& q : kQuantiles) absl::StrAppendFormat(&out, ",%.3f", Ms(h.Percentile(q.q)));
  absl::StrAppendFormat(&out, ",%.3f,%s\n", Ms(h.Max()), absl::StrJoin(codes, ";"));
  return out;
}

}  // namespace

std::string FormatReport(const LoadSpec& spec, const RunResult& result, ReportFormat format) {
  switch (format) {
    case ReportFormat::kTable:
      return Table(spec, result);
    case ReportFormat::kJson:
      return Json(spec, result);
    case ReportFormat::kCsv:
      return Csv(spec, result);
  }
  return "";
}

}  // namespace quorum::bench
