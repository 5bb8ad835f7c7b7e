// The `wazo` command-line client, run as a real process against a real wazo-dev-engine process over loopback.
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "child_process.hpp"
#include "engine_process.hpp"
#include "http/transport.hpp"
#include "wazo/rest/api_client.hpp"
#include "wazo/rest/auth.hpp"

namespace wazo::cli {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

using Outcome = test::ProcessOutcome;
using test::run_process;

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(WAZO_CLI_PATH)) << "no wazo binary at '" << WAZO_CLI_PATH << "'";
    ASSERT_TRUE(engine.running()) << engine.error();
  }

  Outcome wazo(const std::vector<std::string>& args, const std::string& input = {}) {
    return run_process(WAZO_CLI_PATH, args, {"WAZO_SESSION_FILE=" + session_file}, input);
  }

  Outcome login(const std::string& user = "alice", const std::string& password = "secret") {
    Outcome r = wazo({"--host", engine.url(), "login", user, password});
    EXPECT_EQ(r.code, 0) << r.err;
    return r;
  }

  Json saved() {
    std::ifstream in(session_file);
    return Json::parse(in, nullptr, /*allow_exceptions=*/false);
  }

  // Whether the engine still accepts `token`, asked through the SDK.
  bool token_valid(const std::string& token) {
    Runtime rt{RuntimeOptions{.log_sink = [](const LogRecord&) {}, .log_level = LogLevel::off}};
    rest::ApiClient client(rt, rest::ClientOptions{.server = engine.url()});
    auto r = client.auth().check_token(token).get();
    return r && *r;
  }

  static void expect_one_error_line(const Outcome& r, const std::string& prefix) {
    const auto l = lines(r.err);
    ASSERT_EQ(l.size(), 1U) << r.err;
    EXPECT_EQ(l[0].rfind(prefix, 0), 0U) << l[0];
  }

  test::TempDir dir;
  std::string session_file = dir.file("config/wazo/session.json");  // its directories do not exist yet
  test::EngineProcess engine;
};

