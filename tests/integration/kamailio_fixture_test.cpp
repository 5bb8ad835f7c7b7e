// The Kamailio test fixture against the real Kamailio: a hand-written SIP client over WebSocket (Boost.Beast,
// `Sec-WebSocket-Protocol: sip`) checks the config the fixture writes (keepalive OPTIONS, digest challenge,
// registration), restart on the same port, and that stop() leaves no Kamailio process behind.
#include <chrono>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "kamailio_process.hpp"
#include "sip/detail/digest.hpp"
#include "wazo/sip/message.hpp"

namespace wazo::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

std::string random_token() {
  static std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  for (int i = 0; i < 12; ++i) s += kAlphabet[rng() % (sizeof kAlphabet - 1)];
  return s;
}

// A minimal SIP-over-WebSocket peer for these checks: connect, send a text frame, read one frame with a deadline.
// Synchronous API over Beast's async operations, run on a private io_context.
class RawSipWs {
 public:
  // `url`: ws://127.0.0.1:PORT or wss://127.0.0.1:PORT; `ca_file` is trusted for wss.
  bool connect(const std::string& url, const std::string& ca_file = {}) {
    const bool secure = url.starts_with("wss://");
    const std::string hostport = url.substr(secure ? 6 : 5);
    const auto colon = hostport.rfind(':');
    host_ = hostport.substr(0, colon);
    const std::string port = hostport.substr(colon + 1);
    tcp::resolver resolver(ioc_);
    beast::error_code ec;
    const auto endpoints = resolver.resolve(host_, port, ec);
    if (ec) return fail(ec);
    if (secure) {
      ssl_ctx_.emplace(asio::ssl::context::tls_client);
      ssl_ctx_->load_verify_file(ca_file, ec);
      if (ec) return fail(ec);
      ssl_ctx_->set_verify_mode(asio::ssl::verify_peer);
      ssl_ctx_->set_verify_callback(asio::ssl::host_name_verification(host_));
      auto& ws = stream_.emplace<Wss>(ioc_, *ssl_ctx_);
      beast::get_lowest_layer(ws).connect(endpoints, ec);
      if (ec) return fail(ec);
      bool done = false;
      ws.next_layer().async_handshake(asio::ssl::stream_base::client, [&](beast::error_code e) {
        ec = e;
        done = true;
      });
      if (!run_until(done) || ec) return fail(ec);
      return ws_handshake(ws, hostport);
    }
    auto& ws = stream_.emplace<Ws>(ioc_);
    beast::get_lowest_layer(ws).connect(endpoints, ec);
    if (ec) return fail(ec);
    return ws_handshake(ws, hostport);
  }

  bool send(const std::string& text) {
    return std::visit(
        [&](auto& ws) {
          if constexpr (std::is_same_v<std::decay_t<decltype(ws)>, std::monostate>) {
            return false;
          } else {
            beast::error_code ec;
            bool done = false;
            ws.text(true);
            ws.async_write(asio::buffer(text), [&](beast::error_code e, std::size_t) {
              ec = e;
              done = true;
            });
            return run_until(done) && !ec ? true : fail(ec);
          }
        },
        stream_);
  }

  // The next text frame, or nullopt after `timeout` or on error.
  std::optional<std::string> receive(std::chrono::milliseconds timeout = 5s) {
    return std::visit(
        [&](auto& ws) -> std::optional<std::string> {
          if constexpr (std::is_same_v<std::decay_t<decltype(ws)>, std::monostate>) {
            return std::nullopt;
          } else {
            beast::flat_buffer buffer;
            beast::error_code ec;
            bool done = false;
            ws.async_read(buffer, [&](beast::error_code e, std::size_t) {
              ec = e;
              done = true;
            });
            if (!run_until(done, timeout)) {
              beast::get_lowest_layer(ws).cancel();
              run_until(done, 1s);
              last_error_ = "no frame within the timeout";
              return std::nullopt;
            }
            if (ec) {
              fail(ec);
              return std::nullopt;
            }
            return beast::buffers_to_string(buffer.data());
          }
        },
        stream_);
  }

