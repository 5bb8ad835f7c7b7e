// Digest authentication (RFC 2617, RFC 7616, RFC 8760) for SIP: see detail/digest.hpp.
#include "sip/detail/digest.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>

#include "sip/detail/parse_util.hpp"

namespace wazo::sip::detail {

namespace {

constexpr std::size_t kMaxHeaderBytes = 8U * 1024U;
constexpr std::size_t kMaxAuthParams = 32;

void append_hex(std::string& out, const unsigned char* data, std::size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < size; ++i) {
    out.push_back(kHex[data[i] >> 4U]);
    out.push_back(kHex[data[i] & 0x0FU]);
  }
}

bool is_sess(DigestAlgorithm a) { return a == DigestAlgorithm::md5_sess || a == DigestAlgorithm::sha256_sess; }

struct AuthParam {
  std::string name;  // lower case
  std::string value;
};

// `Digest name=value, name="value", ...` → the parameters (names lower-cased, values unquoted).
Result<std::vector<AuthParam>> parse_auth_params(std::string_view text) {
  if (text.size() > kMaxHeaderBytes) return parse_error("digest header longer than 8 KiB");
  const std::string_view s = trim_lws(text);
  std::size_t pos = 0;
  while (pos < s.size() && is_token_char(s[pos])) ++pos;
  if (!iequals(s.substr(0, pos), "Digest")) return parse_error("not a Digest authentication header");
  std::vector<AuthParam> params;
  bool first = true;
  for (;;) {
    const std::size_t before = pos;
    pos = skip_lws(s, pos);
    if (!first) {
      if (pos >= s.size()) break;
      if (s[pos] != ',') return parse_error("expected ',' between digest parameters");
      pos = skip_lws(s, pos + 1);
    } else if (pos == before && pos < s.size()) {
      return parse_error("expected a space after 'Digest'");
    }
    first = false;
    if (pos >= s.size()) break;
    if (s[pos] == ',') continue;  // empty list element
    const std::size_t name_start = pos;
    while (pos < s.size() && is_token_char(s[pos])) ++pos;
    if (pos == name_start) return parse_error("invalid digest parameter name");
    AuthParam p;
    p.name = lower_copy(s.substr(name_start, pos - name_start));
    pos = skip_lws(s, pos);
    if (pos >= s.size() || s[pos] != '=') return parse_error("expected '=' after digest parameter " + p.name);
    pos = skip_lws(s, pos + 1);
    if (pos < s.size() && s[pos] == '"') {
      const auto end = read_quoted(s, pos, p.value);
      if (!end) return parse_error("unterminated quoted value for digest parameter " + p.name);
      pos = *end;
    } else {
      const std::size_t value_start = pos;
      while (pos < s.size() && s[pos] != ',' && !is_lws(s[pos]) && s[pos] != '"') ++pos;
      if (pos == value_start) return parse_error("empty value for digest parameter " + p.name);
      p.value.assign(s.substr(value_start, pos - value_start));
    }
    if (params.size() >= kMaxAuthParams) return parse_error("too many digest parameters");
    for (const AuthParam& q : params) {
      if (q.name == p.name) return parse_error("duplicate digest parameter " + p.name);
    }
    params.push_back(std::move(p));
  }
  return params;
}

Result<DigestAlgorithm> algorithm_param(std::string_view value) {
  const auto a = parse_digest_algorithm(value);
  if (!a) return parse_error("unsupported digest algorithm '" + std::string(value.substr(0, 32)) + "'");
  return *a;
}

std::string hex_u32(std::uint32_t v, int width) {
  std::string out(static_cast<std::size_t>(width), '0');
  for (int i = width - 1; i >= 0 && v != 0; --i, v >>= 4U)
    out[static_cast<std::size_t>(i)] = "0123456789abcdef"[v & 0xFU];
  return out;
}

std::string random_hex(std::size_t bytes) {
  std::array<unsigned char, 64> buf{};
  bytes = std::min(bytes, buf.size());
  if (RAND_bytes(buf.data(), static_cast<int>(bytes)) != 1) {
    // Practically unreachable with OpenSSL 3's default DRBG; still return something unpredictable-ish.
    const auto t = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    for (std::size_t i = 0; i < bytes; ++i) buf[i] = static_cast<unsigned char>(t >> ((i % 8U) * 8U));
  }
  std::string out;
  append_hex(out, buf.data(), bytes);
  return out;
}

}  // namespace

