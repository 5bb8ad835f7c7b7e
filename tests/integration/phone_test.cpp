// The phone layer (WebRTCClient + Phone) against real SIP servers over loopback WebSocket — Kamailio 5.6 and the
// dev engine's registrar/proxy — with the FAKE media engine (tests/support/fake_media_engine.hpp): these tests
// check signalling, events and CallSession state, not media (tests/media/phone_call_test.cpp does media with the
// real engine). Hence "FakeMedia" in every test name.
#include <unistd.h>

#include <algorithm>
#include <any>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <typeindex>
#include <vector>

#include <gtest/gtest.h>

#include "engine_process.hpp"
#include "fake_media_engine.hpp"
#include "kamailio_process.hpp"
#include "phone/detail/client_impl.hpp"
#include "wazo/core/runtime.hpp"
#include "wazo/events/websocket_client.hpp"
#include "wazo/phone/phone.hpp"
#include "wazo/rest/api_client.hpp"
#include "wazo/rest/auth.hpp"

namespace wazo::phone {
namespace {

using namespace std::chrono_literals;

// ------------------------------------------------------------------------------------------------ servers

struct Line {
  std::string user;
  std::string password;
  std::string target;  // what another party dials to reach it
};

class Server {
 public:
  virtual ~Server() = default;
  [[nodiscard]] virtual bool running() const = 0;
  [[nodiscard]] virtual std::string error() const = 0;
  [[nodiscard]] virtual std::string ws_url() const = 0;
  [[nodiscard]] virtual std::string domain() const = 0;
  [[nodiscard]] virtual Line line(const std::string& who) const = 0;
  virtual bool freeze(bool frozen) = 0;  // SIGSTOP / SIGCONT: a server that stops answering at all
};

class Kamailio final : public Server {
 public:
  bool running() const override { return kam_.running(); }
  std::string error() const override { return kam_.error(); }
  std::string ws_url() const override { return kam_.ws_url(); }
  std::string domain() const override { return kam_.options().domain; }
  Line line(const std::string& who) const override { return {who, who + "pw", who}; }
  bool freeze(bool frozen) override {
    if (!kam_.running()) return false;
    for (pid_t p : test::child_pids(kam_.pid())) ::kill(p, frozen ? SIGSTOP : SIGCONT);
    return ::kill(kam_.pid(), frozen ? SIGSTOP : SIGCONT) == 0;
  }

 private:
  test::KamailioProcess kam_;
};

class Engine final : public Server {
 public:
  bool running() const override { return engine_.running(); }
  std::string error() const override { return engine_.error(); }
  std::string ws_url() const override {
    return "ws://127.0.0.1:" + std::to_string(engine_.port()) + "/api/asterisk/ws";
  }
  std::string domain() const override { return "wazo.local"; }
  Line line(const std::string& who) const override {
    if (who == "alice") return {"alicewebrtc", "Kq7xW3ka9PzR", "1001"};
    if (who == "bob") return {"bobwebrtc", "Tz4mN8qe2VcL", "1002"};
    return {"carolwebrtc", "Hb6yR1uw5JsD", "1003"};
  }
  [[nodiscard]] std::string url() const { return engine_.url(); }
  bool freeze(bool frozen) override {
    return engine_.running() && ::kill(engine_.pid(), frozen ? SIGSTOP : SIGCONT) == 0;
  }

 private:
  test::EngineProcess engine_;
};

// ------------------------------------------------------------------------------------------------ recording

// Every phone event of one party, by type, with waits.
class Recorder {
 public:
  template <class E>
  void record(Phone& phone) {
    subs_.push_back(phone.on<E>([this](const E& e) {
      {
        std::lock_guard lock(m_);
        events_[std::type_index(typeid(E))].emplace_back(e);
      }
      cv_.notify_all();
    }));
  }

  template <class E>
  std::vector<E> all() {
    std::lock_guard lock(m_);
    std::vector<E> out;
    for (const auto& a : events_[std::type_index(typeid(E))]) out.push_back(std::any_cast<E>(a));
    return out;
  }

  // The first event of type E (after `skip` of them) that satisfies `pred`, waiting up to `limit`.
  template <class E>
  std::optional<E> wait(std::function<bool(const E&)> pred = nullptr, std::chrono::milliseconds limit = 10s) {
    std::unique_lock lock(m_);
    std::optional<E> found;
    cv_.wait_for(lock, limit, [&] {
      for (const auto& a : events_[std::type_index(typeid(E))]) {
        const auto& e = std::any_cast<const E&>(a);
        if (!pred || pred(e)) {
          found = e;
          return true;
        }
      }
      return false;
    });
    return found;
  }

  template <class E>
  std::size_t count() {
    std::lock_guard lock(m_);
    return events_[std::type_index(typeid(E))].size();
  }

  void clear() {
    std::lock_guard lock(m_);
    events_.clear();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::map<std::type_index, std::vector<std::any>> events_;
  std::vector<Subscription> subs_;
};

struct Party {
  Party(Runtime& rt, const Server& server, const std::string& who, bool auto_accept = false, int max_merge = 4)
      : engine(std::make_shared<test::FakeMediaEngine>(who)),
        client(detail::make_client(rt,
                                   {.display_name = who,
                                    .websocket_url = server.ws_url(),
                                    .authorization_user = server.line(who).user,
                                    .password = server.line(who).password,
                                    .domain = server.domain(),
                                    .max_merge_sessions = max_merge},
                                   engine)),
        phone(client),
        line(server.line(who)) {
    rec.record<CallIncoming>(phone);
    rec.record<CallOutgoing>(phone);
    rec.record<CallProgress>(phone);
    rec.record<CallAccepted>(phone);
    rec.record<CallEnded>(phone);
    rec.record<CallFailed>(phone);
    rec.record<CallHeld>(phone);
    rec.record<CallResumed>(phone);
    rec.record<CallMuted>(phone);
    rec.record<CallUnmuted>(phone);
    rec.record<DtmfReceived>(phone);
    rec.record<MessageReceived>(phone);
    rec.record<TransferCompleted>(phone);
    rec.record<Registered>(phone);
    if (auto_accept) {
      accept_sub = phone.on<CallIncoming>([p = phone](const CallIncoming& e) mutable {
        if (!e.replaces) p.accept(e.call).then([](Result<void>) {});
      });
    }
  }
  ~Party() {
    accept_sub.reset();
    client.close();
  }

