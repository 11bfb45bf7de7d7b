// Formats a quorum-bench run for people (table) or for scripts (json, csv). Called by
// quorum-bench's main; tests/bench/compare_etcd.sh reads the csv form.
#ifndef QUORUM_CLIENT_BENCH_REPORT_H_
#define QUORUM_CLIENT_BENCH_REPORT_H_

#include <string>

#include "client/bench/load_runner.h"
#include "client/bench/workload.h"

namespace quorum::bench {

enum class ReportFormat { kTable, kJson, kCsv };

// The whole report, ending in a newline. Latencies are in milliseconds. The csv form is a
// header line and one row; its columns are:
//   workload,consistency,endpoints,conns,clients,val_size,ok,errors,seconds,throughput,
//   min_ms,avg_ms,p50_ms,p90_ms,p99_ms,p999_ms,max_ms,error_codes
// where error_codes is CODE:count pairs separated by ';'.
std::string FormatReport(const LoadSpec& spec, const RunResult& result, ReportFormat format);

}  // namespace quorum::bench

#endif  // QUORUM_CLIENT_BENCH_REPORT_H_