std::string_view to_string(DigestAlgorithm algorithm) noexcept {
  switch (algorithm) {
    case DigestAlgorithm::md5:
      return "MD5";
    case DigestAlgorithm::md5_sess:
      return "MD5-sess";
    case DigestAlgorithm::sha256:
      return "SHA-256";
    case DigestAlgorithm::sha256_sess:
      return "SHA-256-sess";
  }
  return "MD5";
}

std::optional<DigestAlgorithm> parse_digest_algorithm(std::string_view name) noexcept {
  if (iequals(name, "MD5")) return DigestAlgorithm::md5;
  if (iequals(name, "MD5-sess")) return DigestAlgorithm::md5_sess;
  if (iequals(name, "SHA-256")) return DigestAlgorithm::sha256;
  if (iequals(name, "SHA-256-sess")) return DigestAlgorithm::sha256_sess;
  return std::nullopt;
}

std::string digest_hash(DigestAlgorithm algorithm, std::string_view data) {
  const EVP_MD* md =
      (algorithm == DigestAlgorithm::md5 || algorithm == DigestAlgorithm::md5_sess) ? EVP_md5() : EVP_sha256();
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &size, md, nullptr) != 1) return {};
  std::string hex;
  hex.reserve(size * 2U);
  append_hex(hex, out.data(), size);
  return hex;
}

bool DigestChallenge::offers_qop_auth() const {
  return std::any_of(qop.begin(), qop.end(), [](const std::string& q) { return iequals(q, "auth"); });
}

Result<DigestChallenge> parse_digest_challenge(std::string_view value) {
  auto params = parse_auth_params(value);
  if (!params) return std::move(params).error();
  DigestChallenge c;
  bool has_realm = false;
  for (AuthParam& p : *params) {
    if (p.name == "realm") {
      c.realm = std::move(p.value);
      has_realm = true;
    } else if (p.name == "nonce") {
      c.nonce = std::move(p.value);
    } else if (p.name == "opaque") {
      c.opaque = std::move(p.value);
    } else if (p.name == "algorithm") {
      auto a = algorithm_param(p.value);
      if (!a) return std::move(a).error();
      c.algorithm = *a;
    } else if (p.name == "qop") {
      for_each_list_element(p.value, [&](std::string_view q) {
        c.qop.emplace_back(q);
        return c.qop.size() < kMaxAuthParams;
      });
    } else if (p.name == "stale") {
      c.stale = iequals(p.value, "true");
    } else if (p.name == "domain") {
      c.domain = std::move(p.value);
    }
  }
  if (!has_realm) return parse_error("digest challenge without a realm");
  if (c.nonce.empty()) return parse_error("digest challenge without a nonce");
  return c;
}

std::optional<DigestChallenge> select_digest_challenge(const std::vector<std::string_view>& values) {
  std::optional<DigestChallenge> md5;
  for (std::string_view v : values) {
    auto c = parse_digest_challenge(v);
    if (!c) continue;
    if (!c->qop.empty() && !c->offers_qop_auth()) continue;  // auth-int only: we cannot answer it
    if (c->algorithm == DigestAlgorithm::sha256 || c->algorithm == DigestAlgorithm::sha256_sess) return std::move(*c);
    if (!md5) md5 = std::move(*c);
  }
  return md5;
}

