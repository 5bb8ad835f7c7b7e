// `wazo sip ...`: the SIP line of the logged-in user (or one given on the command line), over WebSocket.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"

namespace wazo::cli {

// sip register [--ws URL --user U --password P [--domain D] [--auth-user A] [--insecure|--ca-file F]]
//              [--for SECONDS] [--expires SECONDS]
int run_sip(Context& ctx, const std::vector<std::string>& args);

// The line options shared by `wazo sip register`, `wazo call` and `wazo answer`: a SIP line given on the command line
// (--ws, --user, --password, --domain, --auth-user, --insecure, --ca-file) instead of the logged-in user's.
struct SipLineOptions {
  std::string ws;
  std::string user;
  std::string password;
  bool password_given = false;
  std::string domain;
  std::string auth_user;
  bool insecure = false;
  std::string ca_file;

  // Whether the line is given on the command line (--ws, --user or --password) rather than taken from the session.
  bool explicit_line() const { return !ws.empty() || !user.empty() || password_given; }
};

// Whether `name` is one of the line options that take a value (--ws, --user, --password, --domain, --auth-user,
// --ca-file); --insecure is a flag, set by the caller.
bool is_sip_line_option(std::string_view name);

// Applies the line option `name` (see is_sip_line_option) with its non-empty `value`: nullopt when done, else the
// usage error text without the command's prefix ("--ws needs a ws:// or wss:// URL").
std::optional<std::string> apply_sip_line_option(SipLineOptions& line, std::string_view name, const std::string& value);

// Once the arguments are parsed: reads a --password of "-" from standard input (to keep it out of the process list)
// and keeps the password out of the output; for a line given on the command line, checks that --ws, --user and
// --password come together and takes the domain from --ws when --domain is missing. Reports as `cmd` ("call",
// "sip register", ...) with `usage`; returns the exit code of a failure, nullopt when the line is usable.
std::optional<int> prepare_sip_line(Context& ctx, SipLineOptions& line, const std::string& cmd, std::string_view usage);

// The engine's SIP-over-WebSocket URL for a --host value: "https://h:p" or "h:p" → "wss://h:p/api/asterisk/ws",
// "http://h:p" → "ws://h:p/api/asterisk/ws". nullopt when `host` is not usable.
std::optional<std::string> sip_ws_url_for_host(std::string_view host);

// The host name of a URL or HOST[:PORT] ("wss://[::1]:8443/x" → "::1", "wazo.example:443" → "wazo.example").
std::string host_name_of(std::string_view url);

}  // namespace wazo::cli