  std::shared_ptr<test::FakeMediaEngine> engine;
  WebRTCClient client;
  Phone phone;
  Line line;
  Recorder rec;
  Subscription accept_sub;
};

// ------------------------------------------------------------------------------------------------ fixture

class PhoneTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "kamailio") {
      server_ = std::make_unique<Kamailio>();
    } else {
      if (::access(test::EngineProcess::binary().c_str(), X_OK) != 0) GTEST_SKIP() << "no wazo-dev-engine binary";
      server_ = std::make_unique<Engine>();
    }
    ASSERT_TRUE(server_->running()) << server_->error();
  }

  std::unique_ptr<Party> party(const std::string& who, bool auto_accept = false, int max_merge = 4) {
    auto p = std::make_unique<Party>(rt_, *server_, who, auto_accept, max_merge);
    auto r = p->phone.register_ua().get();
    EXPECT_TRUE(r) << who << ": " << (r ? "" : r.error().describe());
    EXPECT_TRUE(p->phone.is_registered());
    return p;
  }

  // alice calls bob, bob accepts; returns {alice's call, bob's call} once both are up.
  std::pair<CallSession, CallSession> connect(Party& from, Party& to) {
    auto before_in = to.rec.count<CallIncoming>();
    auto before_acc_from = from.rec.count<CallAccepted>();
    auto before_acc_to = to.rec.count<CallAccepted>();
    auto call = from.phone.make_call(to.line.target);
    EXPECT_TRUE(call) << (call ? "" : call.error().describe());
    if (!call) return {};
    std::optional<CallIncoming> in;
    for (int i = 0; i < 100 && to.rec.count<CallIncoming>() <= before_in; ++i) std::this_thread::sleep_for(50ms);
    auto all_in = to.rec.all<CallIncoming>();
    EXPECT_GT(all_in.size(), before_in) << "no incoming call";
    if (all_in.size() <= before_in) return {};
    in = all_in.back();
    EXPECT_TRUE(to.phone.accept(in->call).get());
    auto sip_id = call->sip_call_id;
    // accept() resolves on the ACK; the CallAccepted events (which update the snapshots) may come a moment later.
    for (int i = 0; i < 100 && (from.rec.count<CallAccepted>() <= before_acc_from ||
                                to.rec.count<CallAccepted>() <= before_acc_to);
         ++i)
      std::this_thread::sleep_for(50ms);
    auto mine = from.phone.find(sip_id);
    auto theirs = to.phone.find(in->call.sip_call_id);
    EXPECT_TRUE(mine && mine->is_established());
    EXPECT_TRUE(theirs && theirs->is_established());
    return {mine.value_or(CallSession{}), theirs.value_or(CallSession{})};
  }

  static std::function<bool(const CallEnded&)> ended(const std::string& sip_call_id) {
    return [sip_call_id](const CallEnded& e) { return e.call.sip_call_id == sip_call_id; };
  }

  Runtime rt_{RuntimeOptions{.log_sink = [](const LogRecord&) {}, .log_level = LogLevel::off}};
  std::unique_ptr<Server> server_;
};

