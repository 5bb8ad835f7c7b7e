// The ApiRequester rules (study §2.2), checked on what really crosses a loopback socket.
#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "recording_server.hpp"
#include "wazo/rest/api_client.hpp"
#include "wazo/rest/auth.hpp"

namespace wazo::rest {
namespace {

using test::RecordedRequest;
using test::RecordingServer;
using test::Reply;

std::string token_body(const std::string& token) {
  return R"({"data":{"token":")" + token +
         R"(","session_uuid":"s","utc_expires_at":"2030-01-01T00:00:00+00:00","metadata":{"uuid":"u","tenant_uuid":"t"}}})";
}

class Requester : public ::testing::Test {
 protected:
  Runtime rt{RuntimeOptions{.log_sink = [](const LogRecord&) {}, .log_level = LogLevel::off}};
  RecordingServer server;
  ApiClient client{rt, ClientOptions{.server = server.url()}};
};

TEST_F(Requester, BaseUrlAndDefaultHeaders) {
  client.set_token("tok-123456789");
  auto r = client.call(Method::get, "confd/1.1/users/me").get();
  ASSERT_TRUE(r) << r.error();
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1U);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].path, "/api/confd/1.1/users/me");
  EXPECT_EQ(reqs[0].header("x-auth-token"), "tok-123456789");
  EXPECT_EQ(reqs[0].header("accept"), "application/json");
  EXPECT_EQ(reqs[0].header("content-type"), "application/json");
  EXPECT_FALSE(reqs[0].has_header("wazo-tenant"));
  EXPECT_FALSE(reqs[0].has_header("wazo-session-type"));
}

TEST_F(Requester, ServerWithoutSchemeDefaultsToHttps) {
  ApiClient c(rt, ClientOptions{.server = "stack.example.com:8443"});
  EXPECT_EQ(c.base_url(), "https://stack.example.com:8443/api/");
  ApiClient local(rt, ClientOptions{.server = "http://127.0.0.1:9000/"});
  EXPECT_EQ(local.base_url(), "http://127.0.0.1:9000/api/");
}

TEST_F(Requester, TenantHeaderSetAndCleared) {
  client.set_tenant("tenant-a");
  ASSERT_TRUE(client.call(Method::get, "/api/confd/1.1/users").get());
  client.set_tenant("");
  ASSERT_TRUE(client.call(Method::get, "confd/1.1/users").get());
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2U);
  EXPECT_EQ(reqs[0].header("wazo-tenant"), "tenant-a");
  EXPECT_EQ(reqs[0].path, "/api/confd/1.1/users");
  EXPECT_FALSE(reqs[1].has_header("wazo-tenant"));
}

TEST_F(Requester, MobileSessionType) {
  client.set_is_mobile(true);
  ASSERT_TRUE(client.call(Method::get, "confd/1.1/infos").get());
  EXPECT_EQ(server.requests().at(0).header("wazo-session-type"), "mobile");
}

TEST_F(Requester, CallerHeadersMergeAndNeverDropTheToken) {
  client.set_token("tok-abcdefgh");
  client.set_tenant("tenant-a");
  ASSERT_TRUE(client.call(Method::get, "x", nullptr, {{"X-Custom", "1"}, {"Accept", "text/csv"}}).get());
  ASSERT_TRUE(client.call(Method::get, "x", nullptr, {{"Wazo-Tenant", ""}}).get());
  ASSERT_TRUE(client.call(Method::get, "x", nullptr, {{"wazo-tenant", "tenant-b"}}).get());
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 3U);
  EXPECT_EQ(reqs[0].header("x-auth-token"), "tok-abcdefgh");
  EXPECT_EQ(reqs[0].header("x-custom"), "1");
  EXPECT_EQ(reqs[0].header("accept"), "text/csv");
  EXPECT_EQ(reqs[0].header("wazo-tenant"), "tenant-a");
  EXPECT_FALSE(reqs[1].has_header("wazo-tenant"));  // an empty Wazo-Tenant removes it
  EXPECT_EQ(reqs[1].header("x-auth-token"), "tok-abcdefgh");
  EXPECT_EQ(reqs[2].header("wazo-tenant"), "tenant-b");
}

