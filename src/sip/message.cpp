// SIP message parsing and serialisation (RFC 3261 §7, §20, §25; RFC 7118 framing: one message per frame).
// The parser is a single pass over the bytes: the start line, then one header field per line (folded lines are
// unfolded into the field), then the body, whose size must match Content-Length. Header values are kept as written
// (trimmed and unfolded); the typed views parse them on demand.
#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "sip/detail/parse_util.hpp"
#include "wazo/sip/message.hpp"

namespace wazo::sip {

using detail::iequals;
using detail::parse_error;

namespace {

// ------------------------------------------------------------------------------------------ known header names

struct KnownHeader {
  std::string_view name;  // canonical long form
  char compact;           // RFC 3261 §7.3.3 and extensions, 0 when none
  bool list;              // comma-separated list of values (§7.3.1)
  bool single;            // at most one field in a message
};

constexpr KnownHeader kKnownHeaders[] = {
    {"Accept", 0, true, false},
    {"Accept-Contact", 'a', true, false},
    {"Accept-Encoding", 0, true, false},
    {"Accept-Language", 0, true, false},
    {"Accept-Resource-Priority", 0, true, false},
    {"Alert-Info", 0, true, false},
    {"Allow", 0, true, false},
    {"Allow-Events", 'u', true, false},
    {"Authentication-Info", 0, false, false},
    {"Authorization", 0, false, false},
    {"Call-ID", 'i', false, true},
    {"Call-Info", 0, true, false},
    {"Contact", 'm', true, false},
    {"Content-Disposition", 0, false, false},
    {"Content-Encoding", 'e', true, false},
    {"Content-Language", 0, true, false},
    {"Content-Length", 'l', false, false},
    {"Content-Type", 'c', false, false},
    {"CSeq", 0, false, true},
    {"Date", 0, false, false},
    {"Diversion", 0, true, false},
    {"Error-Info", 0, true, false},
    {"Event", 'o', false, false},
    {"Expires", 0, false, false},
    {"From", 'f', false, true},
    {"History-Info", 0, true, false},
    {"Identity", 'y', false, false},
    {"Identity-Info", 'n', false, false},
    {"In-Reply-To", 0, true, false},
    {"Join", 0, false, false},
    {"Max-Forwards", 0, false, true},
    {"Min-Expires", 0, false, false},
    {"Min-SE", 0, false, false},
    {"MIME-Version", 0, false, false},
    {"Organization", 0, false, false},
    {"P-Asserted-Identity", 0, true, false},
    {"P-Preferred-Identity", 0, true, false},
    {"Path", 0, true, false},
    {"Priority", 0, false, false},
    {"Privacy", 0, false, false},
    {"Proxy-Authenticate", 0, false, false},
    {"Proxy-Authorization", 0, false, false},
    {"Proxy-Require", 0, true, false},
    {"RAck", 0, false, false},
    {"Reason", 0, true, false},
    {"Record-Route", 0, true, false},
    {"Refer-Sub", 0, false, false},
    {"Refer-To", 'r', false, false},
    {"Referred-By", 'b', false, false},
    {"Reject-Contact", 'j', true, false},
    {"Replaces", 0, false, false},
    {"Reply-To", 0, false, false},
    {"Request-Disposition", 'd', true, false},
    {"Require", 0, true, false},
    {"Resource-Priority", 0, true, false},
    {"Retry-After", 0, false, false},
    {"Route", 0, true, false},
    {"RSeq", 0, false, false},
    {"Security-Client", 0, true, false},
    {"Security-Server", 0, true, false},
    {"Security-Verify", 0, true, false},
    {"Server", 0, false, false},
    {"Service-Route", 0, true, false},
    {"Session-Expires", 'x', false, false},
    {"SIP-ETag", 0, false, false},
    {"SIP-If-Match", 0, false, false},
    {"Subject", 's', false, false},
    {"Subscription-State", 0, false, false},
    {"Supported", 'k', true, false},
    {"Target-Dialog", 0, false, false},
    {"Timestamp", 0, false, false},
    {"To", 't', false, true},
    {"Unsupported", 0, true, false},
    {"User-Agent", 0, false, false},
    {"Via", 'v', true, false},
    {"Warning", 0, true, false},
    {"WWW-Authenticate", 0, false, false},
};
constexpr std::size_t kKnownCount = sizeof kKnownHeaders / sizeof kKnownHeaders[0];
static_assert(kKnownCount < 255);

// Cheap and good enough for ~80 names: the length and three letters, case-folded. Collisions only lengthen a probe.
constexpr std::uint32_t hash_name(std::string_view name) {
  const auto at = [&name](std::size_t i) { return static_cast<std::uint32_t>(detail::to_lower(name[i])); };
  if (name.empty()) return 0;
  return static_cast<std::uint32_t>(name.size()) * 97U + at(0) * 31U + at(name.size() / 2) * 7U + at(name.size() - 1);
}

constexpr std::size_t kSlots = 512;  // power of two, load under 1/6: probes are short

struct KnownTable {
  std::array<std::uint8_t, kSlots> slots{};  // index + 1, 0 = empty
  std::array<std::uint8_t, 26> compact{};    // index + 1 by letter
};

constexpr KnownTable make_known_table() {
  KnownTable t{};
  for (std::size_t i = 0; i < kKnownCount; ++i) {
    std::size_t slot = hash_name(kKnownHeaders[i].name) & (kSlots - 1);
    while (t.slots[slot] != 0) slot = (slot + 1) & (kSlots - 1);
    t.slots[slot] = static_cast<std::uint8_t>(i + 1);
    if (kKnownHeaders[i].compact != 0) {
      t.compact[static_cast<std::size_t>(kKnownHeaders[i].compact - 'a')] = static_cast<std::uint8_t>(i + 1);
    }
  }
  return t;
}
constexpr KnownTable kKnownTable = make_known_table();

// Case-insensitive equality of a known name (letters and '-') with `name`, eight bytes at a time: OR-ing 0x20
// folds ASCII letters and leaves '-' alone.
bool same_name(std::string_view known, std::string_view name) {
  constexpr std::uint64_t kFold = 0x2020202020202020ULL;
  std::size_t i = 0;
  for (; i + 8 <= name.size(); i += 8) {
    std::uint64_t a;
    std::uint64_t b;
    std::memcpy(&a, known.data() + i, 8);
    std::memcpy(&b, name.data() + i, 8);
    if ((a | kFold) != (b | kFold)) return false;
  }
  for (; i < name.size(); ++i) {
    if ((known[i] | 0x20) != (name[i] | 0x20)) return false;
  }
  return true;
}

const KnownHeader* find_known(std::string_view name) {
  if (name.size() == 1) {
    const char c = detail::to_lower(name[0]);
    if (c < 'a' || c > 'z') return nullptr;
    const std::uint8_t i = kKnownTable.compact[static_cast<std::size_t>(c - 'a')];
    return i == 0 ? nullptr : &kKnownHeaders[i - 1];
  }
  std::size_t slot = hash_name(name) & (kSlots - 1);
  while (kKnownTable.slots[slot] != 0) {
    const KnownHeader& k = kKnownHeaders[kKnownTable.slots[slot] - 1];
    if (k.name.size() == name.size() && same_name(k.name, name)) return &k;
    slot = (slot + 1) & (kSlots - 1);
  }
  return nullptr;
}

std::string_view canonical_view(std::string_view name) {
  const KnownHeader* k = find_known(name);
  return k != nullptr ? k->name : name;
}

bool is_content_length(std::string_view canonical) { return canonical == "Content-Length"; }

// Media types compare case-insensitively; store the type/subtype in lower case so content_type() can return a
// view.
void normalize_content_type(std::string& value) {
  for (char& c : value) {
    if (c == ';') break;
    c = detail::to_lower(c);
  }
}

// A value set through the API must not smuggle a line break into the wire form.
std::string sanitize_value(std::string value) {
  for (char& c : value) {
    if (c == '\r' || c == '\n' || c == '\0') c = ' ';
  }
  return value;
}

// Character classes for the header section: 0 = fine, 1 = a control character that is never allowed.
constexpr std::array<std::uint8_t, 256> make_ctl_table() {
  std::array<std::uint8_t, 256> t{};
  for (std::size_t c = 0; c < 0x20; ++c) t[c] = 1;
  t['\t'] = 0;
  t[0x7f] = 1;
  return t;
}
constexpr std::array<std::uint8_t, 256> kCtl = make_ctl_table();

bool has_ctl_slow(std::string_view s) {
  for (char c : s) {
    if (kCtl[static_cast<unsigned char>(c)] != 0) return true;
  }
  return false;
}

// Whether `s` holds a control character other than HTAB. Eight bytes at a time: a word with no byte below 0x20
// and no 0x7f byte is clean (SWAR "has a byte less than n" and "has a zero byte" tricks); otherwise look closer.
bool has_ctl(std::string_view s) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t x;
    std::memcpy(&x, s.data() + i, 8);
    const std::uint64_t below_space = (x - kOnes * 0x20U) & ~x & kHigh;
    const std::uint64_t y = x ^ (kOnes * 0x7fU);
    const std::uint64_t del = (y - kOnes) & ~y & kHigh;
    if ((below_space | del) != 0 && has_ctl_slow(s.substr(i, 8))) return true;
  }
  return has_ctl_slow(s.substr(i));
}

