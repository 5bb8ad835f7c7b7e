#include <algorithm>
#include <random>

#include <boost/asio/post.hpp>

#include "sip/detail/core.hpp"

namespace wazo::sip {

namespace asio = boost::asio;
using detail::Outgoing;

namespace {

Identity pick_identity(const Message& m, const NameAddr& fallback) {
  std::optional<NameAddr> best;
  for (const auto& h : m.headers()) {
    if (h.name != "P-Asserted-Identity" && !detail::iequals(h.name, "P-Asserted-Identity")) continue;
    for (auto v : detail::split_list(h.value)) {
      auto a = NameAddr::parse(v);
      if (!a) continue;
      if (!best || (best->uri.scheme == "tel" && a->uri.scheme != "tel")) best = *a;
    }
  }
  Identity id = detail::identity_of(best ? *best : fallback);
  if (id.display_name.empty() && best) id.display_name = fallback.display_name;
  return id;
}

std::vector<Diversion> parse_diversion(const Message& m) {
  std::vector<Diversion> out;
  for (const auto& h : m.headers()) {
    if (!detail::iequals(h.name, "Diversion")) continue;
    for (auto v : detail::split_list(h.value)) {
      auto a = NameAddr::parse(v);
      if (!a) continue;
      Diversion d;
      d.identity = detail::identity_of(*a);
      d.reason = std::string(a->params.get("reason").value_or(""));
      if (auto c = a->params.get("counter")) {
        int n = 0;
        for (char ch : *c) {
          if (ch < '0' || ch > '9' || n > 1000) break;
          n = n * 10 + (ch - '0');
        }
        d.counter = n;
      }
      out.push_back(std::move(d));
      if (out.size() >= 16) return out;
    }
  }
  return out;
}

// `Session-Expires: 1800;refresher=uac` → (seconds, refresher or "").
std::optional<std::pair<std::uint32_t, std::string>> session_expires(const Message& m) {
  auto v = m.header("Session-Expires");
  if (!v) return std::nullopt;
  std::uint32_t n = 0;
  std::size_t i = 0;
  while (i < v->size() && (*v)[i] == ' ') ++i;
  for (; i < v->size() && (*v)[i] >= '0' && (*v)[i] <= '9' && n < 1'000'000U; ++i) {
    n = n * 10U + static_cast<std::uint32_t>((*v)[i] - '0');
  }
  if (n == 0) return std::nullopt;
  std::string refresher;
  const auto pos = v->find("refresher=");
  if (pos != std::string_view::npos) refresher = std::string(v->substr(pos + 10, 3));
  return std::make_pair(n, refresher);
}

std::string reason_text(const Message& m) {
  auto r = m.header("Reason");
  if (!r) return {};
  const auto pos = r->find("text=\"");
  if (pos == std::string_view::npos) return std::string(*r);
  const auto end = r->find('"', pos + 6);
  return std::string(r->substr(pos + 6, end == std::string_view::npos ? std::string_view::npos : end - pos - 6));
}

Error closed_error() { return Error(ErrorCategory::invalid_argument, "the session is over or not set up"); }

}  // namespace

// ------------------------------------------------------------------------------------------------ Referral

namespace {

class ReferralImpl final : public Referral, public std::enable_shared_from_this<ReferralImpl> {
 public:
  ReferralImpl(std::shared_ptr<Session::Impl> s, Message refer, NameAddr to, std::optional<Replaces> r,
               std::optional<NameAddr> by)
      : session_(s),
        rt_(s->rt),
        refer_(std::move(refer)),
        to_(std::move(to)),
        replaces_(std::move(r)),
        by_(std::move(by)) {}

  const NameAddr& refer_to() const override { return to_; }
  std::optional<Replaces> replaces() const override { return replaces_; }
  std::optional<NameAddr> referred_by() const override { return by_; }

  Result<void> accept() override {
    {
      std::lock_guard lock(mutex_);
      if (answered_) return Error(ErrorCategory::invalid_argument, "the REFER was already answered");
      answered_ = true;
    }
    asio::post(rt_.context(), [self = shared_from_this()] {
      auto s = self->session_.lock();
      auto u = s ? s->ua.lock() : nullptr;
      if (!u) return;
      u->reply(self->refer_, 202, "Accepted", {{"Contact", u->contact()}});
    });
    return notify(100, "Trying");
  }

  Result<void> reject(int status, std::string reason) override {
    {
      std::lock_guard lock(mutex_);
      if (answered_) return Error(ErrorCategory::invalid_argument, "the REFER was already answered");
      answered_ = true;
      ended_ = true;
    }
    asio::post(rt_.context(), [self = shared_from_this(), status, reason = std::move(reason)]() mutable {
      auto s = self->session_.lock();
      auto u = s ? s->ua.lock() : nullptr;
      if (u) u->reply(self->refer_, status < 300 ? 603 : status, std::move(reason));
    });
    return {};
  }

  Result<void> notify(int status, std::string reason) override {
    {
      std::lock_guard lock(mutex_);
      if (!answered_) return Error(ErrorCategory::invalid_argument, "accept() the REFER first");
      if (ended_) return Error(ErrorCategory::invalid_argument, "the REFER subscription is over");
      if (status >= 200) ended_ = true;
    }
    if (reason.empty()) reason = std::string(reason_phrase(status));
    asio::post(rt_.context(), [self = shared_from_this(), status, reason = std::move(reason)] {
      auto s = self->session_.lock();
      if (!s || !s->dialog) return;
      std::vector<Header> extra{
          {"Event", "refer"},
          {"Subscription-State", status >= 200 ? "terminated;reason=noresource" : "active;expires=60"}};
      s->send_in_dialog_cb("NOTIFY", "SIP/2.0 " + std::to_string(status) + " " + reason + "\r\n",
                           "message/sipfrag;version=2.0", std::move(extra), [](const Result<Message>&) {});
    });
    return {};
  }

