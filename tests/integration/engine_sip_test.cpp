// wazo-dev-engine's users' lines (confd) and its SIP registrar and proxy over WebSocket, against a real engine
// process over loopback. The confd part goes through the SDK (ConfdApi) and checks the bodies against the official
// spec (wazo-confd.json); the SIP part uses raw Boost.Beast WebSocket clients (not the SDK's user agent) with
// hand-built messages (wazo::sip::Message) and the digest helpers, so that what is tested is the engine.
// Seeded lines: alice alicewebrtc/1001, bob bobwebrtc/1002, carol carolwebrtc/1003.
#include <utility>  // before Asio's awaitable (it uses std::exchange)

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include "engine_process.hpp"
#include "sip/detail/digest.hpp"
#include "spec_contract.hpp"
#include "wazo/rest/api_client.hpp"
#include "wazo/rest/auth.hpp"
#include "wazo/rest/confd.hpp"
#include "wazo/sip/message.hpp"

namespace wazo {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using nlohmann::json;
using sip::Message;
using sip::Uri;
using namespace std::chrono_literals;

constexpr const char* alice_uuid = "a11ce000-0000-4000-8000-000000000001";
constexpr const char* bob_uuid = "b0b00000-0000-4000-8000-000000000002";
constexpr const char* domain = "wazo.local";

struct Line {
  std::string username, password, exten;
};
const Line alice_line{"alicewebrtc", "Kq7xW3ka9PzR", "1001"};
const Line bob_line{"bobwebrtc", "Tz4mN8qe2VcL", "1002"};
const Line carol_line{"carolwebrtc", "Hb6yR1uw5JsD", "1003"};

std::string random_hex(std::size_t n) {
  static std::mt19937_64 rng{std::random_device{}()};
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += digits[rng() % 16];
  return out;
}

struct HttpResult {
  int status = 0;
  std::string body;
  [[nodiscard]] json json_body() const { return json::parse(body, nullptr, false); }
};

// One plain HTTP/1.1 request on a fresh connection.
HttpResult http_get(int port, const std::string& target, const std::string& token = {}) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)), ec);
  if (ec) return {};
  beast::http::request<beast::http::string_body> req{beast::http::verb::get, target, 11};
  req.set(beast::http::field::host, "127.0.0.1");
  if (!token.empty()) req.set("X-Auth-Token", token);
  beast::http::write(stream, req, ec);
  if (ec) return {};
  beast::flat_buffer buffer;
  beast::http::response<beast::http::string_body> res;
  beast::http::read(stream, buffer, res, ec);
  if (ec) return {};
  return {static_cast<int>(res.result_int()), res.body()};
}

// The HTTP status of a WebSocket upgrade request to /api/asterisk/ws offering `protocols` ("" = none).
int upgrade_status(int port, const std::string& protocols) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)), ec);
  if (ec) return 0;
  beast::http::request<beast::http::empty_body> req{beast::http::verb::get, "/api/asterisk/ws", 11};
  req.set(beast::http::field::host, "127.0.0.1");
  req.set(beast::http::field::upgrade, "websocket");
  req.set(beast::http::field::connection, "Upgrade");
  req.set(beast::http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  req.set(beast::http::field::sec_websocket_version, "13");
  if (!protocols.empty()) req.set(beast::http::field::sec_websocket_protocol, protocols);
  beast::http::write(stream, req, ec);
  if (ec) return 0;
  beast::flat_buffer buffer;
  beast::http::response<beast::http::string_body> res;
  beast::http::read(stream, buffer, res, ec);
  return ec ? 0 : static_cast<int>(res.result_int());
}

// --- a raw SIP-over-WebSocket client ------------------------------------------------------------------------------