TEST_F(Requester, QueryKeepsZeroAndFalseAndEncodes) {
  nlohmann::json q = {{"offset", 0}, {"recurse", false}, {"search", "a b&c"}, {"skip", nullptr}, {"ids", {1, 2}}};
  ASSERT_TRUE(client.call(Method::get, "confd/1.1/users", q).get());
  auto query = server.requests().at(0).query;
  EXPECT_NE(query.find("offset=0"), std::string::npos) << query;
  EXPECT_NE(query.find("recurse=false"), std::string::npos) << query;
  EXPECT_NE(query.find("search=a%20b%26c"), std::string::npos) << query;
  EXPECT_NE(query.find("ids=1%2C2"), std::string::npos) << query;
  EXPECT_EQ(query.find("skip"), std::string::npos) << query;
}

TEST_F(Requester, JsonBodyForWritesAndRawBodies) {
  ASSERT_TRUE(client.call(Method::post, "chatd/1.0/users/me/rooms", {{"name", "r"}, {"n", 0}}).get());
  Request raw;
  raw.method = Method::post;
  raw.path = "calld/1.0/users/me/faxes";
  raw.raw_body = std::string("%PDF-1.4\0binary", 15);
  raw.content_type = "application/pdf";
  ASSERT_TRUE(client.send(raw).get());
  auto reqs = server.requests();
  EXPECT_EQ(nlohmann::json::parse(reqs[0].body), (nlohmann::json{{"name", "r"}, {"n", 0}}));
  EXPECT_EQ(reqs[1].header("content-type"), "application/pdf");
  EXPECT_EQ(reqs[1].body.size(), 15U);
}

TEST_F(Requester, NoContentAndEmptyBodiesAreNull) {
  server.set_handler([](const RecordedRequest&) { return Reply{.status = 204, .body = ""}; });
  auto r = client.call(Method::put, "confd/1.1/users/me/services/dnd", {{"enabled", true}}).get();
  ASSERT_TRUE(r) << r.error();
  EXPECT_TRUE(r->is_null());
  server.set_handler([](const RecordedRequest&) { return Reply{.status = 200, .body = ""}; });
  auto r2 = client.call(Method::get, "x").get();
  ASSERT_TRUE(r2);
  EXPECT_TRUE(r2->is_null());
}

TEST_F(Requester, WazoErrorBodiesBecomeTypedErrors) {
  server.set_handler([](const RecordedRequest& req) {
    if (req.path.ends_with("/missing"))
      return Reply{.status = 404,
                   .body = R"({"message":"No such user","error_id":"not-found","details":{"id":7},"timestamp":1.5})"};
    if (req.path.ends_with("/boom")) return Reply{.status = 503, .body = "upstream down", .content_type = "text/plain"};
    if (req.path.ends_with("/invalid")) return Reply{.status = 400, .body = R"(["name: required", "x: bad"])"};
    return Reply{.status = 401, .body = R"({"reason":["Authentication Failed"],"timestamp":["t"],"status_code":401})"};
  });
  auto e404 = client.call(Method::get, "confd/1.1/users/missing").get();
  ASSERT_FALSE(e404);
  EXPECT_EQ(e404.error().category, ErrorCategory::http);
  EXPECT_EQ(e404.error().status, 404);
  EXPECT_EQ(e404.error().error_id, "not-found");
  EXPECT_EQ(e404.error().message, "No such user");
  EXPECT_EQ(e404.error().details["id"], 7);
  auto e503 = client.call(Method::get, "boom").get();
  ASSERT_FALSE(e503);
  EXPECT_EQ(e503.error().category, ErrorCategory::server);
  EXPECT_TRUE(e503.error().retryable);
  EXPECT_EQ(e503.error().message, "upstream down");
  auto e400 = client.call(Method::post, "invalid", {{"a", 1}}).get();
  ASSERT_FALSE(e400);
  EXPECT_EQ(e400.error().message, "name: required; x: bad");
  auto e401 = client.call(Method::get, "auth").get();  // no refresh token: no refresh, an auth error
  ASSERT_FALSE(e401);
  EXPECT_EQ(e401.error().category, ErrorCategory::auth);
  EXPECT_EQ(e401.error().message, "Authentication Failed");
  EXPECT_EQ(e401.error().timestamp, "t");
  EXPECT_EQ(server.count(), 4U);
}

TEST_F(Requester, HeadCheckTokenIsABoolean) {
  server.set_handler([](const RecordedRequest& req) {
    return req.path.ends_with("/good") ? Reply{.status = 204, .body = ""} : Reply{.status = 404, .body = ""};
  });
  EXPECT_TRUE(*client.auth().check_token("good").get());
  EXPECT_FALSE(*client.auth().check_token("bad").get());
  EXPECT_EQ(server.requests().at(0).method, "HEAD");
  EXPECT_EQ(server.requests().at(0).path, "/api/auth/0.1/token/good");
}