INSTANTIATE_TEST_SUITE_P(Servers, PhoneTest, ::testing::Values("kamailio", "engine"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

// ------------------------------------------------------------------------------------------------ tests

TEST_P(PhoneTest, FakeMediaCallAnswerHangupBothWaysWithEventsAndCallSession) {
  auto alice = party("alice");
  auto bob = party("bob");
  EXPECT_GE(alice->rec.count<Registered>(), 1U);

  auto call = alice->phone.make_call(bob->line.target);
  ASSERT_TRUE(call) << call.error();
  EXPECT_TRUE(call->is_outgoing());
  EXPECT_EQ(call->dialed_extension, bob->line.target);
  EXPECT_FALSE(call->is_established());
  auto out = alice->rec.wait<CallOutgoing>();
  ASSERT_TRUE(out);
  EXPECT_EQ(out->call.sip_call_id, call->sip_call_id);

  auto in = bob->rec.wait<CallIncoming>();
  ASSERT_TRUE(in);
  EXPECT_TRUE(in->call.is_incoming());
  EXPECT_TRUE(in->call.is_ringing());
  EXPECT_EQ(in->call.number, alice->line.user);
  EXPECT_EQ(in->call.caller_number, alice->line.user);
  EXPECT_EQ(in->call.sip_call_id, call->sip_call_id);
  EXPECT_TRUE(bob->phone.has_incoming_call());
  auto ringing = alice->rec.wait<CallProgress>([](const CallProgress& p) { return p.status == 180; });
  ASSERT_TRUE(ringing);
  EXPECT_TRUE(ringing->call.is_ringing());
  EXPECT_EQ(alice->phone.call_count(), 1U);
  EXPECT_TRUE(alice->phone.has_an_active_call());

  std::this_thread::sleep_for(1100ms);  // so that elapsed_seconds() since creation and since answer differ
  ASSERT_TRUE(bob->phone.accept(in->call).get());
  auto a_acc = alice->rec.wait<CallAccepted>();
  auto b_acc = bob->rec.wait<CallAccepted>();
  ASSERT_TRUE(a_acc && b_acc);
  EXPECT_TRUE(a_acc->call.is_established());
  EXPECT_TRUE(a_acc->call.is_active());
  EXPECT_FALSE(a_acc->call.is_ringing());
  EXPECT_EQ(a_acc->call.sip_status, 200);
  ASSERT_TRUE(a_acc->call.answer_time.has_value());
  EXPECT_GE(*a_acc->call.answer_time - a_acc->call.creation_time, 1s);
  EXPECT_TRUE(bob->phone.current_call().has_value());
  EXPECT_EQ(bob->phone.current_call()->sip_call_id, call->sip_call_id);
  EXPECT_FALSE(bob->phone.has_incoming_call());

  std::this_thread::sleep_for(1100ms);
  ASSERT_TRUE(bob->phone.hangup(b_acc->call).get());
  auto a_end = alice->rec.wait<CallEnded>();
  auto b_end = bob->rec.wait<CallEnded>();
  ASSERT_TRUE(a_end && b_end);
  EXPECT_EQ(a_end->cause, EndCause::remote_hangup);
  EXPECT_EQ(b_end->cause, EndCause::hangup);
  EXPECT_TRUE(a_end->call.is_terminated());
  EXPECT_GE(a_end->call.elapsed_seconds(), 1);
  EXPECT_EQ(alice->phone.call_count(), 0U);
  EXPECT_FALSE(alice->phone.has_an_active_call());
  EXPECT_EQ(alice->rec.count<CallFailed>(), 0U);

  // The other way: bob calls alice, alice hangs up.
  alice->rec.clear();
  bob->rec.clear();
  auto [b_call, a_call] = connect(*bob, *alice);
  EXPECT_TRUE(b_call.is_caller);
  EXPECT_FALSE(a_call.is_caller);
  ASSERT_TRUE(alice->phone.hangup(a_call).get());
  auto e1 = bob->rec.wait<CallEnded>();
  ASSERT_TRUE(e1);
  EXPECT_EQ(e1->cause, EndCause::remote_hangup);
  EXPECT_EQ(alice->rec.wait<CallEnded>()->cause, EndCause::hangup);
}

TEST_P(PhoneTest, FakeMediaRejectAndCancel) {
  auto alice = party("alice");
  auto bob = party("bob");

  auto call = alice->phone.make_call(bob->line.target);
  ASSERT_TRUE(call);
  auto in = bob->rec.wait<CallIncoming>();
  ASSERT_TRUE(in);
  ASSERT_TRUE(bob->phone.reject(in->call));
  auto failed = alice->rec.wait<CallFailed>();
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->error.status, 486);
  auto a_end = alice->rec.wait<CallEnded>();
  ASSERT_TRUE(a_end);
  EXPECT_EQ(a_end->cause, EndCause::rejected);
  EXPECT_EQ(a_end->sip_status, 486);
  EXPECT_EQ(a_end->call.sip_status, 486);
  EXPECT_EQ(bob->rec.wait<CallEnded>()->cause, EndCause::rejected);

  // Cancelled by the caller while it rings.
  alice->rec.clear();
  bob->rec.clear();
  auto call2 = alice->phone.make_call(bob->line.target);
  ASSERT_TRUE(call2);
  ASSERT_TRUE(bob->rec.wait<CallIncoming>());
  ASSERT_TRUE(alice->rec.wait<CallProgress>([](const CallProgress& p) { return p.status == 180; }));
  ASSERT_TRUE(alice->phone.hangup(*call2).get());
  auto c_end = alice->rec.wait<CallEnded>();
  ASSERT_TRUE(c_end);
  EXPECT_EQ(c_end->cause, EndCause::cancelled);
  auto b_end = bob->rec.wait<CallEnded>();
  ASSERT_TRUE(b_end);
  EXPECT_EQ(b_end->cause, EndCause::remote_cancel);
  EXPECT_EQ(alice->rec.count<CallFailed>(), 0U);  // a cancel is no failure
  EXPECT_EQ(bob->phone.call_count(), 0U);
}

TEST_P(PhoneTest, FakeMediaHoldResumeAndMuteSeenOnBothSides) {
  auto alice = party("alice");
  auto bob = party("bob");
  auto [a, b] = connect(*alice, *bob);

  ASSERT_TRUE(alice->phone.hold(a).get());
  auto held = alice->rec.wait<CallHeld>();
  ASSERT_TRUE(held);
  EXPECT_FALSE(held->remote);
  EXPECT_TRUE(held->call.is_on_hold());
  EXPECT_FALSE(held->call.is_active());
  auto rheld = bob->rec.wait<CallHeld>();
  ASSERT_TRUE(rheld);
  EXPECT_TRUE(rheld->remote);
  EXPECT_TRUE(rheld->call.is_remotely_held());
  EXPECT_FALSE(rheld->call.is_on_hold());
  EXPECT_TRUE(alice->phone.find(a.sip_call_id)->paused);
  EXPECT_TRUE(alice->client.is_held(alice->client.sessions().front()));
  // The media was asked for sendonly and the SDP said so.
  auto offers = alice->engine->calls().front()->session().offers();
  ASSERT_GE(offers.size(), 2U);
  EXPECT_NE(offers.back().find("a=sendonly"), std::string::npos);

  ASSERT_TRUE(alice->phone.resume(a).get());
  auto resumed = alice->rec.wait<CallResumed>();
  ASSERT_TRUE(resumed);
  EXPECT_FALSE(resumed->call.paused);
  auto rresumed = bob->rec.wait<CallResumed>();
  ASSERT_TRUE(rresumed);
  EXPECT_TRUE(rresumed->remote);
  EXPECT_FALSE(rresumed->call.remotely_held);
  EXPECT_TRUE(bob->phone.find(b.sip_call_id)->is_active());

  // Bob holds, then mutes; a mute without event stays quiet.
  ASSERT_TRUE(bob->phone.hold(b).get());
  ASSERT_TRUE(alice->rec.wait<CallHeld>([](const CallHeld& e) { return e.remote; }));
  ASSERT_TRUE(bob->phone.resume(b).get());
  ASSERT_TRUE(alice->rec.wait<CallResumed>([](const CallResumed& e) { return e.remote; }));

  ASSERT_TRUE(alice->phone.mute(a));
  auto muted = alice->rec.wait<CallMuted>();
  ASSERT_TRUE(muted);
  EXPECT_TRUE(muted->call.is_muted());
  EXPECT_TRUE(alice->engine->calls().front()->audio_muted());
  ASSERT_TRUE(alice->phone.unmute(a));
  ASSERT_TRUE(alice->rec.wait<CallUnmuted>());
  EXPECT_FALSE(alice->engine->calls().front()->audio_muted());
  ASSERT_TRUE(alice->phone.mute(a, false));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(alice->rec.count<CallMuted>(), 1U);
  EXPECT_TRUE(alice->phone.find(a.sip_call_id)->muted);
  // Hold without event: the flag moves, no CallHeld.
  auto own_holds = [&] {
    auto all = alice->rec.all<CallHeld>();
    return std::count_if(all.begin(), all.end(), [](const CallHeld& e) { return !e.remote; });
  };
  ASSERT_EQ(own_holds(), 1);
  ASSERT_TRUE(alice->phone.hold(a, false).get());
  EXPECT_TRUE(alice->phone.find(a.sip_call_id)->paused);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(own_holds(), 1);

  ASSERT_TRUE(alice->phone.hangup(a).get());
  ASSERT_TRUE(bob->rec.wait<CallEnded>());
}

TEST_P(PhoneTest, FakeMediaDtmfByInfoAndMessagesInAndOutOfDialog) {
  auto alice = party("alice");
  auto bob = party("bob");
  auto [a, b] = connect(*alice, *bob);

  // The fake media negotiates no telephone-event: automatic falls back to SIP INFO.
  ASSERT_TRUE(alice->phone.send_key(a, "12#").get());
  for (int i = 0; i < 50 && bob->rec.count<DtmfReceived>() < 3; ++i) std::this_thread::sleep_for(50ms);
  auto keys = bob->rec.all<DtmfReceived>();
  ASSERT_EQ(keys.size(), 3U);
  EXPECT_EQ(keys[0].tone, '1');
  EXPECT_EQ(keys[1].tone, '2');
  EXPECT_EQ(keys[2].tone, '#');
  EXPECT_TRUE(keys[0].via_info);
  EXPECT_EQ(keys[0].call.sip_call_id, b.sip_call_id);
  auto bad = alice->phone.send_key(a, "1x").get();
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().category, ErrorCategory::invalid_argument);
  auto rfc = alice->phone.send_key(a, "1", DtmfMethod::rfc4733).get();
  ASSERT_FALSE(rfc);
  EXPECT_EQ(rfc.error().category, ErrorCategory::media);

  ASSERT_TRUE(alice->phone.send_message(a, "in the call").get());
  auto m1 = bob->rec.wait<MessageReceived>();
  ASSERT_TRUE(m1);
  ASSERT_TRUE(m1->call.has_value());
  EXPECT_EQ(m1->call->sip_call_id, b.sip_call_id);
  EXPECT_EQ(m1->body, "in the call");

  bob->rec.clear();
  ASSERT_TRUE(alice->phone.send_message(bob->line.target, "outside", "text/plain").get());
  auto m2 = bob->rec.wait<MessageReceived>();
  ASSERT_TRUE(m2);
  EXPECT_FALSE(m2->call.has_value());
  EXPECT_EQ(m2->body, "outside");
  EXPECT_NE(m2->from.find(alice->line.user), std::string::npos);
  ASSERT_TRUE(alice->phone.hangup(a).get());
}