// The line that starts at `pos`: finds its LF and checks it for control characters in the same pass (eight bytes
// at a time; the lowest flagged byte of a word is always a real match). `end` is where the content stops (before
// CR LF or LF), `next` where the next line starts; `bad` when a control character other than HTAB, or a CR not
// followed by LF, occurs; `found` false when there is no LF.
struct LineScan {
  std::size_t end = 0;
  std::size_t next = 0;
  bool found = false;
  bool bad = false;
};

// The first byte at or after `i` that is a control character (HTAB, CR and LF included) or DEL; `n` when none.
// SSE2 sixteen bytes at a time where available, else eight at a time with SWAR (the lowest flagged byte of a word
// is always a real match).
std::size_t find_special(const char* p, std::size_t i, std::size_t n) {
#if defined(__SSE2__)
  const __m128i k1f = _mm_set1_epi8(0x1f);
  const __m128i k7f = _mm_set1_epi8(0x7f);
  for (; i + 16 <= n; i += 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    const __m128i ctl = _mm_or_si128(_mm_cmpeq_epi8(_mm_max_epu8(x, k1f), k1f), _mm_cmpeq_epi8(x, k7f));
    const auto mask = static_cast<unsigned>(_mm_movemask_epi8(ctl));
    if (mask != 0) return i + static_cast<std::size_t>(__builtin_ctz(mask));
  }
#endif
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t x;
    std::memcpy(&x, p + i, 8);
    const std::uint64_t y = x ^ (kOnes * 0x7fU);
    const std::uint64_t mask = (((x - kOnes * 0x20U) & ~x) | ((y - kOnes) & ~y)) & kHigh;
    if (mask != 0) return i + (static_cast<std::size_t>(__builtin_ctzll(mask)) >> 3U);
  }
  for (; i < n; ++i) {
    if (kCtl[static_cast<unsigned char>(p[i])] != 0 || p[i] == '\t') return i;
  }
  return n;
}

