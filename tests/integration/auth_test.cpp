// The REST core and the wazo-auth client against a real wazo-dev-engine process over loopback.
#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "engine_process.hpp"
#include "http/transport.hpp"
#include "wazo/rest/api_client.hpp"
#include "wazo/rest/auth.hpp"

namespace wazo::rest {
namespace {

using namespace std::chrono_literals;

class AuthIntegration : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(engine.running()) << engine.error(); }

  ApiClient make_client(std::string client_id = "wazo-tests") {
    return ApiClient(rt, ClientOptions{.server = engine.url(), .client_id = std::move(client_id)});
  }
  Session login(ApiClient& c, const std::string& user = "alice", int expiration = 3600) {
    auto s = c.auth().log_in({.username = user, .password = "secret", .expiration = expiration}).get();
    EXPECT_TRUE(s) << s.error();
    return s ? *s : Session{};
  }
  // Requests the engine served for "METHOD /route/template", from its dev-only counters.
  long served(const std::string& key) {
    http::Transport t(rt, {});
    auto res = t.send({.url = engine.url() + "/_dev/metrics"}).get();
    if (!res || res->status != 200) return -1;
    auto j = nlohmann::json::parse(res->body, nullptr, false);
    if (!j.is_object() || !j.contains("requests")) return -1;
    return j["requests"].value(key, 0L);
  }

  Runtime rt{RuntimeOptions{.log_sink = [](const LogRecord&) {}, .log_level = LogLevel::off}};
  test::EngineProcess engine;
};

TEST_F(AuthIntegration, LogInCheckRefreshLogOut) {
  auto c = make_client();
  Session s = login(c);
  EXPECT_FALSE(s.token.empty());
  EXPECT_FALSE(s.refresh_token.empty());  // a client id asks for a refresh token
  EXPECT_FALSE(s.uuid.empty());
  EXPECT_FALSE(s.tenant_uuid.empty());
  EXPECT_FALSE(s.has_expired());
  EXPECT_EQ(c.token(), s.token);  // log_in stores the token and refresh token in the client
  EXPECT_EQ(c.refresh_token(), s.refresh_token);

  EXPECT_TRUE(*c.auth().check_token(s.token).get());
  EXPECT_FALSE(*c.auth().check_token("00000000-0000-0000-0000-000000000000").get());
  auto again = c.auth().authenticate(s.token).get();
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ(again->uuid, s.uuid);

  auto refreshed = c.auth().refresh_token(s.refresh_token, "wazo_user", 600).get();
  ASSERT_TRUE(refreshed) << refreshed.error();
  EXPECT_NE(refreshed->token, s.token);
  EXPECT_TRUE(*c.auth().check_token(refreshed->token).get());

  ASSERT_TRUE(c.auth().log_out(s.token).get());
  EXPECT_FALSE(*c.auth().check_token(s.token).get());
  EXPECT_TRUE(*c.auth().check_token(refreshed->token).get());  // only that token was revoked
}

TEST_F(AuthIntegration, WrongPasswordIsAnAuthError) {
  auto c = make_client();
  auto s = c.auth().log_in({.username = "alice", .password = "not-the-password"}).get();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().category, ErrorCategory::auth);
  EXPECT_EQ(s.error().status, 401);
  EXPECT_TRUE(c.token().empty());
  auto nobody = c.auth().log_in({.username = "mallory", .password = "secret"}).get();
  ASSERT_FALSE(nobody);
  EXPECT_EQ(nobody.error().status, 401);
}