TEST_P(PhoneTest, FakeMediaBlindTransferBobSendsAliceToCarol) {
  auto alice = party("alice");
  auto bob = party("bob");
  auto carol = party("carol", /*auto_accept=*/true);
  auto [a, b] = connect(*alice, *bob);

  ASSERT_TRUE(bob->phone.transfer(b, carol->line.target).get());
  auto done = bob->rec.wait<TransferCompleted>();
  ASSERT_TRUE(done);
  EXPECT_EQ(done->call.sip_call_id, b.sip_call_id);
  auto b_end = bob->rec.wait<CallEnded>();
  ASSERT_TRUE(b_end);
  EXPECT_EQ(b_end->cause, EndCause::transferred);

  auto a_out = alice->rec.wait<CallOutgoing>([&](const CallOutgoing& e) { return e.transferred_from.has_value(); });
  ASSERT_TRUE(a_out);
  EXPECT_EQ(*a_out->transferred_from, a.sip_call_id);
  auto c_in = carol->rec.wait<CallIncoming>();
  ASSERT_TRUE(c_in);
  EXPECT_EQ(c_in->call.number, alice->line.user);
  auto a_new = alice->rec.wait<CallAccepted>(
      [&](const CallAccepted& e) { return e.call.sip_call_id == a_out->call.sip_call_id; });
  ASSERT_TRUE(a_new);
  auto a_old_end = alice->rec.wait<CallEnded>(ended(a.sip_call_id));
  ASSERT_TRUE(a_old_end);
  EXPECT_EQ(a_old_end->cause, EndCause::transferred);
  EXPECT_EQ(alice->phone.call_count(), 1U);
  EXPECT_EQ(bob->phone.call_count(), 0U);
  EXPECT_EQ(carol->phone.call_count(), 1U);
  ASSERT_TRUE(carol->phone.hangup(c_in->call).get());
  ASSERT_TRUE(alice->rec.wait<CallEnded>(ended(a_out->call.sip_call_id)));
}

TEST_P(PhoneTest, FakeMediaAttendedTransferBobConnectsAliceWithCarol) {
  auto alice = party("alice");
  auto bob = party("bob");
  auto carol = party("carol");
  auto [a, b] = connect(*alice, *bob);
  ASSERT_TRUE(bob->phone.hold(b).get());
  auto [b2, c] = connect(*bob, *carol);  // the consultation call

  ASSERT_TRUE(bob->phone.indirect_transfer(b, b2).get());
  ASSERT_TRUE(bob->rec.wait<TransferCompleted>());
  // Alice calls carol with Replaces; carol takes it without ringing and drops bob's leg.
  auto c_in = carol->rec.wait<CallIncoming>([](const CallIncoming& e) { return e.replaces.has_value(); });
  ASSERT_TRUE(c_in);
  EXPECT_EQ(*c_in->replaces, c.sip_call_id);
  auto c_acc = carol->rec.wait<CallAccepted>(
      [&](const CallAccepted& e) { return e.call.sip_call_id == c_in->call.sip_call_id; });
  ASSERT_TRUE(c_acc);
  auto c_old = carol->rec.wait<CallEnded>(ended(c.sip_call_id));
  ASSERT_TRUE(c_old);
  EXPECT_EQ(c_old->cause, EndCause::replaced);
  auto a_old = alice->rec.wait<CallEnded>(ended(a.sip_call_id));
  ASSERT_TRUE(a_old);
  EXPECT_EQ(a_old->cause, EndCause::transferred);
  auto b_one = bob->rec.wait<CallEnded>(ended(b.sip_call_id));
  auto b_two = bob->rec.wait<CallEnded>(ended(b2.sip_call_id));
  ASSERT_TRUE(b_one && b_two);
  EXPECT_EQ(b_one->cause, EndCause::transferred);
  EXPECT_EQ(b_two->cause, EndCause::transferred);
  for (int i = 0; i < 50 && (alice->phone.call_count() != 1 || carol->phone.call_count() != 1); ++i)
    std::this_thread::sleep_for(50ms);
  EXPECT_EQ(alice->phone.call_count(), 1U);
  EXPECT_EQ(carol->phone.call_count(), 1U);
  EXPECT_EQ(bob->phone.call_count(), 0U);
  ASSERT_TRUE(alice->phone.hangup(*alice->phone.current_call()).get());
  ASSERT_TRUE(carol->rec.wait<CallEnded>(ended(c_in->call.sip_call_id)));
}

