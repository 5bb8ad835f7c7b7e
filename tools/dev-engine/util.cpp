#include "util.hpp"

#include <array>
#include <cstdio>
#include <ctime>
#include <random>

#include <openssl/rand.h>

namespace wazo::engine {

namespace {

void random_bytes(unsigned char* out, std::size_t n) {
  if (RAND_bytes(out, static_cast<int>(n)) != 1) {
    // OpenSSL's generator failing is not recoverable in a sane way; fall back to the standard one.
    static thread_local std::mt19937_64 gen{std::random_device{}()};
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<unsigned char>(gen());
  }
}

std::string format_time(Clock::time_point t, bool offset) {
  const auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(t - secs).count();
  const std::time_t tt = Clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  std::array<char, 64> buf{};
  std::snprintf(buf.data(), buf.size(), "%04d-%02d-%02dT%02d:%02d:%02d.%06ld%s", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long>(micros), offset ? "+00:00" : "");
  return buf.data();
}

}  // namespace

std::string new_uuid() {
  std::array<unsigned char, 16> b{};
  random_bytes(b.data(), b.size());
  b[6] = static_cast<unsigned char>((b[6] & 0x0FU) | 0x40U);
  b[8] = static_cast<unsigned char>((b[8] & 0x3FU) | 0x80U);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += hex[b[i] >> 4U];
    out += hex[b[i] & 0x0FU];
  }
  return out;
}

std::string random_token(std::size_t bytes) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string raw(bytes, '\0');
  random_bytes(reinterpret_cast<unsigned char*>(raw.data()), raw.size());
  std::string out;
  out.reserve(bytes);
  for (const char c : raw) out += alphabet[static_cast<unsigned char>(c) & 63U];
  return out;
}

std::string iso_time(Clock::time_point t) { return format_time(t, false); }
std::string iso_time_utc(Clock::time_point t) { return format_time(t, true); }

std::optional<std::string> base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  unsigned acc = 0;
  int bits = 0;
  for (const char c : in) {
    const int v = value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6U) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> static_cast<unsigned>(bits)) & 0xFFU);
    }
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string slugify(std::string_view name) {
  std::string out;
  for (const char c : lower(name)) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (keep) {
      out += c;
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.substr(0, 80);
}

Json token_error_body(int status, std::string_view reason) {
  return Json{{"reason", Json::array({std::string(reason)})},
              {"timestamp", Json::array({iso_time(Clock::now())})},
              {"status_code", status}};
}

Json api_error_body(std::string_view message, std::string_view error_id, Json details, std::string_view resource) {
  const double ts = std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
  Json out = {{"message", std::string(message)},
              {"error_id", std::string(error_id)},
              {"details", std::move(details)},
              {"timestamp", ts}};
  if (!resource.empty()) out["resource"] = std::string(resource);
  return out;
}

}  // namespace wazo::engine
