// TLS against wazo-dev-engine serving HTTPS with a certificate from a CA it generates at start-up.
#include <filesystem>

#include <gtest/gtest.h>

#include "engine_process.hpp"
#include "wazo/rest/api_client.hpp"
#include "wazo/rest/auth.hpp"

namespace wazo::rest {
namespace {

class Tls : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(engine.running()) << engine.error();
    ASSERT_EQ(engine.url().rfind("https://", 0), 0U) << engine.url();
    ASSERT_TRUE(std::filesystem::exists(ca_file));
  }
  Result<Session> login_with(TlsOptions tls) {
    ApiClient c(rt, ClientOptions{.server = engine.url(), .connection = {.tls = std::move(tls)}});
    return c.auth().log_in({.username = "alice", .password = "secret"}).get();
  }

  Runtime rt{RuntimeOptions{.log_sink = [](const LogRecord&) {}, .log_level = LogLevel::off}};
  test::TempDir dir;
  std::string ca_file = dir.file("ca.pem");
  test::EngineProcess engine{{"--tls", "--tls-ca-out", ca_file}};
};

TEST_F(Tls, DefaultVerificationRefusesAnUnknownCa) {
  auto r = login_with({});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().category, ErrorCategory::transport);
  EXPECT_NE(r.error().message.find("TLS"), std::string::npos) << r.error();
}

TEST_F(Tls, TheEnginesCaFileIsAccepted) {
  auto r = login_with({.ca_file = ca_file});
  ASSERT_TRUE(r) << r.error();
  EXPECT_FALSE(r->token.empty());
}

TEST_F(Tls, ExplicitInsecureOptInAccepts) {
  auto r = login_with({.insecure = true});
  ASSERT_TRUE(r) << r.error();
}

TEST_F(Tls, AWrongCaFileIsRefused) {
  const std::string other = dir.file("other.pem");
  test::EngineProcess second{{"--tls", "--tls-ca-out", other}};
  ASSERT_TRUE(second.running()) << second.error();
  auto r = login_with({.ca_file = other});  // another engine's CA does not vouch for this one
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().category, ErrorCategory::transport);
}

}  // namespace
}  // namespace wazo::rest
