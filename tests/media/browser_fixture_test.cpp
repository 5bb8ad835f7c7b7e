// The browser peer itself, before any C++ media meets it: two Chromium pages running sip.js register on a real
// Kamailio and call each other (audio both ways, hold, MESSAGE, relay-only ICE through coturn). If this suite
// fails, the C++ <-> browser tests cannot be trusted.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "browser_peer.hpp"
#include "kamailio_process.hpp"
#include "turn_process.hpp"

namespace {

using namespace std::chrono_literals;
using wazo::test::BrowserPeer;
using wazo::test::Json;

struct Call {
  long caller = 0;  // the call id on the calling page
  long callee = 0;  // the call id on the called page
};

std::int64_t in_bytes(const Json& stats, const char* kind = "audio") { return stats[kind]["in"].value("bytes", 0LL); }

class BrowserFixture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    kamailio_ = std::make_unique<wazo::test::KamailioProcess>(wazo::test::KamailioOptions{
        .users = {{"alice", "alicepw"}, {"bob", "bobpw"}, {"carol", "carolpw"}, {"dave", "davepw"}}});
    turn_ = std::make_unique<wazo::test::TurnProcess>();
    browser_ = std::make_unique<BrowserPeer>(wazo::test::BrowserPeerOptions{.browser_dir = WAZO_BROWSER_DIR});
    if (!kamailio_->running() || !turn_->running() || !browser_->running()) return;
    for (const char* user : {"alice", "bob"}) {
      open_errors_ +=
          browser_->open({.ws_url = kamailio_->ws_url(), .user = user, .password = std::string(user) + "pw"}).error;
    }
    // Relay-only pages: only relay candidates are gathered, so the selected pair must go through coturn.
    const Json turn =
        Json::array({{{"urls", turn_->url()}, {"username", turn_->user()}, {"credential", turn_->password()}}});
    for (const char* user : {"carol", "dave"}) {
      open_errors_ += browser_
                          ->open({.ws_url = kamailio_->ws_url(),
                                  .user = user,
                                  .password = std::string(user) + "pw",
                                  .ice_servers = turn,
                                  .relay_only = true})
                          .error;
    }
  }
  static void TearDownTestSuite() {
    browser_.reset();
    turn_.reset();
    kamailio_.reset();
  }

  void SetUp() override {
    ASSERT_TRUE(kamailio_->running()) << kamailio_->error();
    ASSERT_TRUE(turn_->running()) << turn_->error();
    ASSERT_TRUE(browser_->running()) << browser_->error();
    ASSERT_TRUE(open_errors_.empty()) << open_errors_;
    browser_->clear_events();
  }

  BrowserPeer& browser() { return *browser_; }

  Json command(Json cmd, std::chrono::milliseconds timeout = 10s) {
    auto reply = browser_->command(std::move(cmd), timeout);
    EXPECT_TRUE(reply.ok) << reply.error;
    return reply.result;
  }

  // `from` calls `to` (which auto-answers); both sides established.
  Call establish(const std::string& from, const std::string& to, bool video = false) {
    Call call;
    const Json sent =
        command({{"cmd", "call"}, {"page", from}, {"target", "sip:" + to + "@wazo.test"}, {"video", video}});
    call.caller = sent.value("call", 0L);
    const auto invite = browser_->wait_event("invite", 10s, {{"page", to}});
    EXPECT_TRUE(invite) << "no INVITE reached " << to << browser_->describe();
    if (!invite) return call;
    call.callee = (*invite)["call"].get<long>();
    EXPECT_TRUE(browser_->wait_event("established", 10s, {{"page", from}, {"call", call.caller}}))
        << browser_->describe();
    EXPECT_TRUE(browser_->wait_event("established", 10s, {{"page", to}, {"call", call.callee}}))
        << browser_->describe();
    return call;
  }

  void hangup(const std::string& from, const std::string& to, const Call& call) {
    command({{"cmd", "hangup"}, {"page", from}, {"call", call.caller}});
    EXPECT_TRUE(browser_->wait_event("terminated", 10s, {{"page", to}, {"call", call.callee}})) << browser_->describe();
  }

  Json stats(const std::string& page, long call) {
    return command({{"cmd", "stats"}, {"page", page}, {"call", call}, {"window", 1500}});
  }

  static std::unique_ptr<wazo::test::KamailioProcess> kamailio_;
  static std::unique_ptr<wazo::test::TurnProcess> turn_;
  static std::unique_ptr<BrowserPeer> browser_;
  static std::string open_errors_;
};