TEST_P(PhoneTest, FakeMediaAttendedTransferCancelResumesTheHeldCall) {
  auto alice = party("alice");
  auto bob = party("bob");
  auto carol = party("carol", /*auto_accept=*/true);
  auto [a, b] = connect(*alice, *bob);

  auto t = bob->phone.atxfer(b);
  auto consult = t.init(carol->line.target);
  ASSERT_TRUE(consult) << consult.error();
  ASSERT_TRUE(alice->rec.wait<CallHeld>([](const CallHeld& e) { return e.remote; }));
  ASSERT_TRUE(carol->rec.wait<CallAccepted>());
  ASSERT_TRUE(t.cancel().get());
  ASSERT_TRUE(carol->rec.wait<CallEnded>());
  ASSERT_TRUE(alice->rec.wait<CallResumed>([](const CallResumed& e) { return e.remote; }));
  EXPECT_TRUE(bob->phone.find(b.sip_call_id)->is_active());
  EXPECT_EQ(bob->phone.call_count(), 1U);
  ASSERT_TRUE(bob->phone.hangup(b).get());
}

// The ad hoc conference's call control (the mixing itself is tested with real media in tests/media): joining resumes
// a held call, every member gets the same mixer, leaving holds, a call that ends leaves, at most N calls.
TEST_P(PhoneTest, FakeMediaConferenceMergesResumesLeavesAndHolds) {
  auto alice = party("alice", false, /*max_merge=*/2);
  auto bob = party("bob");
  auto carol = party("carol");
  auto [ab, b] = connect(*alice, *bob);
  auto [ac, c] = connect(*alice, *carol);
  ASSERT_TRUE(alice->phone.hold(ab).get());
  ASSERT_TRUE(alice->phone.find(ab.sip_call_id)->paused);
  auto media = alice->engine->calls();
  ASSERT_EQ(media.size(), 2U);

  const auto resumes_before = alice->rec.count<CallResumed>();
  ASSERT_TRUE(alice->phone.start_conference({ab, ac}).get());
  ASSERT_TRUE(alice->rec.wait<CallResumed>([&](const CallResumed& e) { return e.call.is(ab); }));
  EXPECT_EQ(alice->rec.count<CallResumed>(), resumes_before + 1) << "only the held call is resumed";
  ASSERT_TRUE(bob->rec.wait<CallResumed>([](const CallResumed& e) { return e.remote; }));
  EXPECT_TRUE(media[0]->bridged());
  EXPECT_TRUE(media[1]->bridged());
  EXPECT_EQ(media[0]->bridge(), media[1]->bridge()) << "one mixer for the whole conference";
  EXPECT_TRUE(alice->phone.find(ab.sip_call_id)->is_conference());
  EXPECT_TRUE(alice->phone.find(ac.sip_call_id)->is_conference());
  EXPECT_FALSE(alice->phone.find(ab.sip_call_id)->paused);
  EXPECT_EQ(alice->phone.conference_calls().size(), 2U);
  EXPECT_FALSE(bob->phone.find(b.sip_call_id)->is_conference()) << "the flag is ours, not the peers'";

  // A third call would exceed max_merge_sessions (2 here): refused, nothing changes.
  auto [ad, d] = connect(*alice, *bob);
  auto over = alice->phone.add_to_conference(ad).get();
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().category, ErrorCategory::invalid_argument);
  EXPECT_FALSE(alice->phone.find(ad.sip_call_id)->is_conference());
  ASSERT_TRUE(alice->phone.hangup(ad).get());

  // Mute and hold apply to every member; held members stay in the conference.
  ASSERT_TRUE(alice->phone.mute_conference({ab, ac}));
  EXPECT_TRUE(media[0]->audio_muted() && media[1]->audio_muted());
  ASSERT_TRUE(alice->phone.unmute_conference({ab, ac}));
  EXPECT_FALSE(media[0]->audio_muted() || media[1]->audio_muted());
  ASSERT_TRUE(alice->phone.hold_conference({ab, ac}).get());
  EXPECT_TRUE(alice->phone.find(ab.sip_call_id)->paused && alice->phone.find(ac.sip_call_id)->paused);
  EXPECT_EQ(alice->phone.conference_calls().size(), 2U);
  ASSERT_TRUE(alice->phone.resume_conference({ab, ac}).get());
  EXPECT_FALSE(alice->phone.find(ac.sip_call_id)->paused);

  // Carol leaves: her call is held and no longer mixed; bob's stays.
  ASSERT_TRUE(alice->phone.remove_from_conference({ac}).get());
  EXPECT_FALSE(media[1]->bridged());
  EXPECT_TRUE(media[0]->bridged());
  EXPECT_TRUE(alice->phone.find(ac.sip_call_id)->paused);
  EXPECT_FALSE(alice->phone.find(ac.sip_call_id)->is_conference());
  ASSERT_TRUE(carol->rec.wait<CallHeld>([](const CallHeld& e) { return e.remote; }));
  // And comes back (resumed by the merge).
  ASSERT_TRUE(alice->phone.add_to_conference(ac).get());
  EXPECT_TRUE(media[1]->bridged());
  EXPECT_FALSE(alice->phone.find(ac.sip_call_id)->paused);

  // A member that hangs up leaves the conference.
  ASSERT_TRUE(carol->phone.hangup(c).get());
  ASSERT_TRUE(alice->rec.wait<CallEnded>(ended(ac.sip_call_id)));
  EXPECT_FALSE(media[1]->bridged());
  EXPECT_EQ(alice->client.merged_sessions().size(), 1U);

  // An unknown call fails the whole request before anything is done.
  CallSession ghost;
  ghost.sip_call_id = "nope";
  auto r = alice->phone.start_conference({ab, ghost}).get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().category, ErrorCategory::invalid_argument);

  // unmerge: the last one named stays active.
  ASSERT_TRUE(alice->client.unmerge(alice->client.merged_sessions()).get());
  EXPECT_FALSE(media[0]->bridged());
  EXPECT_FALSE(alice->phone.find(ab.sip_call_id)->paused);
  EXPECT_TRUE(alice->phone.conference_calls().empty());
  ASSERT_TRUE(alice->phone.hangup_conference({ab}).get());
  ASSERT_TRUE(bob->rec.wait<CallEnded>(ended(b.sip_call_id)));
}