LineScan scan_line(std::string_view d, std::size_t pos) {
  std::size_t i = pos;
  for (;;) {
    i = find_special(d.data(), i, d.size());
    if (i >= d.size()) return {};
    const char c = d[i];
    if (c == '\t') {
      ++i;
      continue;
    }
    if (c == '\n') return {i, i + 1, true, false};
    if (c == '\r' && i + 1 < d.size() && d[i + 1] == '\n') return {i, i + 2, true, false};
    return {i, i, true, true};
  }
}

// "SIP/2.0 200 OK" → status and reason.
Result<std::pair<int, std::string_view>> parse_status_line(std::string_view line) {
  if (line.size() < 11 || !iequals(line.substr(0, 4), "SIP/")) return parse_error("not a SIP status line");
  if (!iequals(line.substr(0, 8), "SIP/2.0 ")) return parse_error("unsupported SIP version in the status line");
  const std::string_view code = line.substr(8, 3);
  const auto status = detail::parse_uint(code, 999, 3);
  if (!status || code.size() != 3) return parse_error("invalid status code");
  if (*status < 100 || *status > 699) return parse_error("status code " + std::string(code) + " out of 100-699");
  std::string_view reason;
  if (line.size() > 11) {
    if (line[11] != ' ') return parse_error("expected a space after the status code");
    reason = line.substr(12);
  }
  return std::pair<int, std::string_view>{static_cast<int>(*status), reason};
}

}  // namespace