  // Sends `request` and returns the first final response (1xx are skipped), or nullopt.
  std::optional<std::string> transaction(const std::string& request, std::chrono::milliseconds timeout = 5s) {
    if (!send(request)) return std::nullopt;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto frame =
          receive(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
      if (!frame) return std::nullopt;
      if (frame->starts_with("SIP/2.0 1")) continue;
      return frame;
    }
    return std::nullopt;
  }

  [[nodiscard]] const std::string& last_error() const { return last_error_; }
  [[nodiscard]] const std::string& subprotocol() const { return subprotocol_; }

 private:
  using Ws = websocket::stream<beast::tcp_stream>;
  using Wss = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

  bool fail(const beast::error_code& ec) {
    last_error_ = ec ? ec.message() : std::string("timeout");
    return false;
  }

  bool run_until(const bool& done, std::chrono::milliseconds timeout = 5s) {
    ioc_.restart();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done && std::chrono::steady_clock::now() < deadline) ioc_.run_one_for(50ms);
    return done;
  }

  template <class Stream>
  bool ws_handshake(Stream& ws, const std::string& hostport) {
    ws.set_option(websocket::stream_base::decorator(
        [](websocket::request_type& req) { req.set(beast::http::field::sec_websocket_protocol, "sip"); }));
    websocket::response_type response;
    beast::error_code ec;
    bool done = false;
    ws.async_handshake(response, hostport, "/", [&](beast::error_code e) {
      ec = e;
      done = true;
    });
    if (!run_until(done) || ec) return fail(ec);
    subprotocol_ = std::string(response[beast::http::field::sec_websocket_protocol]);
    return true;
  }

  asio::io_context ioc_;
  std::optional<asio::ssl::context> ssl_ctx_;
  std::variant<std::monostate, Ws, Wss> stream_;
  std::string host_;
  std::string last_error_;
  std::string subprotocol_;
};

std::string options_request(const std::string& domain) {
  const std::string tag = random_token();
  return "OPTIONS sip:" + domain +
         " SIP/2.0\r\n"
         "Via: SIP/2.0/WS " +
         tag + ".invalid;branch=z9hG4bK" + random_token() +
         "\r\n"
         "Max-Forwards: 70\r\n"
         "To: <sip:" +
         domain +
         ">\r\n"
         "From: <sip:alice@" +
         domain + ">;tag=" + tag +
         "\r\n"
         "Call-ID: " +
         random_token() +
         "\r\n"
         "CSeq: 1 OPTIONS\r\n"
         "Content-Length: 0\r\n\r\n";
}

std::string register_request(const std::string& domain, const std::string& user, const std::string& call_id, int cseq,
                             const std::string& authorization = {}) {
  std::string r = "REGISTER sip:" + domain +
                  " SIP/2.0\r\n"
                  "Via: SIP/2.0/WS client.invalid;branch=z9hG4bK" +
                  random_token() +
                  "\r\n"
                  "Max-Forwards: 70\r\n"
                  "To: <sip:" +
                  user + "@" + domain +
                  ">\r\n"
                  "From: <sip:" +
                  user + "@" + domain + ">;tag=" + call_id +
                  "\r\n"
                  "Call-ID: " +
                  call_id +
                  "\r\n"
                  "CSeq: " +
                  std::to_string(cseq) +
                  " REGISTER\r\n"
                  "Contact: <sip:" +
                  user + "@client.invalid;transport=ws>;expires=600\r\n";
  if (!authorization.empty()) r += "Authorization: " + authorization + "\r\n";
  return r + "Content-Length: 0\r\n\r\n";
}

// The value of the first header `name:` (case-sensitive here: Kamailio writes the long forms), or "".
std::string header(const std::string& message, const std::string& name) {
  const auto pos = message.find("\r\n" + name + ":");
  if (pos == std::string::npos) return {};
  const auto start = message.find_first_not_of(' ', pos + name.size() + 3);
  return message.substr(start, message.find("\r\n", start) - start);
}