// The seed's heartbeat timeout: a server that stops answering (frozen with SIGSTOP, the fault no live server
// shows on demand) is given up on after max_heartbeats OPTIONS, and the client connects and registers again.
TEST_P(PhoneTest, FaultFrozenServerHeartbeatTimeoutReconnectsAndRegistersAgain) {
  auto engine = std::make_shared<test::FakeMediaEngine>("alice");
  auto client = detail::make_client(rt_,
                                    {.websocket_url = server_->ws_url(),
                                     .authorization_user = server_->line("alice").user,
                                     .password = server_->line("alice").password,
                                     .domain = server_->domain(),
                                     .heartbeat_delay = 100ms,
                                     .heartbeat_timeout = 300ms,
                                     .max_heartbeats = 2},
                                    engine);
  Phone phone(client);
  Recorder rec;
  rec.record<HeartbeatTimeout>(phone);
  rec.record<Registered>(phone);
  rec.record<Disconnected>(phone);
  ASSERT_TRUE(phone.register_ua().get());
  phone.start_heartbeat();
  std::this_thread::sleep_for(400ms);  // answered heartbeats
  EXPECT_EQ(rec.count<HeartbeatTimeout>(), 0U);
  ASSERT_TRUE(server_->freeze(true));
  auto timeout = rec.wait<HeartbeatTimeout>();
  server_->freeze(false);
  ASSERT_TRUE(timeout);
  EXPECT_EQ(timeout->missed, 2);
  ASSERT_TRUE(rec.wait<Disconnected>()) << "the connection was not dropped";
  for (int i = 0; i < 300 && rec.count<Registered>() < 2; ++i) std::this_thread::sleep_for(50ms);
  EXPECT_GE(rec.count<Registered>(), 2U) << "no new registration after the reconnection";
  EXPECT_TRUE(phone.is_registered());

  // attempt_reconnection() does the same on demand.
  const auto before = rec.count<Registered>();
  client.attempt_reconnection();
  for (int i = 0; i < 300 && rec.count<Registered>() <= before; ++i) std::this_thread::sleep_for(50ms);
  EXPECT_GT(rec.count<Registered>(), before);
  phone.stop_heartbeat();
  client.close();
}

TEST_P(PhoneTest, FakeMediaUnknownCallsAndHeartbeat) {
  auto alice = party("alice");
  CallSession ghost;
  ghost.sip_call_id = "nope";
  auto r = alice->phone.hangup(ghost).get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().category, ErrorCategory::invalid_argument);
  EXPECT_FALSE(alice->phone.mute(ghost));
  EXPECT_FALSE(alice->phone.current_call().has_value());

  // The heartbeat is OPTIONS to the server: answered here.
  std::atomic<int> answered{0};
  auto sub = alice->client.on<HeartbeatAnswered>([&](const HeartbeatAnswered&) { ++answered; });
  ASSERT_TRUE(alice->client.ping_server().get());
  alice->phone.start_heartbeat();
  EXPECT_TRUE(alice->client.has_heartbeat());
  for (int i = 0; i < 60 && answered < 1; ++i) std::this_thread::sleep_for(50ms);
  EXPECT_GE(answered.load(), 1);
  alice->phone.stop_heartbeat();
  EXPECT_FALSE(alice->client.has_heartbeat());

  ASSERT_TRUE(alice->phone.unregister_ua().get());
  EXPECT_FALSE(alice->phone.is_registered());
}

TEST_P(PhoneTest, FakeMediaIgnoreKeepsTheCallRingingAndFlagsIt) {
  auto alice = party("alice");
  auto bob = party("bob");

  auto call = alice->phone.make_call(bob->line.target);
  ASSERT_TRUE(call) << call.error();
  auto in = bob->rec.wait<CallIncoming>();
  ASSERT_TRUE(in);
  ASSERT_TRUE(alice->rec.wait<CallProgress>([](const CallProgress& p) { return p.status == 180; }));
  EXPECT_FALSE(in->call.is_ignored());

  ASSERT_TRUE(bob->phone.ignore(in->call));
  auto b_call = bob->phone.find(in->call.sip_call_id);
  ASSERT_TRUE(b_call);
  EXPECT_TRUE(b_call->is_ignored());
  EXPECT_TRUE(b_call->is_ringing());
  EXPECT_TRUE(bob->phone.has_incoming_call());
  EXPECT_EQ(bob->phone.call_count(), 1U);

  // Nothing goes on the wire: the caller still rings, nobody ends.
  std::this_thread::sleep_for(300ms);
  auto a_call = alice->phone.find(call->sip_call_id);
  ASSERT_TRUE(a_call);
  EXPECT_TRUE(a_call->is_ringing());
  EXPECT_FALSE(a_call->is_terminated());
  EXPECT_EQ(alice->rec.count<CallEnded>(), 0U);
  EXPECT_EQ(alice->rec.count<CallFailed>(), 0U);
  EXPECT_EQ(bob->rec.count<CallEnded>(), 0U);
  EXPECT_TRUE(bob->phone.find(in->call.sip_call_id)->is_ringing());

  CallSession ghost;
  ghost.sip_call_id = "nope";
  auto r = bob->phone.ignore(ghost);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().category, ErrorCategory::invalid_argument);

  // The caller gives up: the ignored call ends as any ringing one, its last snapshot still ignored.
  ASSERT_TRUE(alice->phone.hangup(*call).get());
  auto b_end = bob->rec.wait<CallEnded>();
  ASSERT_TRUE(b_end);
  EXPECT_EQ(b_end->cause, EndCause::remote_cancel);
  EXPECT_TRUE(b_end->call.is_ignored());
  EXPECT_EQ(bob->phone.call_count(), 0U);
}