std::unique_ptr<wazo::test::KamailioProcess> BrowserFixture::kamailio_;
std::unique_ptr<wazo::test::TurnProcess> BrowserFixture::turn_;
std::unique_ptr<BrowserPeer> BrowserFixture::browser_;
std::string BrowserFixture::open_errors_;

TEST_F(BrowserFixture, CallCarriesAudioBothWaysOverHostCandidates) {
  const Call call = establish("alice", "bob");
  std::this_thread::sleep_for(1500ms);
  const Json a = stats("alice", call.caller);
  const Json b = stats("bob", call.callee);
  std::printf("alice after 1.5 s: %s\nbob after 1.5 s: %s\n", a.dump().c_str(), b.dump().c_str());
  EXPECT_GT(in_bytes(a), 0) << a.dump();
  EXPECT_GT(in_bytes(b), 0) << b.dump();
  EXPECT_EQ(a["pair"].value("local", ""), "host") << a.dump();
  EXPECT_EQ(a["dtls"], "connected") << a.dump();
  // The fake microphone beeps: the other page's AnalyserNode hears it.
  EXPECT_GT(a["level"].value("rms_max", 0.0), 0.01) << a.dump();
  EXPECT_GT(b["level"].value("rms_max", 0.0), 0.01) << b.dump();
  // Chromium's fake microphone beeps at 400 Hz (the AnalyserNode runs at 44.1 kHz: 21.5 Hz bins).
  EXPECT_NEAR(a["level"].value("peak_hz", 0.0), 400.0, 40.0) << a.dump();
  EXPECT_NEAR(b["level"].value("peak_hz", 0.0), 400.0, 40.0) << b.dump();
  hangup("alice", "bob", call);
}

TEST_F(BrowserFixture, HoldStopsTheHeldDirectionAndResumeRestartsIt) {
  const Call call = establish("alice", "bob");
  std::this_thread::sleep_for(500ms);

  const Json held = command({{"cmd", "hold"}, {"page", "alice"}, {"call", call.caller}, {"hold", true}});
  EXPECT_EQ(held["local"], Json::array({"sendonly"})) << held.dump();
  EXPECT_EQ(held["remote"], Json::array({"recvonly"})) << held.dump();
  std::this_thread::sleep_for(300ms);  // packets in flight
  const auto a1 = in_bytes(stats("alice", call.caller));
  const auto b1 = in_bytes(stats("bob", call.callee));
  std::this_thread::sleep_for(1000ms);
  const auto a2 = in_bytes(stats("alice", call.caller));
  const auto b2 = in_bytes(stats("bob", call.callee));
  EXPECT_EQ(a2 - a1, 0) << "alice (holding, sendonly) still receives";
  EXPECT_GT(b2 - b1, 0) << "bob (held, recvonly) no longer receives alice";

  const Json resumed = command({{"cmd", "hold"}, {"page", "alice"}, {"call", call.caller}, {"hold", false}});
  EXPECT_EQ(resumed["local"], Json::array({"sendrecv"})) << resumed.dump();
  std::this_thread::sleep_for(300ms);
  const auto a3 = in_bytes(stats("alice", call.caller));
  const auto b3 = in_bytes(stats("bob", call.callee));
  std::this_thread::sleep_for(1000ms);
  EXPECT_GT(in_bytes(stats("alice", call.caller)) - a3, 0);
  EXPECT_GT(in_bytes(stats("bob", call.callee)) - b3, 0);
  hangup("alice", "bob", call);
}

TEST_F(BrowserFixture, MessageArrivesOutOfDialogAndInDialog) {
  command({{"cmd", "message"}, {"page", "alice"}, {"target", "sip:bob@wazo.test"}, {"body", "hello bob"}});
  const auto message = browser().wait_event("message", 5s, {{"page", "bob"}});
  ASSERT_TRUE(message) << browser().describe();
  EXPECT_EQ((*message)["body"], "hello bob");
  EXPECT_EQ((*message)["from"], "sip:alice@wazo.test");

  const Call call = establish("alice", "bob");
  command({{"cmd", "message"}, {"page", "bob"}, {"call", call.callee}, {"body", "in the call"}});
  const auto in_dialog = browser().wait_event("message", 5s, {{"page", "alice"}, {"call", call.caller}});
  ASSERT_TRUE(in_dialog) << browser().describe();
  EXPECT_EQ((*in_dialog)["body"], "in the call");
  hangup("alice", "bob", call);
}

