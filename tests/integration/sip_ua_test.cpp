// The SIP user agent against a real registrar/proxy over loopback WebSocket: Kamailio 5.6 (digest auth,
// record-routing) — and, once wired, the dev engine's registrar (add a line to kServers). Two or three SDK user
// agents register and call each other through it: INVITE/180/200/ACK, re-INVITE (hold), INFO, in-dialog and
// out-of-dialog MESSAGE, REFER with NOTIFYs (blind and attended with Replaces), BYE with Reason, CANCEL, 486.
// Faults: a wrong password (an auth error after one retry, never a loop), the server restarted (registered
// again), the server frozen (timer B / timer F errors with short timers).
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fake_media_session.hpp"
#include "kamailio_process.hpp"
#include "wazo/core/runtime.hpp"
#include "wazo/sip/user_agent.hpp"

namespace wazo::sip {
namespace {

using namespace std::chrono_literals;
using test::FakeMediaSession;

// ------------------------------------------------------------------------------------------------ servers

// What the suite needs of a registrar/proxy with SIP over WebSocket.
class SipServer {
 public:
  struct Cred {
    std::string user;
    std::string password;
  };
  virtual ~SipServer() = default;
  // The line of "alice", "bob" or "carol" on this server.
  [[nodiscard]] virtual Cred cred(const std::string& who) const = 0;
  [[nodiscard]] virtual bool running() const = 0;
  [[nodiscard]] virtual std::string error() const = 0;
  [[nodiscard]] virtual std::string ws_url() const = 0;
  [[nodiscard]] virtual std::string domain() const = 0;
  virtual bool restart() = 0;            // same port; registrations lost
  virtual bool freeze(bool frozen) = 0;  // stop answering at all (SIGSTOP) / resume
  [[nodiscard]] virtual std::string log() const = 0;
};

class KamailioServer final : public SipServer {
 public:
  KamailioServer() : kam_(test::KamailioOptions{}) {}
  Cred cred(const std::string& who) const override { return {who, who + "pw"}; }
  bool running() const override { return kam_.running(); }
  std::string error() const override { return kam_.error(); }
  std::string ws_url() const override { return kam_.ws_url(); }
  std::string domain() const override { return kam_.options().domain; }
  bool restart() override { return kam_.restart(); }
  bool freeze(bool frozen) override {
    if (!kam_.running()) return false;
    const int sig = frozen ? SIGSTOP : SIGCONT;
    for (pid_t p : test::child_pids(kam_.pid())) ::kill(p, sig);
    return ::kill(kam_.pid(), sig) == 0;
  }
  std::string log() const override { return kam_.log(); }

 private:
  test::KamailioProcess kam_;
};

// The dev engine's registrar/proxy (/api/asterisk/ws) with its seeded WebRTC lines.
class EngineServer final : public SipServer {
 public:
  Cred cred(const std::string& who) const override {
    if (who == "alice") return {"alicewebrtc", "Kq7xW3ka9PzR"};
    if (who == "bob") return {"bobwebrtc", "Tz4mN8qe2VcL"};
    return {"carolwebrtc", "Hb6yR1uw5JsD"};
  }
  bool running() const override { return engine_.running(); }
  std::string error() const override { return engine_.error(); }
  std::string ws_url() const override {
    return "ws://127.0.0.1:" + std::to_string(engine_.port()) + "/api/asterisk/ws";
  }
  std::string domain() const override { return "wazo.local"; }
  bool restart() override { return false; }  // not on the same port
  bool freeze(bool frozen) override {
    return engine_.running() && ::kill(engine_.pid(), frozen ? SIGSTOP : SIGCONT) == 0;
  }
  std::string log() const override { return {}; }