TEST_P(PhoneTest, FakeMediaSetCallIdRenamesTheCallForFindAndSnapshots) {
  auto alice = party("alice");
  auto bob = party("bob");

  auto call = alice->phone.make_call(bob->line.target);
  ASSERT_TRUE(call) << call.error();
  auto in = bob->rec.wait<CallIncoming>();
  ASSERT_TRUE(in);
  const std::string engine_id = call->call_id;  // X-Wazo-Call-ID when the server sent one

  // Set while it rings: the answer (and a X-Wazo-Call-ID in it) does not overwrite it.
  ASSERT_TRUE(alice->phone.set_call_id(call->sip_call_id, "wazo-call-42"));
  auto found = alice->phone.find("wazo-call-42");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->sip_call_id, call->sip_call_id);
  EXPECT_EQ(found->call_id, "wazo-call-42");
  EXPECT_EQ(found->id(), "wazo-call-42");
  EXPECT_TRUE(found->is_id("wazo-call-42"));
  EXPECT_TRUE(found->is(*call));
  EXPECT_EQ(alice->phone.find(call->sip_call_id)->call_id, "wazo-call-42");
  if (!engine_id.empty() && engine_id != "wazo-call-42") {
    EXPECT_FALSE(alice->phone.find(engine_id));
  }
  ASSERT_EQ(alice->phone.calls().size(), 1U);
  EXPECT_EQ(alice->phone.calls().front().call_id, "wazo-call-42");
  EXPECT_FALSE(bob->phone.find("wazo-call-42"));  // the other phone's call keeps its own

  ASSERT_TRUE(bob->phone.accept(in->call).get());
  auto acc = alice->rec.wait<CallAccepted>();
  ASSERT_TRUE(acc);
  EXPECT_EQ(acc->call.call_id, "wazo-call-42");
  EXPECT_EQ(alice->phone.current_call()->call_id, "wazo-call-42");

  // Unknown SIP Call-ID.
  auto bad = alice->phone.set_call_id("no-such-call", "x");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().category, ErrorCategory::invalid_argument);

  // Set again once up; the snapshots of the following events carry it, to the end.
  ASSERT_TRUE(alice->phone.set_call_id(call->sip_call_id, "wazo-call-43"));
  EXPECT_FALSE(alice->phone.find("wazo-call-42"));
  ASSERT_TRUE(alice->phone.mute(*alice->phone.find("wazo-call-43")));
  auto muted = alice->rec.wait<CallMuted>();
  ASSERT_TRUE(muted);
  EXPECT_EQ(muted->call.call_id, "wazo-call-43");
  ASSERT_TRUE(alice->phone.hangup(*alice->phone.find("wazo-call-43")).get());
  auto a_end = alice->rec.wait<CallEnded>();
  ASSERT_TRUE(a_end);
  EXPECT_EQ(a_end->call.call_id, "wazo-call-43");
  EXPECT_EQ(a_end->call.sip_call_id, call->sip_call_id);
  ASSERT_TRUE(bob->rec.wait<CallEnded>());
}

TEST_P(PhoneTest, FakeMediaStopHangsUpTheCallsAndUnregisters) {
  auto alice = party("alice");
  auto bob = party("bob");
  auto carol = party("carol");
  auto [a, b] = connect(*alice, *bob);
  // A second call, to carol, still ringing.
  auto ringing = alice->phone.make_call(carol->line.target);
  ASSERT_TRUE(ringing) << ringing.error();
  auto c_in = carol->rec.wait<CallIncoming>();
  ASSERT_TRUE(c_in);
  ASSERT_TRUE(alice->rec.wait<CallProgress>(
      [&](const CallProgress& p) { return p.status == 180 && p.call.sip_call_id == ringing->sip_call_id; }));
  EXPECT_EQ(alice->phone.call_count(), 2U);

  auto r = alice->phone.stop().get();
  ASSERT_TRUE(r) << r.error();
  auto b_end = bob->rec.wait<CallEnded>(ended(b.sip_call_id));
  ASSERT_TRUE(b_end);
  EXPECT_EQ(b_end->cause, EndCause::remote_hangup);
  auto c_end = carol->rec.wait<CallEnded>(ended(c_in->call.sip_call_id));
  ASSERT_TRUE(c_end);
  EXPECT_EQ(c_end->cause, EndCause::remote_cancel);
  auto a_end = alice->rec.wait<CallEnded>(ended(a.sip_call_id));
  ASSERT_TRUE(a_end);
  EXPECT_EQ(a_end->cause, EndCause::hangup);
  auto a_end2 = alice->rec.wait<CallEnded>(ended(ringing->sip_call_id));
  ASSERT_TRUE(a_end2);
  EXPECT_EQ(a_end2->cause, EndCause::cancelled);
  EXPECT_EQ(alice->phone.call_count(), 0U);
  EXPECT_FALSE(alice->phone.has_an_active_call());
  EXPECT_FALSE(alice->phone.is_registered());

  // Unregistered: the server has nowhere to send a call to alice (Kamailio 404, the engine 480).
  const int expected = GetParam() == "kamailio" ? 404 : 480;
  auto to_alice = bob->phone.make_call(alice->line.target);
  ASSERT_TRUE(to_alice) << to_alice.error();
  auto failed =
      bob->rec.wait<CallFailed>([&](const CallFailed& e) { return e.call.sip_call_id == to_alice->sip_call_id; });
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->error.status, expected);
  auto f_end = bob->rec.wait<CallEnded>(ended(to_alice->sip_call_id));
  ASSERT_TRUE(f_end);
  EXPECT_EQ(f_end->sip_status, expected);
  EXPECT_EQ(alice->rec.count<CallIncoming>(), 0U);
}

