// The SIP user agent core without a server: the transaction layer (§17, reliable-transport rules), dialogs (§12),
// the digest retry rule, and the agent driven through a fake transport (the only way to make a peer answer a
// wrong password twice with the same nonce, never answer at all, or race a 200 with our CANCEL on demand).
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "fake_media_session.hpp"
#include "sip/detail/core.hpp"
#include "sip/detail/dialog.hpp"
#include "sip/detail/transaction.hpp"
#include "sip/detail/ua_auth.hpp"
#include "wazo/core/runtime.hpp"
#include "wazo/sip/user_agent.hpp"

namespace wazo::sip {
namespace {

using namespace std::chrono_literals;
using detail::TransactionLayer;

Message parse(const std::string& s) {
  auto m = Message::parse(s);
  EXPECT_TRUE(m.ok()) << (m ? "" : m.error().message) << "\n" << s;
  return m ? *m : Message{};
}

Message invite_from_peer(const std::string& branch = "z9hG4bKpeer1", std::uint32_t cseq = 1,
                         const std::string& body = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n") {
  std::string s =
      "INVITE sip:me@x.invalid;transport=ws SIP/2.0\r\n"
      "Via: SIP/2.0/WS 127.0.0.1:5060;branch=" +
      branch +
      "\r\n"
      "Record-Route: <sip:127.0.0.1:8080;transport=ws;lr>\r\n"
      "Record-Route: <sip:proxy2.test;lr>\r\n"
      "Max-Forwards: 69\r\n"
      "From: \"Bob\" <sip:bob@wazo.test>;tag=bobtag\r\n"
      "To: <sip:alice@wazo.test>\r\n"
      "Call-ID: call-1@test\r\n"
      "CSeq: " +
      std::to_string(cseq) +
      " INVITE\r\n"
      "Contact: <sip:bobc@b.invalid;transport=ws>\r\n"
      "P-Asserted-Identity: \"Bob Asserted\" <sip:1002@wazo.test>\r\n"
      "Diversion: <sip:1003@wazo.test>;reason=no-answer;counter=1\r\n"
      "Content-Type: application/sdp\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  return parse(s);
}

// ------------------------------------------------------------------------------------------------ transactions

struct TxHarness {
  boost::asio::io_context io;
  std::vector<std::string> sent;
  TransactionLayer tl;
  explicit TxHarness(std::chrono::milliseconds t1 = 5ms)
      : tl(io, TransactionLayer::Config{.timers = Timers{.t1 = t1}}, [this](std::string w) {
          sent.push_back(std::move(w));
          return true;
        }) {}
  Message last() { return parse(sent.back()); }
};

Message outgoing(const std::string& method) {
  Uri u;
  u.user = "bob";
  u.host = "wazo.test";
  Message m = Message::request(method, u);
  m.add_header("From", "<sip:alice@wazo.test>;tag=a1");
  m.add_header("To", "<sip:bob@wazo.test>");
  m.add_header("Call-ID", "c1");
  m.add_header("CSeq", "1 " + method);
  m.add_header("Max-Forwards", "70");
  return m;
}

Message answer(const Message& request, int status, const std::string& to_tag = "b1") {
  Message r = detail::make_response(request, status);
  if (status > 100) {
    auto to = r.to();
    NameAddr t = *to;
    t.params.set("tag", to_tag);
    r.set_header("To", t.str());
    r.add_header("Contact", "<sip:bobc@b.invalid;transport=ws>");
  }
  return r;
}

TEST(SipUaTransactionFakeTransport, NonInviteTimesOutWithTimerF) {
  TxHarness h;
  std::vector<Result<Message>> got;
  h.tl.send_request(outgoing("OPTIONS"), [&](Result<Message> r) { got.push_back(std::move(r)); });
  ASSERT_EQ(h.sent.size(), 1U);
  EXPECT_FALSE(h.last().top_via()->branch().empty());
  h.io.run_for(2s);
  ASSERT_EQ(got.size(), 1U);
  ASSERT_FALSE(got[0].ok());
  EXPECT_EQ(got[0].error().category, ErrorCategory::timeout);
  EXPECT_EQ(got[0].error().status, 408);
  EXPECT_EQ(h.tl.client_count(), 0U);
  EXPECT_EQ(h.sent.size(), 1U);  // nothing retransmitted on a reliable transport
}

TEST(SipUaTransactionFakeTransport, InviteTimerBStopsAtTheFirstProvisional) {
  TxHarness h;
  std::vector<Result<Message>> got;
  h.tl.send_request(outgoing("INVITE"), [&](Result<Message> r) { got.push_back(std::move(r)); });
  const Message sent = h.last();
  EXPECT_TRUE(h.tl.on_response(answer(sent, 100)));
  h.io.run_for(700ms);  // well past 64*T1 = 320 ms
  ASSERT_EQ(got.size(), 1U);
  ASSERT_TRUE(got[0].ok());
  EXPECT_EQ(got[0]->status(), 100);
  EXPECT_EQ(h.tl.client_count(), 1U);
}

TEST(SipUaTransactionFakeTransport, InviteClientAcksANon2xxInTheTransaction) {
  TxHarness h;
  std::vector<int> statuses;
  const std::string branch =
      h.tl.send_request(outgoing("INVITE"), [&](Result<Message> r) { statuses.push_back(r ? r->status() : -1); });
  const Message inv = h.last();
  EXPECT_TRUE(h.tl.on_response(answer(inv, 180)));
  EXPECT_TRUE(h.tl.on_response(answer(inv, 486)));
  EXPECT_EQ(statuses, (std::vector<int>{180, 486}));
  ASSERT_EQ(h.sent.size(), 2U);
  const Message ack = h.last();
  EXPECT_EQ(ack.method(), "ACK");
  EXPECT_EQ(ack.top_via()->branch(), branch);  // same branch: part of the INVITE transaction
  EXPECT_EQ(ack.cseq()->number, 1U);
  EXPECT_EQ(ack.cseq()->method, "ACK");
  EXPECT_EQ(ack.to()->tag().value_or(""), "b1");
  // A retransmitted final response is a stray now (the transaction is gone).
  EXPECT_FALSE(h.tl.on_response(answer(inv, 486)));
}

TEST(SipUaTransactionFakeTransport, TwoHundredIsPassedUpNotAcked) {
  TxHarness h;
  int got = 0;
  h.tl.send_request(outgoing("INVITE"), [&](Result<Message> r) { got = r ? r->status() : -1; });
  EXPECT_TRUE(h.tl.on_response(answer(h.last(), 200)));
  EXPECT_EQ(got, 200);
  EXPECT_EQ(h.sent.size(), 1U);  // the core ACKs a 2xx (§13.2.2.4)
}

TEST(SipUaTransactionFakeTransport, CancelUsesTheInviteBranchAndMatchesItsResponse) {
  TxHarness h;
  int invite_final = 0;
  int cancel_final = 0;
  const std::string branch = h.tl.send_request(outgoing("INVITE"), [&](Result<Message> r) {
    if (r && r->status() >= 200) invite_final = r->status();
  });
  const Message inv = h.last();
  h.tl.on_response(answer(inv, 180));
  auto c = h.tl.send_cancel(branch, {{"Reason", "SIP;cause=487"}},
                            [&](Result<Message> r) { cancel_final = r ? r->status() : -1; });
  ASSERT_TRUE(c.has_value());
  const Message cancel = h.last();
  EXPECT_EQ(cancel.method(), "CANCEL");
  EXPECT_EQ(cancel.top_via()->branch(), branch);
  EXPECT_EQ(cancel.cseq()->number, 1U);
  EXPECT_EQ(cancel.cseq()->method, "CANCEL");
  EXPECT_EQ(cancel.request_uri().str(), inv.request_uri().str());
  EXPECT_FALSE(cancel.to()->tag().has_value());
  EXPECT_EQ(cancel.header("Reason").value_or(""), "SIP;cause=487");
  h.tl.on_response(answer(cancel, 200));
  EXPECT_EQ(cancel_final, 200);
  EXPECT_EQ(invite_final, 0);
  h.tl.on_response(answer(inv, 487));
  EXPECT_EQ(invite_final, 487);
  EXPECT_FALSE(h.tl.send_cancel(branch, {}, [](Result<Message>) {}).has_value());
}

TEST(SipUaTransactionFakeTransport, ServerInviteSays100AndAbsorbsRetransmissions) {
  TxHarness h;
  const Message inv = invite_from_peer();
  auto r = h.tl.on_request(inv);
  EXPECT_EQ(r.kind, TransactionLayer::Incoming::fresh);
  ASSERT_EQ(h.sent.size(), 1U);
  EXPECT_EQ(h.last().status(), 100);
  EXPECT_EQ(h.tl.on_request(inv).kind, TransactionLayer::Incoming::retransmission);
  EXPECT_EQ(h.sent.size(), 2U);  // the last response again
  EXPECT_TRUE(h.tl.server_pending(inv));
  // CANCEL matches by branch (§9.2), a different branch does not.
  Message cancel = inv;
  auto other = h.tl.on_request(
      parse("CANCEL sip:me@x.invalid SIP/2.0\r\nVia: SIP/2.0/WS 127.0.0.1;branch=z9hG4bKother\r\nFrom: "
            "<sip:bob@wazo.test>;tag=bobtag\r\nTo: <sip:alice@wazo.test>\r\nCall-ID: call-1@test\r\nCSeq: 1 "
            "CANCEL\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_EQ(other.kind, TransactionLayer::Incoming::cancel);
  EXPECT_FALSE(other.cancel_matched);
  auto same = h.tl.on_request(
      parse("CANCEL sip:me@x.invalid SIP/2.0\r\nVia: SIP/2.0/WS 127.0.0.1:5060;branch=z9hG4bKpeer1\r\nFrom: "
            "<sip:bob@wazo.test>;tag=bobtag\r\nTo: <sip:alice@wazo.test>\r\nCall-ID: call-1@test\r\nCSeq: 1 "
            "CANCEL\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_TRUE(same.cancel_matched);
  ASSERT_TRUE(same.invite.has_value());
  EXPECT_EQ(same.invite->call_id(), "call-1@test");
  // A final non-2xx, then its ACK (same branch) is absorbed by the transaction.
  Message busy = answer(inv, 486);
  EXPECT_TRUE(h.tl.respond(inv, busy));
  EXPECT_FALSE(h.tl.respond(inv, busy));  // one final response only
  auto ack = h.tl.on_request(
      parse("ACK sip:me@x.invalid SIP/2.0\r\nVia: SIP/2.0/WS 127.0.0.1:5060;branch=z9hG4bKpeer1\r\nFrom: "
            "<sip:bob@wazo.test>;tag=bobtag\r\nTo: <sip:alice@wazo.test>;tag=b1\r\nCall-ID: call-1@test\r\nCSeq: 1 "
            "ACK\r\nContent-Length: 0\r\n\r\n"));
  EXPECT_EQ(ack.kind, TransactionLayer::Incoming::ack_absorbed);
  EXPECT_EQ(h.tl.server_count(), 0U);
}

// ------------------------------------------------------------------------------------------------ dialogs

TEST(SipUaDialog, UacRouteSetIsTheReversedRecordRouteAndLooseRouted) {
  Message req = outgoing("INVITE");
  Message resp = answer(req, 200, "bt");
  resp.add_header("Record-Route", "<sip:p2.test;lr>");
  resp.add_header("Record-Route", "<sip:p1.test;lr>");
  auto d = detail::Dialog::as_uac(req, resp);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->remote_tag, "bt");
  EXPECT_EQ(d->local_tag, "a1");
  ASSERT_EQ(d->route_set.size(), 2U);
  EXPECT_EQ(d->route_set[0].uri.host, "p1.test");
  EXPECT_EQ(d->route_set[1].uri.host, "p2.test");
  EXPECT_FALSE(d->early);
  Message bye = d->make_request("BYE");
  EXPECT_EQ(bye.request_uri().user, "bobc");  // the remote target (Contact)
  auto routes = bye.routes();
  ASSERT_TRUE(routes.ok());
  ASSERT_EQ(routes->size(), 2U);
  EXPECT_EQ((*routes)[0].uri.host, "p1.test");
  EXPECT_EQ(bye.cseq()->number, 2U);
  EXPECT_EQ(bye.to()->tag().value_or(""), "bt");
  EXPECT_EQ(bye.from()->tag().value_or(""), "a1");
  EXPECT_EQ(d->make_request("ACK", 1).cseq()->number, 1U);
  EXPECT_EQ(d->local_cseq, 2U);
}

TEST(SipUaDialog, UasKeepsRecordRouteOrderAndChecksCSeq) {
  auto d = detail::Dialog::as_uas(invite_from_peer("z9hG4bKx", 5), "mytag");
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->route_set.size(), 2U);
  EXPECT_EQ(d->route_set[0].uri.host, "127.0.0.1");
  EXPECT_EQ(d->remote_tag, "bobtag");
  EXPECT_EQ(d->local.tag().value_or(""), "mytag");
  EXPECT_TRUE(d->accept_remote_cseq(6));
  EXPECT_FALSE(d->accept_remote_cseq(4));
  Message bye = d->make_request("BYE");
  EXPECT_EQ(bye.request_uri().user, "bobc");
  EXPECT_EQ(bye.from()->tag().value_or(""), "mytag");
  EXPECT_EQ(bye.to()->tag().value_or(""), "bobtag");
}

TEST(SipUaDigest, RetryRuleAnswersOnceThenOnlyStale) {
  detail::AuthRetry retry;
  detail::DigestChallenge c;
  c.nonce = "n1";
  EXPECT_TRUE(retry.admit(c));
  EXPECT_FALSE(retry.admit(c));  // same nonce, not stale: wrong credentials
  c.nonce = "n2";
  EXPECT_FALSE(retry.admit(c));  // a new nonce without stale after an answer: refused too
  c.stale = true;
  EXPECT_TRUE(retry.admit(c));
  EXPECT_TRUE(retry.admit(c));
  EXPECT_FALSE(retry.admit(c));  // bounded even when stale
}

TEST(SipUaReplaces, ParsesAndFormats) {
  auto r = Replaces::parse("abc@host;to-tag=t1;from-tag=f1;early-only");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->call_id, "abc@host");
  EXPECT_EQ(r->to_tag, "t1");
  EXPECT_EQ(r->from_tag, "f1");
  EXPECT_TRUE(r->early_only);
  EXPECT_EQ(r->str(), "abc@host;to-tag=t1;from-tag=f1;early-only");
  EXPECT_FALSE(Replaces::parse("abc;to-tag=t1").ok());
  EXPECT_EQ(detail::percent_decode(detail::percent_encode("a;b=c@d")), "a;b=c@d");
  EXPECT_EQ(detail::percent_encode("a;b=c"), "a%3Bb%3Dc");
}

// ------------------------------------------------------------------------------------------------ the agent

class FakeTransport final : public detail::Transport {
 public:
  void set_callbacks(Callbacks c) override { cb_ = std::move(c); }
  void start() override { up(); }
  void close() override {
    connected_ = false;
    if (cb_.on_state) cb_.on_state(TransportState::closed, "closed", std::nullopt);
  }
  void drop(std::string reason) override {
    connected_ = false;
    if (cb_.on_state) cb_.on_state(TransportState::reconnecting, reason, std::nullopt);
  }
  bool send(std::string data) override {
    if (!connected_) return false;
    {
      std::lock_guard lock(m_);
      sent_.push_back(std::move(data));
    }
    cv_.notify_all();
    return true;
  }
  bool connected() const override { return connected_; }
  std::string via_transport() const override { return "WS"; }

  void up() {
    connected_ = true;
    if (cb_.on_state) cb_.on_state(TransportState::connected, {}, std::nullopt);
  }
  void deliver(const std::string& data) {
    if (cb_.on_message) cb_.on_message(data);
  }
  // The n-th message sent (0-based), waiting for it.
  std::optional<Message> wait_sent(std::size_t n, std::chrono::milliseconds limit = 5s) {
    std::unique_lock lock(m_);
    if (!cv_.wait_for(lock, limit, [&] { return sent_.size() > n; })) return std::nullopt;
    auto m = Message::parse(sent_[n]);
    return m ? std::optional<Message>(*m) : std::nullopt;
  }
  std::size_t count() {
    std::lock_guard lock(m_);
    return sent_.size();
  }
  std::vector<Message> all() {
    std::lock_guard lock(m_);
    std::vector<Message> out;
    for (const auto& s : sent_) {
      if (auto m = Message::parse(s)) out.push_back(*m);
    }
    return out;
  }

 private:
  Callbacks cb_;
  bool connected_ = false;
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<std::string> sent_;
};

class SipUaFakeTransport : public ::testing::Test {
 protected:
  void SetUp() override { make({}); }
  void make(const std::function<void(UserAgentOptions&)>& tweak) {
    UserAgentOptions o{.server = "ws://fake", .domain = "wazo.test", .user = "alice", .password = "alicepw"};
    o.timers.t1 = 10ms;
    if (tweak) tweak(o);
    fake = std::make_shared<FakeTransport>();
    ua = std::make_shared<UserAgent::Impl>(rt, o, fake);
    ua->init();
  }
  void TearDown() override {
    on_io([&] { ua->close_now("test over"); });
  }
  // Runs f on the I/O thread and waits for it.
  void on_io(std::function<void()> f) {
    std::promise<void> done;
    boost::asio::post(rt.context(), [&] {
      f();
      done.set_value();
    });
    done.get_future().wait();
  }
  template <class F>
  bool wait(F pred, std::chrono::milliseconds limit = 5s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      bool ok = false;
      on_io([&] { ok = pred(); });
      if (ok) return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }
  void deliver(const Message& m) {
    const std::string s = m.serialize();
    on_io([&] { fake->deliver(s); });
  }

  Runtime rt;
  std::shared_ptr<FakeTransport> fake;
  std::shared_ptr<UserAgent::Impl> ua;
};

Message challenge(const Message& req, const std::string& nonce, bool stale = false) {
  Message r = detail::make_response(req, 401);
  r.add_header("WWW-Authenticate",
               "Digest realm=\"wazo.test\", nonce=\"" + nonce + "\", qop=\"auth\"" + (stale ? ", stale=true" : ""));
  return r;
}

TEST_F(SipUaFakeTransport, WrongPasswordStopsAfterOneAnsweredChallenge) {
  std::vector<RegistrationStateChanged> events;
  auto sub = ua->emitter.on<RegistrationStateChanged>([&](const auto& e) { events.push_back(e); });
  on_io([&] {
    ua->want_registered = true;
    fake->up();
  });
  auto r1 = fake->wait_sent(0);
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->method(), "REGISTER");
  EXPECT_FALSE(r1->has_header("Authorization"));
  EXPECT_NE(r1->header("Contact").value_or("").find(";ob>"), std::string_view::npos);
  EXPECT_NE(r1->header("Contact").value_or("").find("+sip.instance=\"<urn:uuid:"), std::string_view::npos);
  EXPECT_NE(r1->header("Contact").value_or("").find("reg-id=1"), std::string_view::npos);
  EXPECT_TRUE(r1->header_lists("Supported", "outbound"));
  EXPECT_TRUE(r1->header_lists("Supported", "path"));
  deliver(challenge(*r1, "abc"));
  auto r2 = fake->wait_sent(1);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->cseq()->number, r1->cseq()->number + 1);
  const std::string auth(r2->header("Authorization").value_or(""));
  EXPECT_NE(auth.find("username=\"alice\""), std::string::npos);
  EXPECT_NE(auth.find("nonce=\"abc\""), std::string::npos);
  EXPECT_NE(auth.find("qop=auth"), std::string::npos);
  EXPECT_EQ(auth.find("alicepw"), std::string::npos);
  deliver(challenge(*r2, "abc"));  // the same nonce again: the password is wrong
  ASSERT_TRUE(wait([&] { return ua->reg_state == RegistrationState::failed; }));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(fake->count(), 2U);  // no third REGISTER
  on_io([&] {
    ASSERT_FALSE(events.empty());
    ASSERT_TRUE(events.back().error.has_value());
    EXPECT_EQ(events.back().error->category, ErrorCategory::auth);
    EXPECT_EQ(events.back().error->status, 401);
  });
}

TEST_F(SipUaFakeTransport, StaleNonceIsAnsweredAgainAndRegisters) {
  on_io([&] {
    ua->want_registered = true;
    fake->up();
  });
  auto r1 = fake->wait_sent(0);
  ASSERT_TRUE(r1);
  deliver(challenge(*r1, "n1"));
  auto r2 = fake->wait_sent(1);
  ASSERT_TRUE(r2);
  deliver(challenge(*r2, "n2", true));
  auto r3 = fake->wait_sent(2);
  ASSERT_TRUE(r3);
  EXPECT_NE(std::string(r3->header("Authorization").value_or("")).find("nonce=\"n2\""), std::string::npos);
  Message ok = detail::make_response(*r3, 200);
  auto contact = r3->contacts()->at(0);
  contact.params.set("expires", "120");  // the registrar grants less than asked
  ok.add_header("Contact", contact.str());
  deliver(ok);
  ASSERT_TRUE(wait([&] { return ua->reg_state == RegistrationState::registered; }));
  on_io([&] { EXPECT_EQ(ua->granted.count(), 120); });
}

TEST_F(SipUaFakeTransport, RefreshesBeforeExpiryWithTheCachedNonce) {
  on_io([&] {
    ua->want_registered = true;
    fake->up();
  });
  auto r1 = fake->wait_sent(0);
  ASSERT_TRUE(r1);
  deliver(challenge(*r1, "n1"));
  auto r2 = fake->wait_sent(1);
  ASSERT_TRUE(r2);
  Message ok = detail::make_response(*r2, 200);
  ok.add_header("Expires", "2");  // no expires on the Contact: the Expires header rules
  deliver(ok);
  ASSERT_TRUE(wait([&] { return ua->reg_state == RegistrationState::registered; }));
  on_io([&] { EXPECT_EQ(ua->granted.count(), 2); });
  // Refreshed at half of a short registration, with credentials for the same nonce and the next nc.
  auto r3 = fake->wait_sent(2, 5s);
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3->method(), "REGISTER");
  EXPECT_EQ(r3->call_id(), r1->call_id());
  EXPECT_EQ(r3->cseq()->number, r2->cseq()->number + 1);
  const std::string auth(r3->header("Authorization").value_or(""));
  EXPECT_NE(auth.find("nonce=\"n1\""), std::string::npos);
  EXPECT_NE(auth.find("nc=00000002"), std::string::npos);
  // Unregister: Expires 0.
  Message ok3 = detail::make_response(*r3, 200);
  ok3.add_header("Expires", "600");
  deliver(ok3);
  ASSERT_TRUE(wait([&] { return ua->reg_state == RegistrationState::registered; }));
  on_io([&] {
    ua->want_registered = false;
    ua->do_register(0);
  });
  auto r4 = fake->wait_sent(3);
  ASSERT_TRUE(r4);
  EXPECT_EQ(r4->expires().value_or(99), 0U);
  deliver(detail::make_response(*r4, 200));
  ASSERT_TRUE(wait([&] { return ua->reg_state == RegistrationState::unregistered; }));
}