// One WebSocket connection to /api/asterisk/ws; an I/O thread reads frames into a queue.
class RawSipSocket {
 public:
  // Connects and upgrades; `subprotocol` empty: none offered.
  RawSipSocket(int port, const std::string& subprotocol = "sip") : ws_(io_) {
    beast::error_code ec;
    beast::get_lowest_layer(ws_).connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)), ec);
    if (ec) {
      error_ = ec.message();
      return;
    }
    ws_.set_option(websocket::stream_base::decorator([subprotocol](websocket::request_type& req) {
      if (!subprotocol.empty()) req.set(beast::http::field::sec_websocket_protocol, subprotocol);
    }));
    websocket::response_type res;
    ws_.handshake(res, "127.0.0.1:" + std::to_string(port), "/api/asterisk/ws", ec);
    status_ = static_cast<int>(res.result_int());
    if (ec) {
      error_ = ec.message();
      return;
    }
    protocol_ = std::string(res[beast::http::field::sec_websocket_protocol]);
    open_ = true;
    ws_.read_message_max(0);
    read();
    thread_ = std::thread([this] { io_.run(); });
  }

  ~RawSipSocket() { close(); }
  RawSipSocket(const RawSipSocket&) = delete;
  RawSipSocket& operator=(const RawSipSocket&) = delete;

  [[nodiscard]] bool open() const { return open_; }
  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] int handshake_status() const { return status_; }
  [[nodiscard]] const std::string& protocol() const { return protocol_; }

  void send(std::string frame) {
    asio::post(io_, [this, frame = std::move(frame)]() mutable {
      out_.push_back(std::move(frame));
      if (out_.size() == 1) write_next();
    });
  }
  void send(const Message& m) { send(m.serialize()); }

  // The next frame, or nullopt after `timeout` or when the connection is closed.
  std::optional<std::string> next_frame(std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, timeout, [this] { return !frames_.empty() || closed_; });
    if (frames_.empty()) return std::nullopt;
    std::string f = std::move(frames_.front());
    frames_.pop_front();
    return f;
  }

  // The next SIP message (100 Trying skipped unless asked), or nullopt.
  std::optional<Message> next(bool skip_trying = true, std::chrono::milliseconds timeout = 5s) {
    for (;;) {
      auto frame = next_frame(timeout);
      if (!frame) return std::nullopt;
      auto m = Message::parse(*frame);
      if (!m) {
        ADD_FAILURE() << "unparsable frame from the engine: " << m.error() << "\n" << *frame;
        return std::nullopt;
      }
      if (skip_trying && m->is_response() && m->status() == 100) continue;
      return std::move(*m);
    }
  }

  [[nodiscard]] bool closed() {
    std::lock_guard lock(mutex_);
    return closed_;
  }

  void close() {
    if (!thread_.joinable()) return;
    asio::post(io_, [this] {
      ws_.async_close(websocket::close_code::normal, [this](beast::error_code) {
        beast::error_code ignored;
        beast::get_lowest_layer(ws_).socket().close(ignored);
      });
    });
    if (!wait_closed(3s)) {
      asio::post(io_, [this] {
        beast::error_code ignored;
        beast::get_lowest_layer(ws_).socket().close(ignored);
      });
    }
    io_.stop();
    thread_.join();
  }

 private:
  bool wait_closed(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [this] { return closed_; });
  }

  void read() {
    ws_.async_read(buffer_, [this](beast::error_code ec, std::size_t) {
      std::lock_guard lock(mutex_);
      if (ec) {
        closed_ = true;
        cv_.notify_all();
        return;
      }
      frames_.push_back(beast::buffers_to_string(buffer_.data()));
      buffer_.consume(buffer_.size());
      cv_.notify_all();
      read();
    });
  }

  void write_next() {
    ws_.text(true);
    ws_.async_write(asio::buffer(out_.front()), [this](beast::error_code ec, std::size_t) {
      out_.pop_front();
      if (!ec && !out_.empty()) write_next();
    });
  }

  asio::io_context io_;
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  std::deque<std::string> out_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::string> frames_;
  bool closed_ = false;
  bool open_ = false;
  int status_ = 0;
  std::string error_, protocol_;
};

// A hand-driven user agent on one RawSipSocket: builds requests and answers with the usual headers.
class RawUa {
 public:
  RawUa(int port, Line line) : socket(port), line_(std::move(line)), host_(random_hex(10) + ".invalid") {}

  [[nodiscard]] std::string aor() const { return "sip:" + line_.username + "@" + domain; }
  [[nodiscard]] std::string contact_uri() const { return "sip:" + random_user_ + "@" + host_ + ";transport=ws"; }
  [[nodiscard]] std::string contact() const { return "<" + contact_uri() + ">"; }
  [[nodiscard]] const Line& line() const { return line_; }

  // A request with Via, Max-Forwards, From (tag), To, Call-ID, CSeq and Contact.
  Message request(const std::string& method, const std::string& ruri, const std::string& to, const std::string& call_id,
                  std::uint32_t cseq) const {
    auto uri = Uri::parse(ruri);
    EXPECT_TRUE(uri) << ruri;
    Message m = Message::request(method, uri ? *uri : Uri{});
    m.add_header("Via", "SIP/2.0/WS " + host_ + ";branch=z9hG4bK" + random_hex(16));
    m.add_header("Max-Forwards", "70");
    m.add_header("From", "<" + aor() + ">;tag=" + from_tag_);
    m.add_header("To", to);
    m.add_header("Call-ID", call_id);
    m.add_header("CSeq", std::to_string(cseq) + " " + method);
    if (method != "MESSAGE" && method != "BYE" && method != "CANCEL") m.add_header("Contact", contact());
    return m;
  }

  // A response to `req` (Via, Record-Route, From, To with our tag, Call-ID, CSeq, Contact).
  Message answer(const Message& req, int status, const std::string& body = {}) const {
    Message r = Message::response(status);
    for (const auto& h : req.headers()) {
      if (h.name == "Via" || h.name == "Record-Route" || h.name == "From" || h.name == "Call-ID" || h.name == "CSeq") {
        r.add_header(h.name, h.value);
      } else if (h.name == "To") {
        r.add_header("To", req.to() && req.to()->tag() ? h.value : h.value + ";tag=" + from_tag_);
      }
    }
    if (req.method() == "INVITE") r.add_header("Contact", contact());
    if (!body.empty()) r.set_body(body, "application/sdp");
    return r;
  }

