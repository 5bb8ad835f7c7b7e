// HTTP Digest authentication as SIP uses it (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760): MD5, SHA-256 and their
// -sess variants, with qop=auth or without qop (RFC 2069 style). Client side: parse a challenge and answer it.
// Server side (the dev engine's registrar): parse credentials, check them, issue challenges whose nonces carry
// their own HMAC-signed timestamp, so they can be checked without storing them.
//
// Secrets: a password, an HA1 or a `response` value must never reach a log line; the parse errors below never
// quote them.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wazo/core/result.hpp"

namespace wazo::sip::detail {

enum class DigestAlgorithm : std::uint8_t { md5, md5_sess, sha256, sha256_sess };

// "MD5", "MD5-sess", "SHA-256", "SHA-256-sess".
std::string_view to_string(DigestAlgorithm algorithm) noexcept;
// Case-insensitive; nullopt for an algorithm we do not implement (SHA-512-256, AKAv1-MD5, ...).
std::optional<DigestAlgorithm> parse_digest_algorithm(std::string_view name) noexcept;
// The lower-case hex digest of `data`.
std::string digest_hash(DigestAlgorithm algorithm, std::string_view data);

// A WWW-Authenticate / Proxy-Authenticate challenge.
struct DigestChallenge {
  std::string realm;
  std::string nonce;
  std::optional<std::string> opaque;
  DigestAlgorithm algorithm = DigestAlgorithm::md5;
  std::vector<std::string> qop;  // as offered ("auth", "auth-int"); empty: no qop (RFC 2069)
  bool stale = false;
  std::string domain;
  [[nodiscard]] bool offers_qop_auth() const;
};

// Parses `Digest realm="...", nonce="...", ...`. An unknown algorithm is an error (category parse) saying so.
Result<DigestChallenge> parse_digest_challenge(std::string_view value);
// The challenge to answer among several WWW-Authenticate (or Proxy-Authenticate) values: the first SHA-256 one,
// else the first MD5 one (RFC 8760 §2.4: the UAC uses the strongest it supports); nullopt when none is usable.
std::optional<DigestChallenge> select_digest_challenge(const std::vector<std::string_view>& values);
// The header value of a challenge.
std::string format_digest_challenge(const DigestChallenge& challenge);

// Authorization / Proxy-Authorization credentials.
struct DigestCredentials {
  std::string username;
  std::string realm;
  std::string nonce;
  std::string uri;
  std::string response;  // secret: never log it
  DigestAlgorithm algorithm = DigestAlgorithm::md5;
  std::optional<std::string> opaque;
  std::string qop;     // "auth" or empty
  std::string cnonce;  // with qop
  std::string nc;      // 8 hex digits, with qop
};

Result<DigestCredentials> parse_digest_credentials(std::string_view value);
std::string format_digest_credentials(const DigestCredentials& credentials);

// HA1 (RFC 7616 §3.4.2): H(username:realm:password), and for -sess H(H(username:realm:password):nonce:cnonce).
std::string digest_ha1(DigestAlgorithm algorithm, std::string_view username, std::string_view realm,
                       std::string_view password, std::string_view nonce = {}, std::string_view cnonce = {});
// The `response` value (RFC 7616 §3.4.1; without qop, RFC 2069: H(HA1:nonce:HA2)).
std::string digest_response_from_ha1(DigestAlgorithm algorithm, std::string_view ha1, std::string_view method,
                                     std::string_view uri, std::string_view nonce, std::string_view nc,
                                     std::string_view cnonce, std::string_view qop);
std::string digest_response(DigestAlgorithm algorithm, std::string_view username, std::string_view realm,
                            std::string_view password, std::string_view method, std::string_view uri,
                            std::string_view nonce, std::string_view nc, std::string_view cnonce, std::string_view qop);
// Whether `credentials.response` is right for this password and method (constant-time comparison).
bool digest_matches(const DigestCredentials& credentials, std::string_view password, std::string_view method);

// A random client nonce: 16 random bytes in hex.
std::string make_cnonce();

// Answers challenges for one user agent, keeping the nonce count per nonce (RFC 7616 §3.4: nc grows with each
// request that reuses a nonce).
class DigestClient {
 public:
  // The Authorization / Proxy-Authorization value for `method` and `uri`. Uses qop=auth when offered, no qop when
  // none is offered; an error (category sip) when only qop values other than auth are offered. `cnonce` empty:
  // a random one.
  Result<std::string> authorize(const DigestChallenge& challenge, std::string_view username, std::string_view password,
                                std::string_view method, std::string_view uri, std::string_view cnonce = {});
  // The nonce count last used with the current nonce (0 before any).
  [[nodiscard]] std::uint32_t nonce_count() const noexcept { return nc_; }
  void reset() noexcept {
    nonce_.clear();
    nc_ = 0;
  }

 private:
  std::string nonce_;
  std::uint32_t nc_ = 0;
};

// Issues and checks challenges for one realm. Nonces are `<timestamp hex>.<HMAC-SHA256(secret, timestamp:realm)>`
// so any instance with the same secret can check them; they expire after `nonce_lifetime`. Nonce counts are not
// tracked (a replayed response within the nonce lifetime is accepted).
class DigestServer {
 public:
  using Clock = std::chrono::system_clock;
  struct Options {
    std::string realm;
    std::string secret;  // empty: 32 random bytes
    std::chrono::seconds nonce_lifetime{300};
    DigestAlgorithm algorithm = DigestAlgorithm::md5;
    bool qop_auth = true;  // offer qop="auth"; false: RFC 2069 style
  };
  enum class Verdict : std::uint8_t {
    ok,
    wrong_response,  // wrong password (or a response computed for another method/URI)
    stale_nonce,     // a nonce of ours that has expired: challenge again with stale=true
    invalid_nonce,   // not a nonce of ours
    wrong_realm,
    unsupported,  // algorithm or qop this server did not offer
  };

  explicit DigestServer(Options options);
  [[nodiscard]] const std::string& realm() const noexcept { return options_.realm; }
  // The WWW-Authenticate / Proxy-Authenticate value, with a fresh nonce.
  [[nodiscard]] std::string challenge(bool stale = false, Clock::time_point now = Clock::now()) const;
  [[nodiscard]] DigestChallenge make_challenge(bool stale = false, Clock::time_point now = Clock::now()) const;
  [[nodiscard]] std::string make_nonce(Clock::time_point now = Clock::now()) const;
  [[nodiscard]] Verdict check_nonce(std::string_view nonce, Clock::time_point now = Clock::now()) const;
  [[nodiscard]] Verdict verify(const DigestCredentials& credentials, std::string_view password, std::string_view method,
                               Clock::time_point now = Clock::now()) const;

 private:
  [[nodiscard]] std::string sign(std::string_view timestamp_hex) const;
  Options options_;
  std::string opaque_;
};

std::string_view to_string(DigestServer::Verdict verdict) noexcept;

}  // namespace wazo::sip::detail
