// wazo-dev-engine: a local Wazo-compatible engine for the demo and the tests.
//
//   wazo-dev-engine [--listen HOST:PORT] [--seed FILE] [--tls [--tls-ca-out FILE] | --tls-cert FILE --tls-key FILE]
//                   [--verbose]
//
// Prints one line `listening on http(s)://HOST:PORT` on stdout when ready (nothing else goes to stdout);
// logs go to stderr. Stops cleanly on SIGTERM or SIGINT.
#include <utility>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>

#include "auth_service.hpp"
#include "http_server.hpp"
#include "router.hpp"
#include "state.hpp"
#include "tls.hpp"

namespace wazo::engine {
extern const std::string_view default_seed;
}  // namespace wazo::engine

namespace {

using namespace wazo::engine;

constexpr const char* usage =
    "usage: wazo-dev-engine [--listen HOST:PORT] [--seed FILE] [--tls [--tls-ca-out FILE]]\n"
    "                       [--tls-cert FILE --tls-key FILE] [--verbose]\n"
    "  --listen HOST:PORT  address to listen on (default 127.0.0.1:0, a free loopback port)\n"
    "  --seed FILE         initial state (default: the built-in seed: users alice, bob, carol / secret)\n"
    "  --tls               serve HTTPS with a certificate signed by a CA generated at start-up\n"
    "  --tls-ca-out FILE   write that CA's certificate (PEM) to FILE, for clients to trust\n"
    "  --tls-cert FILE     serve HTTPS with this certificate chain (PEM) ...\n"
    "  --tls-key FILE      ... and this private key (PEM)\n"
    "  --verbose           log each request (method, route, status) on stderr\n";

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string seed_file, ca_out, cert_file, key_file;
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

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  const Options options = parse(argc, argv);

  State state;
  try {
    const std::string seed_text = options.seed_file.empty() ? std::string(default_seed) : read_file(options.seed_file);
    const Json seed = Json::parse(seed_text, nullptr, false);
    if (seed.is_discarded()) fail("the seed is not valid JSON");
    state.load_seed(seed);
  } catch (const std::exception& e) {
    fail(e.what());
  }

  Router router;
  add_auth_routes(router, state);
  router.add(http::verb::get, "/_dev/metrics", [&router](Call&) { return json_reply(200, router.metrics()); });

  boost::asio::io_context io;
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

  HttpServer server(io, server_options, router);
  try {
    server.start();
  } catch (const std::exception& e) {
    fail("cannot listen on " + options.host + ":" + std::to_string(options.port) + ": " + e.what());
  }
  if (options.host != "127.0.0.1" && options.host != "::1" && options.host != "localhost") {
    std::cerr << "wazo-dev-engine: warning: listening on " << options.host
              << ", not loopback: anyone who can reach it can log in with the seed's passwords\n";
  }

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) {
    server.stop();
    io.stop();
  });

  std::cout << "listening on " << server.url() << std::endl;
  io.run();
  return 0;
}