std::string canonical_header_name(std::string_view name) { return std::string(canonical_view(name)); }

// ---------------------------------------------------------------------------------------------------- parse

Result<Message> Message::parse(std::string_view data, const Limits& limits) {
  if (data.size() > limits.max_message_bytes) {
    return parse_error("message of " + std::to_string(data.size()) + " bytes exceeds the limit of " +
                       std::to_string(limits.max_message_bytes));
  }
  std::size_t pos = 0;
  while (pos < data.size() && (data[pos] == '\r' || data[pos] == '\n')) ++pos;  // §7.5: leading CRLFs
  if (pos == data.size()) return parse_error("empty message");

  // A line without its line break; an error when it has none or holds a control character.
  auto next_line = [&](std::string_view& line, const char* where) -> std::optional<Error> {
    const LineScan scan = scan_line(data, pos);
    if (!scan.found) return parse_error(std::string("no line break after ") + where);
    if (scan.bad) return parse_error(std::string("control character in ") + where);
    line = std::string_view(data.data() + pos, scan.end - pos);
    pos = scan.next;
    return std::nullopt;
  };

  Message m;
  std::string_view line;
  if (auto e = next_line(line, "the start line")) return std::move(*e);
  if (line.find('\t') != std::string_view::npos) return parse_error("control character in the start line");
  if (line.size() >= 4 && iequals(line.substr(0, 4), "SIP/")) {
    auto st = parse_status_line(line);
    if (!st) return std::move(st).error();
    m.status_ = st->first;
    m.reason_.assign(st->second);
  } else {
    const std::size_t sp1 = line.find(' ');
    if (sp1 == std::string_view::npos) return parse_error("malformed request line");
    const std::string_view method = line.substr(0, sp1);
    if (!detail::is_token(method)) return parse_error("invalid method in the request line");
    const std::size_t sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos) return parse_error("request line without a SIP version");
    const std::string_view version = line.substr(sp2 + 1);
    if (!iequals(version, "SIP/2.0")) {
      if (version.size() >= 4 && iequals(version.substr(0, 4), "SIP/")) {
        return parse_error("unsupported SIP version '" + std::string(version.substr(0, 16)) + "'");
      }
      return parse_error("malformed request line");
    }
    auto uri = Uri::parse(line.substr(sp1 + 1, sp2 - sp1 - 1), limits);
    if (!uri) return parse_error("Request-URI: " + uri.error().message);
    m.method_.assign(method);
    m.request_uri_ = std::move(*uri);
  }

  m.headers_.reserve(16);
  const KnownHeader* current = nullptr;  // the field being read (finished when the next one starts)
  bool current_open = false;
  std::optional<std::size_t> content_length;
  std::optional<CSeq> cseq;
  bool has_via = false;
  bool has_from = false;
  bool has_to = false;
  bool has_call_id = false;
  bool has_max_forwards = false;

  auto finish = [&]() -> std::optional<Error> {
    if (!current_open) return std::nullopt;
    current_open = false;
    Header& h = m.headers_.back();
    while (!h.value.empty() && detail::is_wsp(h.value.back())) h.value.pop_back();
    if (current == nullptr) return std::nullopt;
    bool* seen = nullptr;
    switch (current->name.size()) {
      case 4:
        if (current->name == "CSeq") {
          if (cseq) return parse_error("more than one CSeq header");
          auto c = CSeq::parse(h.value);
          if (!c) return std::move(c).error();
          cseq = std::move(*c);
        } else if (current->name == "From") {
          seen = &has_from;
        }
        break;
      case 2:
        seen = &has_to;
        break;
      case 3:
        has_via = true;
        break;
      case 7:
        if (current->name == "Call-ID") seen = &has_call_id;
        break;
      case 12:
        if (current->name == "Max-Forwards") seen = &has_max_forwards;
        if (current->name == "Content-Type") normalize_content_type(h.value);
        break;
      case 14:
        if (is_content_length(current->name)) {
          const auto v = detail::parse_uint(h.value, limits.max_message_bytes, 10);
          if (!v) return parse_error("invalid Content-Length '" + h.value.substr(0, 24) + "'");
          if (content_length && *content_length != *v) return parse_error("conflicting Content-Length headers");
          content_length = static_cast<std::size_t>(*v);
          m.headers_.pop_back();  // implied by the body; written back by serialize()
        }
        break;
      default:
        break;
    }
    if (seen != nullptr) {
      if (*seen) return parse_error("more than one " + std::string(current->name) + " header");
      *seen = true;
    }
    return std::nullopt;
  };

  std::size_t fields = 0;
  for (;;) {
    if (pos >= data.size()) return parse_error("header section not terminated by an empty line");
    if (auto e = next_line(line, "a header line")) return std::move(*e);
    if (line.empty()) break;
    if (detail::is_wsp(line.front())) {
      if (!current_open) return parse_error("continuation line before any header");
      Header& h = m.headers_.back();
      const std::string_view more = detail::trim_lws(line);
      if (more.empty()) continue;
      if (h.value.size() + 1 + more.size() > limits.max_header_bytes) {
        return parse_error(h.name + " header longer than " + std::to_string(limits.max_header_bytes) + " bytes");
      }
      while (!h.value.empty() && detail::is_wsp(h.value.back())) h.value.pop_back();
      if (!h.value.empty()) h.value.push_back(' ');
      h.value.append(more);
      continue;
    }
    if (auto e = finish()) return std::move(*e);
    // name *WSP ":" value — the name scanned and checked in one pass.
    std::size_t colon = 0;
    while (colon < line.size() && detail::is_token_char(line[colon])) ++colon;
    const std::string_view name(line.data(), colon);
    while (colon < line.size() && detail::is_wsp(line[colon])) ++colon;
    if (colon >= line.size() || line[colon] != ':') {
      return parse_error(name.empty() ? "invalid header name" : "header line without ':' after a valid name");
    }
    if (name.empty()) return parse_error("empty header name");
    const std::string_view value = detail::trim_lws(std::string_view(line.data() + colon + 1, line.size() - colon - 1));
    if (value.size() > limits.max_header_bytes) {
      return parse_error(std::string(name.substr(0, 32)) + " header longer than " +
                         std::to_string(limits.max_header_bytes) + " bytes");
    }
    current = find_known(name);
    // Content-Length is not kept (serialize() writes it), so it does not count: what parses, re-parses.
    if ((current == nullptr || !is_content_length(current->name)) && ++fields > limits.max_headers) {
      return parse_error("more than " + std::to_string(limits.max_headers) + " header fields");
    }
    m.headers_.push_back(Header{std::string(current != nullptr ? current->name : name), std::string(value)});
    current_open = true;
  }
  if (auto e = finish()) return std::move(*e);

  const std::string_view body = data.substr(pos);
  if (content_length && *content_length != body.size()) {
    return parse_error("Content-Length is " + std::to_string(*content_length) + " but the body has " +
                       std::to_string(body.size()) + " bytes");
  }
  m.body_.assign(body);

  if (!has_via) return parse_error("missing Via header");
  if (!has_from) return parse_error("missing From header");
  if (!has_to) return parse_error("missing To header");
  if (!has_call_id) return parse_error("missing Call-ID header");
  if (!cseq) return parse_error("missing CSeq header");
  if (m.is_request() && cseq->method != m.method_) {
    return parse_error("CSeq method " + cseq->method.substr(0, 32) + " does not match the request method");
  }
  return m;
}