 private:
  test::EngineProcess engine_;
};

struct ServerKind {
  std::string name;
  std::function<std::unique_ptr<SipServer>()> make;  // nullptr result: skip (not available here)
};

std::string PrintToString(const ServerKind& k) { return k.name; }

const std::vector<ServerKind>& servers() {
  static const std::vector<ServerKind> kServers{
      {"kamailio", []() -> std::unique_ptr<SipServer> { return std::make_unique<KamailioServer>(); }},
      // The dev engine's registrar (skipped when its binary is missing, or with WAZO_SIP_SUITE_ENGINE=0).
      {"engine",
       []() -> std::unique_ptr<SipServer> {
         const char* off = std::getenv("WAZO_SIP_SUITE_ENGINE");
         if (off != nullptr && std::string(off) == "0") return nullptr;
         if (::access(test::EngineProcess::binary().c_str(), X_OK) != 0) return nullptr;
         return std::make_unique<EngineServer>();
       }},
  };
  return kServers;
}

// ------------------------------------------------------------------------------------------------ recording

// Everything one agent (and its calls) sees, with waits.
struct Seen {
  std::mutex m;
  std::condition_variable cv;
  std::vector<RegistrationStateChanged> reg;
  std::vector<TransportStateChanged> transport;
  std::vector<Session> calls;
  std::vector<IncomingMessage> messages;
  std::vector<Progress> progress;
  int accepted = 0;
  std::vector<Terminated> terminated;
  std::vector<IncomingInfo> infos;
  std::vector<IncomingDialogMessage> dialog_messages;
  std::vector<IncomingReinvite> reinvites;
  std::vector<ReferNotify> notifies;
  std::vector<std::shared_ptr<Referral>> refers;
  std::vector<Subscription> subs;

  template <class F>
  void add(F&& f) {
    {
      std::lock_guard lock(m);
      f();
    }
    cv.notify_all();
  }
  bool wait(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, limit, pred);
  }
  // Records the events of a call.
  void watch(Session s) {
    std::lock_guard lock(m);
    subs.push_back(s.on<Progress>([this](const Progress& e) { add([&] { progress.push_back(e); }); }));
    subs.push_back(s.on<Accepted>([this](const Accepted&) { add([&] { ++accepted; }); }));
    subs.push_back(s.on<Terminated>([this](const Terminated& e) { add([&] { terminated.push_back(e); }); }));
    subs.push_back(s.on<IncomingInfo>([this](const IncomingInfo& e) { add([&] { infos.push_back(e); }); }));
    subs.push_back(s.on<IncomingDialogMessage>(
        [this](const IncomingDialogMessage& e) { add([&] { dialog_messages.push_back(e); }); }));
    subs.push_back(s.on<IncomingReinvite>([this](const IncomingReinvite& e) { add([&] { reinvites.push_back(e); }); }));
    subs.push_back(s.on<ReferNotify>([this](const ReferNotify& e) { add([&] { notifies.push_back(e); }); }));
    subs.push_back(s.on<IncomingRefer>([this](const IncomingRefer& e) { add([&] { refers.push_back(e.referral); }); }));
  }
};

struct Agent {
  std::unique_ptr<UserAgent> ua;
  std::shared_ptr<Seen> seen = std::make_shared<Seen>();
  std::vector<Subscription> subs;
};

// ------------------------------------------------------------------------------------------------ fixture

class SipUa : public ::testing::TestWithParam<ServerKind> {
 protected:
  void SetUp() override {
    // The test command installs Kamailio: a missing one is a failure, never a silent skip.
    if (GetParam().name == "kamailio") {
      ASSERT_TRUE(test::KamailioProcess::available()) << test::KamailioProcess::unavailable_message();
    }
    server_ = GetParam().make();
    if (!server_) GTEST_SKIP() << GetParam().name << " is turned off (WAZO_SIP_SUITE_ENGINE=0) or not built";
    ASSERT_TRUE(server_->running()) << server_->error();
    rt_ = std::make_unique<Runtime>(
        RuntimeOptions{.log_sink = [this](const LogRecord& r) { on_log(r); }, .log_level = LogLevel::trace});
  }
  void TearDown() override {
    for (auto& a : agents_) {
      if (a->ua) (void)a->ua->stop().get_for(5s);
    }
    agents_.clear();
    rt_.reset();
  }

  void on_log(const LogRecord& r) {
    std::lock_guard lock(log_mutex_);
    log_lines_.emplace_back(r.message);
    if (r.level >= LogLevel::warn)
      std::fprintf(stderr, "[sip %s] %.*s\n", std::string(to_string(r.level)).c_str(),
                   static_cast<int>(r.message.size()), r.message.data());
  }
  int log_count(const std::string& needle) {
    std::lock_guard lock(log_mutex_);
    return static_cast<int>(std::count_if(log_lines_.begin(), log_lines_.end(),
                                          [&](const std::string& l) { return l.find(needle) != std::string::npos; }));
  }
  std::string log_text() {
    std::lock_guard lock(log_mutex_);
    std::string out;
    for (const auto& l : log_lines_) out += l + "\n";
    return out;
  }

