// The app-level API against the browser: wazo::phone::Phone (WebRTCClient with the GStreamer engine) calls a
// sip.js page in Chromium through Kamailio and is called by it; audio is checked on both ends, and hold/resume and
// hang-up go through the Phone's own methods and events. Then transfers: the page transferred blind to a second
// Phone, and an attended transfer that joins the page and a second Phone (each Phone sends its own tone, so the
// page's AnalyserNode tells whom it hears).
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "browser_peer.hpp"
#include "kamailio_process.hpp"
#include "wazo/core/runtime.hpp"
#include "wazo/phone/phone.hpp"

namespace {

using namespace std::chrono_literals;
using wazo::test::BrowserPeer;
using wazo::test::Json;
namespace phone = wazo::phone;
namespace media = wazo::media;

// The Phone's events, from its I/O thread.
struct Seen {
  std::mutex m;
  std::condition_variable cv;
  std::vector<phone::CallSession> incoming;
  std::vector<phone::CallSession> accepted;
  std::vector<phone::CallHeld> held;
  std::vector<phone::CallResumed> resumed;
  std::vector<phone::CallEnded> ended;

  template <class F>
  void add(F&& f) {
    {
      std::lock_guard lock(m);
      f();
    }
    cv.notify_all();
  }
  template <class P>
  bool wait(P&& pred, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, timeout, pred);
  }
};

std::int64_t in_bytes(const Json& stats) { return stats["audio"]["in"].value("bytes", 0LL); }