  void track(const Session& session) override {
    Session s = session;
    std::weak_ptr<ReferralImpl> weak = shared_from_this();
    std::lock_guard lock(mutex_);
    subs_.push_back(s.on<Progress>([weak](const Progress& p) {
      if (auto self = weak.lock(); self && p.status > 100) (void)self->notify(p.status, p.reason);
    }));
    subs_.push_back(s.on<Accepted>([weak](const Accepted&) {
      if (auto self = weak.lock()) (void)self->notify(200, "OK");
    }));
    subs_.push_back(s.on<Terminated>([weak](const Terminated& t) {
      if (auto self = weak.lock()) (void)self->notify(t.status >= 300 ? t.status : 487, t.reason);
    }));
  }

 private:
  std::weak_ptr<Session::Impl> session_;
  Runtime& rt_;
  Message refer_;
  NameAddr to_;
  std::optional<Replaces> replaces_;
  std::optional<NameAddr> by_;
  std::mutex mutex_;
  bool answered_ = false;
  bool ended_ = false;
  std::vector<Subscription> subs_;
};

}  // namespace

// ------------------------------------------------------------------------------------------------ Impl

Session::Impl::Impl(const std::shared_ptr<UserAgent::Impl>& u, Direction d, std::shared_ptr<MediaSession> m)
    : ua(u),
      rt(u->rt),
      media(std::move(m)),
      direction(d),
      ack_timer(u->rt.context()),
      glare_timer(u->rt.context()),
      session_timer(u->rt.context()) {}

std::string Session::Impl::key() const {
  std::lock_guard lock(mutex);
  return call_id + "|" + local_tag;
}

void Session::Impl::emit_progress(int status, std::string reason) {
  auto self = shared_from_this();
  emitter.emit(Progress{status, std::move(reason)});
}

void Session::Impl::terminate(Terminated t) {
  {
    std::lock_guard lock(mutex);
    if (terminated_emitted) return;
    terminated_emitted = true;
    state = SessionState::terminated;
  }
  auto self = shared_from_this();
  ack_timer.cancel();
  glare_timer.cancel();
  session_timer.cancel();
  awaiting_ack = false;
  if (media) media->close();
  if (auto u = ua.lock()) u->sessions.erase(key());
  const Error why = t.error ? *t.error : Error(ErrorCategory::cancelled, "the call ended");
  if (accept_promise) {
    accept_promise->set(why);
    accept_promise.reset();
  }
  if (reinvite_promise) {
    reinvite_promise->set(why);
    reinvite_promise.reset();
  }
  auto waiters = std::move(end_waiters);
  end_waiters.clear();
  for (auto& w : waiters) w.set(Result<void>());
  if (invite_out) {
    // Break the session ↔ request cycle once nothing more can come for the INVITE.
    asio::post(rt.context(), [out = invite_out] { out->on_response = nullptr; });
  }
  referrals.clear();
  emitter.emit(t);
}

// ------------------------------------------------------------------------------------------------ outgoing

void Session::Impl::start_invite(std::string target, InviteOptions options) {
  auto u = ua.lock();
  auto self = shared_from_this();
  if (!u || u->closed) {
    terminate({.cause = Terminated::Cause::error, .error = Error(ErrorCategory::cancelled, "closed")});
    return;
  }
  invite_options = std::move(options);
  auto uri = Uri::parse(target, u->opts.limits);
  if (!uri) {
    terminate({.cause = Terminated::Cause::error, .error = uri.error()});
    return;
  }
  std::string preset_call_id;
  {
    std::lock_guard lock(mutex);
    preset_call_id = call_id;
  }
  Message m = u->new_request("INVITE", *uri, preset_call_id);
  {
    std::lock_guard lock(mutex);
    call_id = std::string(m.call_id());
    if (auto f = m.from()) {
      local_tag = std::string(f->tag().value_or(""));
      local_id = detail::identity_of(*f);
    }
    if (auto to = m.to()) remote_id = detail::identity_of(*to);
  }
  m.add_header("Contact", u->contact());
  m.add_header("Allow", u->allow());
  m.add_header("Supported", "replaces, outbound, timer");
  if (invite_options.session_expires.count() > 0) {
    m.add_header("Session-Expires", std::to_string(invite_options.session_expires.count()));
  }
  if (invite_options.replaces) m.add_header("Replaces", invite_options.replaces->str());
  if (invite_options.referred_by) m.add_header("Referred-By", invite_options.referred_by->str());
  for (const auto& h : invite_options.extra_headers) m.add_header(h.name, h.value);
  u->sessions[key()] = self;
  if (invite_options.no_answer_timeout.count() > 0) {
    session_timer.expires_after(invite_options.no_answer_timeout);
    session_timer.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      auto s = weak.lock();
      if (ec || !s || s->get_state() == SessionState::confirmed || s->final_seen) return;
      s->cancel_requested = true;
      s->cancel_reason = "SIP;cause=408;text=\"No answer\"";
      s->send_cancel();
    });
  }
  media->create_offer([weak = weak_from_this(), m = std::move(m), &io = rt.context()](Result<std::string> sdp) mutable {
    asio::post(io, [weak, m = std::move(m), sdp = std::move(sdp)]() mutable {
      auto s = weak.lock();
      if (!s) return;
      if (s->get_state() == SessionState::terminated) return;
      if (s->cancel_requested) {
        s->terminate({.cause = Terminated::Cause::cancelled, .reason = "cancelled before the INVITE was sent"});
        return;
      }
      if (!sdp) {
        s->terminate({.cause = Terminated::Cause::error, .error = sdp.error()});
        return;
      }
      auto u2 = s->ua.lock();
      if (!u2) return;
      m.set_body(std::move(*sdp), s->media->content_type());
      auto out = std::make_shared<Outgoing>();
      out->request = std::move(m);
      out->on_response = [s](Result<Message> r) { s->on_invite_response(std::move(r)); };
      s->invite_out = out;
      u2->send(out);
    });
  });
}

void Session::Impl::send_ack(std::uint32_t cseq, const std::string& body, const std::string& content_type) {
  auto u = ua.lock();
  if (!u || !dialog) return;
  Message ack = dialog->make_request("ACK", cseq);
  if (!body.empty()) ack.set_body(body, content_type);
  if (invite_out) {
    // §22.1: the ACK for a 2xx carries the INVITE's credentials.
    for (const char* name : {"Authorization", "Proxy-Authorization"}) {
      if (auto v = invite_out->request.header(name); v && cseq == invite_cseq) ack.add_header(name, std::string(*v));
    }
  }
  last_ack = ack;
  invite_cseq = cseq;
  u->tx->send_stateless(ack);
}

