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

// The engine's SIP-over-WebSocket URL for a --host value: "https://h:p" or "h:p" → "wss://h:p/api/asterisk/ws",
// "http://h:p" → "ws://h:p/api/asterisk/ws". nullopt when `host` is not usable.
std::optional<std::string> sip_ws_url_for_host(std::string_view host);

// The host name of a URL or HOST[:PORT] ("wss://[::1]:8443/x" → "::1", "wazo.example:443" → "wazo.example").
std::string host_name_of(std::string_view url);

}  // namespace wazo::cli