  // Sends `m`; when challenged (401/407), answers the challenge once (CSeq + 1, new branch) with `algorithm`
  // ("" = the engine's preferred one) and returns the final answer (1xx skipped).
  std::optional<Message> send_authenticated(Message m, const std::string& algorithm = {},
                                            const std::string& password = {}, std::chrono::milliseconds wait = 5s) {
    socket.send(m);
    auto first = socket.next();
    if (!first || (first->status() != 401 && first->status() != 407)) return first;
    const bool proxy = first->status() == 407;
    const auto offered = first->header_values(proxy ? "Proxy-Authenticate" : "WWW-Authenticate");
    std::optional<sip::detail::DigestChallenge> challenge;
    if (algorithm.empty()) {
      challenge = sip::detail::select_digest_challenge(offered);
    } else {
      for (const auto v : offered) {
        auto c = sip::detail::parse_digest_challenge(v);
        if (c && sip::detail::to_string(c->algorithm) == algorithm) challenge = *c;
      }
    }
    if (!challenge) {
      ADD_FAILURE() << "no usable challenge";
      return std::nullopt;
    }
    sip::detail::DigestClient client;
    auto credentials = client.authorize(*challenge, line_.username, password.empty() ? line_.password : password,
                                        m.method(), m.request_uri().str());
    if (!credentials) {
      ADD_FAILURE() << credentials.error();
      return std::nullopt;
    }
    m.add_header(proxy ? "Proxy-Authorization" : "Authorization", *credentials);
    auto cseq = m.cseq();
    m.set_header("CSeq", std::to_string(cseq->number + 1) + " " + m.method());
    m.remove_header("Via");
    m.add_header("Via", "SIP/2.0/WS " + host_ + ";branch=z9hG4bK" + random_hex(16));
    last_sent = m;
    socket.send(m);
    return socket.next(true, wait);
  }

  // REGISTER for `expires` seconds; the final answer.
  std::optional<Message> register_line(std::uint32_t expires = 300, const std::string& algorithm = {},
                                       const std::string& password = {}) {
    Message m = request("REGISTER", std::string("sip:") + domain, "<" + aor() + ">", register_call_id_, ++cseq_);
    m.set_header("Contact", contact() + ";+sip.instance=\"<urn:uuid:" + instance_ + ">\";reg-id=1");
    m.add_header("Expires", std::to_string(expires));
    m.add_header("Supported", "path, outbound, gruu");
    auto r = send_authenticated(std::move(m), algorithm, password);
    ++cseq_;
    return r;
  }

  RawSipSocket socket;
  std::optional<Message> last_sent;

 private:
  Line line_;
  std::string host_;
  std::string random_user_ = random_hex(8);
  std::string from_tag_ = random_hex(10);
  std::string instance_ = "00000000-0000-4000-8000-" + random_hex(12);
  std::string register_call_id_ = random_hex(16);
  std::uint32_t cseq_ = 0;
};

// The values of a header in a message (joined views copied to strings).
std::vector<std::string> values(const Message& m, std::string_view name) {
  std::vector<std::string> out;
  for (const auto v : m.header_values(name)) out.emplace_back(v);
  return out;
}

class EngineSip : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(engine.running()) << engine.error(); }

  json metrics() { return http_get(engine.port(), "/_dev/metrics").json_body(); }

  // A registered user agent for `line`.
  std::unique_ptr<RawUa> registered(const Line& line) {
    auto ua = std::make_unique<RawUa>(engine.port(), line);
    EXPECT_TRUE(ua->socket.open()) << ua->socket.error();
    auto r = ua->register_line();
    EXPECT_TRUE(r && r->status() == 200) << (r ? r->summary() : "no answer");
    return ua;
  }

  test::EngineProcess engine;
};

// --- confd: the users' lines ----------------------------------------------------------------------------------------

class EngineLines : public EngineSip {
 protected:
  rest::ApiClient login(const std::string& user, rest::Session* session = nullptr) {
    rest::ApiClient c(rt, rest::ClientOptions{.server = engine.url(), .client_id = "wazo-tests"});
    auto s = c.auth().log_in({.username = user, .password = "secret"}).get();
    EXPECT_TRUE(s) << user << ": " << s.error();
    if (s && session != nullptr) *session = *s;
    return c;
  }

  Runtime rt{RuntimeOptions{.log_sink = [](const LogRecord&) {}, .log_level = LogLevel::off}};
};

TEST_F(EngineLines, AliceReadsHerWebrtcLineFromHerToken) {
  rest::Session alice;
  auto c = login("alice", &alice);
  auto user = c.confd().get_user(alice.uuid).get();
  ASSERT_TRUE(user) << user.error();
  ASSERT_EQ(user->lines.size(), 1U);
  EXPECT_EQ(user->lines[0].id, 1);
  EXPECT_EQ(user->lines[0].endpoint, "sip");
  ASSERT_EQ(user->lines[0].extensions.size(), 1U);
  EXPECT_EQ(user->lines[0].extensions[0].exten, "1001");
  EXPECT_EQ(user->lines[0].extensions[0].context, "default");

  auto lines = c.confd().get_user_line_sip_from_token(alice.uuid).get();
  ASSERT_TRUE(lines) << lines.error();
  ASSERT_EQ(lines->size(), 1U);
  ASSERT_TRUE((*lines)[0].has_value());
  const rest::SipLine& line = *(*lines)[0];
  EXPECT_EQ(line.username, alice_line.username);
  EXPECT_EQ(line.secret, alice_line.password);
  EXPECT_TRUE(line.is_webrtc());
  EXPECT_TRUE(line.has_video());
  EXPECT_FALSE(line.uuid.empty());
  EXPECT_EQ(line.tenant_uuid, alice.tenant_uuid);
  ASSERT_TRUE(line.line.is_object());
  EXPECT_EQ(line.line.value("id", 0), 1);
}