TEST_F(AuthIntegration, ExpiredTokenIsRefreshedTransparently) {
  auto c = make_client();
  std::vector<std::string> refreshed;
  std::mutex m;
  auto sub = c.on_refresh_token([&](const std::string& tok, const Session&) {
    std::lock_guard lock(m);
    refreshed.push_back(tok);
  });
  Session s = login(c, "bob", 1);
  std::this_thread::sleep_for(1500ms);  // let the 1 s token really expire on the engine
  auto me = c.auth().get_user(s.uuid).get();
  ASSERT_TRUE(me) << me.error();
  EXPECT_EQ(me->username, "bob");
  EXPECT_NE(c.token(), s.token);
  for (int i = 0; i < 100; ++i) {
    {
      std::lock_guard lock(m);
      if (!refreshed.empty()) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  std::lock_guard lock(m);
  ASSERT_EQ(refreshed.size(), 1U);
  EXPECT_EQ(refreshed[0], c.token());
}

TEST_F(AuthIntegration, ConcurrentExpiredTokenRefreshesOnce) {
  auto c = make_client();
  Session s = login(c, "alice", 1);
  const long before = served("POST /api/auth/0.1/token");
  ASSERT_GE(before, 1);
  std::this_thread::sleep_for(1500ms);
  std::vector<Async<User>> calls;
  for (int i = 0; i < 50; ++i) calls.push_back(c.auth().get_user(s.uuid));
  int ok = 0;
  for (auto& call : calls) {
    auto r = call.get();
    if (r) ++ok;
  }
  EXPECT_EQ(ok, 50);
  EXPECT_EQ(served("POST /api/auth/0.1/token") - before, 1);  // exactly one refresh reached the engine
}

TEST_F(AuthIntegration, RevokedRefreshTokenFailsEveryCallerAndReportsOnce) {
  auto c = make_client("revoked-app");
  Session s = login(c, "carol", 1);
  auto other = make_client("revoked-app");
  login(other, "carol");  // a new refresh token for the same client id revokes the first one
  std::atomic<int> reported{0};
  auto sub = c.on_refresh_token_error([&](const Error&) { ++reported; });
  std::this_thread::sleep_for(1500ms);
  std::vector<Async<User>> calls;
  for (int i = 0; i < 20; ++i) calls.push_back(c.auth().get_user(s.uuid));
  for (auto& call : calls) {
    auto r = call.get();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().category, ErrorCategory::auth);
  }
  for (int i = 0; i < 100 && reported.load() == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(reported.load(), 1);
}

TEST_F(AuthIntegration, UsersTenantsGroupsPolicies) {
  auto c = make_client();
  Session s = login(c);
  auto auth = c.auth();

  auto users = auth.list_users().get();
  ASSERT_TRUE(users) << users.error();
  EXPECT_GE(users->total, 3);
  auto dave = auth.create_user("dave", "pa55word", "Dave", "Doe").get();
  ASSERT_TRUE(dave) << dave.error();
  EXPECT_EQ(dave->username, "dave");
  auto got = auth.get_user(dave->uuid).get();
  ASSERT_TRUE(got) << got.error();
  EXPECT_EQ(got->firstname, "Dave");
  ASSERT_TRUE(*auth.add_user_email(dave->uuid, "dave@wazo.example", true).get());
  got = auth.get_user(dave->uuid).get();
  ASSERT_TRUE(got);
  ASSERT_EQ(got->emails.size(), 1U);
  EXPECT_EQ(got->emails[0].address, "dave@wazo.example");

  auto group = auth.create_group("support").get();
  ASSERT_TRUE(group) << group.error();
  ASSERT_TRUE(*auth.add_user_group(dave->uuid, group->uuid).get());
  auto members = auth.list_users_group(group->uuid).get();
  ASSERT_TRUE(members) << members.error();
  ASSERT_EQ(members->items.size(), 1U);
  EXPECT_EQ(members->items[0].uuid, dave->uuid);
  ASSERT_TRUE(*auth.delete_user_group(dave->uuid, group->uuid).get());
  EXPECT_EQ(auth.list_users_group(group->uuid).get()->items.size(), 0U);
  auto groups = auth.list_groups().get();
  ASSERT_TRUE(groups);
  EXPECT_GE(groups->total, 1);
  ASSERT_TRUE(*auth.delete_group(group->uuid).get());

  auto policy = auth.create_policy("dnd-only", "toggle DND", {"confd.users.me.services.dnd.update"}).get();
  ASSERT_TRUE(policy) << policy.error();
  EXPECT_EQ(policy->acl, std::vector<std::string>{"confd.users.me.services.dnd.update"});
  ASSERT_TRUE(*auth.add_user_policy(dave->uuid, policy->uuid).get());
  ApiClient dave_client = make_client("dave-app");
  auto dave_session = dave_client.auth().log_in({.username = "dave", .password = "pa55word"}).get();
  ASSERT_TRUE(dave_session) << dave_session.error();
  EXPECT_NE(std::find(dave_session->acl.begin(), dave_session->acl.end(), "confd.users.me.services.dnd.update"),
            dave_session->acl.end());
  ASSERT_TRUE(*auth.delete_user_policy(dave->uuid, policy->uuid).get());
  auto policies = auth.list_policies().get();
  ASSERT_TRUE(policies);
  EXPECT_GE(policies->total, 1);
  ASSERT_TRUE(*auth.delete_policy(policy->uuid).get());

  auto tenants = auth.list_tenants().get();
  ASSERT_TRUE(tenants) << tenants.error();
  ASSERT_GE(tenants->total, 1);
  auto mine = auth.get_tenant(s.tenant_uuid).get();
  ASSERT_TRUE(mine) << mine.error();
  auto sub = auth.create_tenant("branch-office").get();
  ASSERT_TRUE(sub) << sub.error();
  auto renamed = auth.update_tenant(sub->uuid, "branch-office-2", "", "+15555550100", {{"city", "Quebec"}}).get();
  ASSERT_TRUE(renamed) << renamed.error();
  EXPECT_EQ(renamed->name, "branch-office-2");
  EXPECT_EQ(renamed->phone, "+15555550100");
  ASSERT_TRUE(*auth.delete_tenant(sub->uuid).get());
  auto gone = auth.get_tenant(sub->uuid).get();
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().status, 404);

  ASSERT_TRUE(*auth.delete_user(dave->uuid).get());
  auto deleted = auth.get_user(dave->uuid).get();
  ASSERT_FALSE(deleted);
  EXPECT_EQ(deleted.error().status, 404);
  EXPECT_EQ(deleted.error().category, ErrorCategory::http);
}

TEST_F(AuthIntegration, SessionsAndRefreshTokens) {
  auto c = make_client("sessions-app");
  Session s = login(c);
  auto sessions = c.auth().get_user_session(s.uuid).get();
  ASSERT_TRUE(sessions) << sessions.error();
  ASSERT_GE(sessions->items.size(), 1U);
  EXPECT_TRUE(std::any_of(sessions->items.begin(), sessions->items.end(),
                          [&](const UserSession& us) { return us.uuid == s.session_uuid; }));

  // The refresh token works until deleted.
  auto again = c.auth().refresh_token(s.refresh_token).get();
  ASSERT_TRUE(again) << again.error();
  ASSERT_TRUE(*c.auth().delete_refresh_token("sessions-app").get());
  auto refused = c.auth().refresh_token(s.refresh_token).get();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().status, 401);

  // Deleting a session revokes its token.
  auto other = make_client("other-app");
  Session s2 = login(other);
  ASSERT_TRUE(*c.auth().delete_user_session(s.uuid, s2.session_uuid).get());
  EXPECT_FALSE(*c.auth().check_token(s2.token).get());
}