  UserAgentOptions options_for(const std::string& user, const std::string& password) {
    UserAgentOptions o;
    o.server = server_->ws_url();
    o.domain = server_->domain();
    o.user = user;
    o.password = password;
    o.display_name = "User " + user;
    o.reconnect.initial_delay = 200ms;
    o.reconnect.max_delay = 1s;
    return o;
  }

  Agent& agent(const std::string& user, const std::string& password,
               const std::function<void(UserAgentOptions&)>& tweak = {}) {
    auto o = options_for(user, password);
    if (tweak) tweak(o);
    auto a = std::make_unique<Agent>();
    a->ua = std::make_unique<UserAgent>(*rt_, o);
    auto seen = a->seen;
    a->subs.push_back(a->ua->on<RegistrationStateChanged>(
        [seen](const RegistrationStateChanged& e) { seen->add([&] { seen->reg.push_back(e); }); }));
    a->subs.push_back(a->ua->on<TransportStateChanged>(
        [seen](const TransportStateChanged& e) { seen->add([&] { seen->transport.push_back(e); }); }));
    a->subs.push_back(a->ua->on<IncomingCall>([seen](const IncomingCall& e) {
      seen->watch(e.session);
      seen->add([&] { seen->calls.push_back(e.session); });
    }));
    a->subs.push_back(a->ua->on<IncomingMessage>(
        [seen](const IncomingMessage& e) { seen->add([&] { seen->messages.push_back(e); }); }));
    agents_.push_back(std::move(a));
    return *agents_.back();
  }

  Agent& registered(const std::string& who, const std::function<void(UserAgentOptions&)>& tweak = {}) {
    const auto c = server_->cred(who);
    const std::string& user = c.user;
    auto& a = agent(c.user, c.password, tweak);
    auto r = a.ua->start().get_for(10s);
    EXPECT_TRUE(r.has_value() && r->ok()) << user << ": " << (r && !r->ok() ? r->error().describe() : "timeout") << "\n"
                                          << server_->log();
    return a;
  }

  std::string sip_uri(const std::string& who) const { return "sip:" + user_of(who) + "@" + server_->domain(); }
  std::string user_of(const std::string& who) const { return server_->cred(who).user; }

  // alice calls bob; bob answers. Returns (alice's session, bob's session).
  std::pair<Session, Session> call(Agent& from, Agent& to, const std::string& to_user,
                                   const std::shared_ptr<FakeMediaSession>& from_media,
                                   const std::shared_ptr<FakeMediaSession>& to_media) {
    const auto before = to.seen->calls.size();
    auto s = from.ua->invite(sip_uri(to_user), from_media);
    EXPECT_TRUE(s.ok());
    if (!s) return {};
    from.seen->watch(*s);
    EXPECT_TRUE(to.seen->wait([&] { return to.seen->calls.size() > before; })) << server_->log();
    Session in;
    {
      std::lock_guard lock(to.seen->m);
      if (to.seen->calls.size() > before) in = to.seen->calls.back();
    }
    if (!in) return {*s, in};
    auto acc = in.accept(to_media).get_for(10s);
    EXPECT_TRUE(acc.has_value() && acc->ok()) << (acc && !acc->ok() ? acc->error().describe() : "timeout");
    EXPECT_TRUE(from.seen->wait([&] { return s->state() == SessionState::confirmed; }));
    return {*s, in};
  }

  std::unique_ptr<SipServer> server_;
  std::unique_ptr<Runtime> rt_;
  std::vector<std::unique_ptr<Agent>> agents_;
  std::mutex log_mutex_;
  std::vector<std::string> log_lines_;
};

// ------------------------------------------------------------------------------------------------ tests

TEST_P(SipUa, RegistersReregistersAndUnregisters) {
  auto& a = registered("alice");
  EXPECT_TRUE(a.ua->is_registered());
  {
    std::lock_guard lock(a.seen->m);
    ASSERT_FALSE(a.seen->reg.empty());
    EXPECT_EQ(a.seen->reg.back().state, RegistrationState::registered);
    EXPECT_GT(a.seen->reg.back().expires.count(), 0);
  }
  EXPECT_EQ(log_count("send REGISTER"), 2);  // challenged once
  // A refresh reuses the nonce: one round trip.
  auto again = a.ua->register_line().get_for(5s);
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->ok()) << again->error().describe();
  EXPECT_EQ(log_count("send REGISTER"), 3);
  auto u = a.ua->unregister().get_for(5s);
  ASSERT_TRUE(u.has_value());
  EXPECT_TRUE(u->ok()) << u->error().describe();
  EXPECT_FALSE(a.ua->is_registered());
  EXPECT_EQ(a.ua->registration_state(), RegistrationState::unregistered);
  // Alive after the unregister: OPTIONS to the proxy.
  auto o = a.ua->options().get_for(5s);
  ASSERT_TRUE(o.has_value());
  ASSERT_TRUE(o->ok()) << o->error().describe();
  EXPECT_EQ((*o)->status(), 200);
}