void Session::Impl::ack_and_bye(const Message& response) {
  auto u = ua.lock();
  if (!u || !invite_out) return;
  auto d = detail::Dialog::as_uac(invite_out->request, response);
  if (!d) return;
  if (!dialog) dialog = *d;
  detail::Dialog tmp = *d;
  tmp.confirm_from(response, true);
  Message ack = tmp.make_request("ACK", response.cseq() ? response.cseq()->number : tmp.local_cseq);
  u->tx->send_stateless(ack);
  Message bye = tmp.make_request("BYE");
  bye.add_header("Reason", "SIP;cause=487;text=\"Request Terminated\"");
  auto out = std::make_shared<Outgoing>();
  out->request = std::move(bye);
  u->send(out);
}

void Session::Impl::on_invite_response(Result<Message> r) {
  auto self = shared_from_this();
  const bool over = get_state() == SessionState::terminated;
  if (!r) {
    {
      std::lock_guard lock(mutex);
      final_seen = true;
    }
    Terminated t;
    t.error = r.error();
    t.status = r.error().status;
    t.reason = r.error().message;
    switch (r.error().category) {
      case ErrorCategory::timeout:
        t.cause = Terminated::Cause::timeout;
        break;
      case ErrorCategory::transport:
        t.cause = Terminated::Cause::transport;
        break;
      default:
        t.cause = cancel_requested ? Terminated::Cause::cancelled : Terminated::Cause::error;
    }
    terminate(t);
    return;
  }
  const Message& resp = *r;
  const int st = resp.status();
  if (st < 200) {
    got_provisional = true;
    if (cancel_requested && !cancel_sent) send_cancel();
    if (st > 100 && !over) {
      auto to = resp.to();
      if (to && to->tag() && !dialog) {
        if (auto d = detail::Dialog::as_uac(invite_out->request, resp)) {
          dialog = *d;
          std::lock_guard lock(mutex);
          remote_tag = dialog->remote_tag;
          if (state == SessionState::initial) state = SessionState::early;
        }
      }
      emit_progress(st, resp.reason());
    }
    return;
  }
  {
    std::lock_guard lock(mutex);
    final_seen = true;
    initial = resp;
  }
  session_timer.cancel();  // the no-answer timer
  if (st < 300) {
    if (cancel_requested || over) {
      // The CANCEL/200 race (§9.1): the call was answered anyway; ACK it and hang up at once.
      ack_and_bye(resp);
      terminate({.cause = Terminated::Cause::cancelled, .status = st, .reason = "answered after CANCEL"});
      return;
    }
    auto d = detail::Dialog::as_uac(invite_out->request, resp);
    if (!d) {
      terminate({.cause = Terminated::Cause::error, .status = st, .error = d.error()});
      return;
    }
    dialog = *d;
    dialog->early = false;
    {
      std::lock_guard lock(mutex);
      remote_tag = dialog->remote_tag;
      if (auto to = resp.to()) remote_id = pick_identity(resp, *to);
      remote_sdp = resp.body();
    }
    invite_cseq = resp.cseq() ? resp.cseq()->number : dialog->local_cseq;
    send_ack(invite_cseq);
    Result<void> applied = resp.body().empty() ? Result<void>(Error(ErrorCategory::media, "the 200 carries no answer"))
                                               : media->set_remote_answer(resp.body());
    set_state(SessionState::confirmed);
    if (!applied) {
      do_bye("SIP;cause=488;text=\"Not Acceptable Here\"", std::nullopt, Terminated::Cause::error);
      return;
    }
    if (auto se = session_expires(resp)) {
      session_interval = std::chrono::seconds(se->first);
      we_refresh = se->second != "uas";
      start_session_timer();
    }
    emitter.emit(Accepted{st});
    return;
  }
  Terminated t;
  t.status = st;
  t.reason = resp.reason();
  t.cause = (st == 487 && cancel_requested) ? Terminated::Cause::cancelled : Terminated::Cause::rejected;
  if (!t.reason.empty() && resp.has_header("Reason")) t.reason = reason_text(resp);
  terminate(t);
}

void Session::Impl::send_cancel() {
  auto u = ua.lock();
  if (!u) return;
  if (!invite_out) {
    // The offer is still being made: nothing was sent.
    terminate({.cause = Terminated::Cause::cancelled, .reason = "cancelled before the INVITE was sent"});
    return;
  }
  if (!got_provisional || cancel_sent) return;  // §9.1: CANCEL only after a provisional response
  cancel_sent = true;
  std::vector<Header> extra;
  if (!cancel_reason.empty()) extra.push_back({"Reason", cancel_reason});
  auto sent = u->tx->send_cancel(invite_out->branch, std::move(extra), [](const Result<Message>&) {});
  if (!sent) cancel_sent = false;
}

void Session::Impl::on_stray_2xx(const Message& m) {
  auto cs = m.cseq();
  if (!cs) return;
  if (get_state() == SessionState::confirmed && last_ack && cs->number == invite_cseq) {
    if (auto u = ua.lock()) u->tx->send_stateless(*last_ack);  // a retransmitted 2xx: ACK again
    return;
  }
  if (invite_out && cs->number == invite_cseq) ack_and_bye(m);  // a second (forked) 2xx
}

// ------------------------------------------------------------------------------------------------ incoming

Message Session::Impl::invite_response(int status, std::string reason) {
  Message r = detail::make_response(invite_in, status, std::move(reason));
  if (auto to = r.to()) {
    NameAddr t = *to;
    t.params.set("tag", local_tag);
    r.set_header("To", t.str());
  }
  if (status > 100 && status < 300) {
    for (const auto& h : invite_in.headers()) {
      if (h.name == "Record-Route") r.add_header("Record-Route", h.value);
    }
    if (auto u = ua.lock()) r.add_header("Contact", u->contact());
  }
  if (auto u = ua.lock(); u && !u->opts.user_agent.empty()) r.add_header("Server", u->opts.user_agent);
  return r;
}