TEST_P(PhoneTest, FakeMediaRingVolumeAndRingDeviceAreKeptForTheApp) {
  auto alice = party("alice");
  EXPECT_EQ(alice->phone.ring_volume(), 1.0);
  EXPECT_EQ(alice->phone.ring_device(), "");

  // The constructor's audio_ring_device is the first ring_device().
  Phone phone(alice->client, PhoneOptions{.audio_ring_device = "ring-speaker"});
  EXPECT_EQ(phone.ring_device(), "ring-speaker");
  ASSERT_TRUE(phone.change_ring_device("usb-headset"));
  EXPECT_EQ(phone.ring_device(), "usb-headset");
  Phone copy = phone;  // a handle: copies share it
  EXPECT_EQ(copy.ring_device(), "usb-headset");
  EXPECT_EQ(alice->phone.ring_device(), "");  // another Phone keeps its own

  phone.change_ring_volume(0.25);
  EXPECT_EQ(phone.ring_volume(), 0.25);
  EXPECT_EQ(copy.ring_volume(), 0.25);
  phone.change_ring_volume(1.5);
  EXPECT_EQ(phone.ring_volume(), 1.0);
  phone.change_ring_volume(-0.5);
  EXPECT_EQ(phone.ring_volume(), 0.0);
  phone.change_ring_volume(0.0);
  EXPECT_EQ(phone.ring_volume(), 0.0);
  phone.change_ring_volume(1.0);
  EXPECT_EQ(phone.ring_volume(), 1.0);
  EXPECT_EQ(alice->phone.ring_volume(), 1.0);
  phone.change_ring_volume(0.3);
  phone.change_ring_volume(std::numeric_limits<double>::quiet_NaN());  // not a volume: ignored
  EXPECT_EQ(phone.ring_volume(), 0.3);
  phone.change_audio_volume(0.6);
  phone.change_audio_volume(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(alice->client.audio_output_volume(), 0.6);
  phone.change_ring_volume(1.0);

  // Kept across a call: the SDK plays no ring tone, the settings stay as the app left them.
  auto bob = party("bob");
  phone.change_ring_volume(0.5);
  auto [b_call, a_call] = connect(*bob, *alice);
  EXPECT_EQ(phone.ring_volume(), 0.5);
  EXPECT_EQ(phone.ring_device(), "usb-headset");
  ASSERT_TRUE(bob->phone.hangup(b_call).get());
  ASSERT_TRUE(alice->rec.wait<CallEnded>());
}

// CallSession from calld events: the engine's call_created carries each leg's Wazo call id; the callee also gets it
// in X-Wazo-Call-ID, the caller only from the event, which follow_call_events() applies by SIP Call-ID.
TEST_P(PhoneTest, FakeMediaCallIdsFromCalldEventsAndTheInviteHeader) {
  auto* engine = dynamic_cast<Engine*>(server_.get());
  if (engine == nullptr) GTEST_SKIP() << "Kamailio has no calld";
  rest::ApiClient api(rt_, rest::ClientOptions{.server = engine->url(), .client_id = "wazo-tests"});
  ASSERT_TRUE(api.auth().log_in({.username = "alice", .password = "secret"}).get());
  events::WebSocketClient ws(api,
                             events::WebSocketOptions{.events = {"call_created", "call_answered", "call_updated"}});
  std::mutex m;
  std::vector<events::CallCreated> created;
  auto seen = ws.on<events::CallCreated>([&](const events::CallCreated& e) {
    std::lock_guard lock(m);
    created.push_back(e);
  });
  ws.connect();
  auto open = ws.when_open().get_for(10s);
  ASSERT_TRUE(open && open->ok());

  auto alice = party("alice");
  auto bob = party("bob");
  auto follow = alice->phone.follow_call_events(ws);
  auto [a, b] = connect(*alice, *bob);
  EXPECT_FALSE(b.call_id.empty()) << "bob's INVITE had no X-Wazo-Call-ID";
  std::optional<CallSession> mine;
  for (int i = 0; i < 100; ++i) {
    mine = alice->phone.find(a.sip_call_id);
    if (mine && !mine->call_id.empty()) break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(mine);
  ASSERT_FALSE(mine->call_id.empty()) << "alice's call id never came from her call_created";
  {
    std::lock_guard lock(m);
    auto it = std::find_if(created.begin(), created.end(),
                           [&](const events::CallCreated& e) { return e.sip_call_id == a.sip_call_id; });
    ASSERT_NE(it, created.end());
    EXPECT_EQ(it->call_id, mine->call_id);
    EXPECT_TRUE(it->is_caller);
  }
  EXPECT_NE(mine->call_id, b.call_id) << "each leg has its own call id";
  // The call is found by either id, and events from now on carry it.
  ASSERT_TRUE(alice->phone.find(mine->call_id));
  ASSERT_TRUE(alice->phone.hold(*mine).get());
  auto held = alice->rec.wait<CallHeld>();
  ASSERT_TRUE(held);
  EXPECT_EQ(held->call.call_id, mine->call_id);
  follow.reset();
  ASSERT_TRUE(alice->phone.hangup(a).get());
  ws.close();
}

// ------------------------------------------------------------------------------------------------ confd

TEST(PhoneEngine, FakeMediaCredentialsFetchedFromConfdWithASession) {
  if (::access(test::EngineProcess::binary().c_str(), X_OK) != 0) GTEST_SKIP() << "no wazo-dev-engine binary";
  Engine engine;
  ASSERT_TRUE(engine.running()) << engine.error();
  Runtime rt{RuntimeOptions{.log_sink = [](const LogRecord&) {}, .log_level = LogLevel::off}};
  rest::ApiClient api(rt, rest::ClientOptions{.server = engine.url(), .client_id = "wazo-tests"});
  auto s = api.auth().log_in({.username = "alice", .password = "secret"}).get();
  ASSERT_TRUE(s) << s.error();

  auto cfg = WebRTCClient::fetch_line_config(api, s->uuid, {.display_name = "Alice"}).get();
  ASSERT_TRUE(cfg) << cfg.error();
  EXPECT_EQ(cfg->authorization_user, "alicewebrtc");
  EXPECT_EQ(cfg->password, "Kq7xW3ka9PzR");
  EXPECT_FALSE(cfg->domain.empty());  // the endpoint's from_domain, else the engine's host
  EXPECT_EQ(cfg->websocket_url, engine.ws_url());
  EXPECT_EQ(cfg->display_name, "Alice");

  // And that line registers.
  auto client = detail::make_client(rt, *cfg, std::make_shared<test::FakeMediaEngine>());
  ASSERT_TRUE(client.register_ua().get());
  EXPECT_TRUE(client.is_registered());
  client.close();

  // The public path (GStreamer engine, made lazily: registering needs no media).
  auto made = WebRTCClient::from_session(api, s->uuid).get();
  ASSERT_TRUE(made) << made.error();
  ASSERT_TRUE(made->register_ua().get());
  made->close();

  // A user without a session cannot read it.
  rest::ApiClient anonymous(rt, rest::ClientOptions{.server = engine.url()});
  auto denied = WebRTCClient::fetch_line_config(anonymous, s->uuid).get();
  EXPECT_FALSE(denied);
}

}  // namespace
}  // namespace wazo::phone