std::string format_digest_challenge(const DigestChallenge& c) {
  std::string out = "Digest realm=";
  append_quoted(out, c.realm);
  if (!c.domain.empty()) {
    out += ", domain=";
    append_quoted(out, c.domain);
  }
  out += ", nonce=";
  append_quoted(out, c.nonce);
  if (c.opaque) {
    out += ", opaque=";
    append_quoted(out, *c.opaque);
  }
  if (c.stale) out += ", stale=true";
  out += ", algorithm=";
  out += to_string(c.algorithm);
  if (!c.qop.empty()) {
    std::string list;
    for (const std::string& q : c.qop) {
      if (!list.empty()) list.push_back(',');
      list += q;
    }
    out += ", qop=";
    append_quoted(out, list);
  }
  return out;
}

Result<DigestCredentials> parse_digest_credentials(std::string_view value) {
  auto params = parse_auth_params(value);
  if (!params) return std::move(params).error();
  DigestCredentials c;
  bool has_username = false;
  bool has_realm = false;
  bool has_uri = false;
  for (AuthParam& p : *params) {
    if (p.name == "username") {
      c.username = std::move(p.value);
      has_username = true;
    } else if (p.name == "realm") {
      c.realm = std::move(p.value);
      has_realm = true;
    } else if (p.name == "nonce") {
      c.nonce = std::move(p.value);
    } else if (p.name == "uri") {
      c.uri = std::move(p.value);
      has_uri = true;
    } else if (p.name == "response") {
      c.response = std::move(p.value);
    } else if (p.name == "algorithm") {
      auto a = algorithm_param(p.value);
      if (!a) return std::move(a).error();
      c.algorithm = *a;
    } else if (p.name == "opaque") {
      c.opaque = std::move(p.value);
    } else if (p.name == "qop") {
      c.qop = std::move(p.value);
    } else if (p.name == "cnonce") {
      c.cnonce = std::move(p.value);
    } else if (p.name == "nc") {
      c.nc = std::move(p.value);
    }
  }
  if (!has_username) return parse_error("digest credentials without a username");
  if (!has_realm) return parse_error("digest credentials without a realm");
  if (c.nonce.empty()) return parse_error("digest credentials without a nonce");
  if (!has_uri) return parse_error("digest credentials without a uri");
  if (c.response.empty()) return parse_error("digest credentials without a response");
  if (!c.qop.empty()) {
    if (c.cnonce.empty()) return parse_error("digest credentials with qop but no cnonce");
    if (c.nc.size() != 8 || !std::all_of(c.nc.begin(), c.nc.end(), [](char ch) { return hex_value(ch) >= 0; })) {
      return parse_error("digest credentials with qop but no valid nc");
    }
  }
  return c;
}

std::string format_digest_credentials(const DigestCredentials& c) {
  std::string out = "Digest username=";
  out.reserve(256);
  append_quoted(out, c.username);
  out += ", realm=";
  append_quoted(out, c.realm);
  out += ", nonce=";
  append_quoted(out, c.nonce);
  out += ", uri=";
  append_quoted(out, c.uri);
  out += ", response=";
  append_quoted(out, c.response);
  out += ", algorithm=";
  out += to_string(c.algorithm);
  if (c.opaque) {
    out += ", opaque=";
    append_quoted(out, *c.opaque);
  }
  if (!c.qop.empty()) {
    out += ", qop=";
    if (is_token(c.qop)) {
      out += c.qop;  // RFC 7616: an unquoted token
    } else {
      append_quoted(out, c.qop);
    }
    out += ", cnonce=";
    append_quoted(out, c.cnonce);
    out += ", nc=";
    out += c.nc;
  }
  return out;
}