TEST_P(SipUa, WrongPasswordIsAnAuthErrorAfterOneRetryNotALoop) {
  auto& a = agent(user_of("alice"), "not-the-password");
  auto r = a.ua->start().get_for(10s);
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(r->ok());
  EXPECT_EQ(r->error().category, ErrorCategory::auth) << r->error().describe();
  EXPECT_TRUE(r->error().status == 401 || r->error().status == 403) << r->error().describe();  // Kamailio / engine
  EXPECT_EQ(a.ua->registration_state(), RegistrationState::failed);
  // Exactly two REGISTERs (the first, then one with credentials), and no more later.
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(log_count("send REGISTER"), 2) << log_text();
  EXPECT_EQ(log_text().find("not-the-password"), std::string::npos);
}

TEST_P(SipUa, CallWithReinviteInfoMessagesAndBye) {
  auto& alice = registered("alice");
  auto& bob = registered("bob");
  auto am = std::make_shared<FakeMediaSession>("alice");
  auto bm = std::make_shared<FakeMediaSession>("bob");
  auto [a, b] = call(alice, bob, "bob", am, bm);
  ASSERT_TRUE(a && b);
  // Ringing reached alice before the answer; both sides confirmed.
  EXPECT_TRUE(alice.seen->wait([&] {
    return std::any_of(alice.seen->progress.begin(), alice.seen->progress.end(),
                       [](const Progress& p) { return p.status == 180; });
  }));
  EXPECT_TRUE(bob.seen->wait([&] { return bob.seen->accepted == 1; }));
  EXPECT_EQ(b.state(), SessionState::confirmed);
  EXPECT_EQ(b.direction(), Direction::incoming);
  EXPECT_EQ(a.call_id(), b.call_id());
  EXPECT_EQ(b.remote_identity().number, user_of("alice"));
  EXPECT_EQ(b.remote_identity().display_name, "User " + user_of("alice"));
  ASSERT_EQ(bm->remote_offers().size(), 1U);
  EXPECT_EQ(bm->remote_offers()[0], am->offers()[0]);
  ASSERT_EQ(am->remote_answers().size(), 1U);
  EXPECT_EQ(am->remote_answers()[0], bm->answers()[0]);

  // Hold by re-INVITE: bob sees the sendonly offer and answers recvonly.
  am->set_direction("sendonly");
  auto re = a.reinvite().get_for(10s);
  ASSERT_TRUE(re.has_value());
  ASSERT_TRUE(re->ok()) << re->error().describe();
  EXPECT_TRUE(bob.seen->wait([&] { return bob.seen->reinvites.size() == 1; }));
  EXPECT_NE(bob.seen->reinvites[0].remote_sdp.find("a=sendonly"), std::string::npos);
  ASSERT_EQ(am->remote_answers().size(), 2U);
  EXPECT_NE(am->remote_answers()[1].find("a=recvonly"), std::string::npos);
  // And the other way round (bob re-INVITEs: the dialog works from the callee side too).
  auto re2 = b.reinvite().get_for(10s);
  ASSERT_TRUE(re2.has_value());
  EXPECT_TRUE(re2->ok()) << re2->error().describe();

  // INFO (DTMF relay) and in-dialog MESSAGE.
  auto info = a.info("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n").get_for(5s);
  ASSERT_TRUE(info.has_value());
  ASSERT_TRUE(info->ok()) << info->error().describe();
  EXPECT_EQ((*info)->status(), 200);
  EXPECT_TRUE(bob.seen->wait([&] { return bob.seen->infos.size() == 1; }));
  EXPECT_EQ(bob.seen->infos[0].content_type, "application/dtmf-relay");
  EXPECT_EQ(bob.seen->infos[0].body, "Signal=5\r\nDuration=160\r\n");
  auto dm = b.message("hello in the call").get_for(5s);
  ASSERT_TRUE(dm.has_value());
  EXPECT_TRUE(dm->ok()) << dm->error().describe();
  EXPECT_TRUE(alice.seen->wait([&] { return alice.seen->dialog_messages.size() == 1; }));
  EXPECT_EQ(alice.seen->dialog_messages[0].body, "hello in the call");

  // MESSAGE out of dialog, through the registrar (407-challenged for alice).
  auto msg = alice.ua->send_message(sip_uri("bob"), "hi bob", "text/plain").get_for(5s);
  ASSERT_TRUE(msg.has_value());
  ASSERT_TRUE(msg->ok()) << msg->error().describe();
  EXPECT_TRUE(bob.seen->wait([&] { return bob.seen->messages.size() == 1; }));
  EXPECT_EQ(bob.seen->messages[0].body, "hi bob");
  EXPECT_EQ(bob.seen->messages[0].from.uri.user, user_of("alice"));

  // BYE with a Reason: alice learns why.
  auto bye = b.bye("SIP;cause=200;text=\"Call completed elsewhere\"").get_for(5s);
  ASSERT_TRUE(bye.has_value());
  EXPECT_TRUE(bye->ok()) << bye->error().describe();
  EXPECT_TRUE(alice.seen->wait([&] { return !alice.seen->terminated.empty(); }));
  EXPECT_EQ(alice.seen->terminated[0].cause, Terminated::Cause::remote_bye);
  EXPECT_EQ(alice.seen->terminated[0].reason, "Call completed elsewhere");
  EXPECT_EQ(a.state(), SessionState::terminated);
  EXPECT_TRUE(am->closed());
  EXPECT_TRUE(bm->closed());
}