// A server that accepts only the token "fresh" and grants it on refresh.
Reply refreshing_server(const RecordedRequest& req, std::atomic<int>& refreshes, bool refresh_ok) {
  if (req.method == "POST" && req.path == "/api/auth/0.1/token") {
    ++refreshes;
    if (!refresh_ok) return Reply{.status = 401, .body = R"({"reason":["Invalid refresh token"],"status_code":401})"};
    return Reply{.status = 200, .body = token_body("fresh"), .delay_ms = 30};
  }
  if (req.header("x-auth-token") != "fresh") return Reply{.status = 401, .body = R"({"message":"Unauthorized"})"};
  return Reply{.status = 200, .body = R"({"ok":true})"};
}

TEST_F(Requester, RefreshOnceAndReplayOnce) {
  std::atomic<int> refreshes{0};
  server.set_handler([&](const RecordedRequest& r) { return refreshing_server(r, refreshes, true); });
  client.set_token("stale");
  client.set_refresh_token("refresh-1");
  client.set_client_id("my-app");
  client.set_refresh_expiration(120);
  std::vector<std::string> seen;
  auto sub =
      client.on_refresh_token([&](const std::string& tok, const Session& s) { seen.push_back(tok + "/" + s.uuid); });
  auto r = client.call(Method::get, "confd/1.1/users/me").get();
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ((*r)["ok"], true);
  EXPECT_EQ(refreshes.load(), 1);
  EXPECT_EQ(client.token(), "fresh");
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 3U);
  auto body = nlohmann::json::parse(reqs[1].body);
  EXPECT_EQ(body["refresh_token"], "refresh-1");
  EXPECT_EQ(body["client_id"], "my-app");
  EXPECT_EQ(body["expiration"], 120);
  EXPECT_EQ(body["backend"], "wazo_user");
  EXPECT_FALSE(reqs[1].has_header("x-auth-token"));
  EXPECT_FALSE(reqs[1].has_header("authorization"));
  EXPECT_EQ(reqs[2].header("x-auth-token"), "fresh");
  // Handlers run on the I/O thread, after the token is stored: allow that post to land.
  for (int i = 0; i < 100 && seen.empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0], "fresh/u");
}

TEST_F(Requester, RefreshUsesTheConfiguredBackendTenantAndDomain) {
  std::atomic<int> refreshes{0};
  server.set_handler([&](const RecordedRequest& r) { return refreshing_server(r, refreshes, true); });
  client.set_token("stale");
  client.set_refresh_token("refresh-1");
  client.set_client_id("my-app");
  client.set_refresh_backend("ldap_user");
  client.set_refresh_tenant_id("tenant-a");
  auto r = client.call(Method::get, "confd/1.1/users/me").get();
  ASSERT_TRUE(r) << r.error();
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 3U);
  auto body = nlohmann::json::parse(reqs[1].body);
  EXPECT_EQ(body["backend"], "ldap_user");
  EXPECT_EQ(body["tenant_id"], "tenant-a");
  EXPECT_FALSE(body.contains("domain_name"));

  // wazo-auth refuses tenant_id with domain_name: the domain name (the current form) wins.
  client.set_token("stale");
  client.set_refresh_domain_name("example.com");
  ASSERT_TRUE(client.call(Method::get, "confd/1.1/users/me").get());
  reqs = server.requests();
  ASSERT_EQ(reqs.size(), 6U);
  body = nlohmann::json::parse(reqs[4].body);
  EXPECT_EQ(body["domain_name"], "example.com");
  EXPECT_FALSE(body.contains("tenant_id"));
}

TEST_F(Requester, EveryMethodGoesOnTheWire) {
  server.set_handler([](const RecordedRequest&) { return Reply{.status = 200, .body = "{}"}; });
  client.set_token("tok");
  for (const Method m : {Method::get, Method::post, Method::put, Method::patch, Method::del, Method::options}) {
    auto r = client.send(Request{.method = m, .path = "confd/1.1/x"}).get();
    ASSERT_TRUE(r) << to_string(m) << ": " << r.error();
  }
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 6U);
  const std::vector<std::string> expected = {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(reqs[i].method, expected[i]);
}

