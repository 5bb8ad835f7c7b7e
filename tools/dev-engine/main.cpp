// wazo-dev-engine: a local Wazo-compatible engine for the demo and the tests.
//
//   wazo-dev-engine [--listen HOST:PORT] [--seed FILE] [--state FILE] [--expire-soon SECONDS]
//                   [--tls [--tls-ca-out FILE] | --tls-cert FILE --tls-key FILE] [--sip-min-expires SECS]
//                   [--verbose]
//
// Serves wazo-auth (/api/auth/0.1), wazo-chatd (/api/chatd/1.0: presences, rooms, messages), wazo-confd
// (/api/confd/1.1: infos, users and their lines and SIP endpoints, services, forwards), wazo-calld
// (/api/calld/1.0: the user's calls through the SIP proxy, listed and hung up; call_* events), wazo-websocketd
// (GET /api/websocketd/ with Upgrade: websocket, protocol v1 and v2), with the bus events of those services
// delivered to the websockets, and a SIP registrar and proxy over WebSocket for the users' lines (GET
// /api/asterisk/ws, Sec-WebSocket-Protocol: sip; digest auth with the lines' credentials; see sip_proxy.hpp).
//
// Dev-only hooks (no authentication; loopback use only):
//   POST /_dev/events            {name, data?, required_acl?, tenant_uuid?, user_uuids?} publishes an event (no
//                                user_uuids: a TenantEvent; one: a UserEvent; more: a MultiUserEvent); an event
//                                without required_acl is dropped, as wazo-websocketd does. → {delivered, message}
//   POST /_dev/websocket/send    {text?, repeat?, binary?} sends text × repeat as one frame to every open websocket
//   POST /_dev/websocket/stall   {seconds} nothing is sent to any websocket (events, pongs, pings queue up)
//   POST /_dev/websocket/close   {code, reason?} closes every websocket with that code
//   GET  /_dev/metrics           requests per route, "websockets" (open count), "websocket" {open, opened,
//                                events_delivered, frames_sent, queue_overflows, closes{code: n}, stalled},
//                                "events" {published, dropped, delivered}, "sip_registrations" (bindings),
//                                "sip_connections" (open SIP WebSockets), "sip" {requests, responses, ...}
//
// Prints one line `listening on http(s)://HOST:PORT` on stdout when ready (nothing else goes to stdout);
// logs go to stderr. Stops cleanly on SIGTERM or SIGINT.
#include <utility>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "auth_service.hpp"
#include "bus.hpp"
#include "calld_service.hpp"
#include "chatd_service.hpp"
#include "confd_service.hpp"
#include "dev_routes.hpp"
#include "events.hpp"
#include "http_server.hpp"
#include "router.hpp"
#include "sip_proxy.hpp"
#include "sip_websocket.hpp"
#include "state.hpp"
#include "tls.hpp"
#include "websocket.hpp"

namespace wazo::engine {
extern const std::string_view default_seed;
}  // namespace wazo::engine

namespace {

using namespace wazo::engine;

constexpr const char* usage =
    "usage: wazo-dev-engine [--listen HOST:PORT] [--seed FILE] [--state FILE] [--expire-soon SECONDS]\n"
    "                       [--tls [--tls-ca-out FILE]] [--tls-cert FILE --tls-key FILE] [--sip-min-expires SECS]\n"
    "                       [--verbose]\n"
    "  --listen HOST:PORT  address to listen on (default 127.0.0.1:0, a free loopback port); the last one wins\n"
    "  --seed FILE         initial state (default: the built-in seed: users alice, bob, carol / secret)\n"
    "  --state FILE        load the whole state (tokens included) from FILE when it exists, else start from the\n"
    "                      seed; save it to FILE (atomically) after every change: survives kill -9 and restart\n"
    "  --expire-soon SECS  publish auth_session_expire_soon when a token has less than SECS left (default 60)\n"
    "  --tls               serve HTTPS with a certificate signed by a CA generated at start-up\n"
    "  --tls-ca-out FILE   write that CA's certificate (PEM) to FILE, for clients to trust\n"
    "  --tls-cert FILE     serve HTTPS with this certificate chain (PEM) ...\n"
    "  --tls-key FILE      ... and this private key (PEM)\n"
    "  --sip-min-expires SECS  the shortest REGISTER expiry the SIP registrar accepts (default 5; 423 below)\n"
    "  --verbose           log each request (method, route, status) and SIP message summary on stderr\n";

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string seed_file, state_file, ca_out, cert_file, key_file;
  std::chrono::seconds expire_soon{60};
  std::uint32_t sip_min_expires = 5;
  bool tls = false;
  bool verbose = false;
};