TEST_F(SipUaFakeTransport, UnansweredInviteEndsWithTimerB) {
  on_io([&] { fake->up(); });
  auto media = std::make_shared<test::FakeMediaSession>("a", false);
  std::vector<Terminated> ended;
  std::shared_ptr<Session::Impl> s;
  Subscription sub;
  on_io([&] {
    s = std::make_shared<Session::Impl>(ua, Direction::outgoing, media);
    sub = s->emitter.on<Terminated>([&](const Terminated& t) { ended.push_back(t); });
    s->start_invite("sip:bob@wazo.test", {});
  });
  auto inv = fake->wait_sent(0);
  ASSERT_TRUE(inv);
  EXPECT_EQ(inv->method(), "INVITE");
  EXPECT_EQ(inv->content_type(), "application/sdp");
  ASSERT_TRUE(wait([&] { return !ended.empty(); }));
  on_io([&] {
    EXPECT_EQ(ended[0].cause, Terminated::Cause::timeout);
    ASSERT_TRUE(ended[0].error.has_value());
    EXPECT_EQ(ended[0].error->category, ErrorCategory::timeout);
  });
  EXPECT_TRUE(media->closed());
}

TEST_F(SipUaFakeTransport, TwoHundredAfterCancelIsAckedThenByed) {
  on_io([&] { fake->up(); });
  auto media = std::make_shared<test::FakeMediaSession>("a", false);
  std::vector<Terminated> ended;
  std::shared_ptr<Session::Impl> s;
  Subscription sub;
  on_io([&] {
    s = std::make_shared<Session::Impl>(ua, Direction::outgoing, media);
    sub = s->emitter.on<Terminated>([&](const Terminated& t) { ended.push_back(t); });
    s->start_invite("sip:bob@wazo.test", {});
  });
  auto inv = fake->wait_sent(0);
  ASSERT_TRUE(inv);
  deliver(answer(*inv, 180));
  auto cancelled = Session(s).cancel();
  auto cancel = fake->wait_sent(1);
  ASSERT_TRUE(cancel);
  EXPECT_EQ(cancel->method(), "CANCEL");
  deliver(answer(*inv, 200));  // the callee answered before the CANCEL reached it
  auto ack = fake->wait_sent(2);
  auto bye = fake->wait_sent(3);
  ASSERT_TRUE(ack && bye);
  EXPECT_EQ(ack->method(), "ACK");
  EXPECT_EQ(ack->request_uri().user, "bobc");
  EXPECT_EQ(bye->method(), "BYE");
  EXPECT_EQ(bye->to()->tag().value_or(""), "b1");
  ASSERT_TRUE(cancelled.get_for(5s).has_value());
  on_io([&] {
    ASSERT_EQ(ended.size(), 1U);
    EXPECT_EQ(ended[0].cause, Terminated::Cause::cancelled);
  });
}

