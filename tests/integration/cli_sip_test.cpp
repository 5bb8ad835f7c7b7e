// `wazo sip register`, the real `wazo` binary against a real Kamailio (tests/support/kamailio_process.hpp) over
// loopback.
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "child_process.hpp"
#include "engine_process.hpp"
#include "kamailio_process.hpp"

namespace wazo::cli {
namespace {

using namespace std::chrono_literals;
using test::KamailioOptions;
using test::KamailioProcess;

using Outcome = test::ProcessOutcome;

// Runs the CLI with `args` and WAZO_SESSION_FILE=`session_file`; `on_output` as in test::run_process.
Outcome run_cli(const std::vector<std::string>& args, const std::string& session_file,
                const std::function<void(pid_t, const std::string&)>& on_output = {}) {
  return test::run_process(WAZO_CLI_PATH, args, {"WAZO_SESSION_FILE=" + session_file}, {}, on_output);
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

class CliSip : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(WAZO_CLI_PATH)) << "no wazo binary at '" << WAZO_CLI_PATH << "'";
    ASSERT_TRUE(KamailioProcess::available(true)) << KamailioProcess::unavailable_message();
  }

  Outcome wazo(const std::vector<std::string>& args,
               const std::function<void(pid_t, const std::string&)>& on_output = {}) {
    return run_cli(args, dir.file("session.json"), on_output);
  }

  test::TempDir dir;
};

TEST_F(CliSip, RegistersForAWhileThenUnregisters) {
  KamailioProcess kam({.debug_log = true});
  ASSERT_TRUE(kam.running()) << kam.error();
  const auto r = wazo({"sip", "register", "--ws", kam.ws_url(), "--user", "alice", "--password", "alicepw", "--domain",
                       "wazo.test", "--for", "1"});
  EXPECT_EQ(r.code, 0) << r.err << "\n" << kam.log();
  EXPECT_NE(r.out.find("registered (expires 600 s)\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nunregistered\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("alicepw"), std::string::npos);
  EXPECT_EQ(r.err.find("alicepw"), std::string::npos);
  // Kamailio saw the registration and the un-registration (each REGISTER challenged once, at most).
  const std::string log = kam.log();
  EXPECT_GE(count(log, "recv REGISTER "), 2U) << log;
  EXPECT_LE(count(log, "recv REGISTER "), 4U) << log;
}

TEST_F(CliSip, JsonLinesAndExpires) {
  KamailioProcess kam;
  ASSERT_TRUE(kam.running()) << kam.error();
  const auto r = wazo({"--json", "sip", "register", "--ws", kam.ws_url(), "--user", "bob", "--password", "bobpw",
                       "--domain", "wazo.test", "--expires", "120", "--for", "0.5"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find(R"({"expires":120,"state":"registered"})"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(R"({"state":"unregistered"})"), std::string::npos) << r.out;
}

TEST_F(CliSip, WrongPasswordFailsAtOnceWithoutALoop) {
  KamailioProcess kam({.debug_log = true});
  ASSERT_TRUE(kam.running()) << kam.error();
  const auto r = wazo({"sip", "register", "--ws", kam.ws_url(), "--user", "alice", "--password", "wrong-password",
                       "--domain", "wazo.test", "--for", "30"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("wazo: error: sip register: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("401"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("registered ("), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find("wrong-password"), std::string::npos) << r.err;
  // The first REGISTER and one answer to the challenge; never a loop.
  const std::string log = kam.log();
  EXPECT_LE(count(log, "recv REGISTER "), 2U) << log;
}

TEST_F(CliSip, StaysRegisteredUntilSigterm) {
  KamailioProcess kam;
  ASSERT_TRUE(kam.running()) << kam.error();
  bool signalled = false;
  const auto r = wazo(
      {"sip", "register", "--ws", kam.ws_url(), "--user", "carol", "--password", "carolpw", "--domain", "wazo.test"},
      [&](pid_t pid, const std::string& out) {
        if (!signalled && out.find("registered (") != std::string::npos) {
          signalled = true;
          kill(pid, SIGTERM);
        }
      });
  EXPECT_TRUE(signalled) << r.out << r.err;
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\nunregistered\n"), std::string::npos) << r.out;
}

TEST_F(CliSip, OverWssTrustingTheCaFile) {
  KamailioProcess kam({.tls = true});
  ASSERT_TRUE(kam.running()) << kam.error();
  const auto ok = wazo({"sip", "register", "--ws", kam.wss_url(), "--user", "alice", "--password", "alicepw",
                        "--domain", "wazo.test", "--ca-file", kam.ca_file(), "--for", "0.5"});
  EXPECT_EQ(ok.code, 0) << ok.err << "\n" << kam.log();
  EXPECT_NE(ok.out.find("registered (expires 600 s)"), std::string::npos) << ok.out;

  // Without trusting the self-signed certificate: a TLS failure, not a registration.
  const auto refused = wazo({"--timeout", "5", "sip", "register", "--ws", kam.wss_url(), "--user", "alice",
                             "--password", "alicepw", "--domain", "wazo.test", "--for", "0.5"});
  EXPECT_EQ(refused.code, 1) << refused.out;
  EXPECT_NE(refused.err.find("wazo: error: sip register: "), std::string::npos) << refused.err;
  EXPECT_EQ(refused.out.find("registered ("), std::string::npos) << refused.out;
}

TEST_F(CliSip, UsageErrors) {
  auto r = wazo({"sip"});
  EXPECT_EQ(r.code, 2);
  r = wazo({"sip", "dance"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown subcommand dance"), std::string::npos) << r.err;
  r = wazo({"sip", "register", "--ws", "ws://127.0.0.1:1", "--user", "alice"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--ws, --user and --password go together"), std::string::npos) << r.err;
  r = wazo({"sip", "register", "--ws", "http://127.0.0.1:1", "--user", "a", "--password", "b"});
  EXPECT_EQ(r.code, 2);
  r = wazo({"sip", "register", "--for", "-1"});
  EXPECT_EQ(r.code, 2);
  // No session and no line given.
  r = wazo({"sip", "register", "--for", "1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("not logged in"), std::string::npos) << r.err;
}

TEST_F(CliSip, UnreachableServerIsATransportError) {
  // A loopback port that was free a moment ago, and has nobody listening.
  const std::uint16_t port = [] {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    std::uint16_t p = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      p = ntohs(addr.sin_port);
    }
    close(fd);
    return p;
  }();
  ASSERT_NE(port, 0);
  const auto r = wazo({"--timeout", "3", "sip", "register", "--ws", "ws://127.0.0.1:" + std::to_string(port), "--user",
                       "alice", "--password", "alicepw", "--domain", "wazo.test", "--for", "1"});
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.err.find("wazo: error: sip register: "), std::string::npos) << r.err;
}

// With the logged-in session: the SIP line and its credentials come from confd, the WebSocket URL from the
// engine's URL (ws://HOST:PORT/api/asterisk/ws for an http:// engine), against the dev engine's registrar.
TEST_F(CliSip, RegistersTheSessionsLineOnTheDevEngine) {
  test::EngineProcess engine;
  ASSERT_TRUE(engine.running()) << engine.error();
  const auto login = wazo({"--host", engine.url(), "login", "alice", "secret"});
  ASSERT_EQ(login.code, 0) << login.err;
  const auto r = wazo({"sip", "register", "--for", "0.5"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("registered (expires "), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("\nunregistered\n"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace wazo::cli