// ---------------------------------------------------------------------------------------------------- build

Message Message::request(std::string method, Uri request_uri) {
  Message m;
  m.method_ = std::move(method);
  m.request_uri_ = std::move(request_uri);
  return m;
}

Message Message::response(int status, std::string reason) {
  Message m;
  m.status_ = status;
  m.reason_ = reason.empty() ? std::string(reason_phrase(status)) : std::move(reason);
  return m;
}

// ---------------------------------------------------------------------------------------------------- headers

std::optional<std::string_view> Message::header(std::string_view name) const {
  const std::string_view c = canonical_view(name);
  for (const Header& h : headers_) {
    if (iequals(h.name, c)) return std::string_view{h.value};
  }
  return std::nullopt;
}

std::vector<std::string_view> Message::header_values(std::string_view name) const {
  std::vector<std::string_view> out;
  const KnownHeader* k = find_known(name);
  const std::string_view c = k != nullptr ? k->name : name;
  for (const Header& h : headers_) {
    if (!iequals(h.name, c)) continue;
    if (k != nullptr && k->list) {
      detail::for_each_list_element(h.value, [&](std::string_view e) {
        out.push_back(e);
        return true;
      });
    } else {
      out.emplace_back(h.value);
    }
  }
  return out;
}

void Message::add_header(std::string_view name, std::string value) {
  const std::string_view c = canonical_view(name);
  if (is_content_length(c)) return;  // always written from the body
  headers_.push_back(Header{std::string(c), sanitize_value(std::move(value))});
  if (c == "Content-Type") normalize_content_type(headers_.back().value);
}