TEST_F(SipUaFakeTransport, IncomingCallIsAnsweredThroughTheMediaSession) {
  on_io([&] { fake->up(); });
  std::vector<Session> calls;
  auto sub = ua->emitter.on<IncomingCall>([&](const IncomingCall& e) { calls.push_back(e.session); });
  deliver(invite_from_peer());
  auto trying = fake->wait_sent(0);
  auto ringing = fake->wait_sent(1);
  ASSERT_TRUE(trying && ringing);
  EXPECT_EQ(trying->status(), 100);
  EXPECT_EQ(ringing->status(), 180);
  const std::string tag(ringing->to()->tag().value_or(""));
  EXPECT_FALSE(tag.empty());
  ASSERT_TRUE(wait([&] { return calls.size() == 1; }));
  Session s = calls[0];
  EXPECT_EQ(s.remote_identity().number, "1002");  // P-Asserted-Identity wins over From
  EXPECT_EQ(s.remote_identity().display_name, "Bob Asserted");
  ASSERT_EQ(s.diversion().size(), 1U);
  EXPECT_EQ(s.diversion()[0].reason, "no-answer");
  EXPECT_EQ(s.diversion()[0].counter, 1);
  EXPECT_EQ(s.state(), SessionState::early);
  auto media = std::make_shared<test::FakeMediaSession>("alice");
  auto accepted = s.accept(media);
  auto ok = fake->wait_sent(2);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status(), 200);
  EXPECT_EQ(ok->to()->tag().value_or(""), tag);
  EXPECT_EQ(ok->header_values("Record-Route").size(), 2U);
  EXPECT_TRUE(ok->has_header("Contact"));
  EXPECT_EQ(ok->body(), media->answers().at(0));
  EXPECT_EQ(media->remote_offers().at(0), invite_from_peer().body());
  // A re-sent INVITE (same branch) is absorbed: the 200 goes out again, no second call.
  deliver(invite_from_peer());
  auto again = fake->wait_sent(3);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status(), 200);
  EXPECT_EQ(calls.size(), 1U);
  Message ack = parse(
      "ACK sip:me@x.invalid SIP/2.0\r\nVia: SIP/2.0/WS 127.0.0.1;branch=z9hG4bKack1\r\nFrom: "
      "<sip:bob@wazo.test>;tag=bobtag\r\nTo: <sip:alice@wazo.test>;tag=" +
      tag + "\r\nCall-ID: call-1@test\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n");
  deliver(ack);
  auto r = accepted.get_for(5s);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->ok());
  EXPECT_EQ(s.state(), SessionState::confirmed);
  // Our BYE follows the route set (Record-Route order) to the remote target.
  auto bye_done = s.bye("SIP;cause=16");
  auto bye = fake->wait_sent(4);
  ASSERT_TRUE(bye);
  EXPECT_EQ(bye->method(), "BYE");
  EXPECT_EQ(bye->request_uri().user, "bobc");
  EXPECT_EQ(bye->routes()->at(0).uri.host, "127.0.0.1");
  EXPECT_EQ(bye->header("Reason").value_or(""), "SIP;cause=16");
  EXPECT_EQ(bye->cseq()->number, 1U);
  deliver(detail::make_response(*bye, 200));
  ASSERT_TRUE(bye_done.get_for(5s).has_value());
  EXPECT_TRUE(media->closed());
}