void Session::Impl::on_incoming_invite(const Message& invite) {
  auto u = ua.lock();
  auto self = shared_from_this();
  if (!u) return;
  invite_in = invite;
  auto from = invite.from();
  auto to = invite.to();
  {
    std::lock_guard lock(mutex);
    call_id = std::string(invite.call_id());
    local_tag = detail::random_token(10);
    remote_tag = std::string(from->tag().value_or(""));
    remote_id = pick_identity(invite, *from);
    local_id = detail::identity_of(*to);
    diversions = parse_diversion(invite);
    remote_sdp = invite.body();
    initial = invite;
  }
  auto d = detail::Dialog::as_uas(invite, local_tag);
  if (!d) {
    u->reply(invite, 400, "Bad Request");
    return;
  }
  dialog = *d;
  if (auto se = session_expires(invite)) {
    session_interval = std::chrono::seconds(se->first);
    we_refresh = se->second == "uas";
  }
  u->sessions[key()] = self;
  if (u->emitter.count<IncomingCall>() == 0) {
    do_reject(480, "Temporarily Unavailable");
    return;
  }
  IncomingCall e;
  e.session = Session(self);
  if (auto r = replaces_target.lock()) e.replaces = Session(r);
  u->emitter.emit(e);
  if (u->opts.ring_on_incoming && get_state() == SessionState::initial && !final_sent) {
    (void)respond_provisional(180, "Ringing");
  }
}

Result<void> Session::Impl::respond_provisional(int status, std::string reason) {
  auto u = ua.lock();
  if (!u) return closed_error();
  {
    std::lock_guard lock(mutex);
    if (final_sent || state == SessionState::terminated) return closed_error();
    if (state == SessionState::initial) state = SessionState::early;
  }
  if (reason.empty()) reason = std::string(reason_phrase(status));
  u->tx->respond(invite_in, invite_response(status, reason));
  emit_progress(status, std::move(reason));
  return {};
}

void Session::Impl::do_reject(int status, std::string reason) {
  auto u = ua.lock();
  {
    std::lock_guard lock(mutex);
    if (final_sent) return;
    final_sent = true;
  }
  if (u) u->tx->respond(invite_in, invite_response(status, reason));
  terminate({.cause = Terminated::Cause::rejected, .status = status, .reason = std::move(reason)});
}

void Session::Impl::do_accept(std::shared_ptr<MediaSession> m, AcceptOptions options, Promise<void> promise) {
  if (direction != Direction::incoming || final_sent || get_state() == SessionState::terminated || !m) {
    promise.set(m ? closed_error() : Error(ErrorCategory::invalid_argument, "accept: no MediaSession"));
    return;
  }
  if (accept_promise) {
    promise.set(Error(ErrorCategory::invalid_argument, "accept() already called"));
    return;
  }
  media = std::move(m);
  accept_promise = promise;
  auto done = [weak = weak_from_this(), &io = rt.context(), options = std::move(options)](Result<std::string> sdp) {
    asio::post(io, [weak, sdp = std::move(sdp), options]() mutable {
      auto s = weak.lock();
      if (!s || s->final_sent || s->get_state() == SessionState::terminated) return;
      if (!sdp) {
        auto u = s->ua.lock();
        {
          std::lock_guard lock(s->mutex);
          s->final_sent = true;
        }
        if (u) u->tx->respond(s->invite_in, s->invite_response(488, "Not Acceptable Here"));
        s->terminate({.cause = Terminated::Cause::error, .status = 488, .error = sdp.error()});
        return;
      }
      s->send_200(*sdp, options);
    });
  };
  if (invite_in.body().empty()) {
    offer_in_200 = true;
    media->create_offer(std::move(done));
  } else {
    media->create_answer(invite_in.body(), std::move(done));
  }
}

void Session::Impl::send_200(const std::string& sdp, const AcceptOptions& options) {
  auto u = ua.lock();
  if (!u) return;
  Message r = invite_response(200, "OK");
  r.add_header("Allow", u->allow());
  r.add_header("Supported", "replaces, outbound, timer");
  if (session_interval.count() > 0) {
    r.add_header("Session-Expires",
                 std::to_string(session_interval.count()) + ";refresher=" + (we_refresh ? "uas" : "uac"));
    if (invite_in.header_lists("Supported", "timer")) r.add_header("Require", "timer");
  }
  for (const auto& h : options.extra_headers) r.add_header(h.name, h.value);
  r.set_body(sdp, media->content_type());
  {
    std::lock_guard lock(mutex);
    final_sent = true;
  }
  dialog->early = false;
  u->tx->respond(invite_in, r);
  awaiting_ack = true;
  ack_timer.expires_after(u->opts.timers.transaction_timeout());
  ack_timer.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto s = weak.lock();
    if (ec || !s || !s->awaiting_ack) return;
    s->awaiting_ack = false;
    // Timer H: no ACK for the 2xx. §13.3.1.4: the dialog is confirmed, then ended with a BYE.
    s->set_state(SessionState::confirmed);
    s->do_bye("SIP;cause=408;text=\"ACK timeout\"", std::nullopt, Terminated::Cause::timeout);
  });
}

void Session::Impl::on_remote_cancel(const Message& invite) {
  (void)invite;
  auto u = ua.lock();
  {
    std::lock_guard lock(mutex);
    if (final_sent) return;
    final_sent = true;
  }
  if (u) u->tx->respond(invite_in, invite_response(487, "Request Terminated"));
  Terminated t;
  t.cause = Terminated::Cause::remote_cancel;
  t.status = 487;
  t.reason = "cancelled by the caller";
  terminate(t);
}