TEST_F(BrowserFixture, DtmfByInfoReachesTheOtherPage) {
  const Call call = establish("alice", "bob");
  command({{"cmd", "dtmf"}, {"page", "alice"}, {"call", call.caller}, {"tones", "5"}, {"method", "info"}});
  const auto info = browser().wait_event("info", 5s, {{"page", "bob"}, {"call", call.callee}});
  ASSERT_TRUE(info) << browser().describe();
  EXPECT_NE((*info)["body"].get<std::string>().find("Signal=5"), std::string::npos) << info->dump();
  const Json rtp = command({{"cmd", "dtmf"}, {"page", "alice"}, {"call", call.caller}, {"tones", "12#"}});
  EXPECT_EQ(rtp["sent"], "12#");
  hangup("alice", "bob", call);
}

TEST_F(BrowserFixture, RelayOnlyCallGoesThroughTurn) {
  const Call call = establish("carol", "dave");
  std::this_thread::sleep_for(1500ms);
  const Json c = stats("carol", call.caller);
  const Json d = stats("dave", call.callee);
  EXPECT_EQ(c["pair"].value("local", ""), "relay") << c.dump();
  EXPECT_EQ(d["pair"].value("local", ""), "relay") << d.dump();
  EXPECT_GT(in_bytes(c), 0) << c.dump();
  EXPECT_GT(in_bytes(d), 0) << d.dump();
  hangup("carol", "dave", call);
}

TEST_F(BrowserFixture, VideoCallDecodesFramesBothWays) {
  const Call call = establish("alice", "bob", true);
  std::this_thread::sleep_for(1500ms);
  const Json a = stats("alice", call.caller);
  const Json b = stats("bob", call.callee);
  EXPECT_GT(in_bytes(a, "video"), 0) << a.dump();
  EXPECT_GT(in_bytes(b, "video"), 0) << b.dump();
  EXPECT_GT(a["video"]["in"].value("frames_decoded", 0), 0) << a.dump();
  EXPECT_GT(b["video"]["in"].value("frames_decoded", 0), 0) << b.dump();
  hangup("alice", "bob", call);
}

// Its own driver: stopping it must leave no Chromium process behind, even when the driver was killed first.
TEST(BrowserPeerLifetime, ChromiumDiesWithTheDriverEvenWhenTheDriverIsKilled) {
  for (const bool kill_driver_first : {false, true}) {
    BrowserPeer browser({.browser_dir = WAZO_BROWSER_DIR});
    ASSERT_TRUE(browser.running()) << browser.error();
    const auto under = browser.descendants();
    const std::string profile = browser.ready_info().value("profile", std::string());
    ASSERT_TRUE(std::filesystem::is_directory(profile)) << browser.ready_info().dump();
    ASSERT_FALSE(under.empty()) << "no Chromium under the driver";
    if (kill_driver_first) kill(browser.pid(), SIGKILL);
    browser.stop();
    for (const pid_t p : under) {
      EXPECT_FALSE(wazo::test::process_alive(p))
          << "process " << p << " outlived the browser peer" << (kill_driver_first ? " (driver killed)" : "");
    }
    EXPECT_FALSE(std::filesystem::exists(profile)) << "Chromium's profile " << profile << " was left behind";
  }
}

TEST(BrowserPeerLifetime, MissingNodeModulesFailsNamingTheSetupScript) {
  wazo::test::TempDir dir;
  std::filesystem::copy_file(std::filesystem::path(WAZO_BROWSER_DIR) / "driver.mjs",
                             std::filesystem::path(dir.path()) / "driver.mjs");
  BrowserPeer browser({.browser_dir = dir.path()});
  EXPECT_FALSE(browser.running());
  EXPECT_NE(browser.error().find("scripts/browser-setup.sh"), std::string::npos) << browser.error();
}

}  // namespace