std::string digest_ha1(DigestAlgorithm algorithm, std::string_view username, std::string_view realm,
                       std::string_view password, std::string_view nonce, std::string_view cnonce) {
  std::string a1;
  a1.reserve(username.size() + realm.size() + password.size() + 2);
  a1.append(username).append(":").append(realm).append(":").append(password);
  std::string ha1 = digest_hash(algorithm, a1);
  OPENSSL_cleanse(a1.data(), a1.size());
  if (is_sess(algorithm)) {
    std::string sess = ha1;
    sess.append(":").append(nonce).append(":").append(cnonce);
    ha1 = digest_hash(algorithm, sess);
  }
  return ha1;
}

std::string digest_response_from_ha1(DigestAlgorithm algorithm, std::string_view ha1, std::string_view method,
                                     std::string_view uri, std::string_view nonce, std::string_view nc,
                                     std::string_view cnonce, std::string_view qop) {
  std::string a2;
  a2.append(method).append(":").append(uri);
  const std::string ha2 = digest_hash(algorithm, a2);
  std::string kd;
  kd.reserve(ha1.size() + nonce.size() + nc.size() + cnonce.size() + qop.size() + ha2.size() + 5);
  kd.append(ha1).append(":").append(nonce).append(":");
  if (!qop.empty()) kd.append(nc).append(":").append(cnonce).append(":").append(qop).append(":");
  kd.append(ha2);
  return digest_hash(algorithm, kd);
}

std::string digest_response(DigestAlgorithm algorithm, std::string_view username, std::string_view realm,
                            std::string_view password, std::string_view method, std::string_view uri,
                            std::string_view nonce, std::string_view nc, std::string_view cnonce,
                            std::string_view qop) {
  const std::string ha1 = digest_ha1(algorithm, username, realm, password, nonce, cnonce);
  return digest_response_from_ha1(algorithm, ha1, method, uri, nonce, nc, cnonce, qop);
}

bool digest_matches(const DigestCredentials& c, std::string_view password, std::string_view method) {
  const std::string expected =
      digest_response(c.algorithm, c.username, c.realm, password, method, c.uri, c.nonce, c.nc, c.cnonce, c.qop);
  if (expected.size() != c.response.size()) return false;
  std::string given = lower_copy(c.response);  // hex may arrive in upper case
  return CRYPTO_memcmp(expected.data(), given.data(), expected.size()) == 0;
}

std::string make_cnonce() { return random_hex(16); }

