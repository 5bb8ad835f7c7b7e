// wazo-dev-engine's own behaviour over real loopback sockets: bounded input, Wazo-shaped errors, ACLs, seeds, exit.
#include <fstream>

#include <sys/wait.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine_process.hpp"
#include "http/transport.hpp"

namespace wazo {
namespace {

using nlohmann::json;

class Engine : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(engine.running()) << engine.error(); }

  http::Response send(std::string method, const std::string& path, std::string body = {}, http::Headers headers = {}) {
    headers.emplace_back("Content-Type", "application/json");
    auto r = transport
                 .send({.method = std::move(method),
                        .url = engine.url() + path,
                        .headers = std::move(headers),
                        .body = std::move(body)})
                 .get();
    EXPECT_TRUE(r) << r.error();
    return r ? *r : http::Response{};
  }
  std::string login(const std::string& user) {
    auto r = send("POST", "/api/auth/0.1/token", R"({"expiration": 60})",
                  {{"Authorization", user == "alice" ? "Basic YWxpY2U6c2VjcmV0" : "Basic Ym9iOnNlY3JldA=="}});
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false).value("/data/token"_json_pointer, "");
  }

  Runtime rt{RuntimeOptions{.log_sink = [](const LogRecord&) {}, .log_level = LogLevel::off}};
  http::Transport transport{rt, {}};
  test::EngineProcess engine;
};

TEST_F(Engine, TokenErrorsHaveWazoAuthsShape) {
  auto r = send("POST", "/api/auth/0.1/token", "{}", {{"Authorization", "Basic YWxpY2U6d3Jvbmc="}});
  EXPECT_EQ(r.status, 401);
  auto body = json::parse(r.body);
  ASSERT_TRUE(body["reason"].is_array()) << r.body;
  ASSERT_TRUE(body["timestamp"].is_array()) << r.body;
  EXPECT_EQ(body["status_code"], 401);

  r = send("GET", "/api/auth/0.1/token/00000000-0000-4000-8000-000000000000");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json::parse(r.body)["reason"][0], "No such token");
}

TEST_F(Engine, BadBodiesAreRefusedWithA400) {
  auto r = send("POST", "/api/auth/0.1/token", "{not json", {{"Authorization", "Basic YWxpY2U6c2VjcmV0"}});
  EXPECT_EQ(r.status, 400);
  r = send("POST", "/api/auth/0.1/token", R"({"expiration": 0})", {{"Authorization", "Basic YWxpY2U6c2VjcmV0"}});
  EXPECT_EQ(r.status, 400);
  r = send("POST", "/api/auth/0.1/token", R"({"access_type": "offline"})",
           {{"Authorization", "Basic YWxpY2U6c2VjcmV0"}});
  EXPECT_EQ(r.status, 400);  // offline needs a client id
  const std::string token = login("alice");
  r = send("POST", "/api/auth/0.1/users", R"(["a list"])", {{"X-Auth-Token", token}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error_id"], "invalid-data");
}

TEST_F(Engine, OversizeBodyIs413AndTheEngineCarriesOn) {
  const std::string token = login("alice");
  auto r = send("POST", "/api/auth/0.1/users", std::string(2 * 1024 * 1024, 'x'), {{"X-Auth-Token", token}});
  EXPECT_EQ(r.status, 413);
  r = send("GET", "/api/auth/0.1/users", {}, {{"X-Auth-Token", token}});
  EXPECT_EQ(r.status, 200);
}

TEST_F(Engine, OversizeHeaderIs431) {
  auto r = send("GET", "/api/auth/0.1/backends", {}, {{"X-Padding", std::string(64 * 1024, 'p')}});
  EXPECT_EQ(r.status, 431);
  EXPECT_EQ(send("GET", "/api/auth/0.1/backends").status, 200);
}

TEST_F(Engine, MissingAndExpiredTokensAre401MissingPermissionIs403) {
  auto r = send("GET", "/api/auth/0.1/users");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(json::parse(r.body)["error_id"], "unauthorized");
  const std::string bob = login("bob");
  r = send("GET", "/api/auth/0.1/users", {}, {{"X-Auth-Token", bob}});  // bob is a plain user
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(json::parse(r.body)["details"]["required_access"], "auth.users.read");
  r = send("GET", "/api/auth/0.1/users/b0b00000-0000-4000-8000-000000000002", {}, {{"X-Auth-Token", bob}});
  EXPECT_EQ(r.status, 200);  // auth.users.me.read
  r = send("GET", "/api/auth/0.1/users/a11ce000-0000-4000-8000-000000000001", {}, {{"X-Auth-Token", bob}});
  EXPECT_EQ(r.status, 403);  // not alice's
}

TEST_F(Engine, UnknownRoutesAndMethods) {
  EXPECT_EQ(send("GET", "/api/auth/0.1/no-such-thing").status, 404);
  EXPECT_EQ(send("PATCH", "/api/auth/0.1/backends").status, 405);
}

TEST_F(Engine, ListsPaginateAndSearch) {
  const std::string token = login("alice");
  auto r = send("GET", "/api/auth/0.1/users?search=bo&limit=10&offset=0", {}, {{"X-Auth-Token", token}});
  ASSERT_EQ(r.status, 200);
  auto body = json::parse(r.body);
  EXPECT_EQ(body["total"], 3);
  EXPECT_EQ(body["filtered"], 1);
  ASSERT_EQ(body["items"].size(), 1U);
  EXPECT_EQ(body["items"][0]["username"], "bob");
  r = send("GET", "/api/auth/0.1/users?order=username&direction=desc&limit=1&offset=1", {}, {{"X-Auth-Token", token}});
  body = json::parse(r.body);
  ASSERT_EQ(body["items"].size(), 1U);
  EXPECT_EQ(body["items"][0]["username"], "bob");  // carol, bob, alice
}

TEST(EngineProcessTest, ACustomSeedIsLoaded) {
  test::TempDir dir;
  std::ofstream(dir.file("seed.json")) << R"({"tenants": [{"name": "acme"}],
    "users": [{"username": "zoe", "password": "pw"}]})";
  test::EngineProcess engine({"--seed", dir.file("seed.json")});
  ASSERT_TRUE(engine.running()) << engine.error();
  Runtime rt{RuntimeOptions{.log_sink = [](const LogRecord&) {}, .log_level = LogLevel::off}};
  http::Transport t(rt, {});
  auto ok = t.send({.method = "POST",
                    .url = engine.url() + "/api/auth/0.1/token",
                    .headers = {{"Authorization", "Basic em9lOnB3"}, {"Content-Type", "application/json"}},
                    .body = "{}"})
                .get();
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  auto alice = t.send({.method = "POST",
                       .url = engine.url() + "/api/auth/0.1/token",
                       .headers = {{"Authorization", "Basic YWxpY2U6c2VjcmV0"}, {"Content-Type", "application/json"}},
                       .body = "{}"})
                   .get();
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->status, 401);  // not in this seed
}

TEST(EngineProcessTest, AMalformedSeedIsRefusedWithAMessage) {
  test::TempDir dir;
  std::ofstream(dir.file("seed.json")) << R"({"tenants": "not a list"})";
  test::EngineProcess engine({"--seed", dir.file("seed.json")});
  EXPECT_FALSE(engine.running());
}

TEST(EngineProcessTest, SigtermExitsCleanly) {
  test::EngineProcess engine;
  ASSERT_TRUE(engine.running()) << engine.error();
  const int status = engine.stop();  // SIGTERM first
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace wazo