// The Authorization value answering the challenge in `response` (WWW- or Proxy-Authenticate), with the SDK's
// digest code; "" when there is none.
std::string authorize(const std::string& response, const std::string& header_name, const std::string& user,
                      const std::string& password, const std::string& method, const std::string& uri) {
  auto parsed = sip::Message::parse(response);
  if (!parsed) return {};
  auto challenge = sip::detail::select_digest_challenge(parsed->header_values(header_name));
  if (!challenge) return {};
  sip::detail::DigestClient client;
  auto value = client.authorize(*challenge, user, password, method, uri);
  return value ? *value : std::string();
}

std::string message_request(const std::string& domain, const std::string& from, const std::string& to,
                            const std::string& call_id, int cseq, const std::string& text,
                            const std::string& proxy_authorization = {}) {
  std::string r = "MESSAGE sip:" + to + "@" + domain + " SIP/2.0\r\n";
  r += "Via: SIP/2.0/WS client.invalid;branch=z9hG4bK" + random_token() + "\r\n";
  r += "Max-Forwards: 70\r\n";
  r += "To: <sip:" + to + "@" + domain + ">\r\n";
  r += "From: <sip:" + from + "@" + domain + ">;tag=" + call_id + "\r\n";
  r += "Call-ID: " + call_id + "\r\n";
  r += "CSeq: " + std::to_string(cseq) + " MESSAGE\r\n";
  if (!proxy_authorization.empty()) r += "Proxy-Authorization: " + proxy_authorization + "\r\n";
  r += "Content-Type: text/plain\r\n";
  r += "Content-Length: " + std::to_string(text.size()) + "\r\n\r\n" + text;
  return r;
}

// REGISTER, answer the 401 with the SDK's digest code; returns the final response to the second REGISTER.
std::optional<std::string> register_with_digest(RawSipWs& ws, const std::string& domain, const std::string& user,
                                                const std::string& password) {
  const std::string call_id = random_token();
  auto challenge = ws.transaction(register_request(domain, user, call_id, 1));
  if (!challenge || !challenge->starts_with("SIP/2.0 401 ")) return challenge;
  const std::string auth = authorize(*challenge, "WWW-Authenticate", user, password, "REGISTER", "sip:" + domain);
  if (auth.empty()) return std::nullopt;
  return ws.transaction(register_request(domain, user, call_id, 2, auth));
}

#define REQUIRE_KAMAILIO(tls) ASSERT_TRUE(KamailioProcess::available(tls)) << KamailioProcess::unavailable_message();

TEST(KamailioFixture, AnswersKeepaliveOptionsAndChallengesRegister) {
  REQUIRE_KAMAILIO(false);
  KamailioProcess kam;
  ASSERT_TRUE(kam.running()) << kam.error();
  EXPECT_GT(kam.port(), 0);
  EXPECT_EQ(kam.ws_url(), "ws://127.0.0.1:" + std::to_string(kam.port()));
  EXPECT_EQ(kam.wss_url(), "");

  RawSipWs ws;
  ASSERT_TRUE(ws.connect(kam.ws_url())) << ws.last_error() << "\n" << kam.log();
  EXPECT_EQ(ws.subprotocol(), "sip");

  auto options = ws.transaction(options_request("wazo.test"));
  ASSERT_TRUE(options) << ws.last_error() << "\n" << kam.log();
  EXPECT_TRUE(options->starts_with("SIP/2.0 200 ")) << *options;

  auto challenge = ws.transaction(register_request("wazo.test", "alice", random_token(), 1));
  ASSERT_TRUE(challenge) << ws.last_error() << "\n" << kam.log();
  EXPECT_TRUE(challenge->starts_with("SIP/2.0 401 ")) << *challenge;
  const std::string www = header(*challenge, "WWW-Authenticate");
  EXPECT_TRUE(www.starts_with("Digest ")) << www;
  EXPECT_NE(www.find("realm=\"wazo.test\""), std::string::npos) << www;
  EXPECT_NE(www.find("qop=\"auth\""), std::string::npos) << www;
  EXPECT_NE(www.find("nonce=\""), std::string::npos) << www;
}