TEST_P(SipUa, CancelBeforeTheAnswer) {
  auto& alice = registered("alice");
  auto& bob = registered("bob");
  auto am = std::make_shared<FakeMediaSession>("alice");
  auto s = alice.ua->invite(sip_uri("bob"), am);
  ASSERT_TRUE(s.ok());
  alice.seen->watch(*s);
  ASSERT_TRUE(bob.seen->wait([&] { return bob.seen->calls.size() == 1; }));
  ASSERT_TRUE(alice.seen->wait([&] {
    return std::any_of(alice.seen->progress.begin(), alice.seen->progress.end(),
                       [](const Progress& p) { return p.status == 180; });
  }));
  EXPECT_EQ(s->state(), SessionState::early);
  auto c = s->cancel().get_for(10s);
  ASSERT_TRUE(c.has_value());
  EXPECT_TRUE(c->ok());
  ASSERT_TRUE(alice.seen->wait([&] { return !alice.seen->terminated.empty(); }));
  EXPECT_EQ(alice.seen->terminated[0].cause, Terminated::Cause::cancelled);
  EXPECT_EQ(alice.seen->terminated[0].status, 487);
  ASSERT_TRUE(bob.seen->wait([&] { return !bob.seen->terminated.empty(); }));
  EXPECT_EQ(bob.seen->terminated[0].cause, Terminated::Cause::remote_cancel);
}

TEST_P(SipUa, RejectedWith486) {
  auto& alice = registered("alice");
  auto& bob = registered("bob");
  auto s = alice.ua->invite(sip_uri("bob"), std::make_shared<FakeMediaSession>("alice"));
  ASSERT_TRUE(s.ok());
  alice.seen->watch(*s);
  ASSERT_TRUE(bob.seen->wait([&] { return bob.seen->calls.size() == 1; }));
  ASSERT_TRUE(bob.seen->calls[0].reject(486, "Busy Here").ok());
  ASSERT_TRUE(alice.seen->wait([&] { return !alice.seen->terminated.empty(); }));
  EXPECT_EQ(alice.seen->terminated[0].cause, Terminated::Cause::rejected);
  EXPECT_EQ(alice.seen->terminated[0].status, 486);
  // An unknown user: 404 from the proxy.
  auto s2 = alice.ua->invite("nobody", std::make_shared<FakeMediaSession>("alice"));
  ASSERT_TRUE(s2.ok());
  alice.seen->watch(*s2);
  ASSERT_TRUE(alice.seen->wait([&] { return alice.seen->terminated.size() == 2; }));
  EXPECT_EQ(alice.seen->terminated[1].status, 404);
}