TEST_F(AuthIntegration, PasswordsAndMobile) {
  auto c = make_client();
  auto admin = login(c);
  auto auth = c.auth();
  auto erin = auth.create_user("erin", "first-pass", "Erin", "E").get();
  ASSERT_TRUE(erin) << erin.error();

  auto erin_client = make_client("erin-app");
  ASSERT_TRUE(erin_client.auth().log_in({.username = "erin", .password = "first-pass"}).get());
  ASSERT_TRUE(*erin_client.auth().update_password(erin->uuid, "first-pass", "second-pass").get());
  auto wrong_old = erin_client.auth().update_password(erin->uuid, "first-pass", "x").get();
  ASSERT_FALSE(wrong_old);
  EXPECT_FALSE(erin_client.auth().log_in({.username = "erin", .password = "first-pass"}).get());
  ASSERT_TRUE(erin_client.auth().log_in({.username = "erin", .password = "second-pass"}).get());

  EXPECT_TRUE(*auth.send_reset_password_email({.username = "erin"}).get());
  ASSERT_TRUE(*auth.reset_password(erin->uuid, "third-pass").get());
  ASSERT_TRUE(erin_client.auth().log_in({.username = "erin", .password = "third-pass"}).get());

  ASSERT_TRUE(erin_client.auth().send_device_token(erin->uuid, "fcm-token-1", "voip-1", "notif-1").get());
  auto device = erin_client.auth().get_device_token(erin->uuid).get();
  ASSERT_TRUE(device) << device.error();
  EXPECT_EQ(device->token, "fcm-token-1");
  EXPECT_EQ(device->apns_voip_token, "voip-1");
  auto sender = erin_client.auth().get_push_notification_sender_id(erin->uuid).get();
  ASSERT_TRUE(sender) << sender.error();
  EXPECT_FALSE(sender->empty());
  ASSERT_TRUE(*erin_client.auth().remove_device_token(erin->uuid).get());
  EXPECT_FALSE(erin_client.auth().get_device_token(erin->uuid).get());

  auto providers = erin_client.auth().get_providers(erin->uuid).get();
  ASSERT_TRUE(providers) << providers.error();
  auto none = erin_client.auth().get_provider_token(erin->uuid, "google").get();
  ASSERT_TRUE(none) << none.error();  // an unconnected provider is not an error
  auto url = erin_client.auth().get_provider_auth_url(erin->uuid, "google").get();
  ASSERT_TRUE(url) << url.error();
  ASSERT_TRUE(erin_client.auth().delete_provider_token(erin->uuid, "google").get());
  (void)admin;
}

TEST_F(AuthIntegration, Scopes) {
  auto c = make_client();
  login(c);
  auto scopes = c.auth().get_restriction_policies({"auth.users.me.read", "nothing.granted.here"}).get();
  ASSERT_TRUE(scopes) << scopes.error();
  ASSERT_TRUE(scopes->contains("scopes")) << scopes->dump();
  EXPECT_EQ((*scopes)["scopes"]["auth.users.me.read"], true);
  EXPECT_EQ((*scopes)["scopes"]["nothing.granted.here"], false);
}

TEST_F(AuthIntegration, TenantHeaderOutsideTheTokensTenantIsRefused) {
  auto c = make_client();
  login(c);
  c.set_tenant("99999999-9999-4999-8999-999999999999");
  auto r = c.auth().list_users().get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().status, 401);
  EXPECT_EQ(r.error().error_id, "unauthorized-tenant");
  c.set_tenant("");
  EXPECT_TRUE(c.auth().list_users().get());
}

TEST_F(AuthIntegration, EngineGoneIsATransportErrorWithinTheTimeout) {
  auto c = make_client();
  Session s = login(c);
  engine.stop();
  c.set_request_timeout(3s);
  auto r = c.auth().get_user(s.uuid).get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().category, ErrorCategory::transport);
}

}  // namespace
}  // namespace wazo::rest