TEST_F(EngineLines, BobCannotReadAlicesEndpointButTheAdminReadsBobs) {
  auto bob = login("bob");
  auto denied = bob.confd().get_user_line_sip(alice_uuid, 1).get();
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().status, 403) << denied.error();
  auto own = bob.confd().get_user_line_sip(bob_uuid, 2).get();
  ASSERT_TRUE(own) << own.error();
  EXPECT_EQ(own->username, bob_line.username);
  auto wrong_line = bob.confd().get_user_line_sip(bob_uuid, 1).get();  // alice's line, not bob's
  ASSERT_FALSE(wrong_line);
  EXPECT_EQ(wrong_line.error().status, 404);

  auto alice = login("alice");  // the tenant admin (confd.#)
  auto bobs = alice.confd().get_user_line_sip(bob_uuid, 2).get();
  ASSERT_TRUE(bobs) << bobs.error();
  EXPECT_EQ(bobs->username, bob_line.username);
  EXPECT_EQ(bobs->secret, bob_line.password);
}

// A small Swagger 2.0 schema check of a response body: declared properties have the declared types (null is
// accepted, as Wazo sends it for unset fields), arrays' items recursively, and the required fields are present.
class SchemaCheck {
 public:
  explicit SchemaCheck(const json& spec) : spec_(spec) {}

  void check(const json& schema, const json& value, const std::string& where, std::vector<std::string>& problems,
             int depth = 0) const {
    if (depth > 12 || value.is_null()) return;
    const json& s = resolve(schema);
    if (s.contains("allOf")) {
      for (const auto& part : s["allOf"]) check(part, value, where, problems, depth + 1);
    }
    const std::string type = s.value("type", s.contains("properties") ? "object" : "");
    if (type == "object" && !value.is_object()) problems.push_back(where + ": not an object");
    if (type == "array") {
      if (!value.is_array()) {
        problems.push_back(where + ": not an array");
        return;
      }
      if (s.contains("minItems") && value.size() < s["minItems"].get<std::size_t>())
        problems.push_back(where + ": too few items");
      if (s.contains("maxItems") && value.size() > s["maxItems"].get<std::size_t>())
        problems.push_back(where + ": too many items");
      if (s.contains("items")) {
        for (std::size_t i = 0; i < value.size(); ++i)
          check(s["items"], value[i], where + "[" + std::to_string(i) + "]", problems, depth + 1);
      }
    }
    if (type == "string" && !value.is_string()) problems.push_back(where + ": not a string");
    if (type == "integer" && !value.is_number_integer()) problems.push_back(where + ": not an integer");
    if (type == "boolean" && !value.is_boolean()) problems.push_back(where + ": not a boolean");
    if (s.contains("enum") && value.is_string()) {
      bool found = false;
      for (const auto& e : s["enum"]) found = found || e == value;
      if (!found) problems.push_back(where + ": not in the enum");
    }
    if (value.is_object()) {
      if (s.contains("properties")) {
        for (const auto& [name, prop] : s["properties"].items()) {
          if (value.contains(name)) check(prop, value[name], where + "." + name, problems, depth + 1);
        }
      }
      if (s.contains("required")) {
        for (const auto& r : s["required"]) {
          if (!value.contains(r.get<std::string>())) problems.push_back(where + ": missing " + r.get<std::string>());
        }
      }
    }
  }

  [[nodiscard]] json definition(const std::string& name) const { return json{{"$ref", "#/definitions/" + name}}; }

 private:
  [[nodiscard]] const json& resolve(const json& node) const {
    const json* n = &node;
    for (int i = 0; i < 8 && n->contains("$ref"); ++i) {
      const std::string ref = (*n)["$ref"].get<std::string>();
      n = &spec_["definitions"][ref.substr(ref.rfind('/') + 1)];
    }
    return *n;
  }
  const json& spec_;
};