TEST(KamailioFixture, WithoutAuthRegistersAtOnce) {
  REQUIRE_KAMAILIO(false);
  KamailioProcess kam({.auth = false});
  ASSERT_TRUE(kam.running()) << kam.error();
  RawSipWs ws;
  ASSERT_TRUE(ws.connect(kam.ws_url())) << ws.last_error();
  auto ok = ws.transaction(register_request("wazo.test", "dave", random_token(), 1));
  ASSERT_TRUE(ok) << ws.last_error() << "\n" << kam.log();
  EXPECT_TRUE(ok->starts_with("SIP/2.0 200 ")) << *ok;
  EXPECT_NE(header(*ok, "Contact").find("client.invalid"), std::string::npos) << *ok;
}

TEST(KamailioFixture, RestartKeepsThePortAndAnswersAgain) {
  REQUIRE_KAMAILIO(false);
  KamailioProcess kam;
  ASSERT_TRUE(kam.running()) << kam.error();
  const auto port = kam.port();
  const pid_t first_pid = kam.pid();

  ASSERT_TRUE(kam.restart()) << kam.error();
  EXPECT_TRUE(kam.running());
  EXPECT_EQ(kam.port(), port);
  EXPECT_NE(kam.pid(), first_pid);
  EXPECT_FALSE(process_alive(first_pid));

  RawSipWs ws;
  ASSERT_TRUE(ws.connect(kam.ws_url())) << ws.last_error() << "\n" << kam.log();
  auto options = ws.transaction(options_request("wazo.test"));
  ASSERT_TRUE(options) << ws.last_error();
  EXPECT_TRUE(options->starts_with("SIP/2.0 200 ")) << *options;
}