void Message::push_header(std::string_view name, std::string value) {
  const std::string_view c = canonical_view(name);
  if (is_content_length(c)) return;
  headers_.insert(headers_.begin(), Header{std::string(c), sanitize_value(std::move(value))});
  if (c == "Content-Type") normalize_content_type(headers_.front().value);
}

void Message::set_header(std::string_view name, std::string value) {
  const std::string_view c = canonical_view(name);
  if (is_content_length(c)) return;
  auto it = std::find_if(headers_.begin(), headers_.end(), [&](const Header& h) { return iequals(h.name, c); });
  if (it == headers_.end()) {
    add_header(c, std::move(value));
    return;
  }
  it->value = sanitize_value(std::move(value));
  if (c == "Content-Type") normalize_content_type(it->value);
  const auto first = it - headers_.begin();
  headers_.erase(
      std::remove_if(headers_.begin() + first + 1, headers_.end(), [&](const Header& h) { return iequals(h.name, c); }),
      headers_.end());
}

std::size_t Message::remove_header(std::string_view name) {
  const std::string_view c = canonical_view(name);
  const std::size_t before = headers_.size();
  headers_.erase(std::remove_if(headers_.begin(), headers_.end(), [&](const Header& h) { return iequals(h.name, c); }),
                 headers_.end());
  return before - headers_.size();
}

bool Message::remove_first_header(std::string_view name) {
  const std::string_view c = canonical_view(name);
  auto it = std::find_if(headers_.begin(), headers_.end(), [&](const Header& h) { return iequals(h.name, c); });
  if (it == headers_.end()) return false;
  headers_.erase(it);
  return true;
}

void Message::set_body(std::string body, std::string content_type) {
  body_ = std::move(body);
  if (body_.empty()) {
    remove_header("Content-Type");
  } else {
    set_header("Content-Type", std::move(content_type));
  }
}

void Message::clear_body() {
  body_.clear();
  remove_header("Content-Type");
}

// ---------------------------------------------------------------------------------------------------- views

namespace {

template <class T, class F>
Result<std::vector<T>> parse_all(const std::vector<std::string_view>& values, F&& parse_one) {
  std::vector<T> out;
  out.reserve(values.size());
  for (std::string_view v : values) {
    auto r = parse_one(v);
    if (!r) return std::move(r).error();
    out.push_back(std::move(*r));
  }
  return out;
}

Result<NameAddr> name_addr_header(const Message& m, std::string_view name) {
  const auto v = m.header(name);
  if (!v) return parse_error("missing " + std::string(name) + " header");
  auto r = NameAddr::parse(*v);
  if (!r) return parse_error(std::string(name) + ": " + r.error().message);
  return r;
}

}  // namespace

