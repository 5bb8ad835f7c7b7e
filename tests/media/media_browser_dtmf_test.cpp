// RFC 4733 events from Chromium reach the engine: a C++ line calls a sip.js page through Kamailio, the page sends
// telephone-events (RTCDTMFSender), and CallMedia reports each key once, in order, while audio goes on.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#include "browser_peer.hpp"
#include "kamailio_process.hpp"
#include "media/media_engine.hpp"
#include "wazo/sip/user_agent.hpp"

namespace {

using namespace std::chrono_literals;
namespace media = wazo::media;
namespace sip = wazo::sip;

TEST(MediaBrowserDtmf, TelephoneEventsFromChromiumAreReceivedInOrder) {
  wazo::test::KamailioProcess kamailio(wazo::test::KamailioOptions{.users = {{"alice", "alicepw"}, {"bob", "bobpw"}}});
  ASSERT_TRUE(kamailio.running()) << kamailio.error();
  wazo::test::BrowserPeer browser(wazo::test::BrowserPeerOptions{.browser_dir = WAZO_BROWSER_DIR});
  ASSERT_TRUE(browser.running()) << browser.error();
  auto opened = browser.open({.ws_url = kamailio.ws_url(), .user = "bob", .password = "bobpw"});
  ASSERT_TRUE(opened.error.empty()) << opened.error;

  wazo::Runtime runtime;
  auto engine = media::make_gstreamer_engine(runtime);
  ASSERT_TRUE(engine.ok()) << engine.error();
  sip::UserAgentOptions o;
  o.server = kamailio.ws_url();
  o.domain = "wazo.test";
  o.user = "alice";
  o.password = "alicepw";
  sip::UserAgent ua(runtime, o);
  auto started = ua.start().get_for(10s);
  ASSERT_TRUE(started && started->ok()) << (started ? started->error().describe() : "timeout");

  media::MediaOptions options;
  options.audio_source = {.type = media::AudioSource::Type::tone, .frequency = 440, .volume = 0.3};
  auto call_media = (*engine)->create_call(options, false);
  ASSERT_TRUE(call_media.ok()) << call_media.error();
  auto m = *call_media;
  std::mutex mutex;
  std::string digits;
  auto sub = m->on<media::DtmfReceived>([&](const media::DtmfReceived& d) {
    std::lock_guard lock(mutex);
    digits.push_back(d.tone);
  });

  auto session = ua.invite("sip:bob@wazo.test", m);
  ASSERT_TRUE(session.ok()) << session.error().describe();
  auto invite = browser.wait_event("invite", 10s, {{"page", "bob"}});
  ASSERT_TRUE(invite) << browser.describe();
  const long call = (*invite)["call"].get<long>();
  ASSERT_TRUE(browser.wait_event("established", 10s, {{"page", "bob"}, {"call", call}})) << browser.describe();
  // The page may see the call up before our side has applied its 200's answer.
  for (int i = 0; i < 100 && !m->dtmf_supported(); ++i) std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(m->dtmf_supported()) << "Chromium's answer has telephone-event";

  // Let the audio settle, then the keys.
  std::this_thread::sleep_for(500ms);
  const std::string sent = "159#*0";
  auto reply = browser.command({{"cmd", "dtmf"}, {"page", "bob"}, {"call", call}, {"tones", sent}, {"method", "rtp"}});
  ASSERT_TRUE(reply.ok) << reply.error;
  const auto end = std::chrono::steady_clock::now() + 8s;
  while (std::chrono::steady_clock::now() < end) {
    {
      std::lock_guard lock(mutex);
      if (digits.size() >= sent.size()) break;
    }
    std::this_thread::sleep_for(50ms);
  }
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(digits, sent);
  }
  EXPECT_GT(m->stats().audio->level, 0.01) << "the browser's audio keeps flowing after the keys";

  (void)browser.command({{"cmd", "hangup"}, {"page", "bob"}, {"call", call}});
  m->close();
  (void)ua.stop().get_for(5s);
}

}  // namespace