TEST(KamailioFixture, StopLeavesNoKamailioProcess) {
  REQUIRE_KAMAILIO(false);
  KamailioProcess kam;
  ASSERT_TRUE(kam.running()) << kam.error();
  const pid_t pid = kam.pid();
  const std::vector<pid_t> children = child_pids(pid);
  EXPECT_GE(children.size(), 2U);  // Kamailio forks its workers: tcp main, tcp children, timers...
  EXPECT_TRUE(process_alive(pid));

  kam.stop();
  EXPECT_FALSE(kam.running());
  EXPECT_EQ(kam.stop(), -1);  // a second stop is a no-op
  EXPECT_FALSE(process_alive(pid));
  // The workers exit with the main process (allow them a moment: they see it go, then exit).
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  std::vector<pid_t> left;
  do {
    left.clear();
    for (pid_t child : children) {
      if (process_alive(child)) left.push_back(child);
    }
    if (left.empty()) break;
    std::this_thread::sleep_for(20ms);
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_TRUE(left.empty()) << left.size() << " Kamailio worker(s) left, e.g. PID " << (left.empty() ? 0 : left[0]);

  RawSipWs ws;
  EXPECT_FALSE(ws.connect(kam.ws_url()));
}

TEST(KamailioFixture, TwoInstancesRunSideBySide) {
  REQUIRE_KAMAILIO(false);
  KamailioProcess a;
  KamailioProcess b({.domain = "other.test", .users = {{"zed", "zedpw"}}});
  ASSERT_TRUE(a.running()) << a.error();
  ASSERT_TRUE(b.running()) << b.error();
  EXPECT_NE(a.port(), b.port());
  RawSipWs ws;
  ASSERT_TRUE(ws.connect(b.ws_url())) << ws.last_error();
  auto challenge = ws.transaction(register_request("other.test", "zed", random_token(), 1));
  ASSERT_TRUE(challenge) << ws.last_error();
  EXPECT_NE(header(*challenge, "WWW-Authenticate").find("realm=\"other.test\""), std::string::npos) << *challenge;
}

TEST(KamailioFixture, WssWithTheSelfSignedCertificate) {
  REQUIRE_KAMAILIO(true);
  KamailioProcess kam({.tls = true});
  ASSERT_TRUE(kam.running()) << kam.error();
  EXPECT_NE(kam.tls_port(), kam.port());
  EXPECT_EQ(kam.wss_url(), "wss://127.0.0.1:" + std::to_string(kam.tls_port()));
  ASSERT_FALSE(kam.ca_file().empty());

  RawSipWs ws;
  ASSERT_TRUE(ws.connect(kam.wss_url(), kam.ca_file())) << ws.last_error() << "\n" << kam.log();
  EXPECT_EQ(ws.subprotocol(), "sip");
  auto options = ws.transaction(options_request("wazo.test"));
  ASSERT_TRUE(options) << ws.last_error() << "\n" << kam.log();
  EXPECT_TRUE(options->starts_with("SIP/2.0 200 ")) << *options;
  auto challenge = ws.transaction(register_request("wazo.test", "bob", random_token(), 1));
  ASSERT_TRUE(challenge) << ws.last_error();
  EXPECT_TRUE(challenge->starts_with("SIP/2.0 401 ")) << *challenge;

  // The plain WS port still answers alongside.
  RawSipWs plain;
  ASSERT_TRUE(plain.connect(kam.ws_url())) << plain.last_error();
  EXPECT_TRUE(plain.transaction(options_request("wazo.test")).has_value());
}

TEST(KamailioFixture, WssRefusesAnUntrustedCertificate) {
  REQUIRE_KAMAILIO(true);
  KamailioProcess kam({.tls = true});
  ASSERT_TRUE(kam.running()) << kam.error();
  KamailioProcess other({.tls = true});  // a different self-signed certificate
  ASSERT_TRUE(other.running()) << other.error();
  RawSipWs ws;
  EXPECT_FALSE(ws.connect(kam.wss_url(), other.ca_file()));
}

TEST(KamailioFixture, RegisterWithDigestCredentials) {
  REQUIRE_KAMAILIO(false);
  KamailioProcess kam;
  ASSERT_TRUE(kam.running()) << kam.error();
  RawSipWs ws;
  ASSERT_TRUE(ws.connect(kam.ws_url())) << ws.last_error();
  auto ok = register_with_digest(ws, "wazo.test", "alice", "alicepw");
  ASSERT_TRUE(ok) << ws.last_error() << "\n" << kam.log();
  ASSERT_TRUE(ok->starts_with("SIP/2.0 200 ")) << *ok << "\n" << kam.log();
  auto parsed = sip::Message::parse(*ok);
  ASSERT_TRUE(parsed) << parsed.error().message;
  auto contacts = parsed->contacts();
  ASSERT_TRUE(contacts);
  ASSERT_EQ(contacts->size(), 1U);
  EXPECT_EQ(contacts->front().uri.host, "client.invalid");
  EXPECT_EQ(contacts->front().params.get("expires").value_or(""), "600");
}

TEST(KamailioFixture, WrongPasswordIsChallengedAgain) {
  REQUIRE_KAMAILIO(false);
  KamailioProcess kam;
  ASSERT_TRUE(kam.running()) << kam.error();
  RawSipWs ws;
  ASSERT_TRUE(ws.connect(kam.ws_url())) << ws.last_error();
  auto refused = register_with_digest(ws, "wazo.test", "alice", "not-alicepw");
  ASSERT_TRUE(refused) << ws.last_error();
  EXPECT_TRUE(refused->starts_with("SIP/2.0 401 ")) << *refused;
  auto unknown = register_with_digest(ws, "wazo.test", "mallory", "alicepw");
  ASSERT_TRUE(unknown) << ws.last_error();
  EXPECT_TRUE(unknown->starts_with("SIP/2.0 401 ")) << *unknown;
}

TEST(KamailioFixture, RegisterWithSha256Digest) {
  REQUIRE_KAMAILIO(false);
  KamailioProcess kam({.digest_algorithm = "SHA-256"});
  ASSERT_TRUE(kam.running()) << kam.error();
  RawSipWs ws;
  ASSERT_TRUE(ws.connect(kam.ws_url())) << ws.last_error();
  auto challenge = ws.transaction(register_request("wazo.test", "bob", random_token(), 1));
  ASSERT_TRUE(challenge) << ws.last_error();
  EXPECT_NE(header(*challenge, "WWW-Authenticate").find("algorithm=SHA-256"), std::string::npos) << *challenge;
  auto ok = register_with_digest(ws, "wazo.test", "bob", "bobpw");
  ASSERT_TRUE(ok) << ws.last_error();
  EXPECT_TRUE(ok->starts_with("SIP/2.0 200 ")) << *ok << "\n" << kam.log();
}

// alice sends a MESSAGE to bob, both over WebSocket: 407 first, then relayed to bob's connection (the WS NAT
// handling: bob's Contact is client.invalid, reachable only through his connection).
TEST(KamailioFixture, RelaysAMessageBetweenRegisteredWebSocketUsers) {
  REQUIRE_KAMAILIO(false);
  KamailioProcess kam;
  ASSERT_TRUE(kam.running()) << kam.error();
  RawSipWs alice;
  RawSipWs bob;
  ASSERT_TRUE(alice.connect(kam.ws_url())) << alice.last_error();
  ASSERT_TRUE(bob.connect(kam.ws_url())) << bob.last_error();
  auto registered = register_with_digest(bob, "wazo.test", "bob", "bobpw");
  ASSERT_TRUE(registered && registered->starts_with("SIP/2.0 200 ")) << registered.value_or(bob.last_error());

  const std::string call_id = random_token();
  auto challenge = alice.transaction(message_request("wazo.test", "alice", "bob", call_id, 1, "hello"));
  ASSERT_TRUE(challenge) << alice.last_error();
  ASSERT_TRUE(challenge->starts_with("SIP/2.0 407 ")) << *challenge;
  const std::string auth =
      authorize(*challenge, "Proxy-Authenticate", "alice", "alicepw", "MESSAGE", "sip:bob@wazo.test");
  ASSERT_FALSE(auth.empty()) << *challenge;
  ASSERT_TRUE(alice.send(message_request("wazo.test", "alice", "bob", call_id, 2, "hello bob", auth)));

  auto incoming = bob.receive();
  ASSERT_TRUE(incoming) << bob.last_error() << "\n" << kam.log();
  auto request = sip::Message::parse(*incoming);
  ASSERT_TRUE(request) << request.error().message << "\n" << *incoming;
  EXPECT_EQ(request->method(), "MESSAGE");
  EXPECT_EQ(request->body(), "hello bob");
  EXPECT_FALSE(request->has_header("Proxy-Authorization"));  // consumed by the proxy
  // bob answers 200: the response goes back to alice through the Vias.
  std::string answer = "SIP/2.0 200 OK\r\n";
  for (auto via : request->header_values("Via")) answer += "Via: " + std::string(via) + "\r\n";
  answer += "To: " + std::string(request->header("To").value_or("")) + ";tag=bobtag\r\n";
  answer += "From: " + std::string(request->header("From").value_or("")) + "\r\n";
  answer += "Call-ID: " + std::string(request->call_id()) + "\r\n";
  answer += "CSeq: " + std::string(request->header("CSeq").value_or("")) + "\r\nContent-Length: 0\r\n\r\n";
  ASSERT_TRUE(bob.send(answer));
  auto ok = alice.receive();
  ASSERT_TRUE(ok) << alice.last_error() << "\n" << kam.log();
  EXPECT_TRUE(ok->starts_with("SIP/2.0 200 ")) << *ok;
}

TEST(KamailioFixture, MessageToAnUnregisteredUserIs404) {
  REQUIRE_KAMAILIO(false);
  KamailioProcess kam({.auth = false});
  ASSERT_TRUE(kam.running()) << kam.error();
  RawSipWs ws;
  ASSERT_TRUE(ws.connect(kam.ws_url())) << ws.last_error();
  auto answer = ws.transaction(message_request("wazo.test", "alice", "carol", random_token(), 1, "anyone?"));
  ASSERT_TRUE(answer) << ws.last_error();
  EXPECT_TRUE(answer->starts_with("SIP/2.0 404 ")) << *answer;
}

}  // namespace
}  // namespace wazo::test