void Session::Impl::on_ack(const Message& ack) {
  auto cs = ack.cseq();
  if (!cs) return;
  if (reinvite_in_pending && cs->number == reinvite_in_cseq) {
    reinvite_in_pending = false;
    if (offer_in_200 && !ack.body().empty() && media) {
      offer_in_200 = false;
      {
        std::lock_guard lock(mutex);
        remote_sdp = ack.body();
      }
      if (!media->set_remote_answer(ack.body())) {
        do_bye("SIP;cause=488;text=\"Not Acceptable Here\"", std::nullopt, Terminated::Cause::error);
      }
    }
    return;
  }
  if (!awaiting_ack) return;
  if (auto icseq = invite_in.cseq(); !icseq || icseq->number != cs->number) return;
  awaiting_ack = false;
  ack_timer.cancel();
  auto self = shared_from_this();
  set_state(SessionState::confirmed);
  if (offer_in_200) {
    offer_in_200 = false;
    {
      std::lock_guard lock(mutex);
      remote_sdp = ack.body();
    }
    auto applied = ack.body().empty() ? Result<void>(Error(ErrorCategory::media, "the ACK carries no answer"))
                                      : media->set_remote_answer(ack.body());
    if (!applied) {
      if (accept_promise) {
        accept_promise->set(applied.error());
        accept_promise.reset();
      }
      do_bye("SIP;cause=488;text=\"Not Acceptable Here\"", std::nullopt, Terminated::Cause::error);
      return;
    }
  }
  if (accept_promise) {
    accept_promise->set(Result<void>());
    accept_promise.reset();
  }
  start_session_timer();
  emitter.emit(Accepted{200});
  if (auto old = replaces_target.lock()) {
    replaces_target.reset();
    if (old->get_state() == SessionState::confirmed) {
      old->do_bye({}, std::nullopt, Terminated::Cause::replaced);
    } else if (old->direction == Direction::outgoing) {
      old->cancel_requested = true;
      old->send_cancel();
    } else {
      old->do_reject(480, "Replaced");
    }
  }
}

// ------------------------------------------------------------------------------------------------ in dialog

void Session::Impl::on_request(const Message& m) {
  auto u = ua.lock();
  if (!u || !dialog) return;
  auto self = shared_from_this();
  const auto cs = m.cseq();
  if (!dialog->accept_remote_cseq(cs->number)) {
    u->reply(m, 500, "CSeq Out of Order");
    return;
  }
  const std::string& method = m.method();
  if (method == "BYE") {
    u->reply(m, 200, "OK");
    if (direction == Direction::incoming && !final_sent) {
      {
        std::lock_guard lock(mutex);
        final_sent = true;
      }
      u->tx->respond(invite_in, invite_response(487, "Request Terminated"));
    }
    Terminated t;
    t.cause = Terminated::Cause::remote_bye;
    t.reason = reason_text(m);
    terminate(t);
    return;
  }
  if (method == "INVITE") {
    on_reinvite(m);
    return;
  }
  if (method == "UPDATE") {
    dialog->refresh_target(m);
    std::vector<Header> extra{{"Contact", u->contact()}};
    if (auto se = session_expires(m)) {
      session_interval = std::chrono::seconds(se->first);
      we_refresh = se->second == "uas";
      extra.push_back({"Session-Expires", std::to_string(se->first) + ";refresher=" + (we_refresh ? "uas" : "uac")});
      start_session_timer();
    }
    if (!m.body().empty() && media) {
      media->create_answer(m.body(), [weak = weak_from_this(), m, extra, &io = rt.context()](Result<std::string> sdp) {
        asio::post(io, [weak, m, extra, sdp = std::move(sdp)]() mutable {
          auto s = weak.lock();
          auto u2 = s ? s->ua.lock() : nullptr;
          if (!u2) return;
          if (!sdp) {
            u2->reply(m, 488, "Not Acceptable Here");
            return;
          }
          u2->reply(m, 200, "OK", std::move(extra), std::move(*sdp), s->media->content_type());
        });
      });
      return;
    }
    u->reply(m, 200, "OK", std::move(extra));
    return;
  }
  if (method == "INFO") {
    u->reply(m, 200, "OK");
    emitter.emit(IncomingInfo{std::string(m.content_type()), m.body()});
    return;
  }
  if (method == "MESSAGE") {
    u->reply(m, 200, "OK");
    emitter.emit(IncomingDialogMessage{std::string(m.content_type()), m.body()});
    return;
  }
  if (method == "NOTIFY") {
    auto ev = m.header("Event");
    if (!ev || ev->substr(0, 5) != "refer") {
      u->reply(m, 489, "Bad Event");
      return;
    }
    u->reply(m, 200, "OK");
    ReferNotify n;
    if (auto st = parse_sipfrag_status(m.body())) {
      n.status = st->first;
      n.reason = st->second;
    }
    auto ss = m.header("Subscription-State");
    n.terminated = ss && ss->substr(0, 10) == "terminated";
    emitter.emit(n);
    return;
  }
  if (method == "REFER") {
    auto rt_value = m.header("Refer-To");
    std::optional<NameAddr> to;
    if (rt_value) {
      if (auto a = NameAddr::parse(*rt_value, u->opts.limits)) to = *a;
    }
    if (!to) {
      u->reply(m, 400, "Bad Refer-To");
      return;
    }
    std::optional<Replaces> replaces;
    if (!to->uri.headers.empty()) {
      std::string_view hs = to->uri.headers;
      while (!hs.empty()) {
        const auto amp = hs.find('&');
        std::string_view h = hs.substr(0, amp);
        if (h.size() > 9 && detail::iequals(h.substr(0, 9), "Replaces=")) {
          if (auto r = Replaces::parse(detail::percent_decode(h.substr(9)))) replaces = *r;
        }
        if (amp == std::string_view::npos) break;
        hs.remove_prefix(amp + 1);
      }
      to->uri.headers.clear();
    }
    std::optional<NameAddr> by;
    if (auto b = m.header("Referred-By")) {
      if (auto a = NameAddr::parse(*b, u->opts.limits)) by = *a;
    }
    if (emitter.count<IncomingRefer>() == 0) {
      u->reply(m, 603, "Decline");
      return;
    }
    auto referral = std::make_shared<ReferralImpl>(self, m, *to, replaces, by);
    referrals.push_back(referral);
    if (referrals.size() > 8) referrals.erase(referrals.begin());
    emitter.emit(IncomingRefer{referral});
    return;
  }
  if (method == "OPTIONS") {
    u->reply(m, 200, "OK", {{"Allow", u->allow()}, {"Accept", "application/sdp"}});
    return;
  }
  u->reply(m, 405, "Method Not Allowed", {{"Allow", u->allow()}});
}

