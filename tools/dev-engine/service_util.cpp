#include "service_util.hpp"

#include <charconv>
#include <ctime>

namespace wazo::engine {

std::string str(const Json& o, const char* key) {
  auto it = o.find(key);
  return (it != o.end() && it->is_string()) ? it->get<std::string>() : std::string();
}

std::variant<std::optional<std::size_t>, std::string> count_param(const Call& call, const char* name) {
  auto v = call.query_value(name);
  if (!v) return std::optional<std::size_t>();
  std::size_t n = 0;
  const auto [end, err] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (v->empty() || err != std::errc() || end != v->data() + v->size())
    return std::string(name) + ": a non-negative integer is expected";
  return std::optional<std::size_t>(n);
}

namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

}  // namespace

std::optional<Clock::time_point> parse_iso_time(std::string_view s) {
  std::tm tm{};
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(s, 0, 4, year) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2, month) || s[7] != '-' ||
      !digits(s, 8, 2, day))
    return std::nullopt;
  std::size_t pos = 10;
  long micros = 0;
  int offset_seconds = 0;
  if (pos < s.size()) {
    if ((s[pos] != 'T' && s[pos] != ' ') || !digits(s, pos + 1, 2, hour) || s.size() < pos + 9 || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, minute) || s[pos + 6] != ':' || !digits(s, pos + 7, 2, second))
      return std::nullopt;
    pos += 9;
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      long scale = 100000;
      const std::size_t start = pos;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
        if (scale > 0) micros += (s[pos] - '0') * scale;
        scale /= 10;
        ++pos;
      }
      if (pos == start) return std::nullopt;
    }
    if (pos < s.size()) {
      if (s[pos] == 'Z' && pos + 1 == s.size()) {
        pos = s.size();
      } else if ((s[pos] == '+' || s[pos] == '-') && s.size() == pos + 6 && s[pos + 3] == ':') {
        int oh = 0, om = 0;
        if (!digits(s, pos + 1, 2, oh) || !digits(s, pos + 4, 2, om)) return std::nullopt;
        offset_seconds = (oh * 3600 + om * 60) * (s[pos] == '-' ? -1 : 1);
        pos = s.size();
      } else {
        return std::nullopt;
      }
    }
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const std::time_t t = timegm(&tm);
  return Clock::from_time_t(t - offset_seconds) + std::chrono::microseconds(micros);
}

}  // namespace wazo::engine