[[noreturn]] void fail(const std::string& message, int code = 1) {
  std::cerr << "wazo-dev-engine: " << message << '\n';
  std::exit(code);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read " + path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) fail("cannot write " + path);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail(std::string(arg) + " needs a value\n" + usage, 2);
      return argv[++i];
    };
    if (arg == "--listen") {
      const std::string listen = value();
      const std::size_t colon = listen.rfind(':');
      if (colon == std::string::npos) fail("--listen expects HOST:PORT", 2);
      o.host = listen.substr(0, colon);
      if (o.host.size() > 2 && o.host.front() == '[' && o.host.back() == ']')
        o.host = o.host.substr(1, o.host.size() - 2);
      try {
        const unsigned long port = std::stoul(listen.substr(colon + 1));
        if (port > 65535) throw std::out_of_range("port");
        o.port = static_cast<std::uint16_t>(port);
      } catch (const std::exception&) {
        fail("--listen: bad port in " + listen, 2);
      }
    } else if (arg == "--seed") {
      o.seed_file = value();
    } else if (arg == "--state") {
      o.state_file = value();
    } else if (arg == "--expire-soon") {
      const std::string v = value();
      try {
        const long seconds = std::stol(v);
        if (seconds < 0 || seconds > 315360000) throw std::out_of_range("expire-soon");
        o.expire_soon = std::chrono::seconds(seconds);
      } catch (const std::exception&) {
        fail("--expire-soon: a number of seconds is expected, not " + v, 2);
      }
    } else if (arg == "--sip-min-expires") {
      const std::string v = value();
      try {
        const long seconds = std::stol(v);
        if (seconds < 1 || seconds > 3600) throw std::out_of_range("sip-min-expires");
        o.sip_min_expires = static_cast<std::uint32_t>(seconds);
      } catch (const std::exception&) {
        fail("--sip-min-expires: a number of seconds from 1 to 3600 is expected, not " + v, 2);
      }
    } else if (arg == "--tls") {
      o.tls = true;
    } else if (arg == "--tls-ca-out") {
      o.ca_out = value();
    } else if (arg == "--tls-cert") {
      o.cert_file = value();
    } else if (arg == "--tls-key") {
      o.key_file = value();
    } else if (arg == "--verbose") {
      o.verbose = true;
    } else if (arg == "-h" || arg == "--help") {
      std::cout << usage;
      std::exit(0);
    } else {
      fail("unknown option " + std::string(arg) + "\n" + usage, 2);
    }
  }
  if (o.cert_file.empty() != o.key_file.empty()) fail("--tls-cert and --tls-key go together", 2);
  if (!o.cert_file.empty()) o.tls = true;
  if (!o.ca_out.empty() && !o.cert_file.empty()) fail("--tls-ca-out is for a generated CA, not with --tls-cert", 2);
  return o;
}

// Writes the state to a temporary file, then renames it over the target: a reader never sees half a file.
void save_state(const State& state, const std::string& path) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << state.snapshot().dump();
    out.flush();
    if (!out) {
      std::cerr << "wazo-dev-engine: cannot write " << tmp << '\n';
      return;
    }
  }
  std::error_code ignored;  // it holds passwords and live tokens
  std::filesystem::permissions(tmp, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, ignored);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) std::cerr << "wazo-dev-engine: cannot rename to " << path << '\n';
}