void Session::Impl::on_reinvite(const Message& m) {
  auto u = ua.lock();
  if (!u) return;
  if (reinvite_out_pending) {
    u->reply(m, 491, "Request Pending");
    return;
  }
  if (reinvite_in_pending || awaiting_ack || !media) {
    u->reply(m, 500, "Server Internal Error", {{"Retry-After", std::to_string(std::random_device{}() % 10)}});
    return;
  }
  reinvite_in_pending = true;
  reinvite_in_cseq = m.cseq()->number;
  dialog->refresh_target(m);
  std::vector<Header> extra{{"Contact", u->contact()}, {"Allow", u->allow()}};
  if (auto se = session_expires(m)) {
    session_interval = std::chrono::seconds(se->first);
    we_refresh = se->second == "uas";
    extra.push_back({"Session-Expires", std::to_string(se->first) + ";refresher=" + (we_refresh ? "uas" : "uac")});
  }
  auto done = [weak = weak_from_this(), m, extra, &io = rt.context()](Result<std::string> sdp) {
    asio::post(io, [weak, m, extra, sdp = std::move(sdp)]() mutable {
      auto s = weak.lock();
      auto u2 = s ? s->ua.lock() : nullptr;
      if (!u2 || s->get_state() == SessionState::terminated) return;
      if (!sdp) {
        s->reinvite_in_pending = false;
        u2->reply(m, 488, "Not Acceptable Here");
        return;
      }
      u2->reply(m, 200, "OK", std::move(extra), std::move(*sdp), s->media->content_type());
      s->start_session_timer();
    });
  };
  if (m.body().empty()) {
    offer_in_200 = true;
    media->create_offer(std::move(done));
  } else {
    {
      std::lock_guard lock(mutex);
      remote_sdp = m.body();
    }
    auto self = shared_from_this();
    emitter.emit(IncomingReinvite{m.body()});
    media->create_answer(m.body(), std::move(done));
  }
}

void Session::Impl::send_in_dialog_cb(std::string method, std::string body, std::string content_type,
                                      std::vector<Header> extra, std::function<void(Result<Message>)> done) {
  auto u = ua.lock();
  if (!u || !dialog) {
    done(closed_error());
    return;
  }
  Message req = dialog->make_request(method);
  if (method == "INVITE" || method == "UPDATE" || method == "REFER" || method == "NOTIFY") {
    req.add_header("Contact", u->contact());
  }
  if (!u->opts.user_agent.empty()) req.add_header("User-Agent", u->opts.user_agent);
  for (auto& h : extra) req.add_header(h.name, std::move(h.value));
  if (!body.empty()) req.set_body(std::move(body), std::move(content_type));
  auto out = std::make_shared<Outgoing>();
  out->request = std::move(req);
  std::weak_ptr<Impl> weak = weak_from_this();
  out->next_cseq = [weak]() -> std::uint32_t {
    auto s = weak.lock();
    return s && s->dialog ? ++s->dialog->local_cseq : 1;
  };
  out->on_response = [weak, done = std::move(done), method](Result<Message> r) {
    if (r && r->status() < 200) return;
    auto s = weak.lock();
    if (s && r && (r->status() == 481 || r->status() == 408) && method != "BYE") {
      // §12.2.1.2: the dialog is gone at the peer.
      s->do_bye({}, std::nullopt, Terminated::Cause::error);
    }
    done(std::move(r));
  };
  u->send(out);
}

Async<Message> Session::Impl::send_in_dialog(std::string method, std::string body, std::string content_type,
                                             std::vector<Header> extra) {
  Promise<Message> p(rt.executor());
  auto a = p.async();
  asio::post(rt.context(), [self = shared_from_this(), p, method = std::move(method), body = std::move(body),
                            content_type = std::move(content_type), extra = std::move(extra)]() mutable {
    if (self->get_state() != SessionState::confirmed && !(self->dialog && self->final_sent)) {
      p.set(closed_error());
      return;
    }
    self->send_in_dialog_cb(
        method, std::move(body), std::move(content_type), std::move(extra), [p, method](Result<Message> r) {
          if (!r) {
            p.set(std::move(r).error());
          } else if (r->status() >= 300) {
            p.set(Error(ErrorCategory::sip, method + " failed: " + std::to_string(r->status()) + " " + r->reason(),
                        r->status()));
          } else {
            p.set(std::move(r));
          }
        });
  });
  return a;
}

void Session::Impl::do_bye(std::string reason, std::optional<Promise<void>> promise, Terminated::Cause cause) {
  if (!dialog || get_state() == SessionState::terminated) {
    if (promise) promise->set(closed_error());
    return;
  }
  std::vector<Header> extra;
  if (!reason.empty()) extra.push_back({"Reason", reason});
  send_in_dialog_cb("BYE", {}, {}, std::move(extra), [promise](Result<Message> r) {
    if (!promise) return;
    if (!r) {
      promise->set(std::move(r).error());
    } else {
      promise->set(Result<void>());  // whatever the status, the dialog is over
    }
  });
  Terminated t;
  t.cause = cause;
  t.reason = reason;
  terminate(t);
}