TEST_F(Cli, LoginSavesAPrivateSession) {
  Outcome r = login();
  EXPECT_NE(r.out.find("logged in as alice (uuid "), std::string::npos) << r.out;
  EXPECT_TRUE(r.err.empty()) << r.err;

  struct stat st {};
  ASSERT_EQ(stat(session_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
  ASSERT_EQ(stat(dir.file("config/wazo").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700U);

  Json s = saved();
  ASSERT_TRUE(s.is_object());
  const auto token = s.value("token", "");
  EXPECT_FALSE(token.empty());
  EXPECT_FALSE(s.value("refresh_token", "").empty());  // client id wazo-cli asks for one
  EXPECT_EQ(s.value("client_id", ""), "wazo-cli");
  EXPECT_EQ(s.value("host", ""), engine.url());
  EXPECT_EQ(s.value("username", ""), "alice");
  EXPECT_FALSE(s.value("uuid", "").empty());
  EXPECT_NE(r.out.find(s.value("uuid", "")), std::string::npos);
  EXPECT_NE(r.out.find(s.value("tenant_uuid", "")), std::string::npos);
  EXPECT_EQ(r.out.find(token), std::string::npos);  // the token stays in the file
  EXPECT_TRUE(token_valid(token));
  // No temporary file left next to it.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.file("config/wazo")), {}), 1);
}

TEST_F(Cli, LoginAsJsonLeavesTheTokensOut) {
  Outcome r = wazo({"--host", engine.url(), "--json", "login", "alice", "secret"});
  ASSERT_EQ(r.code, 0) << r.err;
  Json j = Json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_EQ(j.value("username", ""), "alice");
  EXPECT_EQ(j.value("uuid", ""), saved().value("uuid", "?"));
  EXPECT_EQ(r.out.find(saved().value("token", "?")), std::string::npos);
  EXPECT_EQ(r.out.find(saved().value("refresh_token", "?")), std::string::npos);
}

TEST_F(Cli, LoginReadsThePasswordFromStandardInput) {
  Outcome r = wazo({"--host", engine.url(), "login", "bob", "-"}, "secret\n");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("logged in as bob"), std::string::npos) << r.out;
}

TEST_F(Cli, WhoamiPrintsTheUser) {
  login();
  const auto uuid = saved().value("uuid", "?");
  Outcome r = wazo({"whoami"});  // no --host: it comes from the session file
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("alice (uuid " + uuid + ", tenant ", 0), 0U) << r.out;
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST_F(Cli, WhoamiAsJson) {
  login();
  Outcome r = wazo({"--json", "whoami"});
  ASSERT_EQ(r.code, 0) << r.err;
  Json j = Json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_EQ(j.value("uuid", ""), saved().value("uuid", "?"));
  EXPECT_EQ(j.value("username", ""), "alice");
  EXPECT_EQ(j.value("tenant_uuid", ""), saved().value("tenant_uuid", "?"));
  EXPECT_FALSE(j.value("expires_at", "").empty());
}

TEST_F(Cli, ApiGetsAUser) {
  login();
  const auto uuid = saved().value("uuid", "?");
  Outcome r = wazo({"api", "GET", "/api/auth/0.1/users/" + uuid});
  ASSERT_EQ(r.code, 0) << r.err;
  Json j = Json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_EQ(j.value("username", ""), "alice");
  EXPECT_EQ(j.value("uuid", ""), uuid);
  EXPECT_GT(lines(r.out).size(), 1U);  // pretty-printed

  Outcome compact = wazo({"--json", "api", "get", "auth/0.1/users/" + uuid});
  ASSERT_EQ(compact.code, 0) << compact.err;
  EXPECT_EQ(lines(compact.out).size(), 1U) << compact.out;
  EXPECT_EQ(Json::parse(compact.out, nullptr, false), j);
}

TEST_F(Cli, ApiErrorIsOneLine) {
  login();
  Outcome r = wazo({"api", "GET", "/api/auth/0.1/users/00000000-0000-0000-0000-000000000000"});
  EXPECT_EQ(r.code, 1);
  expect_one_error_line(r, "wazo: error: 404");
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST_F(Cli, ApiWithInvalidJsonIsAUsageError) {
  login();
  Outcome r = wazo({"api", "POST", "/api/auth/0.1/users", "{not json"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("usage:"), std::string::npos) << r.err;
  Outcome bad_method = wazo({"api", "FETCH", "/api/auth/0.1/users"});
  EXPECT_EQ(bad_method.code, 2);
  Outcome missing = wazo({"api", "GET"});
  EXPECT_EQ(missing.code, 2);
}

TEST_F(Cli, WrongPasswordFailsWithOneLine) {
  const std::string password = "not-the-password-42";
  Outcome r = wazo({"--host", engine.url(), "login", "alice", password});
  EXPECT_EQ(r.code, 1);
  expect_one_error_line(r, "wazo: error: 401");
  EXPECT_EQ(r.err.find(password), std::string::npos);
  EXPECT_EQ(r.out.find(password), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(session_file));

  Outcome verbose = wazo({"--verbose", "--host", engine.url(), "login", "alice", password});
  EXPECT_EQ(verbose.code, 1);
  EXPECT_EQ(verbose.err.find(password), std::string::npos) << verbose.err;
}

TEST_F(Cli, VerboseLogsNoSecret) {
  login();
  const Json s = saved();
  Outcome r = wazo({"--verbose", "whoami"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err.find(s.value("token", "?")), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(s.value("refresh_token", "?")), std::string::npos) << r.err;
}

TEST_F(Cli, WhoamiWithoutSessionFails) {
  Outcome r = wazo({"whoami"});
  EXPECT_EQ(r.code, 1);
  expect_one_error_line(r, "wazo: error: not logged in");
  Outcome api = wazo({"api", "GET", "/api/auth/0.1/users"});
  EXPECT_EQ(api.code, 1);
  Outcome logout = wazo({"logout"});
  EXPECT_EQ(logout.code, 1);
}

TEST_F(Cli, LogoutRevokesAndForgetsTheSession) {
  login();
  const auto token = saved().value("token", "");
  Outcome r = wazo({"logout"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "logged out\n");
  EXPECT_FALSE(std::filesystem::exists(session_file));
  EXPECT_FALSE(token_valid(token));

  Outcome after = wazo({"whoami"});
  EXPECT_EQ(after.code, 1);
  expect_one_error_line(after, "wazo: error: not logged in");
}

TEST_F(Cli, ExpiredTokenIsRefreshed) {
  Outcome r = wazo({"--host", engine.url(), "login", "alice", "secret", "--expiration", "1"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto before = saved().value("token", "");
  std::this_thread::sleep_for(1500ms);
  ASSERT_FALSE(token_valid(before));  // really expired

  Outcome who = wazo({"whoami"});
  ASSERT_EQ(who.code, 0) << who.err;
  EXPECT_EQ(who.out.rfind("alice (uuid ", 0), 0U) << who.out;
  const auto after = saved().value("token", "");
  EXPECT_FALSE(after.empty());
  EXPECT_NE(after, before);
  EXPECT_TRUE(token_valid(after));

  struct stat st {};
  ASSERT_EQ(stat(session_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600U);
}

TEST_F(Cli, TheTokenGoesOnlyToItsServer) {
  login();
  const std::string other = "http://127.0.0.1:1";  // nothing listens there, and nothing is sent there
  Outcome who = wazo({"--host", other, "whoami"});
  EXPECT_EQ(who.code, 1);
  expect_one_error_line(who, "wazo: error: logged in to " + engine.url());
  Outcome api = wazo({"--host", other, "api", "GET", "/api/auth/0.1/users"});
  EXPECT_EQ(api.code, 1);
  expect_one_error_line(api, "wazo: error: logged in to " + engine.url());
  Outcome same = wazo({"--host", engine.url() + "/", "whoami"});
  EXPECT_EQ(same.code, 0) << same.err;
}

TEST_F(Cli, UsageErrors) {
  Outcome unknown = wazo({"frobnicate"});
  EXPECT_EQ(unknown.code, 2);
  EXPECT_NE(unknown.err.find("usage:"), std::string::npos) << unknown.err;
  EXPECT_EQ(wazo({"--no-such-option", "whoami"}).code, 2);
  EXPECT_EQ(wazo({}).code, 2);
  EXPECT_EQ(wazo({"--host"}).code, 2);
  EXPECT_EQ(wazo({"--timeout", "soon", "whoami"}).code, 2);
  EXPECT_EQ(wazo({"--host", engine.url(), "login", "alice"}).code, 2);
  EXPECT_EQ(wazo({"login", "alice", "secret"}).code, 2);  // no host anywhere
  EXPECT_EQ(wazo({"--host", engine.url(), "login", "alice", "secret", "--expiration", "-5"}).code, 2);
  EXPECT_FALSE(std::filesystem::exists(session_file));

  Outcome help = wazo({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("login USER PASSWORD"), std::string::npos);
  EXPECT_EQ(wazo({"--version"}).code, 0);
}

TEST_F(Cli, StoppedEngineIsATransportError) {
  login();
  engine.stop();
  Outcome r = wazo({"--timeout", "3", "whoami"});
  EXPECT_EQ(r.code, 1);
  expect_one_error_line(r, "wazo: error: transport");
  EXPECT_TRUE(std::filesystem::exists(session_file));  // still logged in, for when the server is back
}

TEST_F(Cli, TlsWithPrivateCa) {
  const std::string ca = dir.file("ca.pem");
  test::EngineProcess tls{{"--tls", "--tls-ca-out", ca}};
  ASSERT_TRUE(tls.running()) << tls.error();

  Outcome untrusted = wazo({"--host", tls.url(), "login", "alice", "secret"});
  EXPECT_EQ(untrusted.code, 1);
  expect_one_error_line(untrusted, "wazo: error: transport");

  Outcome trusted = wazo({"--host", tls.url(), "--ca", ca, "login", "alice", "secret"});
  ASSERT_EQ(trusted.code, 0) << trusted.err;
  EXPECT_EQ(saved().value("ca_file", ""), ca);
  Outcome who = wazo({"whoami"});  // the CA was saved with the session
  EXPECT_EQ(who.code, 0) << who.err;

  Outcome insecure = wazo({"--host", tls.url(), "--insecure", "login", "bob", "secret"});
  EXPECT_EQ(insecure.code, 0) << insecure.err;
}

}  // namespace
}  // namespace wazo::cli

namespace wazo::cli {
namespace {

// `wazo events` as bob in the background while alice uses `presence`, `chat` and `dnd`: what bob prints live.
TEST_F(Cli, EventsShowPresenceAndChatLive) {
  login("alice");
  const std::string bob_file = session_file + ".bob";
  auto bob = [&](const std::vector<std::string>& args) {
    return run_process(WAZO_CLI_PATH, args, {"WAZO_SESSION_FILE=" + bob_file}, {});
  };
  ASSERT_EQ(bob({"--host", engine.url(), "login", "bob", "secret"}).code, 0);

  Outcome events;
  std::thread listener([&] {
    events = bob({"--json", "events", "--count", "2", "chatd_presence_updated", "chatd_user_room_message_created"});
  });
  // Wait until bob's event connection is up (the engine counts open websockets).
  Runtime rt{RuntimeOptions{.log_sink = [](const LogRecord&) {}, .log_level = LogLevel::off}};
  http::Transport t(rt, {});
  bool connected = false;
  for (int i = 0; i < 100 && !connected; ++i) {
    auto m = t.send({.url = engine.url() + "/_dev/metrics"}).get();
    connected = m && Json::parse(m->body, nullptr, false).value("websockets", 0) >= 1;
    if (!connected) std::this_thread::sleep_for(100ms);
  }
  std::this_thread::sleep_for(200ms);  // subscribe + start
  ASSERT_TRUE(connected);

  Outcome presence = wazo({"presence", "set", "away", "in a meeting"});
  EXPECT_EQ(presence.code, 0) << presence.err;
  EXPECT_NE(presence.out.find("away"), std::string::npos);
  Outcome chat = wazo({"chat", "send", "bob", "hello bob"});
  EXPECT_EQ(chat.code, 0) << chat.err;
  listener.join();

  ASSERT_EQ(events.code, 0) << events.err;
  auto got = lines(events.out);
  ASSERT_EQ(got.size(), 2U) << events.out;
  auto first = Json::parse(got[0], nullptr, false);
  auto second = Json::parse(got[1], nullptr, false);
  EXPECT_EQ(first["name"], "chatd_presence_updated");
  EXPECT_EQ(first["data"]["state"], "away");
  EXPECT_EQ(first["data"]["status"], "in a meeting");
  EXPECT_EQ(second["name"], "chatd_user_room_message_created");
  EXPECT_EQ(second["data"]["content"], "hello bob");
}

TEST_F(Cli, DndAndPresenceUsage) {
  login("alice");
  Outcome on = wazo({"--json", "dnd", "on"});
  EXPECT_EQ(on.code, 0) << on.err;
  EXPECT_EQ(Json::parse(on.out, nullptr, false)["dnd"], true);
  EXPECT_EQ(wazo({"dnd", "maybe"}).code, 2);
  EXPECT_EQ(wazo({"presence", "set", "sleepy"}).code, 2);
  EXPECT_EQ(wazo({"chat", "send", "nobody-by-that-name", "hi"}).code, 1);
  EXPECT_EQ(wazo({"events", "--count", "zero"}).code, 2);
}

}  // namespace
}  // namespace wazo::cli
