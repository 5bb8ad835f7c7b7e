// Internal helpers shared by the SIP message parser and the digest code: character classes (RFC 3261 §25.1),
// case-insensitive comparison, LWS trimming, %-escapes and quoted strings. Everything works on string_views and
// never reads out of bounds.
#pragma once
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "wazo/core/error.hpp"

namespace wazo::sip::detail {

enum CharClass : std::uint8_t {
  kToken = 1U << 0U,        // token (RFC 3261 §25.1)
  kUnreserved = 1U << 1U,   // alphanum / mark
  kUserRaw = 1U << 2U,      // may appear unescaped in the user part
  kPasswordRaw = 1U << 3U,  // may appear unescaped in the password
  kParamRaw = 1U << 4U,     // may appear unescaped in a URI parameter (paramchar minus escaped)
  kHostChar = 1U << 5U,     // hostname / IPv4 characters (lenient: '_' too)
  kHeaderRaw = 1U << 6U,    // URI header characters (hnv-unreserved / unreserved)
  kGenValue = 1U << 7U,     // an unquoted generic-param value: token / host (':' '[' ']')
};

constexpr std::array<std::uint8_t, 256> make_char_classes() {
  std::array<std::uint8_t, 256> t{};
  auto add = [&t](std::string_view chars, std::uint8_t cls) {
    for (char c : chars) t[static_cast<unsigned char>(c)] |= cls;
  };
  for (int c = 0; c < 256; ++c) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (alnum) {
      t[static_cast<std::size_t>(c)] |= static_cast<std::uint8_t>(kToken | kUnreserved | kUserRaw | kPasswordRaw |
                                                                  kParamRaw | kHostChar | kHeaderRaw | kGenValue);
    }
  }
  add("-.!%*_+`'~", kToken | kGenValue);
  add("-_.!~*'()", kUnreserved | kUserRaw | kPasswordRaw | kParamRaw | kHeaderRaw);
  add("&=+$,;?/", kUserRaw);
  add("&=+$,", kPasswordRaw);
  add("[]/:&+$", kParamRaw);
  add("-._", kHostChar);
  add("[]/?:+$", kHeaderRaw);
  add(":[]", kGenValue);
  return t;
}
inline constexpr std::array<std::uint8_t, 256> kCharClasses = make_char_classes();

constexpr bool has_class(char c, std::uint8_t cls) { return (kCharClasses[static_cast<unsigned char>(c)] & cls) != 0; }
constexpr bool is_token_char(char c) { return has_class(c, kToken); }
constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_wsp(char c) { return c == ' ' || c == '\t'; }
constexpr bool is_lws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
constexpr char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
constexpr char to_upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (to_lower(a[i]) != to_lower(b[i])) return false;
  }
  return true;
}

inline bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_token_char(c)) return false;
  }
  return true;
}

inline std::string lower_copy(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = to_lower(c);
  return out;
}

inline std::string_view trim_lws(std::string_view s) {
  while (!s.empty() && is_lws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_lws(s.back())) s.remove_suffix(1);
  return s;
}

inline std::size_t skip_lws(std::string_view s, std::size_t pos) {
  while (pos < s.size() && is_lws(s[pos])) ++pos;
  return pos;
}

inline Error parse_error(std::string message) { return Error{ErrorCategory::parse, std::move(message)}; }

// An unsigned decimal of 1..max_digits digits whose value is at most `max`.
inline std::optional<std::uint64_t> parse_uint(std::string_view s, std::uint64_t max, std::size_t max_digits = 10) {
  if (s.empty() || s.size() > max_digits) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    v = v * 10U + static_cast<std::uint64_t>(c - '0');
  }
  if (v > max) return std::nullopt;
  return v;
}

inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Appends `s` with %HH escapes decoded; false on a malformed escape or a character outside `allowed`.
inline bool unescape_append(std::string& out, std::string_view s, std::uint8_t allowed) {
  std::size_t i = 0;
  while (i < s.size() && has_class(s[i], allowed)) ++i;
  if (i == s.size()) {  // the common case: nothing escaped
    out.append(s);
    return true;
  }
  out.reserve(out.size() + s.size());
  out.append(s.substr(0, i));
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return false;
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>((hi << 4) | lo));
      i += 2;
    } else if (has_class(c, allowed)) {
      out.push_back(c);
    } else {
      return false;
    }
  }
  return true;
}

// Appends `s`, %-escaping every character outside `allowed`.
inline void escape_append(std::string& out, std::string_view s, std::uint8_t allowed) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : s) {
    if (has_class(c, allowed)) {
      out.push_back(c);
    } else {
      const auto u = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[u >> 4U]);
      out.push_back(kHex[u & 0x0FU]);
    }
  }
}

// Reads a quoted-string starting at s[pos] == '"'; appends the unescaped content to `out` and returns the position
// after the closing quote, or nullopt when it is unterminated or holds a raw CR/LF/NUL.
inline std::optional<std::size_t> read_quoted(std::string_view s, std::size_t pos, std::string& out) {
  if (pos >= s.size() || s[pos] != '"') return std::nullopt;
  ++pos;
  while (pos < s.size()) {
    const char c = s[pos];
    if (c == '"') return pos + 1;
    if (c == '\\') {
      if (pos + 1 >= s.size()) return std::nullopt;
      const char e = s[pos + 1];
      if (e == '\r' || e == '\n') return std::nullopt;
      out.push_back(e);
      pos += 2;
      continue;
    }
    if (c == '\0' || c == '\r' || c == '\n') return std::nullopt;
    out.push_back(c);
    ++pos;
  }
  return std::nullopt;
}

// Appends `s` as a quoted-string.
// Appends `s` as a quoted-string: '"' and '\\' and control characters escaped (quoted-pair, RFC 3261 §25.1);
// CR and LF, which cannot be escaped, become spaces.
inline void append_quoted(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    if (c == '\r' || c == '\n') {
      out.push_back(' ');
      continue;
    }
    if (c == '"' || c == '\\' || (static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) {
      out.push_back('\\');
    }
    out.push_back(c);
  }
  out.push_back('"');
}

// Calls f(element) for each comma-separated element of a header value; commas inside quoted strings or <...> do
// not split. Elements are trimmed; empty ones are skipped. Stops early when f returns false.
template <class F>
void for_each_list_element(std::string_view value, F&& f) {
  std::size_t start = 0;
  bool in_quotes = false;
  bool in_angle = false;
  for (std::size_t i = 0; i <= value.size(); ++i) {
    if (i == value.size() || (value[i] == ',' && !in_quotes && !in_angle)) {
      const std::string_view element = trim_lws(value.substr(start, i - start));
      if (!element.empty() && !f(element)) return;
      start = i + 1;
      continue;
    }
    const char c = value[i];
    if (in_quotes) {
      if (c == '\\' && i + 1 < value.size()) {
        ++i;
      } else if (c == '"') {
        in_quotes = false;
      }
    } else if (c == '"') {
      in_quotes = true;
    } else if (c == '<') {
      in_angle = true;
    } else if (c == '>') {
      in_angle = false;
    }
  }
}

inline void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

}  // namespace wazo::sip::detail
