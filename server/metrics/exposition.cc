#include "server/metrics/exposition.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace quorum::server::metrics {
namespace {

void AppendEscaped(std::string& out, std::string_view text, bool quotes) {
  for (char c : text) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '"':
        out += quotes ? "\\\"" : "\"";
        break;
      default:
        out += c;
    }
  }
}

std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == 0) return std::signbit(value) ? "-0" : "0";
  // The shortest digits that read back as `value`, in scientific form, tell the exponent; Go's
  // 'g' with shortest precision switches to scientific notation below 1e-4 and from 1e21 on.
  char sci[64];
  auto [sci_end, sci_ec] =
      std::to_chars(sci, sci + sizeof(sci), value, std::chars_format::scientific);
  std::string_view digits(sci, sci_end - sci);
  size_t e = digits.find('e');
  int exponent = 0;
  std::from_chars(digits.data() + e + 1 + (digits[e + 1] == '+' ? 1 : 0),
                  digits.data() + digits.size(), exponent);
  if (exponent < -4 || exponent >= 21) {
    // Go writes at least two exponent digits: 1e-05, 1.5e+21.
    std::string out(digits.substr(0, e));
    out += 'e';
    out += exponent < 0 ? '-' : '+';
    int magnitude = std::abs(exponent);
    if (magnitude < 10) out += '0';
    out += std::to_string(magnitude);
    return out;
  }
  char fixed[400];
  auto [fixed_end, fixed_ec] =
      std::to_chars(fixed, fixed + sizeof(fixed), value, std::chars_format::fixed);
  return std::string(fixed, fixed_end - fixed);
}

void ExpositionWriter::Header(std::string_view name, std::string_view help, MetricType type) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  AppendEscaped(out_, help, /*quotes=*/false);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += TypeName(type);
  out_ += '\n';
}

void ExpositionWriter::SampleStart(std::string_view name, std::span<const Label> labels,
                                   const Label* extra) {
  out_ += name;
  if (labels.empty() && extra == nullptr) {
    out_ += ' ';
    return;
  }
  out_ += '{';
  bool first = true;
  auto add = [&](const Label& label) {
    if (!first) out_ += ',';
    first = false;
    out_ += label.name;
    out_ += "=\"";
    AppendEscaped(out_, label.value, /*quotes=*/true);
    out_ += '"';
  };
  for (const Label& label : labels) add(label);
  if (extra != nullptr) add(*extra);
  out_ += "} ";
}

void ExpositionWriter::Sample(std::string_view name, std::span<const Label> labels, double value) {
  SampleStart(name, labels);
  out_ += FormatValue(value);
  out_ += '\n';
}

void ExpositionWriter::Sample(std::string_view name, std::span<const Label> labels,
                              uint64_t value) {
  SampleStart(name, labels);
  out_ += std::to_string(value);
  out_ += '\n';
}

void ExpositionWriter::Histogram(std::string_view name, std::span<const Label> labels,
                                 std::span<const double> bounds,
                                 std::span<const uint64_t> cumulative, double sum) {
  const std::string bucket = std::string(name) + "_bucket";
  for (size_t i = 0; i <= bounds.size(); ++i) {
    const std::string le = i < bounds.size() ? FormatValue(bounds[i]) : "+Inf";
    const Label le_label{"le", le};
    SampleStart(bucket, labels, &le_label);
    out_ += std::to_string(cumulative[i]);
    out_ += '\n';
  }
  Sample(std::string(name) + "_sum", labels, sum);
  Sample(std::string(name) + "_count", labels, cumulative[bounds.size()]);
}

}  // namespace quorum::server::metrics
