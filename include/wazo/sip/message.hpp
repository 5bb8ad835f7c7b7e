// SIP messages (RFC 3261 §7, §20, §25): a bounded parser, a serializer and typed views of the headers a user
// agent needs. Parsing never throws and never reads out of bounds: every failure is an Error of category `parse`
// that says what was wrong and where. Header names are kept in their canonical long form (compact forms such as
// `v`, `f`, `i` are expanded), so `header("Via")` finds `v:` too.
//
//   auto m = wazo::sip::Message::parse(bytes);            // Result<Message>
//   if (m && m->is_request() && m->method() == "INVITE") { auto from = m->from(); ... }
//   auto r = wazo::sip::Message::request("OPTIONS", *wazo::sip::Uri::parse("sip:wazo.example"));
//   r.add_header("Max-Forwards", "70");
//   std::string wire = r.serialize();                      // Content-Length is always written from the body
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wazo/core/result.hpp"

namespace wazo::sip {

// Bounds on what the parser accepts; anything larger is a parse error, never a large allocation.
struct Limits {
  std::size_t max_message_bytes = 64U * 1024U;  // start line + headers + body
  std::size_t max_headers = 100;                // header fields (each multi-value field counts once)
  std::size_t max_header_bytes = 8U * 1024U;    // one header field, after unfolding
  std::size_t max_uri_bytes = 2U * 1024U;
  std::size_t max_params = 32;  // parameters on one URI, Via or name-addr
};

// Generic parameters (`;name=value` or `;flag`): names compared case-insensitively, values kept as written
// (quoted values keep their quotes out: `"a b"` is stored as `a b`, and written back quoted when needed).
class Params {
 public:
  struct Param {
    std::string name;
    std::optional<std::string> value;  // nullopt: a flag such as `;lr`
  };
  [[nodiscard]] bool has(std::string_view name) const;
  // The value, or an empty optional when the parameter is absent; a flag has the value "".
  [[nodiscard]] std::optional<std::string_view> get(std::string_view name) const;
  void set(std::string_view name, std::optional<std::string> value = std::nullopt);  // replaces or appends
  void append(std::string name, std::optional<std::string> value = std::nullopt);    // appends (keeps duplicates)
  bool remove(std::string_view name);
  [[nodiscard]] const std::vector<Param>& list() const noexcept { return list_; }
  [[nodiscard]] bool empty() const noexcept { return list_.empty(); }
  // `;a=1;lr` (with the leading separator), quoting values that need it.
  void append_to(std::string& out, char separator = ';') const;
  friend bool operator==(const Params&, const Params&) = default;

 private:
  std::vector<Param> list_;
};

// sip:, sips: and tel: URIs (RFC 3261 §19.1, RFC 3966 as opaque). User and password are stored unescaped and
// escaped again when written.
struct Uri {
  std::string scheme = "sip";  // lower case
  std::string user;
  std::string password;
  std::string host;        // IPv6 references keep their brackets: "[2001:db8::1]"
  std::uint16_t port = 0;  // 0: none given
  Params params;
  std::string headers;  // `?a=b&c=d`, kept raw (without the `?`)

  static Result<Uri> parse(std::string_view text, const Limits& limits = {});
  [[nodiscard]] std::string str() const;
  void append_to(std::string& out) const;
  // "host" or "host:port"
  [[nodiscard]] std::string host_port() const;
  // RFC 3261 §19.1.4, simplified: scheme, user, password, host (case-insensitive), port, and the transport,
  // user, ttl, method and maddr parameters when either side has them.
  [[nodiscard]] bool equivalent(const Uri& other) const;
};

// `"Display" <sip:user@host>;tag=x` or `sip:user@host;tag=x` (From, To, Contact, Route, Record-Route, Refer-To,
// Referred-By, P-Asserted-Identity, Diversion, Reply-To).
struct NameAddr {
  std::string display_name;  // unquoted and unescaped
  Uri uri;
  Params params;          // header parameters (tag, expires, q, +sip.instance, reg-id, reason, ...)
  bool wildcard = false;  // Contact: *
  static Result<NameAddr> parse(std::string_view text, const Limits& limits = {});
  [[nodiscard]] std::string str() const;  // always in name-addr form (`<...>`) when there are params or a name
  void append_to(std::string& out) const;
  [[nodiscard]] std::optional<std::string_view> tag() const { return params.get("tag"); }
};

// `SIP/2.0/WSS host:port;branch=z9hG4bK...;rport;received=...`
struct Via {
  std::string protocol = "SIP/2.0";
  std::string transport = "WSS";  // upper case
  std::string host;
  std::uint16_t port = 0;
  Params params;
  static Result<Via> parse(std::string_view text, const Limits& limits = {});
  [[nodiscard]] std::string str() const;
  void append_to(std::string& out) const;
  [[nodiscard]] std::string_view branch() const { return params.get("branch").value_or(std::string_view{}); }
};

struct CSeq {
  std::uint32_t number = 0;
  std::string method;
  static Result<CSeq> parse(std::string_view text);
  [[nodiscard]] std::string str() const;
};

struct Header {
  std::string name;  // canonical form: "Via", "Call-ID", "WWW-Authenticate", or as received when unknown
  std::string value;
};

// The canonical name of a header: expands compact forms and fixes the case of well-known names
// ("v" → "Via", "call-id" → "Call-ID"); unknown names are returned as given.
std::string canonical_header_name(std::string_view name);

class Message {
 public:
  Message() = default;
  static Message request(std::string method, Uri request_uri);
  static Message response(int status, std::string reason = {});  // reason from the status when empty
  // One message. A stream transport (WebSocket) delivers one message per frame (RFC 7118 §5.2); the
  // Content-Length, when present, must match the body exactly or the message is refused.
  // Also refused: a missing Via, From, To, Call-ID or CSeq (§8.1.1); a second From, To, Call-ID, CSeq or
  // Max-Forwards; a CSeq whose method is not the request's; a status outside 100-699; a version other than
  // SIP/2.0. Header values are kept as received (unfolded, trimmed); the typed views below parse them on demand.
  // Content-Length is not kept as a header field: the body defines it (header("Content-Length") is nullopt, and
  // add_header/set_header ignore it).
  static Result<Message> parse(std::string_view data, const Limits& limits = {});