TEST_F(EngineLines, LinesAndEndpointsAgreeWithTheConfdSpec) {
  std::string error;
  auto spec = test::SpecIndex::load(test::specs_dir() / "wazo-confd.json", error);
  if (!spec) {
    if (test::on_ci()) FAIL() << error;
    GTEST_SKIP() << error;
  }
  rest::Session alice;
  auto c = login("alice", &alice);
  const SchemaCheck schema(spec->json());

  // The SIP endpoint, both views: the request is the spec's, and so is the body.
  for (const char* view : {"", "?view=merged"}) {
    const std::string query = view;
    const std::string path = std::string("/users/") + alice_uuid + "/lines/1/associated/endpoints/sip";
    const auto problems_req = spec->check(test::make_recorded("GET", "/api/confd/1.1" + path + query));
    EXPECT_TRUE(problems_req.empty()) << problems_req.front();
    const auto res = http_get(engine.port(), "/api/confd/1.1" + path + query, alice.token);
    ASSERT_EQ(res.status, 200) << res.body;
    const json body = res.json_body();
    std::vector<std::string> problems;
    schema.check(schema.definition("EndpointSIP"), body, "EndpointSIP", problems);
    EXPECT_TRUE(problems.empty()) << problems.front();
    json auth = body["auth_section_options"];
    EXPECT_NE(std::find(auth.begin(), auth.end(), json::array({"username", alice_line.username})), auth.end());
    EXPECT_NE(std::find(auth.begin(), auth.end(), json::array({"password", alice_line.password})), auth.end());
    json endpoint = body["endpoint_section_options"];
    EXPECT_NE(std::find(endpoint.begin(), endpoint.end(), json::array({"webrtc", "yes"})), endpoint.end());
    if (!query.empty()) {  // the merged view has the template's codecs
      bool opus_vp8 = false;
      for (const auto& kv : endpoint) {
        if (kv[0] == "allow") {
          const std::string allow = kv[1];
          opus_vp8 = allow.find("opus") != std::string::npos && allow.find("vp8") != std::string::npos;
        }
      }
      EXPECT_TRUE(opus_vp8) << endpoint.dump();
      EXPECT_FALSE(body["aor_section_options"].empty());
    }
  }
  EXPECT_EQ(
      http_get(engine.port(),
               std::string("/api/confd/1.1/users/") + alice_uuid + "/lines/1/associated/endpoints/sip?view=nonsense",
               alice.token)
          .status,
      400);
  // The main line's endpoint is the same.
  const auto main =
      http_get(engine.port(),
               std::string("/api/confd/1.1/users/") + alice_uuid + "/lines/main/associated/endpoints/sip", alice.token);
  ASSERT_EQ(main.status, 200);
  EXPECT_EQ(
      main.json_body()["uuid"],
      http_get(engine.port(), std::string("/api/confd/1.1/users/") + alice_uuid + "/lines/1/associated/endpoints/sip",
               alice.token)
          .json_body()["uuid"]);

  // The user's lines (UserRelationLines) and the line list (LineItems of LineView).
  const auto user = http_get(engine.port(), std::string("/api/confd/1.1/users/") + alice_uuid, alice.token);
  ASSERT_EQ(user.status, 200);
  std::vector<std::string> problems;
  schema.check(schema.definition("User"), user.json_body(), "User", problems);
  EXPECT_TRUE(problems.empty()) << problems.front();
  const json line = user.json_body()["lines"][0];
  EXPECT_EQ(line["id"], 1);
  EXPECT_EQ(line["extensions"][0]["exten"], "1001");
  EXPECT_EQ(line["endpoint_sip"]["auth_section_options"][0], json::array({"username", alice_line.username}));

  const auto list = http_get(engine.port(), std::string("/api/confd/1.1/users/") + alice_uuid + "/lines", alice.token);
  ASSERT_EQ(list.status, 200) << list.body;
  schema.check(schema.definition("LineItems"), list.json_body(), "LineItems", problems);
  EXPECT_TRUE(problems.empty()) << problems.front();
  EXPECT_EQ(list.json_body()["total"], 1);
  EXPECT_EQ(list.json_body()["items"][0]["protocol"], "sip");
  EXPECT_EQ(list.json_body()["items"][0]["context"], "default");

  const auto one = http_get(engine.port(), "/api/confd/1.1/lines/2", alice.token);
  ASSERT_EQ(one.status, 200) << one.body;
  schema.check(schema.definition("LineView"), one.json_body(), "LineView", problems);
  EXPECT_TRUE(problems.empty()) << problems.front();
  EXPECT_EQ(one.json_body()["extensions"][0]["exten"], "1002");
  EXPECT_TRUE(spec->check(test::make_recorded("GET", "/api/confd/1.1/lines/2")).empty());
}

// --- SIP over WebSocket
// -----------------------------------------------------------------------------------------------

TEST_F(EngineSip, UpgradeNeedsTheSipSubprotocolWhichIsEchoed) {
  RawSipSocket without(engine.port(), "");
  EXPECT_FALSE(without.open());
  EXPECT_EQ(upgrade_status(engine.port(), ""), 400);
  EXPECT_EQ(upgrade_status(engine.port(), "chat, superchat"), 400);
  EXPECT_EQ(http_get(engine.port(), "/api/asterisk/ws").status, 426);  // a plain GET
  RawSipSocket with(engine.port(), "sip");
  ASSERT_TRUE(with.open()) << with.error();
  EXPECT_EQ(with.protocol(), "sip");
}