TEST_F(Requester, ReplayedCallStillUnauthorizedIsAnAuthErrorWithoutLooping) {
  std::atomic<int> refreshes{0};
  server.set_handler([&](const RecordedRequest& req) {
    if (req.method == "POST") {
      ++refreshes;
      return Reply{.status = 200, .body = token_body("fresh")};
    }
    return Reply{.status = 401, .body = R"({"message":"Unauthorized","error_id":"unauthorized"})"};
  });
  client.set_token("stale");
  client.set_refresh_token("rt");
  auto r = client.call(Method::get, "x").get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().category, ErrorCategory::auth);
  EXPECT_EQ(refreshes.load(), 1);
  EXPECT_EQ(server.count(), 3U);  // call, refresh, one replay
}

TEST_F(Requester, NoSuchToken404RefreshesAndRenamesTheTokenInThePath) {
  std::atomic<int> refreshes{0};
  server.set_handler([&](const RecordedRequest& req) {
    if (req.method == "POST") {
      ++refreshes;
      return Reply{.status = 200, .body = token_body("fresh-token-2")};
    }
    if (req.path.ends_with("/fresh-token-2")) return Reply{.status = 200, .body = token_body("fresh-token-2")};
    return Reply{.status = 404, .body = R"({"reason":["No such token"],"status_code":404})"};
  });
  client.set_token("stale-token-1");
  client.set_refresh_token("rt");
  auto r = client.call(Method::get, "auth/0.1/token/stale-token-1").get();
  ASSERT_TRUE(r) << r.error();
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 3U);
  EXPECT_EQ(reqs[2].path, "/api/auth/0.1/token/fresh-token-2");
}

TEST_F(Requester, ConcurrentUnauthorizedCallsShareOneRefresh) {
  std::atomic<int> refreshes{0};
  server.set_handler([&](const RecordedRequest& r) { return refreshing_server(r, refreshes, true); });
  client.set_token("stale");
  client.set_refresh_token("rt");
  std::vector<Async<Json>> calls;
  for (int i = 0; i < 50; ++i) calls.push_back(client.call(Method::get, "confd/1.1/users/" + std::to_string(i)));
  int ok = 0;
  for (auto& c : calls) ok += c.get() ? 1 : 0;
  EXPECT_EQ(ok, 50);
  EXPECT_EQ(refreshes.load(), 1);
}

TEST_F(Requester, FailingRefreshFailsEveryCallerAndReportsOnce) {
  std::atomic<int> refreshes{0};
  server.set_handler([&](const RecordedRequest& r) { return refreshing_server(r, refreshes, false); });
  client.set_token("stale");
  client.set_refresh_token("revoked");
  std::atomic<int> reported{0};
  auto sub = client.on_refresh_token_error([&](const Error& e) {
    EXPECT_EQ(e.category, ErrorCategory::auth);
    ++reported;
  });
  for (int round = 0; round < 2; ++round) {
    std::vector<Async<Json>> calls;
    for (int i = 0; i < 20; ++i) calls.push_back(client.call(Method::get, "x"));
    for (auto& c : calls) {
      auto r = c.get();
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().category, ErrorCategory::auth);
    }
  }
  EXPECT_EQ(reported.load(), 1);
  EXPECT_EQ(refreshes.load(), 1);  // a rejected refresh token is not tried again
  // A new refresh token starts a new run: one more attempt, one more report.
  client.set_refresh_token("another");
  EXPECT_FALSE(client.call(Method::get, "x").get());
  for (int i = 0; i < 100 && reported.load() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(refreshes.load(), 2);
  EXPECT_EQ(reported.load(), 2);
}

TEST_F(Requester, ForceRefreshWithoutRefreshTokenIsAnAuthError) {
  auto r = client.force_refresh_token().get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().category, ErrorCategory::auth);
  EXPECT_EQ(r.error().error_id, "no_refresh_token");
  EXPECT_EQ(server.count(), 0U);
}

TEST_F(Requester, KeepAliveReusesOneConnection) {
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(client.call(Method::get, "x").get());
  EXPECT_EQ(server.connections(), 1U);
}

TEST_F(Requester, MockFaultMalformedJsonIsAParseError) {
  server.set_handler([](const RecordedRequest&) { return Reply{.status = 200, .body = R"({"items": [1, 2)"}; });
  auto r = client.call(Method::get, "x").get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().category, ErrorCategory::parse);
}

TEST_F(Requester, MockFaultOversizeResponseIsBounded) {
  ApiClient small(rt, ClientOptions{.server = server.url(), .connection = {.max_response_bytes = 64 * 1024}});
  server.set_handler(
      [](const RecordedRequest&) { return Reply{.status = 200, .body = std::string(8 * 1024 * 1024, 'x')}; });
  auto r = small.call(Method::get, "x").get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().category, ErrorCategory::parse);
  EXPECT_NE(r.error().message.find("larger than"), std::string::npos);
}