TEST_F(SipUaFakeTransport, CancelledIncomingCallGets487) {
  on_io([&] { fake->up(); });
  std::vector<Session> calls;
  std::vector<Terminated> ended;
  std::vector<Subscription> subs;
  subs.push_back(ua->emitter.on<IncomingCall>([&](const IncomingCall& e) {
    calls.push_back(e.session);
    Session s = e.session;
    subs.push_back(s.on<Terminated>([&](const Terminated& t) { ended.push_back(t); }));
  }));
  deliver(invite_from_peer("z9hG4bKc1"));
  ASSERT_TRUE(fake->wait_sent(1));
  deliver(
      parse("CANCEL sip:me@x.invalid SIP/2.0\r\nVia: SIP/2.0/WS 127.0.0.1:5060;branch=z9hG4bKc1\r\nFrom: "
            "<sip:bob@wazo.test>;tag=bobtag\r\nTo: <sip:alice@wazo.test>\r\nCall-ID: call-1@test\r\nCSeq: 1 "
            "CANCEL\r\nContent-Length: 0\r\n\r\n"));
  auto ok = fake->wait_sent(2);
  auto terminated = fake->wait_sent(3);
  ASSERT_TRUE(ok && terminated);
  EXPECT_EQ(ok->status(), 200);
  EXPECT_EQ(ok->cseq()->method, "CANCEL");
  EXPECT_EQ(terminated->status(), 487);
  EXPECT_EQ(terminated->cseq()->method, "INVITE");
  ASSERT_TRUE(wait([&] { return ended.size() == 1; }));
  on_io([&] { EXPECT_EQ(ended[0].cause, Terminated::Cause::remote_cancel); });
}