TEST_F(EngineSip, RegisterIsChallengedThenAcceptedWithSha256OrMd5) {
  RawUa alice(engine.port(), alice_line);
  ASSERT_TRUE(alice.socket.open()) << alice.socket.error();
  Message reg = alice.request("REGISTER", std::string("sip:") + domain, "<" + alice.aor() + ">", "reg-1", 1);
  reg.add_header("Expires", "120");
  alice.socket.send(reg);
  auto challenge = alice.socket.next();
  ASSERT_TRUE(challenge);
  ASSERT_EQ(challenge->status(), 401);
  const auto offered = values(*challenge, "WWW-Authenticate");
  ASSERT_EQ(offered.size(), 2U);
  auto first = sip::detail::parse_digest_challenge(offered[0]);
  auto second = sip::detail::parse_digest_challenge(offered[1]);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->algorithm, sip::detail::DigestAlgorithm::sha256);  // RFC 8760: the preferred first
  EXPECT_EQ(second->algorithm, sip::detail::DigestAlgorithm::md5);
  EXPECT_TRUE(first->offers_qop_auth());
  EXPECT_TRUE(challenge->to()->tag().has_value());

  auto ok = alice.register_line(120, "SHA-256");
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status(), 200) << ok->summary();
  auto contacts = ok->contacts();
  ASSERT_TRUE(contacts) << contacts.error();
  ASSERT_EQ(contacts->size(), 1U);
  EXPECT_EQ((*contacts)[0].uri.str(), alice.contact_uri());
  auto expires = (*contacts)[0].params.get("expires");
  ASSERT_TRUE(expires);
  EXPECT_GT(std::stoi(std::string(*expires)), 100);
  EXPECT_LE(std::stoi(std::string(*expires)), 120);
  EXPECT_TRUE(ok->header_lists("Require", "outbound"));
  EXPECT_EQ(metrics()["sip_registrations"], 1);
  EXPECT_EQ(metrics()["sip_connections"], 1);

  // The same binding refreshed with MD5 (same +sip.instance and reg-id): still one.
  auto md5 = alice.register_line(60, "MD5");
  ASSERT_TRUE(md5);
  EXPECT_EQ(md5->status(), 200);
  EXPECT_EQ(metrics()["sip_registrations"], 1);

  // Unregister: expires 0 removes it; the answer lists no contact.
  auto gone = alice.register_line(0);
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status(), 200);
  EXPECT_FALSE(gone->has_header("Contact"));
  EXPECT_EQ(metrics()["sip_registrations"], 0);
}

TEST_F(EngineSip, AWrongPasswordIsRefusedNotAccepted) {
  RawUa alice(engine.port(), alice_line);
  auto r = alice.register_line(120, {}, "not-the-password");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->status() == 401 || r->status() == 403) << r->summary();
  EXPECT_EQ(metrics()["sip_registrations"], 0);
  // Someone else's credentials for alice's AOR are refused too.
  RawUa mallory(engine.port(), Line{alice_line.username, bob_line.password, ""});
  auto m = mallory.register_line(120);
  ASSERT_TRUE(m);
  EXPECT_NE(m->status(), 200);
}

TEST_F(EngineSip, ExpiresBelowTheMinimumIsTooBrief) {
  RawUa alice(engine.port(), alice_line);
  auto r = alice.register_line(1);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status(), 423);
  EXPECT_TRUE(r->has_header("Min-Expires"));
}