TEST(BrowserPhone, PhoneCallsTheBrowserAndTheBrowserCallsThePhone) {
  wazo::test::KamailioProcess kamailio;
  ASSERT_TRUE(kamailio.running()) << kamailio.error();
  BrowserPeer browser({.browser_dir = WAZO_BROWSER_DIR});
  ASSERT_TRUE(browser.running()) << browser.error();
  auto opened = browser.open({.ws_url = kamailio.ws_url(), .user = "bob", .password = "bobpw"});
  ASSERT_TRUE(opened) << opened.error;

  wazo::Runtime runtime;
  phone::WebRtcConfig config;
  config.websocket_url = kamailio.ws_url();
  config.authorization_user = "alice";
  config.password = "alicepw";
  config.domain = "wazo.test";
  config.media.audio_source = {.type = media::AudioSource::Type::tone, .frequency = 440, .volume = 0.3};
  config.media.audio_sink = {.type = media::AudioSink::Type::none};
  phone::WebRTCClient client(runtime, config);
  phone::Phone alice(client);
  auto seen = std::make_shared<Seen>();
  std::vector<wazo::Subscription> subs;
  subs.push_back(alice.on<phone::CallIncoming>(
      [seen](const phone::CallIncoming& e) { seen->add([&] { seen->incoming.push_back(e.call); }); }));
  subs.push_back(alice.on<phone::CallAccepted>(
      [seen](const phone::CallAccepted& e) { seen->add([&] { seen->accepted.push_back(e.call); }); }));
  subs.push_back(
      alice.on<phone::CallHeld>([seen](const phone::CallHeld& e) { seen->add([&] { seen->held.push_back(e); }); }));
  subs.push_back(alice.on<phone::CallResumed>(
      [seen](const phone::CallResumed& e) { seen->add([&] { seen->resumed.push_back(e); }); }));
  subs.push_back(
      alice.on<phone::CallEnded>([seen](const phone::CallEnded& e) { seen->add([&] { seen->ended.push_back(e); }); }));
  auto registered = alice.register_ua().get_for(10s);
  ASSERT_TRUE(registered && registered->ok()) << (registered ? registered->error().describe() : "timeout");

  // ---- the Phone calls the page
  auto call = alice.make_call("bob");
  ASSERT_TRUE(call.ok()) << call.error().describe();
  const auto invite = browser.wait_event("invite", 10s, {{"page", "bob"}});
  ASSERT_TRUE(invite) << browser.describe();
  const long bob_call = (*invite)["call"].get<long>();
  ASSERT_TRUE(browser.wait_event("established", 10s, {{"page", "bob"}, {"call", bob_call}})) << browser.describe();
  ASSERT_TRUE(seen->wait([&] { return !seen->accepted.empty(); }));
  std::this_thread::sleep_for(1500ms);
  auto page = browser.command({{"cmd", "stats"}, {"page", "bob"}, {"call", bob_call}, {"window", 1500}});
  ASSERT_TRUE(page) << page.error;
  EXPECT_GT(in_bytes(page.result), 0) << page.result.dump();
  EXPECT_NEAR(page.result["level"].value("peak_hz", 0.0), 440.0, 60.0) << page.result.dump();
  auto ours = alice.stats(*call);
  ASSERT_TRUE(ours.ok() && ours->audio) << (ours.ok() ? "no audio stats" : ours.error().describe());
  EXPECT_GT(ours->audio->decoded, 0u);
  EXPECT_GT(ours->audio->level, 0.0) << "no energy from Chromium's fake microphone";

  auto held = alice.hold(*call).get_for(10s);
  ASSERT_TRUE(held && held->ok()) << (held ? held->error().describe() : "hold: timeout");
  const auto reinvite = browser.wait_event("reinvite", 5s, {{"page", "bob"}, {"call", bob_call}});
  ASSERT_TRUE(reinvite) << browser.describe();
  EXPECT_EQ((*reinvite)["directions"][0], "sendonly");
  EXPECT_TRUE(seen->wait([&] { return !seen->held.empty(); }));
  auto resumed = alice.resume(*call).get_for(10s);
  ASSERT_TRUE(resumed && resumed->ok()) << (resumed ? resumed->error().describe() : "resume: timeout");
  EXPECT_TRUE(seen->wait([&] { return !seen->resumed.empty(); }));

  auto hung = alice.hangup(*call).get_for(10s);
  ASSERT_TRUE(hung && hung->ok()) << (hung ? hung->error().describe() : "hangup: timeout");
  EXPECT_TRUE(browser.wait_event("terminated", 10s, {{"page", "bob"}, {"call", bob_call}})) << browser.describe();
  ASSERT_TRUE(seen->wait([&] { return seen->ended.size() == 1; }));
  EXPECT_EQ(seen->ended[0].cause, phone::EndCause::hangup);

  // ---- the page calls the Phone
  auto sent = browser.command({{"cmd", "call"}, {"page", "bob"}, {"target", "sip:alice@wazo.test"}});
  ASSERT_TRUE(sent) << sent.error;
  const long bob_out = sent.result["call"].get<long>();
  ASSERT_TRUE(seen->wait([&] { return !seen->incoming.empty(); }));
  phone::CallSession incoming;
  {
    std::lock_guard lock(seen->m);
    incoming = seen->incoming.back();
  }
  auto answered = alice.accept(incoming).get_for(10s);
  ASSERT_TRUE(answered && answered->ok()) << (answered ? answered->error().describe() : "accept: timeout");
  ASSERT_TRUE(browser.wait_event("established", 10s, {{"page", "bob"}, {"call", bob_out}})) << browser.describe();
  std::this_thread::sleep_for(1500ms);
  page = browser.command({{"cmd", "stats"}, {"page", "bob"}, {"call", bob_out}, {"window", 1500}});
  ASSERT_TRUE(page) << page.error;
  EXPECT_GT(in_bytes(page.result), 0) << page.result.dump();
  EXPECT_GT(page.result["level"].value("rms_max", 0.0), 0.02) << page.result.dump();
  ours = alice.stats(incoming);
  ASSERT_TRUE(ours.ok() && ours->audio);
  EXPECT_GT(ours->audio->bytes_received, 0u);

  ASSERT_TRUE(browser.command({{"cmd", "hangup"}, {"page", "bob"}, {"call", bob_out}}));
  ASSERT_TRUE(seen->wait([&] { return seen->ended.size() == 2; }));
  EXPECT_EQ(seen->ended[1].cause, phone::EndCause::remote_hangup);
  (void)alice.stop().get_for(5s);
}

}  // namespace

namespace {

// A Phone for `user` on Kamailio, registered, sending a tone at `hz`, with its events recorded in `seen`.
struct TestPhone {
  phone::WebRTCClient client;
  phone::Phone phone;
  std::shared_ptr<Seen> seen = std::make_shared<Seen>();
  std::vector<wazo::Subscription> subs;