TEST_P(SipUa, BlindTransferByReferWithNotifies) {
  auto& alice = registered("alice");
  auto& bob = registered("bob");
  auto& carol = registered("carol");
  auto [a, b] =
      call(alice, bob, "bob", std::make_shared<FakeMediaSession>("alice"), std::make_shared<FakeMediaSession>("bob"));
  ASSERT_TRUE(a && b);
  auto pending = a.refer(sip_uri("carol"));
  // bob takes the REFER (202), calls carol and reports through NOTIFYs.
  ASSERT_TRUE(bob.seen->wait([&] { return bob.seen->refers.size() == 1; }));
  auto referral = bob.seen->refers[0];
  EXPECT_EQ(referral->refer_to().uri.user, user_of("carol"));
  ASSERT_TRUE(referral->referred_by().has_value());
  EXPECT_EQ(referral->referred_by()->uri.user, user_of("alice"));
  ASSERT_TRUE(referral->accept().ok());
  EXPECT_FALSE(referral->accept().ok());  // once
  auto refer = pending.get_for(5s);
  ASSERT_TRUE(refer.has_value());
  ASSERT_TRUE(refer->ok()) << refer->error().describe();
  EXPECT_EQ((*refer)->status(), 202);
  auto to_carol = bob.ua->invite(referral->refer_to().uri.str(), std::make_shared<FakeMediaSession>("bob2"));
  ASSERT_TRUE(to_carol.ok());
  referral->track(*to_carol);
  ASSERT_TRUE(carol.seen->wait([&] { return carol.seen->calls.size() == 1; }));
  auto acc = carol.seen->calls[0].accept(std::make_shared<FakeMediaSession>("carol")).get_for(10s);
  ASSERT_TRUE(acc.has_value());
  EXPECT_TRUE(acc->ok());
  // Several NOTIFYs (100, 180, 200); the last one says 200 and ends the subscription.
  ASSERT_TRUE(alice.seen->wait([&] {
    return std::any_of(alice.seen->notifies.begin(), alice.seen->notifies.end(),
                       [](const ReferNotify& n) { return n.status == 200; });
  })) << server_->log();
  EXPECT_EQ(alice.seen->notifies.front().status, 100);
  EXPECT_TRUE(alice.seen->notifies.back().terminated);
  EXPECT_GE(alice.seen->notifies.size(), 2U);
  // The transferor hangs up; bob and carol stay in their call.
  EXPECT_TRUE(a.bye().get_for(5s).has_value());
  EXPECT_EQ(to_carol->state(), SessionState::confirmed);
  EXPECT_TRUE(to_carol->bye().get_for(5s).has_value());
  EXPECT_TRUE(carol.seen->wait([&] { return !carol.seen->terminated.empty(); }));
}

TEST_P(SipUa, AttendedTransferWithReplaces) {
  auto& alice = registered("alice");
  auto& bob = registered("bob");
  auto& carol = registered("carol");
  auto [ab, ba] =
      call(alice, bob, "bob", std::make_shared<FakeMediaSession>("alice"), std::make_shared<FakeMediaSession>("bob"));
  auto [ac, ca] = call(alice, carol, "carol", std::make_shared<FakeMediaSession>("alice2"),
                       std::make_shared<FakeMediaSession>("carol"));
  ASSERT_TRUE(ab && ba && ac && ca);
  // alice asks bob to call carol, replacing alice's call with carol.
  auto pending = ab.refer(sip_uri("carol"), ac);
  ASSERT_TRUE(bob.seen->wait([&] { return bob.seen->refers.size() == 1; }));
  auto referral = bob.seen->refers[0];
  ASSERT_TRUE(referral->replaces().has_value());
  EXPECT_EQ(referral->replaces()->call_id, ac.call_id());
  EXPECT_TRUE(referral->refer_to().uri.headers.empty());
  ASSERT_TRUE(referral->accept().ok());
  auto refer = pending.get_for(5s);
  ASSERT_TRUE(refer.has_value());
  ASSERT_TRUE(refer->ok()) << refer->error().describe();
  auto bc = bob.ua->invite(referral->refer_to().uri.str(), std::make_shared<FakeMediaSession>("bob2"),
                           {.replaces = referral->replaces()});
  ASSERT_TRUE(bc.ok());
  referral->track(*bc);
  bob.seen->watch(*bc);
  // carol sees a call that replaces her call with alice, accepts it; alice's call with carol is ended.
  ASSERT_TRUE(carol.seen->wait([&] { return carol.seen->calls.size() == 2; }));
  Session cb = carol.seen->calls[1];
  auto acc = cb.accept(std::make_shared<FakeMediaSession>("carol2")).get_for(10s);
  ASSERT_TRUE(acc.has_value());
  EXPECT_TRUE(acc->ok());
  EXPECT_TRUE(carol.seen->wait([&] { return ca.state() == SessionState::terminated; }));
  EXPECT_TRUE(alice.seen->wait([&] { return ac.state() == SessionState::terminated; }));
  EXPECT_EQ(bc->state(), SessionState::confirmed);
  EXPECT_TRUE(alice.seen->wait([&] {
    return std::any_of(alice.seen->notifies.begin(), alice.seen->notifies.end(),
                       [](const ReferNotify& n) { return n.status == 200; });
  }));
}