TEST_F(EngineSip, InviteToAnExtensionReachesBobAndTheDialogIsRoutedInBothDirections) {
  auto alice = registered(alice_line);
  auto bob = registered(bob_line);
  const std::string sdp_offer =
      "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
      "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n";
  const std::string sdp_answer =
      "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
      "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n";
  const std::string call_id = random_hex(20);
  Message invite =
      alice->request("INVITE", std::string("sip:1002@") + domain, std::string("<sip:1002@") + domain + ">", call_id, 1);
  invite.set_body(sdp_offer, "application/sdp");

  // 407 first; then the authenticated INVITE arrives at bob.
  alice->socket.send(invite);
  auto challenged = alice->socket.next();
  ASSERT_TRUE(challenged);
  ASSERT_EQ(challenged->status(), 407);
  // Answer the challenge (what send_authenticated does, without waiting for the final answer here).
  auto challenge = sip::detail::select_digest_challenge(challenged->header_values("Proxy-Authenticate"));
  ASSERT_TRUE(challenge);
  sip::detail::DigestClient digest;
  auto credentials =
      digest.authorize(*challenge, alice_line.username, alice_line.password, "INVITE", invite.request_uri().str());
  ASSERT_TRUE(credentials);
  invite.add_header("Proxy-Authorization", *credentials);
  invite.set_header("CSeq", "2 INVITE");
  invite.set_header("Via", "SIP/2.0/WS alice.invalid;branch=z9hG4bK" + random_hex(16));
  alice->socket.send(invite);
  auto trying = alice->socket.next(false);
  ASSERT_TRUE(trying);
  EXPECT_EQ(trying->status(), 100);

  auto incoming = bob->socket.next();
  ASSERT_TRUE(incoming);
  ASSERT_TRUE(incoming->is_request());
  EXPECT_EQ(incoming->method(), "INVITE");
  EXPECT_EQ(incoming->request_uri().str(), bob->contact_uri());  // retargeted to bob's binding
  auto vias = incoming->vias();
  ASSERT_TRUE(vias) << vias.error();
  ASSERT_EQ(vias->size(), 2U);
  EXPECT_EQ((*vias)[0].host, "127.0.0.1");  // the engine's
  EXPECT_EQ((*vias)[0].port, engine.port());
  EXPECT_EQ((*vias)[0].branch().substr(0, 7), "z9hG4bK");
  EXPECT_EQ((*vias)[1].host, "alice.invalid");
  auto rr = incoming->record_routes();
  ASSERT_TRUE(rr) << rr.error();
  ASSERT_EQ(rr->size(), 1U);
  EXPECT_EQ((*rr)[0].uri.host, "127.0.0.1");
  EXPECT_TRUE((*rr)[0].uri.params.has("lr"));
  EXPECT_EQ(incoming->max_forwards().value_or(0), 69U);
  EXPECT_EQ(incoming->body(), sdp_offer);                     // untouched
  EXPECT_FALSE(incoming->has_header("Proxy-Authorization"));  // consumed by the engine

  // bob rings, then answers; both reach alice with only her Via.
  bob->socket.send(bob->answer(*incoming, 180));
  auto ringing = alice->socket.next();
  ASSERT_TRUE(ringing);
  EXPECT_EQ(ringing->status(), 180);
  EXPECT_EQ(values(*ringing, "Via").size(), 1U);
  bob->socket.send(bob->answer(*incoming, 200, sdp_answer));
  auto ok = alice->socket.next();
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status(), 200);
  EXPECT_EQ(ok->body(), sdp_answer);
  EXPECT_EQ(values(*ok, "Via").size(), 1U);
  auto ok_rr = ok->record_routes();
  ASSERT_TRUE(ok_rr);
  ASSERT_EQ(ok_rr->size(), 1U);
  auto bob_contact = ok->contacts();
  ASSERT_TRUE(bob_contact);
  ASSERT_EQ(bob_contact->size(), 1U);
  const std::string to_with_tag(*ok->header("To"));

  // In-dialog from alice: ACK then BYE, to bob's Contact through the engine's Record-Route.
  auto in_dialog = [&](const std::string& method, std::uint32_t cseq) {
    Message m = alice->request(method, (*bob_contact)[0].uri.str(), to_with_tag, call_id, cseq);
    m.add_header("Route", (*ok_rr)[0].str());
    return m;
  };
  alice->socket.send(in_dialog("ACK", 2));
  auto ack = bob->socket.next();
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->method(), "ACK");
  EXPECT_FALSE(ack->has_header("Route"));  // the engine popped its own
  EXPECT_EQ(values(*ack, "Via").size(), 2U);

  // bob → alice in-dialog (MESSAGE), routed by alice's Contact.
  Message dlg_message = Message::request("MESSAGE", *Uri::parse(alice->contact_uri()));
  dlg_message.add_header("Via", "SIP/2.0/WS bob.invalid;branch=z9hG4bK" + random_hex(16));
  dlg_message.add_header("Max-Forwards", "70");
  dlg_message.add_header("Route", (*rr)[0].str());
  dlg_message.add_header("From", to_with_tag);
  dlg_message.add_header("To", std::string(*incoming->header("From")));
  dlg_message.add_header("Call-ID", call_id);
  dlg_message.add_header("CSeq", "1 MESSAGE");
  dlg_message.set_body("hi alice", "text/plain");
  bob->socket.send(dlg_message);
  auto got_message = alice->socket.next();
  ASSERT_TRUE(got_message);
  ASSERT_TRUE(got_message->is_request());
  EXPECT_EQ(got_message->method(), "MESSAGE");
  EXPECT_EQ(got_message->body(), "hi alice");
  alice->socket.send(alice->answer(*got_message, 200));
  auto message_ok = bob->socket.next();
  ASSERT_TRUE(message_ok);
  EXPECT_EQ(message_ok->status(), 200);

  alice->socket.send(in_dialog("BYE", 3));
  auto bye = bob->socket.next();
  ASSERT_TRUE(bye);
  EXPECT_EQ(bye->method(), "BYE");
  bob->socket.send(bob->answer(*bye, 200));
  auto bye_ok = alice->socket.next();
  ASSERT_TRUE(bye_ok);
  EXPECT_EQ(bye_ok->status(), 200);
  EXPECT_EQ(bye_ok->cseq()->method, "BYE");
}

TEST_F(EngineSip, CancelIsForwardedToTheSameBranch) {
  auto alice = registered(alice_line);
  auto bob = registered(bob_line);
  Message invite = alice->request("INVITE", std::string("sip:") + bob_line.username + "@" + domain,
                                  "<sip:" + bob_line.username + "@" + domain + ">", random_hex(20), 1);
  auto first =
      alice->send_authenticated(invite, {}, {}, 300ms);  // 407 answered; the INVITE is now at bob, nothing final yet
  ASSERT_FALSE(first.has_value()) << first->summary();
  auto incoming = bob->socket.next();
  ASSERT_TRUE(incoming);
  bob->socket.send(bob->answer(*incoming, 180));
  auto ringing = alice->socket.next();
  ASSERT_TRUE(ringing);
  EXPECT_EQ(ringing->status(), 180);

  const Message& sent = *alice->last_sent;
  Message cancel = Message::request("CANCEL", sent.request_uri());
  cancel.add_header("Via", std::string(sent.header_values("Via").front()));
  cancel.add_header("Max-Forwards", "70");
  cancel.add_header("From", std::string(*sent.header("From")));
  cancel.add_header("To", std::string(*sent.header("To")));
  cancel.add_header("Call-ID", std::string(sent.call_id()));
  cancel.add_header("CSeq", std::to_string(sent.cseq()->number) + " CANCEL");
  alice->socket.send(cancel);
  auto cancel_ok = alice->socket.next();
  ASSERT_TRUE(cancel_ok);
  EXPECT_EQ(cancel_ok->status(), 200);
  EXPECT_EQ(cancel_ok->cseq()->method, "CANCEL");

  auto cancel_at_bob = bob->socket.next();
  ASSERT_TRUE(cancel_at_bob);
  EXPECT_EQ(cancel_at_bob->method(), "CANCEL");
  EXPECT_EQ(cancel_at_bob->top_via()->branch(), incoming->top_via()->branch());
  bob->socket.send(bob->answer(*cancel_at_bob, 200));
  bob->socket.send(bob->answer(*incoming, 487));
  auto terminated = alice->socket.next();
  ASSERT_TRUE(terminated);
  EXPECT_EQ(terminated->status(), 487);  // the CANCEL's 200 from bob was absorbed by the engine
}