Result<std::string> DigestClient::authorize(const DigestChallenge& challenge, std::string_view username,
                                            std::string_view password, std::string_view method, std::string_view uri,
                                            std::string_view cnonce) {
  DigestCredentials c;
  if (!challenge.qop.empty()) {
    if (!challenge.offers_qop_auth()) {
      return Error{ErrorCategory::sip, "the digest challenge offers no qop this client supports (only auth)"};
    }
    c.qop = "auth";
  }
  if (challenge.nonce != nonce_) {
    nonce_ = challenge.nonce;
    nc_ = 0;
  }
  ++nc_;
  c.username.assign(username);
  c.realm = challenge.realm;
  c.nonce = challenge.nonce;
  c.uri.assign(uri);
  c.algorithm = challenge.algorithm;
  c.opaque = challenge.opaque;
  if (!c.qop.empty() || is_sess(c.algorithm)) c.cnonce = cnonce.empty() ? make_cnonce() : std::string(cnonce);
  if (!c.qop.empty()) c.nc = hex_u32(nc_, 8);
  c.response =
      digest_response(c.algorithm, c.username, c.realm, password, method, c.uri, c.nonce, c.nc, c.cnonce, c.qop);
  std::string out = format_digest_credentials(c);
  if (c.qop.empty() && is_sess(c.algorithm)) {  // -sess without qop still needs the cnonce on the wire
    out += ", cnonce=";
    append_quoted(out, c.cnonce);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------- server

DigestServer::DigestServer(Options options) : options_(std::move(options)) {
  if (options_.secret.empty()) options_.secret = random_hex(32);
  opaque_ = digest_hash(DigestAlgorithm::sha256, options_.secret + ":opaque:" + options_.realm).substr(0, 16);
}

std::string DigestServer::sign(std::string_view timestamp_hex) const {
  std::string data(timestamp_hex);
  data.push_back(':');
  data += options_.realm;
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int size = 0;
  if (HMAC(EVP_sha256(), options_.secret.data(), static_cast<int>(options_.secret.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(), &size) == nullptr) {
    return {};
  }
  std::string hex;
  append_hex(hex, mac.data(), std::min<std::size_t>(size, 16));
  return hex;
}

std::string DigestServer::make_nonce(Clock::time_point now) const {
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  std::string ts = hex_u32(static_cast<std::uint32_t>(static_cast<std::uint64_t>(seconds) >> 32U), 8) +
                   hex_u32(static_cast<std::uint32_t>(seconds), 8);
  return ts + "." + sign(ts);
}

DigestServer::Verdict DigestServer::check_nonce(std::string_view nonce, Clock::time_point now) const {
  if (nonce.size() != 16 + 1 + 32 || nonce[16] != '.') return Verdict::invalid_nonce;
  const std::string_view ts = nonce.substr(0, 16);
  std::uint64_t seconds = 0;
  for (char c : ts) {
    const int h = hex_value(c);
    if (h < 0 || (c >= 'A' && c <= 'F')) return Verdict::invalid_nonce;
    seconds = (seconds << 4U) | static_cast<std::uint64_t>(h);
  }
  const std::string expected = sign(ts);
  const std::string_view given = nonce.substr(17);
  if (expected.size() != given.size() || CRYPTO_memcmp(expected.data(), given.data(), given.size()) != 0) {
    return Verdict::invalid_nonce;
  }
  const auto issued = Clock::time_point(std::chrono::seconds(static_cast<std::int64_t>(seconds)));
  if (issued > now + std::chrono::seconds(5)) return Verdict::invalid_nonce;  // from the future: not ours
  if (now - issued > options_.nonce_lifetime) return Verdict::stale_nonce;
  return Verdict::ok;
}

DigestChallenge DigestServer::make_challenge(bool stale, Clock::time_point now) const {
  DigestChallenge c;
  c.realm = options_.realm;
  c.nonce = make_nonce(now);
  c.opaque = opaque_;
  c.algorithm = options_.algorithm;
  if (options_.qop_auth) c.qop = {"auth"};
  c.stale = stale;
  return c;
}

std::string DigestServer::challenge(bool stale, Clock::time_point now) const {
  return format_digest_challenge(make_challenge(stale, now));
}

DigestServer::Verdict DigestServer::verify(const DigestCredentials& credentials, std::string_view password,
                                           std::string_view method, Clock::time_point now) const {
  if (credentials.realm != options_.realm) return Verdict::wrong_realm;
  if (credentials.algorithm != options_.algorithm) return Verdict::unsupported;
  if (options_.qop_auth ? credentials.qop != "auth" : !credentials.qop.empty()) return Verdict::unsupported;
  const Verdict nonce = check_nonce(credentials.nonce, now);
  if (nonce == Verdict::invalid_nonce) return nonce;
  // Check the response even for a stale nonce: stale=true is only right when the password was right (RFC 7616).
  if (!digest_matches(credentials, password, method)) return Verdict::wrong_response;
  return nonce;
}

std::string_view to_string(DigestServer::Verdict verdict) noexcept {
  switch (verdict) {
    case DigestServer::Verdict::ok:
      return "ok";
    case DigestServer::Verdict::wrong_response:
      return "wrong-response";
    case DigestServer::Verdict::stale_nonce:
      return "stale-nonce";
    case DigestServer::Verdict::invalid_nonce:
      return "invalid-nonce";
    case DigestServer::Verdict::wrong_realm:
      return "wrong-realm";
    case DigestServer::Verdict::unsupported:
      return "unsupported";
  }
  return "unknown";
}

}  // namespace wazo::sip::detail