  [[nodiscard]] bool is_request() const noexcept { return status_ == 0; }
  [[nodiscard]] bool is_response() const noexcept { return status_ != 0; }
  [[nodiscard]] const std::string& method() const noexcept { return method_; }  // requests
  [[nodiscard]] const Uri& request_uri() const noexcept { return request_uri_; }
  void set_request_uri(Uri uri) { request_uri_ = std::move(uri); }
  [[nodiscard]] int status() const noexcept { return status_; }  // responses
  [[nodiscard]] const std::string& reason() const noexcept { return reason_; }

  // Header fields in order. A field that held several comma-separated values stays one field here.
  [[nodiscard]] const std::vector<Header>& headers() const noexcept { return headers_; }
  // The first field of that name (any form), or nullopt.
  [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const;
  // Every value of that name: all fields, and for list headers (Via, Route, Record-Route, Contact, Allow,
  // Supported, Require, Proxy-Require, Unsupported, Accept, Allow-Events, Path) each comma-separated element
  // (commas inside quotes or <> do not split). Views into this message.
  [[nodiscard]] std::vector<std::string_view> header_values(std::string_view name) const;
  [[nodiscard]] bool has_header(std::string_view name) const { return header(name).has_value(); }
  void add_header(std::string_view name, std::string value);   // appends
  void push_header(std::string_view name, std::string value);  // prepends (a new top Via)
  void set_header(std::string_view name, std::string value);   // replaces every field of that name
  std::size_t remove_header(std::string_view name);            // removes every field; returns how many
  bool remove_first_header(std::string_view name);             // the top one only (a proxy pops its Via)

  [[nodiscard]] const std::string& body() const noexcept { return body_; }
  void set_body(std::string body, std::string content_type);  // sets Content-Type (removed when body is empty)
  void clear_body();

  // Typed views; each is a parse error when the header is missing or malformed.
  [[nodiscard]] Result<Via> top_via() const;
  [[nodiscard]] Result<std::vector<Via>> vias() const;
  [[nodiscard]] Result<NameAddr> from() const;
  [[nodiscard]] Result<NameAddr> to() const;
  [[nodiscard]] Result<CSeq> cseq() const;
  [[nodiscard]] std::string_view call_id() const;  // empty when missing
  [[nodiscard]] Result<std::vector<NameAddr>> contacts() const;
  [[nodiscard]] Result<std::vector<NameAddr>> routes() const;
  [[nodiscard]] Result<std::vector<NameAddr>> record_routes() const;
  [[nodiscard]] std::optional<std::uint32_t> expires() const;       // the Expires header
  [[nodiscard]] std::optional<std::uint32_t> max_forwards() const;  //
  [[nodiscard]] std::string_view content_type() const;              // media type only, lower case, no params
  // Whether the header lists the option tag / method (Supported, Require, Allow), case-insensitively.
  [[nodiscard]] bool header_lists(std::string_view name, std::string_view token) const;

  // The wire form: start line, headers in order, Content-Length (always, from the body), blank line, body.
  [[nodiscard]] std::string serialize() const;
  void serialize_to(std::string& out) const;
  // A one-line summary for logs, with no secrets: "INVITE sip:1002@host (CSeq 2 INVITE, Call-ID abc)".
  [[nodiscard]] std::string summary() const;

 private:
  std::string method_;
  Uri request_uri_;
  int status_ = 0;
  std::string reason_;
  std::vector<Header> headers_;
  std::string body_;
};

// The standard reason phrase of a status code ("Ringing", "Request Terminated", ...), or "" when unknown.
std::string_view reason_phrase(int status) noexcept;

// A parse of `message/sipfrag` (RFC 3420) status lines, as carried by REFER NOTIFYs: "SIP/2.0 180 Ringing".
Result<std::pair<int, std::string>> parse_sipfrag_status(std::string_view body);

}  // namespace wazo::sip