Result<Via> Message::top_via() const {
  const auto v = header("Via");
  if (!v) return parse_error("missing Via header");
  std::string_view first;
  detail::for_each_list_element(*v, [&first](std::string_view e) {
    first = e;
    return false;
  });
  if (first.empty()) return parse_error("empty Via header");
  return Via::parse(first);
}

Result<std::vector<Via>> Message::vias() const {
  return parse_all<Via>(header_values("Via"), [](std::string_view v) { return Via::parse(v); });
}

Result<NameAddr> Message::from() const { return name_addr_header(*this, "From"); }
Result<NameAddr> Message::to() const { return name_addr_header(*this, "To"); }

Result<CSeq> Message::cseq() const {
  const auto v = header("CSeq");
  if (!v) return parse_error("missing CSeq header");
  return CSeq::parse(*v);
}

std::string_view Message::call_id() const { return header("Call-ID").value_or(std::string_view{}); }

Result<std::vector<NameAddr>> Message::contacts() const {
  return parse_all<NameAddr>(header_values("Contact"), [](std::string_view v) { return NameAddr::parse(v); });
}

Result<std::vector<NameAddr>> Message::routes() const {
  return parse_all<NameAddr>(header_values("Route"), [](std::string_view v) { return NameAddr::parse(v); });
}

Result<std::vector<NameAddr>> Message::record_routes() const {
  return parse_all<NameAddr>(header_values("Record-Route"), [](std::string_view v) { return NameAddr::parse(v); });
}

std::optional<std::uint32_t> Message::expires() const {
  const auto v = header("Expires");
  if (!v) return std::nullopt;
  const std::string_view s = detail::trim_lws(*v);
  if (s.empty() || !std::all_of(s.begin(), s.end(), detail::is_digit)) return std::nullopt;
  // §20.19: a value above 2**32-1 is taken as 2**32-1.
  const auto n = detail::parse_uint(s, 0xFFFFFFFFU, 10);
  return n ? static_cast<std::uint32_t>(*n) : 0xFFFFFFFFU;
}

std::optional<std::uint32_t> Message::max_forwards() const {
  const auto v = header("Max-Forwards");
  if (!v) return std::nullopt;
  const auto n = detail::parse_uint(detail::trim_lws(*v), 255, 10);
  if (!n) return std::nullopt;
  return static_cast<std::uint32_t>(*n);
}

std::string_view Message::content_type() const {
  const auto v = header("Content-Type");
  if (!v) return {};
  return detail::trim_lws(v->substr(0, v->find(';')));
}

bool Message::header_lists(std::string_view name, std::string_view token) const {
  const auto values = header_values(name);
  return std::any_of(values.begin(), values.end(), [&](std::string_view v) { return iequals(v, token); });
}

// ---------------------------------------------------------------------------------------------------- serialize

void Message::serialize_to(std::string& out) const {
  std::size_t size =
      body_.size() + 64 + method_.size() + reason_.size() + request_uri_.user.size() + request_uri_.host.size();
  for (const Header& h : headers_) size += h.name.size() + h.value.size() + 4;
  out.reserve(out.size() + size);
  if (is_request()) {
    out += method_;
    out.push_back(' ');
    request_uri_.append_to(out);
    out += " SIP/2.0\r\n";
  } else {
    out += "SIP/2.0 ";
    detail::append_uint(out, static_cast<std::uint64_t>(status_ < 0 ? 0 : status_));
    out.push_back(' ');
    out += reason_;
    out += "\r\n";
  }
  for (const Header& h : headers_) {
    if (is_content_length(h.name)) continue;
    out += h.name;
    out += ": ";
    out += h.value;
    out += "\r\n";
  }
  out += "Content-Length: ";
  detail::append_uint(out, body_.size());
  out += "\r\n\r\n";
  out += body_;
}