// Publishes auth_session_expire_soon once per token when its remaining lifetime drops below `window`.
bool publish_expire_soon(State& state, Bus& bus, std::chrono::seconds window) {
  const auto now = Clock::now();
  bool changed = false;
  for (auto& [key, token] : state.tokens) {
    if (token.expire_soon_sent || token.expires_at <= now || token.expires_at - now > window) continue;
    token.expire_soon_sent = true;
    changed = true;
    bus.publish(events::session_expire_soon(token));
  }
  return changed;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  const Options options = parse(argc, argv);

  State state;
  bool loaded_state = false;
  try {
    if (!options.state_file.empty() && std::ifstream(options.state_file).good()) {
      const Json saved = Json::parse(read_file(options.state_file), nullptr, false);
      if (saved.is_discarded()) fail("the state file " + options.state_file + " is not valid JSON");
      state.load_snapshot(saved);
      loaded_state = true;
    } else {
      const std::string seed_text =
          options.seed_file.empty() ? std::string(default_seed) : read_file(options.seed_file);
      const Json seed = Json::parse(seed_text, nullptr, false);
      if (seed.is_discarded()) fail("the seed is not valid JSON");
      state.load_seed(seed);
    }
  } catch (const std::exception& e) {
    fail(e.what());
  }

  Bus bus(state.engine_uuid);
  WebsocketHub hub(state);
  bus.listen([&hub](const BusMessage& m) { return hub.deliver(m); });
  state.on_session_created = [&](const SessionRecord& s) {
    bus.publish(events::session_created(s));
    std::size_t live = 0;
    for (const auto& [key, t] : state.tokens) live += t.user_uuid == s.user_uuid ? 1 : 0;
    if (const User* u = state.user(s.user_uuid); u != nullptr && live == 1) publish_presence(state, bus, *u);
  };
  state.on_session_deleted = [&](const SessionRecord& s) {
    bus.publish(events::session_deleted(s));
    const User* u = state.user(s.user_uuid);
    if (u != nullptr && !state.has_session(s.user_uuid)) publish_presence(state, bus, *u);  // now disconnected
  };

  Router router;
  add_auth_routes(router, state);
  add_chatd_routes(router, state, bus);
  add_confd_routes(router, state, bus);
  boost::asio::io_context io;
  SipProxy sip(state, bus, SipOptions{.min_expires = options.sip_min_expires, .verbose = options.verbose});
  SipHub sip_hub(io, sip);
  add_calld_routes(router, state, sip);
  add_dev_routes(router, state, bus, hub, &sip);
  router.add(http::verb::get, "/api/websocketd", [](Call&) {
    return json_reply(426, api_error_body("Upgrade Required: this is a WebSocket endpoint", "upgrade-required"));
  });
  router.add(http::verb::get, "/api/asterisk/ws", [](Call&) {
    return json_reply(
        426, api_error_body("Upgrade Required: SIP over WebSocket (Sec-WebSocket-Protocol: sip)", "upgrade-required"));
  });

  // After every state change: expired tokens go (auth_session_deleted), expire_soon goes out, websockets whose
  // token is gone close with 4003, and the state is saved.
  auto maintain = [&]() {
    const std::size_t before = state.tokens.size();
    state.purge_expired();
    bool changed = state.tokens.size() != before;
    changed = publish_expire_soon(state, bus, options.expire_soon) || changed;
    hub.check_tokens();
    return changed;
  };
  const bool persist = !options.state_file.empty();
  router.after([&](const Call& call, const Reply&) {
    const bool changed = maintain();
    const bool writes = call.request.method() != http::verb::get && call.request.method() != http::verb::head &&
                        call.route.rfind("/_dev/", 0) != 0;
    if (persist && (changed || writes)) save_state(state, options.state_file);
  });
  if (persist && !loaded_state) save_state(state, options.state_file);

  boost::asio::ssl::context tls(boost::asio::ssl::context::tls_server);
  ServerOptions server_options{.address = options.host, .port = options.port, .verbose = options.verbose};
  if (options.tls) {
    try {
      tls.set_options(boost::asio::ssl::context::default_workarounds | boost::asio::ssl::context::no_sslv2 |
                      boost::asio::ssl::context::no_sslv3 | boost::asio::ssl::context::no_tlsv1 |
                      boost::asio::ssl::context::no_tlsv1_1);
      if (!options.cert_file.empty()) {
        tls.use_certificate_chain_file(options.cert_file);
        tls.use_private_key_file(options.key_file, boost::asio::ssl::context::pem);
      } else {
        const GeneratedTls generated = generate_tls();
        const std::string chain = generated.cert_pem + generated.ca_pem;
        tls.use_certificate_chain(boost::asio::buffer(chain));
        tls.use_private_key(boost::asio::buffer(generated.key_pem), boost::asio::ssl::context::pem);
        if (!options.ca_out.empty()) write_file(options.ca_out, generated.ca_pem);
      }
    } catch (const std::exception& e) {
      fail(std::string("TLS: ") + e.what());
    }
    server_options.tls = &tls;
  }

  server_options.websockets = &hub;
  server_options.sip = &sip_hub;
  HttpServer server(io, server_options, router);
  try {
    server.start();
  } catch (const std::exception& e) {
    fail("cannot listen on " + options.host + ":" + std::to_string(options.port) + ": " + e.what());
  }
  sip.set_local(options.host, server.port(), options.tls);
  if (options.host != "127.0.0.1" && options.host != "::1" && options.host != "localhost") {
    std::cerr << "wazo-dev-engine: warning: listening on " << options.host
              << ", not loopback: anyone who can reach it can log in with the seed's passwords\n";
  }

  // The clock does the rest: expiry and expire-soon between requests.
  boost::asio::steady_timer tick(io);
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        for (;;) {
          tick.expires_after(std::chrono::milliseconds(200));
          boost::system::error_code ec;
          co_await tick.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
          if (ec) co_return;
          if (maintain() && persist) save_state(state, options.state_file);
        }
      },
      boost::asio::detached);

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) {
    server.stop();
    sip_hub.stop();
    tick.cancel();
    io.stop();
  });

  std::cout << "listening on " << server.url() << std::endl;
  io.run();
  return 0;
}