TEST_P(SipUa, RegistersAgainAfterTheServerRestarts) {
  auto& a = registered("alice");
  auto& b = registered("bob");
  if (GetParam().name == "engine") GTEST_SKIP() << "the engine fixture cannot restart on the same port";
  const auto regs = [&](Agent& x) {  // called with x.seen->m held (inside wait())
    return std::count_if(x.seen->reg.begin(), x.seen->reg.end(),
                         [](const RegistrationStateChanged& e) { return e.state == RegistrationState::registered; });
  };
  const auto before = [&] {
    std::lock_guard lock(a.seen->m);
    return regs(a);
  }();
  ASSERT_TRUE(server_->restart()) << server_->error();
  ASSERT_TRUE(a.seen->wait([&] { return regs(a) > before; }, 20s)) << log_text();
  ASSERT_TRUE(b.seen->wait([&] { return regs(b) > before; }, 20s));
  EXPECT_TRUE(a.ua->is_registered());
  // And reachable again: the registrar knows the new connection.
  auto msg = a.ua->send_message(sip_uri("bob"), "after restart").get_for(5s);
  ASSERT_TRUE(msg.has_value());
  EXPECT_TRUE(msg->ok()) << msg->error().describe();
}

TEST_P(SipUa, FrozenServerGivesTimerBAndTimerFErrors) {
  auto& a = registered("alice", [](UserAgentOptions& o) {
    o.timers.t1 = 40ms;  // B = F = 64*T1 = 2.56 s
    o.keep_alive.mode = KeepAliveOptions::Mode::none;
  });
  ASSERT_TRUE(server_->freeze(true));
  auto s = a.ua->invite(sip_uri("bob"), std::make_shared<FakeMediaSession>("alice"));
  ASSERT_TRUE(s.ok());
  a.seen->watch(*s);
  auto o = a.ua->options().get_for(10s);
  const bool terminated = a.seen->wait([&] { return !a.seen->terminated.empty(); });
  server_->freeze(false);
  ASSERT_TRUE(o.has_value());
  ASSERT_FALSE(o->ok());
  EXPECT_EQ(o->error().category, ErrorCategory::timeout);
  ASSERT_TRUE(terminated);
  EXPECT_EQ(a.seen->terminated[0].cause, Terminated::Cause::timeout);
  ASSERT_TRUE(a.seen->terminated[0].error.has_value());
  EXPECT_EQ(a.seen->terminated[0].error->category, ErrorCategory::timeout);
}

TEST_P(SipUa, OptionsToAPeerAndReinviteGlare) {
  auto& alice = registered("alice");
  auto& bob = registered("bob");
  // OPTIONS relayed to bob's agent: it answers with what it allows.
  auto o = alice.ua->options(sip_uri("bob")).get_for(5s);
  ASSERT_TRUE(o.has_value());
  ASSERT_TRUE(o->ok()) << o->error().describe();
  EXPECT_TRUE((*o)->header_lists("Allow", "REFER"));
  EXPECT_TRUE((*o)->header_lists("Allow", "INFO"));
  auto [a, b] =
      call(alice, bob, "bob", std::make_shared<FakeMediaSession>("alice"), std::make_shared<FakeMediaSession>("bob"));
  ASSERT_TRUE(a && b);
  // Both re-INVITE at once: 491 on one or both sides, then the §14.1 random retry; both end up done.
  auto ra = a.reinvite();
  auto rb = b.reinvite();
  auto x = ra.get_for(15s);
  auto y = rb.get_for(15s);
  ASSERT_TRUE(x.has_value() && y.has_value());
  EXPECT_TRUE(x->ok()) << x->error().describe();
  EXPECT_TRUE(y->ok()) << y->error().describe();
  EXPECT_EQ(a.state(), SessionState::confirmed);
  EXPECT_EQ(b.state(), SessionState::confirmed);
}