TEST_F(SipUaFakeTransport, OptionsAndUnknownRequestsAreAnswered) {
  on_io([&] { fake->up(); });
  deliver(
      parse("OPTIONS sip:me@x.invalid SIP/2.0\r\nVia: SIP/2.0/WS 127.0.0.1;branch=z9hG4bKo1\r\nFrom: "
            "<sip:bob@wazo.test>;tag=x\r\nTo: <sip:alice@wazo.test>\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"));
  auto r = fake->wait_sent(0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status(), 200);
  EXPECT_TRUE(r->header_lists("Allow", "INVITE"));
  EXPECT_TRUE(r->header_lists("Allow", "REFER"));
  EXPECT_TRUE(r->has_header("Accept"));
  EXPECT_TRUE(r->to()->tag().has_value());
  deliver(
      parse("BYE sip:me@x.invalid SIP/2.0\r\nVia: SIP/2.0/WS 127.0.0.1;branch=z9hG4bKb1\r\nFrom: "
            "<sip:bob@wazo.test>;tag=x\r\nTo: <sip:alice@wazo.test>;tag=nope\r\nCall-ID: nope\r\nCSeq: 2 BYE\r\n"
            "Content-Length: 0\r\n\r\n"));
  auto r2 = fake->wait_sent(1);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status(), 481);
  deliver(
      parse("SUBSCRIBE sip:me@x.invalid SIP/2.0\r\nVia: SIP/2.0/WS 127.0.0.1;branch=z9hG4bKs1\r\nFrom: "
            "<sip:bob@wazo.test>;tag=x\r\nTo: <sip:alice@wazo.test>\r\nCall-ID: s1\r\nCSeq: 1 SUBSCRIBE\r\n"
            "Content-Length: 0\r\n\r\n"));
  auto r3 = fake->wait_sent(2);
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3->status(), 405);
  EXPECT_TRUE(r3->has_header("Allow"));
  // Garbage is dropped, never answered or crashed on.
  on_io([&] { fake->deliver("garbage\r\n\r\n"); });
  on_io([&] { fake->deliver("\r\n\r\n"); });
  EXPECT_EQ(fake->count(), 3U);
}

}  // namespace
}  // namespace wazo::sip