std::string Message::serialize() const {
  std::string out;
  serialize_to(out);
  return out;
}

std::string Message::summary() const {
  std::string out;
  if (is_request()) {
    out = method_;
    out.push_back(' ');
    Uri shown = request_uri_;
    shown.password.clear();  // never log a password carried in a URI
    shown.append_to(out);
  } else {
    detail::append_uint(out, static_cast<std::uint64_t>(status_ < 0 ? 0 : status_));
    out.push_back(' ');
    out += reason_;
  }
  out += " (CSeq ";
  out += header("CSeq").value_or("?");
  out += ", Call-ID ";
  out += call_id();
  out += ')';
  return out;
}

// ---------------------------------------------------------------------------------------------------- misc

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100:
      return "Trying";
    case 180:
      return "Ringing";
    case 181:
      return "Call Is Being Forwarded";
    case 182:
      return "Queued";
    case 183:
      return "Session Progress";
    case 199:
      return "Early Dialog Terminated";
    case 200:
      return "OK";
    case 202:
      return "Accepted";
    case 204:
      return "No Notification";
    case 300:
      return "Multiple Choices";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Moved Temporarily";
    case 305:
      return "Use Proxy";
    case 380:
      return "Alternative Service";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 407:
      return "Proxy Authentication Required";
    case 408:
      return "Request Timeout";
    case 410:
      return "Gone";
    case 412:
      return "Conditional Request Failed";
    case 413:
      return "Request Entity Too Large";
    case 414:
      return "Request-URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Unsupported URI Scheme";
    case 417:
      return "Unknown Resource-Priority";
    case 420:
      return "Bad Extension";
    case 421:
      return "Extension Required";
    case 422:
      return "Session Interval Too Small";
    case 423:
      return "Interval Too Brief";
    case 428:
      return "Use Identity Header";
    case 429:
      return "Provide Referrer Identity";
    case 430:
      return "Flow Failed";
    case 433:
      return "Anonymity Disallowed";
    case 436:
      return "Bad Identity-Info";
    case 437:
      return "Unsupported Certificate";
    case 438:
      return "Invalid Identity Header";
    case 439:
      return "First Hop Lacks Outbound Support";
    case 440:
      return "Max-Breadth Exceeded";
    case 469:
      return "Bad Info Package";
    case 470:
      return "Consent Needed";
    case 480:
      return "Temporarily Unavailable";
    case 481:
      return "Call/Transaction Does Not Exist";
    case 482:
      return "Loop Detected";
    case 483:
      return "Too Many Hops";
    case 484:
      return "Address Incomplete";
    case 485:
      return "Ambiguous";
    case 486:
      return "Busy Here";
    case 487:
      return "Request Terminated";
    case 488:
      return "Not Acceptable Here";
    case 489:
      return "Bad Event";
    case 491:
      return "Request Pending";
    case 493:
      return "Undecipherable";
    case 494:
      return "Security Agreement Required";
    case 500:
      return "Server Internal Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Server Time-out";
    case 505:
      return "Version Not Supported";
    case 513:
      return "Message Too Large";
    case 555:
      return "Push Notification Service Not Supported";
    case 580:
      return "Precondition Failure";
    case 600:
      return "Busy Everywhere";
    case 603:
      return "Decline";
    case 604:
      return "Does Not Exist Anywhere";
    case 606:
      return "Not Acceptable";
    case 607:
      return "Unwanted";
    case 608:
      return "Rejected";
    default:
      return "";
  }
}

Result<std::pair<int, std::string>> parse_sipfrag_status(std::string_view body) {
  std::size_t pos = 0;
  while (pos < body.size() && (body[pos] == '\r' || body[pos] == '\n')) ++pos;
  std::string_view line = body.substr(pos);
  line = line.substr(0, line.find('\n'));
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (has_ctl(line)) return parse_error("sipfrag: control character in the status line");
  auto st = parse_status_line(line);
  if (!st) return parse_error("sipfrag: " + st.error().message);
  return std::pair<int, std::string>{st->first, std::string(detail::trim_lws(st->second))};
}

}  // namespace wazo::sip