void Session::Impl::do_reinvite(Promise<void> promise) {
  if (get_state() != SessionState::confirmed || !media) {
    promise.set(closed_error());
    return;
  }
  if (reinvite_out_pending) {
    promise.set(Error(ErrorCategory::invalid_argument, "a re-INVITE is already in progress"));
    return;
  }
  if (reinvite_in_pending || awaiting_ack) {
    // The peer's INVITE transaction is not over (its ACK is on the way): go once it is, within 64*T1.
    auto u = ua.lock();
    const auto step = std::chrono::milliseconds(20);
    if (!u || ++deferrals * step > u->opts.timers.transaction_timeout()) {
      deferrals = 0;
      promise.set(Error(ErrorCategory::timeout, "the peer's re-INVITE did not complete"));
      return;
    }
    glare_timer.expires_after(step);
    glare_timer.async_wait([weak = weak_from_this(), promise](boost::system::error_code ec) {
      auto s = weak.lock();
      if (ec || !s) {
        promise.set(Error(ErrorCategory::cancelled, "re-INVITE abandoned"));
        return;
      }
      s->do_reinvite(promise);
    });
    return;
  }
  deferrals = 0;
  reinvite_out_pending = true;
  reinvite_promise = promise;
  media->create_offer([weak = weak_from_this(), &io = rt.context()](Result<std::string> sdp) {
    asio::post(io, [weak, sdp = std::move(sdp)]() mutable {
      auto s = weak.lock();
      if (!s || !s->reinvite_promise) return;
      if (!sdp) {
        s->reinvite_out_pending = false;
        auto p = *s->reinvite_promise;
        s->reinvite_promise.reset();
        p.set(sdp.error());
        return;
      }
      std::vector<Header> extra{{"Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, MESSAGE, REFER, NOTIFY, UPDATE"},
                                {"Supported", "replaces, outbound, timer"}};
      if (s->session_interval.count() > 0) {
        extra.push_back({"Session-Expires", std::to_string(s->session_interval.count()) +
                                                ";refresher=" + (s->we_refresh ? "uac" : "uas")});
      }
      s->send_in_dialog_cb(
          "INVITE", std::move(*sdp), s->media->content_type(), std::move(extra), [weak](Result<Message> r) {
            auto s2 = weak.lock();
            if (!s2) return;
            s2->reinvite_out_pending = false;
            auto p = s2->reinvite_promise;
            s2->reinvite_promise.reset();
            if (!r) {
              if (p) p->set(std::move(r).error());
              return;
            }
            const int st = r->status();
            if (st < 300) {
              s2->dialog->refresh_target(*r);
              s2->send_ack(r->cseq() ? r->cseq()->number : s2->dialog->local_cseq);
              {
                std::lock_guard lock(s2->mutex);
                s2->remote_sdp = r->body();
              }
              auto applied = s2->media->set_remote_answer(r->body());
              s2->start_session_timer();
              if (p) p->set(applied);
              return;
            }
            if (st == 491 && s2->glare_retries < 3 && p) {
              // §14.1: the Call-ID owner waits 2.1-4 s, the other side 0-2 s, then tries again.
              ++s2->glare_retries;
              std::uniform_int_distribution<int> d(s2->direction == Direction::outgoing ? 2100 : 0,
                                                   s2->direction == Direction::outgoing ? 4000 : 2000);
              static thread_local std::mt19937 rng{std::random_device{}()};
              s2->glare_timer.expires_after(std::chrono::milliseconds(d(rng)));
              s2->glare_timer.async_wait([weak, p](boost::system::error_code ec) {
                auto s3 = weak.lock();
                if (ec || !s3) {
                  p->set(Error(ErrorCategory::cancelled, "re-INVITE abandoned"));
                  return;
                }
                s3->do_reinvite(*p);
              });
              return;
            }
            s2->glare_retries = 0;
            if (p) {
              p->set(Error(ErrorCategory::sip, "re-INVITE failed: " + std::to_string(st) + " " + r->reason(), st));
            }
          });
    });
  });
}

void Session::Impl::start_session_timer() {
  if (session_interval.count() <= 0 || !we_refresh) return;
  session_timer.expires_after(std::chrono::duration_cast<std::chrono::milliseconds>(session_interval) / 2);
  session_timer.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto s = weak.lock();
    if (ec || !s || s->get_state() != SessionState::confirmed) return;
    if (s->reinvite_out_pending || s->reinvite_in_pending) {
      s->start_session_timer();
      return;
    }
    // RFC 4028 §7.4: refresh with UPDATE (no body) when the peer allows it, else with a re-INVITE.
    std::vector<Header> extra{{"Session-Expires", std::to_string(s->session_interval.count()) + ";refresher=" +
                                                      (s->direction == Direction::outgoing ? "uac" : "uas")}};
    s->send_in_dialog_cb("UPDATE", {}, {}, std::move(extra), [weak](Result<Message> r) {
      auto s2 = weak.lock();
      if (!s2 || !r) return;
      if (r->status() < 300) {
        s2->emitter.emit(SessionRefreshed{s2->session_interval});
        s2->start_session_timer();
        return;
      }
      Promise<void> p(s2->rt.executor());
      p.async().then([weak](Result<void> done) {
        auto s3 = weak.lock();
        if (s3 && done) s3->emitter.emit(SessionRefreshed{s3->session_interval});
      });
      s2->do_reinvite(p);
    });
  });
}

// ------------------------------------------------------------------------------------------------ Session

namespace {
Emitter& dummy_emitter() {
  static Emitter e;
  return e;
}
// For calls on an empty handle: the result is ready (get() works); it has no runtime to run then() on.
boost::asio::io_context::executor_type orphan_executor() {
  static boost::asio::io_context io;
  return io.get_executor();
}
}  // namespace

Emitter& Session::emitter() { return impl_ ? impl_->emitter : dummy_emitter(); }

std::string Session::call_id() const {
  if (!impl_) return {};
  std::lock_guard lock(impl_->mutex);
  return impl_->call_id;
}
std::string Session::local_tag() const {
  if (!impl_) return {};
  std::lock_guard lock(impl_->mutex);
  return impl_->local_tag;
}
std::string Session::remote_tag() const {
  if (!impl_) return {};
  std::lock_guard lock(impl_->mutex);
  return impl_->remote_tag;
}
SessionState Session::state() const { return impl_ ? impl_->get_state() : SessionState::terminated; }
Direction Session::direction() const { return impl_ ? impl_->direction : Direction::outgoing; }
Identity Session::remote_identity() const {
  if (!impl_) return {};
  std::lock_guard lock(impl_->mutex);
  return impl_->remote_id;
}
Identity Session::local_identity() const {
  if (!impl_) return {};
  std::lock_guard lock(impl_->mutex);
  return impl_->local_id;
}
std::vector<Diversion> Session::diversion() const {
  if (!impl_) return {};
  std::lock_guard lock(impl_->mutex);
  return impl_->diversions;
}
std::string Session::remote_sdp() const {
  if (!impl_) return {};
  std::lock_guard lock(impl_->mutex);
  return impl_->remote_sdp;
}
std::optional<Message> Session::initial_request() const {
  if (!impl_) return std::nullopt;
  std::lock_guard lock(impl_->mutex);
  return impl_->initial;
}
Replaces Session::replaces_id() const {
  Replaces r;
  if (!impl_) return r;
  std::lock_guard lock(impl_->mutex);
  r.call_id = impl_->call_id;
  r.to_tag = impl_->remote_tag;  // the peer's local tag
  r.from_tag = impl_->local_tag;
  return r;
}

