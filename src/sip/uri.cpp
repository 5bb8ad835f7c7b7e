// Params, Uri, NameAddr, Via and CSeq (RFC 3261 §19.1, §20, §25.1).
#include <algorithm>
#include <array>
#include <string>
#include <string_view>

#include "sip/detail/parse_util.hpp"
#include "wazo/sip/message.hpp"

namespace wazo::sip {

using detail::has_class;
using detail::iequals;
using detail::parse_error;

// ---------------------------------------------------------------------------------------------------- Params

bool Params::has(std::string_view name) const {
  return std::any_of(list_.begin(), list_.end(), [&](const Param& p) { return iequals(p.name, name); });
}

std::optional<std::string_view> Params::get(std::string_view name) const {
  for (const Param& p : list_) {
    if (iequals(p.name, name)) return p.value ? std::string_view{*p.value} : std::string_view{""};
  }
  return std::nullopt;
}

void Params::set(std::string_view name, std::optional<std::string> value) {
  for (Param& p : list_) {
    if (iequals(p.name, name)) {
      p.value = std::move(value);
      return;
    }
  }
  list_.push_back(Param{std::string(name), std::move(value)});
}

void Params::append(std::string name, std::optional<std::string> value) {
  if (list_.empty()) list_.reserve(4);  // one allocation for the usual handful
  list_.push_back(Param{std::move(name), std::move(value)});
}

bool Params::remove(std::string_view name) {
  const auto it = std::find_if(list_.begin(), list_.end(), [&](const Param& p) { return iequals(p.name, name); });
  if (it == list_.end()) return false;
  list_.erase(it);
  return true;
}

namespace {

bool needs_quotes(std::string_view value) {
  if (value.empty()) return true;
  return !std::all_of(value.begin(), value.end(), [](char c) { return has_class(c, detail::kGenValue); });
}

}  // namespace

void Params::append_to(std::string& out, char separator) const {
  for (const Param& p : list_) {
    out.push_back(separator);
    out += p.name;
    if (p.value) {
      out.push_back('=');
      if (needs_quotes(*p.value)) {
        detail::append_quoted(out, *p.value);
      } else {
        out += *p.value;
      }
    }
  }
}

namespace {

// Generic header parameters: `*( SEMI generic-param )` with LWS around the separators. `s` starts at the first
// `;` (or is only LWS).
Result<void> parse_header_params(std::string_view s, Params& params, const Limits& limits) {
  std::size_t pos = detail::skip_lws(s, 0);
  std::size_t count = params.list().size();
  while (pos < s.size()) {
    if (s[pos] != ';') return parse_error("expected ';' before a parameter, found '" + std::string(1, s[pos]) + "'");
    pos = detail::skip_lws(s, pos + 1);
    const std::size_t name_start = pos;
    while (pos < s.size() && detail::is_token_char(s[pos])) ++pos;
    if (pos == name_start) return parse_error("empty or invalid parameter name");
    std::string name(s.substr(name_start, pos - name_start));
    pos = detail::skip_lws(s, pos);
    std::optional<std::string> value;
    if (pos < s.size() && s[pos] == '=') {
      pos = detail::skip_lws(s, pos + 1);
      std::string v;
      if (pos < s.size() && s[pos] == '"') {
        const auto end = detail::read_quoted(s, pos, v);
        if (!end) return parse_error("unterminated quoted string in parameter '" + name + "'");
        pos = *end;
      } else {
        const std::size_t value_start = pos;
        while (pos < s.size()) {
          const char c = s[pos];
          if (c == ';' || c == ',' || c == '"' || detail::is_lws(c) || static_cast<unsigned char>(c) < 0x20 ||
              c == 0x7f) {
            break;
          }
          ++pos;
        }
        if (pos == value_start) return parse_error("empty value for parameter '" + name + "'");
        v.assign(s.substr(value_start, pos - value_start));
      }
      value = std::move(v);
      pos = detail::skip_lws(s, pos);
    }
    if (++count > limits.max_params)
      return parse_error("more than " + std::to_string(limits.max_params) + " parameters");
    params.append(std::move(name), std::move(value));
  }
  return {};
}

bool is_sip_scheme(std::string_view scheme) { return scheme == "sip" || scheme == "sips"; }

// `[...]` IPv6 reference: hex digits, ':' and '.' (an embedded IPv4), at least one ':'.
bool valid_ipv6_reference(std::string_view h) {
  if (h.size() < 4 || h.front() != '[' || h.back() != ']') return false;
  bool colon = false;
  for (char c : h.substr(1, h.size() - 2)) {
    if (c == ':') {
      colon = true;
    } else if (detail::hex_value(c) < 0 && c != '.') {
      return false;
    }
  }
  return colon;
}

// Called on a run of host characters: only the first one needs a look.
bool valid_hostname(std::string_view h) { return !h.empty() && h.front() != '.' && h.front() != '-'; }

// Characters that never appear in a URI as we accept it: controls, space, DEL, '<', '>', '"'.
constexpr std::array<bool, 256> make_uri_bad() {
  std::array<bool, 256> t{};
  for (std::size_t c = 0; c <= 0x20; ++c) t[c] = true;
  t[0x7f] = true;
  t['<'] = true;
  t['>'] = true;
  t['"'] = true;
  return t;
}
constexpr std::array<bool, 256> kUriBad = make_uri_bad();

// URI parameters: `;name[=value]` with %-escapes, until '?' or the end. Returns the position reached.
Result<std::size_t> parse_uri_params(std::string_view s, std::size_t pos, Params& params, const Limits& limits) {
  std::size_t count = 0;
  while (pos < s.size() && s[pos] == ';') {
    ++pos;
    const std::size_t start = pos;
    while (pos < s.size() && s[pos] != ';' && s[pos] != '?') ++pos;
    const std::string_view item = s.substr(start, pos - start);
    const std::size_t eq = item.find('=');
    const std::string_view raw_name = item.substr(0, eq);
    if (raw_name.empty()) return parse_error("empty URI parameter name");
    std::string name;
    if (!detail::unescape_append(name, raw_name, detail::kParamRaw)) {
      return parse_error("invalid character in URI parameter name");
    }
    std::optional<std::string> value;
    if (eq != std::string_view::npos) {
      std::string v;
      if (!detail::unescape_append(v, item.substr(eq + 1), detail::kParamRaw)) {
        return parse_error("invalid character in the value of URI parameter '" + name + "'");
      }
      value = std::move(v);
    }
    if (++count > limits.max_params) {
      return parse_error("more than " + std::to_string(limits.max_params) + " URI parameters");
    }
    params.append(std::move(name), std::move(value));
  }
  return pos;
}

// host [":" port] at s[pos...]; stops at ';', '?' or the end.
Result<std::size_t> parse_host_port(std::string_view s, std::size_t pos, std::string& host, std::uint16_t& port,
                                    bool stop_at_lws) {
  std::size_t end;
  if (pos < s.size() && s[pos] == '[') {
    end = s.find(']', pos);
    if (end == std::string_view::npos) return parse_error("unterminated IPv6 reference");
    ++end;
    const std::string_view h = s.substr(pos, end - pos);
    if (!valid_ipv6_reference(h)) return parse_error("invalid IPv6 reference");
    host.assign(h);
  } else {
    end = pos;
    while (end < s.size() && detail::has_class(s[end], detail::kHostChar)) ++end;
    if (end < s.size() && s[end] != ':' && s[end] != ';' && s[end] != '?' &&
        !(stop_at_lws && (detail::is_lws(s[end]) || s[end] == ','))) {
      return parse_error("invalid character in host");
    }
    const std::string_view h = s.substr(pos, end - pos);
    if (!valid_hostname(h)) return parse_error("invalid host '" + std::string(h.substr(0, 64)) + "'");
    host.assign(h);
  }
  port = 0;
  if (end < s.size() && s[end] == ':') {
    std::size_t p = end + 1;
    while (p < s.size() && detail::is_digit(s[p])) ++p;
    const auto v = detail::parse_uint(s.substr(end + 1, p - end - 1), 65535, 5);
    if (!v) return parse_error("invalid port");
    port = static_cast<std::uint16_t>(*v);
    end = p;
  }
  return end;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------- Uri

Result<Uri> Uri::parse(std::string_view text, const Limits& limits) {
  if (text.size() > limits.max_uri_bytes) {
    return parse_error("URI longer than " + std::to_string(limits.max_uri_bytes) + " bytes");
  }
  if (text.empty()) return parse_error("empty URI");
  for (char c : text) {
    if (kUriBad[static_cast<unsigned char>(c)]) {
      return parse_error("URI contains a space, a control character, a quote or an angle bracket");
    }
  }
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0) return parse_error("URI without a scheme");
  const std::string_view scheme = text.substr(0, colon);
  if (!detail::is_alpha(scheme.front())) return parse_error("invalid URI scheme");
  for (char c : scheme) {
    if (!detail::is_alpha(c) && !detail::is_digit(c) && c != '+' && c != '-' && c != '.') {
      return parse_error("invalid URI scheme");
    }
  }
  Uri u;
  if (scheme != "sip") {  // the default value already
    u.scheme.assign(scheme);
    for (char& c : u.scheme) c = detail::to_lower(c);
  }
  const std::string_view rest = text.substr(colon + 1);
  if (rest.empty()) return parse_error("URI without a body after the scheme");

  if (is_sip_scheme(u.scheme)) {
    std::size_t pos = 0;
    const std::size_t at = rest.find('@');
    if (at != std::string_view::npos) {
      const std::string_view userinfo = rest.substr(0, at);
      const std::size_t pc = userinfo.find(':');
      const std::string_view user = userinfo.substr(0, pc);
      if (user.empty()) return parse_error("SIP URI with an empty user part");
      if (!detail::unescape_append(u.user, user, detail::kUserRaw)) {
        return parse_error("invalid character or escape in the URI user part");
      }
      if (pc != std::string_view::npos &&
          !detail::unescape_append(u.password, userinfo.substr(pc + 1), detail::kPasswordRaw)) {
        return parse_error("invalid character or escape in the URI password");
      }
      pos = at + 1;
    }
    auto hp = parse_host_port(rest, pos, u.host, u.port, false);
    if (!hp) return std::move(hp).error();
    auto pp = parse_uri_params(rest, *hp, u.params, limits);
    if (!pp) return std::move(pp).error();
    pos = *pp;
    if (pos < rest.size() && rest[pos] == '?') {
      const std::string_view headers = rest.substr(pos + 1);
      for (char c : headers) {
        if (!has_class(c, detail::kHeaderRaw) && c != '%' && c != '&' && c != '=') {
          return parse_error("invalid character in URI headers");
        }
      }
      u.headers.assign(headers);
      pos = rest.size();
    }
    if (pos != rest.size()) return parse_error("unexpected character in SIP URI");
    return u;
  }
  if (u.scheme == "tel") {
    const std::size_t semi = rest.find(';');
    const std::string_view number = rest.substr(0, semi);
    if (number.empty() || number.find('?') != std::string_view::npos) return parse_error("invalid tel URI");
    u.user.assign(number);
    if (semi != std::string_view::npos) {
      auto pp = parse_uri_params(rest, semi, u.params, limits);
      if (!pp) return std::move(pp).error();
      if (*pp != rest.size()) return parse_error("unexpected character in tel URI");
    }
    return u;
  }
  u.user.assign(rest);  // another absolute URI (urn:, http:, mailto:): kept opaque
  return u;
}

void Uri::append_to(std::string& out) const {
  out += scheme;
  out.push_back(':');
  if (is_sip_scheme(scheme)) {
    if (!user.empty()) {
      detail::escape_append(out, user, detail::kUserRaw);
      if (!password.empty()) {
        out.push_back(':');
        detail::escape_append(out, password, detail::kPasswordRaw);
      }
      out.push_back('@');
    }
    out += host;
    if (port != 0) {
      out.push_back(':');
      detail::append_uint(out, port);
    }
  } else {
    out += user;
    if (scheme != "tel") return;
  }
  for (const Params::Param& p : params.list()) {
    out.push_back(';');
    detail::escape_append(out, p.name, detail::kParamRaw);
    if (p.value) {
      out.push_back('=');
      detail::escape_append(out, *p.value, detail::kParamRaw);
    }
  }
  if (!headers.empty() && is_sip_scheme(scheme)) {
    out.push_back('?');
    out += headers;
  }
}

std::string Uri::str() const {
  std::string out;
  out.reserve(scheme.size() + user.size() + host.size() + 32);
  append_to(out);
  return out;
}

std::string Uri::host_port() const {
  std::string out = host;
  if (port != 0) {
    out.push_back(':');
    detail::append_uint(out, port);
  }
  return out;
}

bool Uri::equivalent(const Uri& other) const {
  if (scheme != other.scheme || user != other.user || password != other.password || port != other.port ||
      !iequals(host, other.host) || headers != other.headers) {
    return false;
  }
  for (std::string_view name : {"transport", "user", "ttl", "method", "maddr"}) {
    if (params.has(name) != other.params.has(name)) return false;
  }
  for (const Params::Param& p : params.list()) {
    const auto theirs = other.params.get(p.name);
    if (theirs && !iequals(*theirs, p.value.value_or(""))) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------- NameAddr

Result<NameAddr> NameAddr::parse(std::string_view text, const Limits& limits) {
  const std::string_view s = detail::trim_lws(text);
  NameAddr na;
  if (s.empty()) return parse_error("empty address");
  if (s == "*") {
    na.wildcard = true;
    return na;
  }
  std::size_t pos = 0;
  std::size_t lt = std::string_view::npos;
  if (s.front() == '"') {
    const auto end = detail::read_quoted(s, 0, na.display_name);
    if (!end) return parse_error("unterminated quoted display name");
    pos = detail::skip_lws(s, *end);
    if (pos >= s.size() || s[pos] != '<') return parse_error("expected '<' after the display name");
    lt = pos;
  } else {
    lt = s.find('<');
    if (lt != std::string_view::npos) {
      // *(token LWS): kept with each run of whitespace folded to one space.
      const std::string_view display = detail::trim_lws(s.substr(0, lt));
      bool space = false;
      for (char c : display) {
        if (detail::is_lws(c)) {
          space = true;
          continue;
        }
        if (!detail::is_token_char(c) && static_cast<unsigned char>(c) < 0x80) {
          return parse_error("invalid character in an unquoted display name");
        }
        if (space) na.display_name.push_back(' ');
        space = false;
        na.display_name.push_back(c);
      }
    }
  }
  std::string_view after;
  if (lt != std::string_view::npos) {
    const std::size_t gt = s.find('>', lt);
    if (gt == std::string_view::npos) return parse_error("missing '>' after the URI");
    auto uri = Uri::parse(s.substr(lt + 1, gt - lt - 1), limits);
    if (!uri) return std::move(uri).error();
    na.uri = std::move(*uri);
    after = s.substr(gt + 1);
  } else {
    // addr-spec: the URI cannot hold parameters here; what follows ';' are header parameters (§20.10).
    const std::size_t semi = s.find(';');
    auto uri = Uri::parse(detail::trim_lws(s.substr(0, semi)), limits);
    if (!uri) return std::move(uri).error();
    na.uri = std::move(*uri);
    after = semi == std::string_view::npos ? std::string_view{} : s.substr(semi);
  }
  auto params = parse_header_params(after, na.params, limits);
  if (!params) return std::move(params).error();
  return na;
}

void NameAddr::append_to(std::string& out) const {
  if (wildcard) {
    out.push_back('*');
    return;
  }
  if (!display_name.empty()) {
    detail::append_quoted(out, display_name);
    out.push_back(' ');
  }
  out.push_back('<');
  uri.append_to(out);
  out.push_back('>');
  params.append_to(out);
}

std::string NameAddr::str() const {
  std::string out;
  out.reserve(display_name.size() + uri.user.size() + uri.host.size() + 48);
  append_to(out);
  return out;
}

// ---------------------------------------------------------------------------------------------------- Via

Result<Via> Via::parse(std::string_view text, const Limits& limits) {
  const std::string_view s = detail::trim_lws(text);
  Via via;
  std::size_t pos = 0;
  auto token = [&](std::string_view what) -> Result<std::string_view> {
    pos = detail::skip_lws(s, pos);
    const std::size_t start = pos;
    while (pos < s.size() && detail::is_token_char(s[pos])) ++pos;
    if (pos == start) return parse_error("Via: missing " + std::string(what));
    return s.substr(start, pos - start);
  };
  auto slash = [&]() -> bool {
    pos = detail::skip_lws(s, pos);
    if (pos >= s.size() || s[pos] != '/') return false;
    ++pos;
    return true;
  };
  auto name = token("protocol name");
  if (!name) return std::move(name).error();
  if (!slash()) return parse_error("Via: expected '/' after the protocol name");
  auto version = token("protocol version");
  if (!version) return std::move(version).error();
  if (!slash()) return parse_error("Via: expected '/' after the protocol version");
  auto transport = token("transport");
  if (!transport) return std::move(transport).error();
  via.protocol.assign(*name);
  via.protocol.push_back('/');
  via.protocol.append(*version);
  for (char& c : via.protocol) c = detail::to_upper(c);
  via.transport.clear();
  for (char c : *transport) via.transport.push_back(detail::to_upper(c));
  const std::size_t before = pos;
  pos = detail::skip_lws(s, pos);
  if (pos == before) return parse_error("Via: expected whitespace before the sent-by host");
  // The host:port may have LWS around ':' (sent-by = host [ COLON port ]); handle the common compact form.
  auto hp = parse_host_port(s, pos, via.host, via.port, true);
  if (!hp) return parse_error("Via: " + hp.error().message);
  auto params = parse_header_params(s.substr(*hp), via.params, limits);
  if (!params) return parse_error("Via: " + params.error().message);
  return via;
}

void Via::append_to(std::string& out) const {
  out += protocol;
  out.push_back('/');
  out += transport;
  out.push_back(' ');
  out += host;
  if (port != 0) {
    out.push_back(':');
    detail::append_uint(out, port);
  }
  params.append_to(out);
}

std::string Via::str() const {
  std::string out;
  out.reserve(host.size() + 64);
  append_to(out);
  return out;
}

// ---------------------------------------------------------------------------------------------------- CSeq

Result<CSeq> CSeq::parse(std::string_view text) {
  const std::string_view s = detail::trim_lws(text);
  std::size_t pos = 0;
  while (pos < s.size() && detail::is_digit(s[pos])) ++pos;
  // RFC 3261 §8.1.1.5: the sequence number is less than 2**31.
  const auto number = detail::parse_uint(s.substr(0, pos), 0x7FFFFFFFU, 10);
  if (!number) return parse_error("CSeq: invalid sequence number");
  const std::size_t method_start = detail::skip_lws(s, pos);
  if (method_start == pos) return parse_error("CSeq: expected whitespace after the number");
  const std::string_view method = s.substr(method_start);
  if (!detail::is_token(method)) return parse_error("CSeq: invalid method");
  return CSeq{static_cast<std::uint32_t>(*number), std::string(method)};
}

std::string CSeq::str() const {
  std::string out;
  detail::append_uint(out, number);
  out.push_back(' ');
  out += method;
  return out;
}

}  // namespace wazo::sip