  static phone::WebRtcConfig config(const std::string& ws, const std::string& user, double hz) {
    phone::WebRtcConfig c;
    c.websocket_url = ws;
    c.authorization_user = user;
    c.password = user + "pw";
    c.domain = "wazo.test";
    c.media.audio_source = {.type = media::AudioSource::Type::tone, .frequency = hz, .volume = 0.3};
    c.media.audio_sink = {.type = media::AudioSink::Type::none};
    return c;
  }
  TestPhone(wazo::Runtime& runtime, const std::string& ws, const std::string& user, double hz)
      : client(runtime, config(ws, user, hz)), phone(client) {
    auto s = seen;
    subs.push_back(phone.on<phone::CallIncoming>(
        [s](const phone::CallIncoming& e) { s->add([&] { s->incoming.push_back(e.call); }); }));
    subs.push_back(phone.on<phone::CallAccepted>(
        [s](const phone::CallAccepted& e) { s->add([&] { s->accepted.push_back(e.call); }); }));
    subs.push_back(
        phone.on<phone::CallEnded>([s](const phone::CallEnded& e) { s->add([&] { s->ended.push_back(e); }); }));
  }
};

// alice (a Phone) talks to the page, then transfers it blind to carol (another Phone, another tone): the page
// follows the REFER, carol answers, and the page now hears carol's tone.
TEST(BrowserPhone, BlindTransferOfTheBrowserToASecondPhone) {
  wazo::test::KamailioProcess kamailio;
  ASSERT_TRUE(kamailio.running()) << kamailio.error();
  BrowserPeer browser({.browser_dir = WAZO_BROWSER_DIR});
  ASSERT_TRUE(browser.running()) << browser.error();
  auto opened = browser.open({.ws_url = kamailio.ws_url(), .user = "bob", .password = "bobpw"});
  ASSERT_TRUE(opened) << opened.error;
  wazo::Runtime runtime;
  TestPhone alice(runtime, kamailio.ws_url(), "alice", 440);
  TestPhone carol(runtime, kamailio.ws_url(), "carol", 660);
  for (auto* p : {&alice, &carol}) {
    auto r = p->phone.register_ua().get_for(10s);
    ASSERT_TRUE(r && r->ok()) << (r ? r->error().describe() : "register: timeout");
  }

  auto call = alice.phone.make_call("bob");
  ASSERT_TRUE(call.ok()) << call.error().describe();
  const auto invite = browser.wait_event("invite", 10s, {{"page", "bob"}});
  ASSERT_TRUE(invite) << browser.describe();
  const long first = (*invite)["call"].get<long>();
  ASSERT_TRUE(browser.wait_event("established", 10s, {{"page", "bob"}, {"call", first}})) << browser.describe();
  ASSERT_TRUE(alice.seen->wait([&] { return !alice.seen->accepted.empty(); }));

  auto transfer = alice.phone.transfer(*call, "carol");
  const auto created = browser.wait_event("call_created", 10s, {{"page", "bob"}});
  ASSERT_TRUE(created) << "the page did not follow the REFER" << browser.describe();
  const long second = (*created)["call"].get<long>();
  ASSERT_TRUE(carol.seen->wait([&] { return !carol.seen->incoming.empty(); }));
  phone::CallSession incoming;
  {
    std::lock_guard lock(carol.seen->m);
    incoming = carol.seen->incoming.back();
  }
  auto answered = carol.phone.accept(incoming).get_for(10s);
  ASSERT_TRUE(answered && answered->ok()) << (answered ? answered->error().describe() : "accept: timeout");
  ASSERT_TRUE(browser.wait_event("established", 10s, {{"page", "bob"}, {"call", second}})) << browser.describe();
  auto transferred = transfer.get_for(10s);
  ASSERT_TRUE(transferred && transferred->ok()) << (transferred ? transferred->error().describe() : "timeout");
  ASSERT_TRUE(alice.seen->wait([&] { return !alice.seen->ended.empty(); }));
  EXPECT_EQ(alice.seen->ended[0].cause, phone::EndCause::transferred);
  EXPECT_TRUE(browser.wait_event("terminated", 10s, {{"page", "bob"}, {"call", first}})) << browser.describe();

  std::this_thread::sleep_for(1500ms);
  auto page = browser.command({{"cmd", "stats"}, {"page", "bob"}, {"call", second}, {"window", 1500}});
  ASSERT_TRUE(page) << page.error;
  EXPECT_GT(in_bytes(page.result), 0) << page.result.dump();
  EXPECT_NEAR(page.result["level"].value("peak_hz", 0.0), 660.0, 60.0) << "not carol's tone: " << page.result.dump();
  auto ours = carol.phone.stats(incoming);
  ASSERT_TRUE(ours.ok() && ours->audio);
  EXPECT_GT(ours->audio->decoded, 0u);

  auto hung = carol.phone.hangup(incoming).get_for(10s);
  ASSERT_TRUE(hung && hung->ok()) << (hung ? hung->error().describe() : "hangup: timeout");
  EXPECT_TRUE(browser.wait_event("terminated", 10s, {{"page", "bob"}, {"call", second}})) << browser.describe();
  for (auto* p : {&alice, &carol}) (void)p->phone.stop().get_for(5s);
}

// alice (a Phone) talks to the page, consults carol (another Phone) and joins them (REFER with Replaces to the
// page): the page calls carol with Replaces, carol's Phone takes it in place of its call with alice, and the page
// now hears carol's tone; both of alice's calls end.
TEST(BrowserPhone, AttendedTransferJoinsTheBrowserAndASecondPhone) {
  wazo::test::KamailioProcess kamailio;
  ASSERT_TRUE(kamailio.running()) << kamailio.error();
  BrowserPeer browser({.browser_dir = WAZO_BROWSER_DIR});
  ASSERT_TRUE(browser.running()) << browser.error();
  auto opened = browser.open({.ws_url = kamailio.ws_url(), .user = "bob", .password = "bobpw"});
  ASSERT_TRUE(opened) << opened.error;
  wazo::Runtime runtime;
  TestPhone alice(runtime, kamailio.ws_url(), "alice", 440);
  TestPhone carol(runtime, kamailio.ws_url(), "carol", 660);
  for (auto* p : {&alice, &carol}) {
    auto r = p->phone.register_ua().get_for(10s);
    ASSERT_TRUE(r && r->ok()) << (r ? r->error().describe() : "register: timeout");
  }

  auto to_bob = alice.phone.make_call("bob");
  ASSERT_TRUE(to_bob.ok()) << to_bob.error().describe();
  const auto invite = browser.wait_event("invite", 10s, {{"page", "bob"}});
  ASSERT_TRUE(invite) << browser.describe();
  const long first = (*invite)["call"].get<long>();
  ASSERT_TRUE(browser.wait_event("established", 10s, {{"page", "bob"}, {"call", first}})) << browser.describe();
  ASSERT_TRUE(alice.seen->wait([&] { return alice.seen->accepted.size() == 1; }));
  auto held = alice.phone.hold(*to_bob).get_for(10s);
  ASSERT_TRUE(held && held->ok()) << (held ? held->error().describe() : "hold: timeout");

  // The consultation call.
  auto to_carol = alice.phone.make_call("carol");
  ASSERT_TRUE(to_carol.ok()) << to_carol.error().describe();
  ASSERT_TRUE(carol.seen->wait([&] { return carol.seen->incoming.size() == 1; }));
  phone::CallSession consulted;
  {
    std::lock_guard lock(carol.seen->m);
    consulted = carol.seen->incoming.back();
  }
  auto answered = carol.phone.accept(consulted).get_for(10s);
  ASSERT_TRUE(answered && answered->ok()) << (answered ? answered->error().describe() : "accept: timeout");
  ASSERT_TRUE(alice.seen->wait([&] { return alice.seen->accepted.size() == 2; }));

  auto joined = alice.phone.indirect_transfer(*to_bob, *to_carol);
  const auto created = browser.wait_event("call_created", 10s, {{"page", "bob"}});
  ASSERT_TRUE(created) << "the page did not follow the REFER" << browser.describe();
  const long second = (*created)["call"].get<long>();
  ASSERT_TRUE(browser.wait_event("established", 10s, {{"page", "bob"}, {"call", second}})) << browser.describe();
  auto done = joined.get_for(10s);
  ASSERT_TRUE(done && done->ok()) << (done ? done->error().describe() : "indirect_transfer: timeout");
  EXPECT_TRUE(alice.seen->wait([&] { return alice.seen->ended.size() == 2; })) << "alice still has a call";
  // carol's call with alice was replaced by the page's INVITE.
  EXPECT_TRUE(carol.seen->wait([&] {
    for (const auto& e : carol.seen->ended) {
      if (e.cause == phone::EndCause::replaced) return true;
    }
    return false;
  })) << "carol's call with alice was not replaced";
  EXPECT_TRUE(browser.wait_event("terminated", 10s, {{"page", "bob"}, {"call", first}})) << browser.describe();

  std::this_thread::sleep_for(1500ms);
  auto page = browser.command({{"cmd", "stats"}, {"page", "bob"}, {"call", second}, {"window", 1500}});
  ASSERT_TRUE(page) << page.error;
  EXPECT_GT(in_bytes(page.result), 0) << page.result.dump();
  EXPECT_NEAR(page.result["level"].value("peak_hz", 0.0), 660.0, 60.0) << "not carol's tone: " << page.result.dump();
  const auto live = carol.phone.calls();
  ASSERT_EQ(live.size(), 1u);
  auto ours = carol.phone.stats(live[0]);
  ASSERT_TRUE(ours.ok() && ours->audio);
  EXPECT_GT(ours->audio->decoded, 0u);

  auto hung = carol.phone.hangup(live[0]).get_for(10s);
  ASSERT_TRUE(hung && hung->ok()) << (hung ? hung->error().describe() : "hangup: timeout");
  EXPECT_TRUE(browser.wait_event("terminated", 10s, {{"page", "bob"}, {"call", second}})) << browser.describe();
  for (auto* p : {&alice, &carol}) (void)p->phone.stop().get_for(5s);
}

}  // namespace