TEST_F(EngineSip, MessageOutOfDialogAndTheUsualRefusals) {
  auto alice = registered(alice_line);
  auto bob = registered(bob_line);

  Message message = alice->request("MESSAGE", "sip:" + bob_line.username + "@" + domain,
                                   "<sip:" + bob_line.username + "@" + domain + ">", random_hex(20), 1);
  message.set_body("hello bob", "text/plain");
  alice->socket.send(message);
  auto challenged = alice->socket.next();
  ASSERT_TRUE(challenged);
  EXPECT_EQ(challenged->status(), 407);
  auto sent = alice->send_authenticated(message, {}, {}, 300ms);
  EXPECT_FALSE(sent.has_value());  // no answer yet: it is at bob
  auto at_bob = bob->socket.next();
  ASSERT_TRUE(at_bob);
  EXPECT_EQ(at_bob->method(), "MESSAGE");
  EXPECT_EQ(at_bob->body(), "hello bob");
  EXPECT_FALSE(at_bob->has_header("Record-Route"));  // not a dialog
  bob->socket.send(bob->answer(*at_bob, 200));
  auto ok = alice->socket.next();
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status(), 200);

  // Unknown user: 404. A user without a binding (carol): 480.
  auto unknown = alice->send_authenticated(
      alice->request("MESSAGE", std::string("sip:nobody@") + domain, "<sip:nobody@wazo.local>", random_hex(20), 1));
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status(), 404);
  auto offline = alice->send_authenticated(
      alice->request("INVITE", std::string("sip:1003@") + domain, "<sip:1003@wazo.local>", random_hex(20), 1));
  ASSERT_TRUE(offline);
  EXPECT_EQ(offline->status(), 480);

  // Max-Forwards 0: 483. OPTIONS to the engine itself: 200 without authentication.
  Message hops =
      alice->request("OPTIONS", "sip:" + bob_line.username + "@" + domain, "<sip:x@wazo.local>", random_hex(20), 1);
  hops.set_header("Max-Forwards", "0");
  alice->socket.send(hops);
  auto too_many = alice->socket.next();
  ASSERT_TRUE(too_many);
  EXPECT_EQ(too_many->status(), 483);
  alice->socket.send(
      alice->request("OPTIONS", std::string("sip:") + domain, std::string("<sip:") + domain + ">", random_hex(20), 1));
  auto heartbeat = alice->socket.next();
  ASSERT_TRUE(heartbeat);
  EXPECT_EQ(heartbeat->status(), 200);
}

TEST_F(EngineSip, GarbageAndOversizeFramesDoNotKillTheConnection) {
  RawUa alice(engine.port(), alice_line);
  ASSERT_TRUE(alice.socket.open());
  // A request that does not parse (its Content-Length is wrong) but has a Via: 400, with its Via and Call-ID.
  alice.socket.send(
      "INVITE sip:bob@wazo.local SIP/2.0\r\nVia: SIP/2.0/WS x.invalid;branch=z9hG4bKgarbage\r\nCall-ID: g1\r\n"
      "From: <sip:x@x.invalid>;tag=1\r\nTo: <sip:bob@wazo.local>\r\n"
      "CSeq: 1 INVITE\r\nContent-Length: 5\r\n\r\nab");
  auto bad = alice.socket.next();
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status(), 400);
  EXPECT_EQ(bad->call_id(), "g1");
  alice.socket.send("\x01\x02 not SIP at all");
  alice.socket.send(std::string(100 * 1024, 'A'));  // over the 64 KiB frame limit: dropped
  alice.socket.send("\r\n\r\n");                    // a CRLF keep-alive ping gets a CRLF pong
  auto pong = alice.socket.next_frame();
  ASSERT_TRUE(pong);
  EXPECT_EQ(*pong, "\r\n");
  // Still up: a registration works.
  auto r = alice.register_line(120);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status(), 200);
  EXPECT_FALSE(alice.socket.closed());
  const json m = metrics();
  EXPECT_GE(m["sip"]["parse_errors"].get<int>(), 2);
}

TEST_F(EngineSip, TheRegistrationDiesWithItsConnection) {
  auto alice = registered(alice_line);
  {
    auto bob = registered(bob_line);
    EXPECT_EQ(metrics()["sip_registrations"], 2);
    bob->socket.close();
  }
  // The engine notices the close promptly; poll its metrics a bounded number of times.
  int left = -1;
  for (int i = 0; i < 100 && left != 1; ++i) {
    left = metrics()["sip_registrations"].get<int>();
    if (left != 1) std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(left, 1);
  EXPECT_EQ(metrics()["sip_connections"], 1);
  auto offline = alice->send_authenticated(
      alice->request("INVITE", std::string("sip:1002@") + domain, "<sip:1002@wazo.local>", random_hex(20), 1));
  ASSERT_TRUE(offline);
  EXPECT_EQ(offline->status(), 480);
}

}  // namespace
}  // namespace wazo