Result<void> Session::progress(int status, std::string reason) {
  if (!impl_ || impl_->direction != Direction::incoming || status <= 100 || status >= 200) {
    return Error(ErrorCategory::invalid_argument, "progress() is for incoming calls, with a 1xx status");
  }
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->final_sent || impl_->state == SessionState::terminated) return closed_error();
  }
  asio::post(impl_->rt.context(), [s = impl_, status, reason = std::move(reason)]() mutable {
    (void)s->respond_provisional(status, std::move(reason));
  });
  return {};
}

Async<void> Session::accept(std::shared_ptr<MediaSession> media, AcceptOptions options) {
  if (!impl_) return make_ready<void>(orphan_executor(), closed_error());
  Promise<void> p(impl_->rt.executor());
  auto a = p.async();
  asio::post(impl_->rt.context(), [s = impl_, p, media = std::move(media), options = std::move(options)]() mutable {
    s->do_accept(std::move(media), std::move(options), p);
  });
  return a;
}

Result<void> Session::reject(int status, std::string reason) {
  if (!impl_ || impl_->direction != Direction::incoming || status < 300 || status > 699) {
    return Error(ErrorCategory::invalid_argument, "reject() is for incoming calls, with a 3xx-6xx status");
  }
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->final_sent || impl_->state == SessionState::terminated) return closed_error();
  }
  asio::post(impl_->rt.context(),
             [s = impl_, status, reason = std::move(reason)]() mutable { s->do_reject(status, std::move(reason)); });
  return {};
}

Async<void> Session::cancel(std::string reason) {
  if (!impl_) return make_ready<void>(orphan_executor(), closed_error());
  Promise<void> p(impl_->rt.executor());
  auto a = p.async();
  asio::post(impl_->rt.context(), [s = impl_, p, reason = std::move(reason)]() mutable {
    if (s->direction != Direction::outgoing || s->final_seen || s->get_state() == SessionState::terminated) {
      p.set(Error(ErrorCategory::invalid_argument, "cancel() is for outgoing calls not yet answered"));
      return;
    }
    s->end_waiters.push_back(p);
    s->cancel_requested = true;
    s->cancel_reason = std::move(reason);
    s->send_cancel();
  });
  return a;
}

Async<void> Session::bye(std::string reason) {
  if (!impl_) return make_ready<void>(orphan_executor(), closed_error());
  Promise<void> p(impl_->rt.executor());
  auto a = p.async();
  asio::post(impl_->rt.context(), [s = impl_, p, reason = std::move(reason)]() mutable {
    const auto st = s->get_state();
    if (st != SessionState::confirmed && !(s->direction == Direction::incoming && s->final_sent && s->awaiting_ack)) {
      p.set(Error(ErrorCategory::invalid_argument, "bye() is for answered calls"));
      return;
    }
    s->do_bye(std::move(reason), p, Terminated::Cause::local_bye);
  });
  return a;
}

Async<void> Session::hangup() {
  if (!impl_) return make_ready<void>(orphan_executor(), closed_error());
  Promise<void> p(impl_->rt.executor());
  auto a = p.async();
  asio::post(impl_->rt.context(), [s = impl_, p]() mutable {
    const auto st = s->get_state();
    if (st == SessionState::terminated) {
      p.set(Result<void>());
      return;
    }
    if (st == SessionState::confirmed || (s->direction == Direction::incoming && s->final_sent && s->awaiting_ack)) {
      s->do_bye({}, p, Terminated::Cause::local_bye);
      return;
    }
    if (s->direction == Direction::incoming) {
      s->do_reject(603, "Decline");
      p.set(Result<void>());
      return;
    }
    if (s->final_seen) {  // answered, being set up
      s->do_bye({}, p, Terminated::Cause::local_bye);
      return;
    }
    s->end_waiters.push_back(p);
    s->cancel_requested = true;
    s->send_cancel();
  });
  return a;
}

Async<void> Session::reinvite() {
  if (!impl_) return make_ready<void>(orphan_executor(), closed_error());
  Promise<void> p(impl_->rt.executor());
  auto a = p.async();
  asio::post(impl_->rt.context(), [s = impl_, p]() mutable {
    s->glare_retries = 0;
    s->do_reinvite(p);
  });
  return a;
}

Async<Message> Session::info(std::string content_type, std::string body) {
  if (!impl_) return make_ready<Message>(orphan_executor(), closed_error());
  return impl_->send_in_dialog("INFO", std::move(body), std::move(content_type), {});
}

Async<Message> Session::message(std::string body, std::string content_type) {
  if (!impl_) return make_ready<Message>(orphan_executor(), closed_error());
  return impl_->send_in_dialog("MESSAGE", std::move(body), std::move(content_type), {});
}

Async<Message> Session::refer(std::string target) {
  if (!impl_) return make_ready<Message>(orphan_executor(), closed_error());
  auto u = impl_->ua.lock();
  if (!u) return make_ready<Message>(impl_->rt.executor(), closed_error());
  auto uri = u->target_uri(target);
  if (!uri) return make_ready<Message>(impl_->rt.executor(), uri.error());
  NameAddr to;
  to.uri = *uri;
  NameAddr by = u->local_name_addr();
  return impl_->send_in_dialog("REFER", {}, {}, {{"Refer-To", to.str()}, {"Referred-By", by.str()}});
}

Async<Message> Session::refer(std::string target, const Session& replaces) {
  if (!impl_ || !replaces.impl_) return make_ready<Message>(orphan_executor(), closed_error());
  auto u = impl_->ua.lock();
  if (!u) return make_ready<Message>(impl_->rt.executor(), closed_error());
  Uri uri;
  if (target.empty()) {
    uri = replaces.remote_identity().uri;
  } else {
    auto t = u->target_uri(target);
    if (!t) return make_ready<Message>(impl_->rt.executor(), t.error());
    uri = *t;
  }
  uri.headers = "Replaces=" + detail::percent_encode(replaces.replaces_id().str());
  NameAddr to;
  to.uri = uri;
  NameAddr by = u->local_name_addr();
  return impl_->send_in_dialog("REFER", {}, {}, {{"Refer-To", to.str()}, {"Referred-By", by.str()}});
}

}  // namespace wazo::sip