TEST_P(SipUa, SessionTimerIsRefreshedByTheRefresher) {
  auto& alice = registered("alice");
  auto& bob = registered("bob");
  auto am = std::make_shared<FakeMediaSession>("alice");
  auto s = alice.ua->invite(sip_uri("bob"), am, {.session_expires = 2s});
  ASSERT_TRUE(s.ok());
  alice.seen->watch(*s);
  std::atomic<int> refreshed{0};
  auto sub = s->on<SessionRefreshed>([&](const SessionRefreshed&) { alice.seen->add([&] { ++refreshed; }); });
  ASSERT_TRUE(bob.seen->wait([&] { return bob.seen->calls.size() == 1; }));
  auto acc = bob.seen->calls[0].accept(std::make_shared<FakeMediaSession>("bob")).get_for(10s);
  ASSERT_TRUE(acc.has_value() && acc->ok());
  // bob's 200 names alice (the UAC) the refresher; she refreshes at half the interval.
  auto ok = s->initial_request();
  ASSERT_TRUE(ok.has_value());
  EXPECT_NE(std::string(ok->header("Session-Expires").value_or("")).find("refresher=uac"), std::string::npos);
  EXPECT_TRUE(alice.seen->wait([&] { return refreshed.load() >= 2; }, 10s));
  EXPECT_EQ(s->state(), SessionState::confirmed);
  EXPECT_EQ(bob.seen->calls[0].state(), SessionState::confirmed);
}

TEST_P(SipUa, HeartbeatTimeoutReconnectsAndRegistersAgain) {
  auto& a = registered("alice", [](UserAgentOptions& o) {
    o.heartbeat = {.enabled = true, .delay = 100ms, .timeout = 300ms, .max_tries = 2};
  });
  std::atomic<int> timeouts{0};
  auto sub = a.ua->on<HeartbeatTimeout>([&](const HeartbeatTimeout& e) {
    EXPECT_EQ(e.missed, 2);
    a.seen->add([&] { ++timeouts; });
  });
  std::this_thread::sleep_for(400ms);  // a few answered heartbeats
  EXPECT_EQ(timeouts.load(), 0);
  ASSERT_TRUE(server_->freeze(true));
  const bool fired = a.seen->wait([&] { return timeouts.load() > 0; }, 10s);
  server_->freeze(false);
  ASSERT_TRUE(fired);
  const auto registered_count = [&] {
    return std::count_if(a.seen->reg.begin(), a.seen->reg.end(),
                         [](const RegistrationStateChanged& e) { return e.state == RegistrationState::registered; });
  };
  EXPECT_TRUE(a.seen->wait([&] { return registered_count() >= 2; }, 15s));
}

INSTANTIATE_TEST_SUITE_P(Servers, SipUa, ::testing::ValuesIn(servers()),
                         [](const ::testing::TestParamInfo<ServerKind>& i) { return i.param.name; });

// WSS: the server's certificate is verified against the configured CA; without it the connection is refused.
class SipUaWss : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(test::KamailioProcess::available(true)) << test::KamailioProcess::unavailable_message();
    kam_ = std::make_unique<test::KamailioProcess>(test::KamailioOptions{.tls = true});
    ASSERT_TRUE(kam_->running()) << kam_->error();
  }
  UserAgentOptions options() const {
    UserAgentOptions o;
    o.server = kam_->wss_url();
    o.domain = kam_->options().domain;
    o.user = "alice";
    o.password = "alicepw";
    o.reconnect.enabled = false;
    return o;
  }
  std::unique_ptr<test::KamailioProcess> kam_;
  Runtime rt_;
};

TEST_F(SipUaWss, RegistersWithTheServerCa) {
  auto o = options();
  o.connection.tls.ca_file = kam_->ca_file();
  UserAgent ua(rt_, o);
  auto r = ua.start().get_for(10s);
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE(r->ok()) << r->error().describe() << "\n" << kam_->log();
  EXPECT_TRUE(ua.is_registered());
  EXPECT_TRUE(ua.stop().get_for(5s).has_value());
}

TEST_F(SipUaWss, RefusesAnUntrustedCertificate) {
  UserAgent ua(rt_, options());  // system CAs only: the self-signed certificate is not trusted
  auto r = ua.start().get_for(10s);
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(r->ok());
  EXPECT_EQ(r->error().category, ErrorCategory::transport);
  EXPECT_NE(r->error().message.find("TLS"), std::string::npos) << r->error().describe();
  EXPECT_FALSE(ua.is_registered());
}

}  // namespace
}  // namespace wazo::sip
