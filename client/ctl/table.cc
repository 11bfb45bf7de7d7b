#include "client/ctl/table.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"

namespace quorum::ctl {

namespace {

// Display width: count UTF-8 code points, not bytes, so "·" or "✓" take one column.
size_t Width(const std::string& text) {
  size_t width = 0;
  for (unsigned char c : text) {
    if ((c & 0xc0) != 0x80) ++width;
  }
  return width;
}

std::string Spaces(size_t n) { return std::string(n, ' '); }

}  // namespace

std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows, bool left_align) {
  std::vector<std::string> titles;
  std::vector<size_t> widths;
  for (const auto& h : header) {
    titles.push_back(absl::AsciiStrToUpper(h));
    widths.push_back(Width(titles.back()));
  }
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], Width(row[i]));
    }
  }
  std::string rule = "+";
  for (size_t w : widths) rule += std::string(w + 2, '-') + "+";
  rule += "\n";
  std::string out = rule + "|";
  for (size_t i = 0; i < titles.size(); ++i) {
    size_t gap = widths[i] - Width(titles[i]);
    out += " " + Spaces(gap / 2) + titles[i] + Spaces(gap - gap / 2) + " |";
  }
  out += "\n" + rule;
  for (const auto& row : rows) {
    out += "|";
    for (size_t i = 0; i < widths.size(); ++i) {
      std::string cell = i < row.size() ? row[i] : "";
      size_t gap = widths[i] - Width(cell);
      out += left_align ? " " + cell + Spaces(gap) + " |" : " " + Spaces(gap) + cell + " |";
    }
    out += "\n";
  }
  out += rule;  // drawn even under an empty table, as tablewriter does
  return out;
}

std::string HumanBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  if (bytes < 10) return absl::StrFormat("%d B", bytes);
  int exponent =
      static_cast<int>(std::floor(std::log(static_cast<double>(bytes)) / std::log(1000.0)));
  double value =
      std::floor(static_cast<double>(bytes) / std::pow(1000.0, exponent) * 10 + 0.5) / 10;
  return value < 10 ? absl::StrFormat("%.1f %s", value, kUnits[exponent])
                    : absl::StrFormat("%.0f %s", value, kUnits[exponent]);
}

}  // namespace quorum::ctl