TEST_F(Requester, MockFaultSilentServerTimesOut) {
  server.set_handler([](const RecordedRequest&) { return Reply{.hang = true}; });
  Request req;
  req.path = "x";
  req.timeout = std::chrono::milliseconds(300);
  auto r = client.send(req).get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().category, ErrorCategory::timeout);
}

TEST_F(Requester, MockFaultCancelAHangingRequest) {
  server.set_handler([](const RecordedRequest&) { return Reply{.hang = true}; });
  auto a = client.call(Method::get, "x");
  while (server.count() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  a.cancel();
  auto r = a.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().category, ErrorCategory::cancelled);
  // The client still works afterwards.
  server.set_handler(nullptr);
  EXPECT_TRUE(client.call(Method::get, "y").get());
}

TEST_F(Requester, ProxyOptionSendsRequestsThroughTheProxy) {
  RecordingServer proxy;
  ApiClient via(rt, ClientOptions{.server = "http://wazo.invalid:8080", .connection = {.proxy = proxy.url()}});
  ASSERT_TRUE(via.call(Method::get, "auth/0.1/backends").get());
  ASSERT_EQ(proxy.count(), 1U);
  EXPECT_EQ(proxy.requests()[0].target, "http://wazo.invalid:8080/api/auth/0.1/backends");
  EXPECT_EQ(server.count(), 0U);
}

TEST(RequesterLogs, SecretsNeverReachTheLogs) {
  std::mutex m;
  std::string logged;
  Runtime rt{RuntimeOptions{.log_sink =
                                [&](const LogRecord& r) {
                                  std::lock_guard lock(m);
                                  logged.append(r.message).append("\n");
                                },
                            .log_level = LogLevel::trace}};
  RecordingServer server([](const RecordedRequest& req) {
    if (req.method == "POST") return Reply{.status = 401, .body = R"({"reason":["Invalid refresh token"]})"};
    return Reply{.status = 404, .body = R"({"reason":["No such token"]})"};
  });
  ApiClient client(rt, ClientOptions{.server = server.url()});
  const std::string token = "5ec12e7-70ke2-a1b2c3d4e5f6";
  const std::string refresh = "refresh-5ec12e7-999999";
  client.set_token(token);
  client.set_refresh_token(refresh);
  EXPECT_FALSE(client.call(Method::get, "auth/0.1/token/" + token).get());
  EXPECT_FALSE(client.auth().log_in({.username = "alice", .password = "p4ssw0rd-secret"}).get());
  const std::string other = "07he2-70ken-0f-an07her-user";  // a token in the path that is not the client's
  EXPECT_FALSE(client.auth().authenticate(other).get());
  ApiClient nowhere(rt, ClientOptions{.server = "http://127.0.0.1:1"});  // a transport failure is logged too
  EXPECT_FALSE(nowhere.auth().authenticate(other).get());
  EXPECT_FALSE(nowhere.auth().log_out(other).get());
  std::lock_guard lock(m);
  EXPECT_EQ(logged.find(other), std::string::npos) << logged;
  EXPECT_FALSE(logged.empty());
  EXPECT_EQ(logged.find(token), std::string::npos) << logged;
  EXPECT_EQ(logged.find(refresh), std::string::npos) << logged;
  EXPECT_EQ(logged.find("p4ssw0rd"), std::string::npos) << logged;
}

TEST(RequesterTransport, NothingListeningIsATransportError) {
  Runtime rt{RuntimeOptions{.log_sink = [](const LogRecord&) {}}};
  int port = 0;
  {
    RecordingServer gone;
    port = gone.port();
  }
  ApiClient client(rt, ClientOptions{.server = "http://127.0.0.1:" + std::to_string(port),
                                     .connection = {.connect_timeout = std::chrono::milliseconds(2000)}});
  auto r = client.call(Method::get, "auth/0.1/status").get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().category, ErrorCategory::transport);
  EXPECT_TRUE(r.error().retryable);
}

TEST(RequesterQuery, EncodeAndMethodNames) {
  EXPECT_EQ(encode_query({{"a b", "1/2"}, {"c", ""}}), "a%20b=1%2F2&c=");
  EXPECT_EQ(percent_encode("é"), "%C3%A9");
  EXPECT_EQ(method_from_string("delete"), Method::del);
  EXPECT_EQ(method_from_string("BREW"), std::nullopt);
  EXPECT_EQ(to_string(Method::patch), "PATCH");
}

}  // namespace
}  // namespace wazo::rest
