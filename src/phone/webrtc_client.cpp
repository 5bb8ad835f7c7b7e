#include "wazo/phone/webrtc_client.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <string_view>
#include <utility>

#include "phone/detail/client_impl.hpp"
#include "wazo/rest/api_client.hpp"
#include "wazo/rest/confd.hpp"

namespace wazo::phone {

namespace {

using detail::CallState;
using media::Direction;

constexpr std::string_view kCategory = "phone";

Error no_call() { return {ErrorCategory::invalid_argument, "no such call on this client"}; }
Error not_answered() { return {ErrorCategory::invalid_argument, "the call is not answered yet"}; }

std::string host_of(std::string_view host_port) {
  if (host_port.starts_with("[")) {
    const auto end = host_port.find(']');
    return std::string(host_port.substr(0, end == std::string_view::npos ? host_port.size() : end + 1));
  }
  return std::string(host_port.substr(0, host_port.find(':')));
}

// "sip:user@domain" / "user@domain" → {user, domain}.
std::pair<std::string, std::string> split_uri(std::string_view uri) {
  if (uri.starts_with("sip:")) uri.remove_prefix(4);
  if (uri.starts_with("sips:")) uri.remove_prefix(5);
  const auto at = uri.find('@');
  if (at == std::string_view::npos) return {std::string(uri), {}};
  auto domain = uri.substr(at + 1);
  domain = domain.substr(0, domain.find_first_of(";?>"));
  return {std::string(uri.substr(0, at)), host_of(domain)};
}

sip::UserAgentOptions ua_options(const WebRtcConfig& c) {
  sip::UserAgentOptions o;
  o.server = detail::websocket_url(c);
  auto [uri_user, uri_domain] = split_uri(c.uri);
  o.user = !uri_user.empty() ? uri_user : c.authorization_user;
  o.auth_user = c.authorization_user;
  o.domain = !c.domain.empty() ? c.domain : !uri_domain.empty() ? uri_domain : host_of(c.host);
  o.password = c.password;
  o.display_name = c.display_name;
  o.user_agent = c.user_agent_string;
  o.connection = c.connection;
  o.register_on_start = !c.skip_register;
  o.heartbeat.enabled = false;  // the client's own heartbeat (start_heartbeat) follows the seed's settings
  if (c.ua_overrides) c.ua_overrides(o);
  return o;
}

bool is_dtmf_tone(char t) {
  return std::isdigit(static_cast<unsigned char>(t)) != 0 || t == '*' || t == '#' || (t >= 'A' && t <= 'D');
}

// The INVITE asks to be answered without ringing (Alert-Info: auto answer / answer-after, Call-Info answer-after).
bool wants_auto_answer(const std::optional<sip::Message>& invite) {
  if (!invite) return false;
  auto lower = [](std::string_view v) {
    std::string s(v);
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    return s;
  };
  for (auto v : invite->header_values("Alert-Info")) {
    const auto s = lower(v);
    if (s.find("auto answer") != std::string::npos || s.find("auto-answer") != std::string::npos ||
        s.find("answer-after") != std::string::npos || s.find("info=alert-autoanswer") != std::string::npos)
      return true;
  }
  for (auto v : invite->header_values("Call-Info")) {
    if (lower(v).find("answer-after") != std::string::npos) return true;
  }
  return false;
}

// What the session sees of the media: the CallMedia, plus a notice once an answer is made, so that the client can
// read the peer's hold from the negotiated direction after a re-INVITE.
class MediaBridge final : public sip::MediaSession {
 public:
  MediaBridge(std::shared_ptr<media::CallMedia> media, std::function<void()> answered)
      : media_(std::move(media)), answered_(std::move(answered)) {}
  void create_offer(SdpCallback done) override { media_->create_offer(std::move(done)); }
  void create_answer(std::string remote_offer, SdpCallback done) override {
    media_->create_answer(std::move(remote_offer),
                          [done = std::move(done), answered = answered_](Result<std::string> r) {
                            const bool ok = r.ok();
                            done(std::move(r));
                            if (ok && answered) answered();
                          });
  }
  Result<void> set_remote_answer(std::string sdp) override { return media_->set_remote_answer(std::move(sdp)); }
  void close() override { media_->close(); }
  [[nodiscard]] std::string content_type() const override { return media_->content_type(); }

 private:
  std::shared_ptr<media::CallMedia> media_;
  std::function<void()> answered_;
};

}  // namespace

// ------------------------------------------------------------------------------------------------ detail

namespace detail {

std::string websocket_url(const WebRtcConfig& c) {
  if (!c.websocket_url.empty()) return c.websocket_url;
  std::string host_port = c.websocket_sip;
  if (host_port.empty()) {
    if (c.host.empty()) return {};
    host_port = c.host + ":" + std::to_string(c.port);
  }
  return std::string(c.insecure_transport ? "ws://" : "wss://") + host_port + "/api/asterisk/ws";
}

bool sdp_has_video(std::string_view sdp) {
  std::size_t pos = 0;
  while ((pos = sdp.find("m=video ", pos)) != std::string_view::npos) {
    if (pos == 0 || sdp[pos - 1] == '\n') {
      const auto port = sdp.substr(pos + 8, 2);
      if (!port.starts_with("0 ")) return true;
    }
    pos += 8;
  }
  return false;
}

char parse_dtmf_relay(std::string_view body) {
  const auto at = body.find("Signal=");
  if (at == std::string_view::npos) return 0;
  auto v = body.substr(at + 7);
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  if (v.empty()) return 0;
  const char t = static_cast<char>(std::toupper(static_cast<unsigned char>(v.front())));
  return is_dtmf_tone(t) ? t : 0;
}

WebRTCClient make_client(Runtime& runtime, WebRtcConfig config, std::shared_ptr<media::MediaEngine> engine) {
  auto impl = std::make_shared<WebRTCClient::Impl>(runtime, std::move(config), std::move(engine));
  impl->wire();
  return WebRTCClient(std::move(impl));
}

}  // namespace detail

// ------------------------------------------------------------------------------------------------ Impl

WebRTCClient::Impl::Impl(Runtime& runtime, WebRtcConfig cfg, std::shared_ptr<media::MediaEngine> eng)
    : rt(runtime), config(std::move(cfg)), engine(std::move(eng)) {
  ua = std::make_unique<sip::UserAgent>(rt, ua_options(config));
  media_options = config.media;
  for (const auto& s : config.ice_servers) media_options.ice_servers.push_back(s);
  if (config.ice_checking_timeout) media_options.ice_checking_timeout = *config.ice_checking_timeout;
}

WebRTCClient::Impl::~Impl() {
  ua_subs.clear();
  std::vector<std::shared_ptr<CallState>> left;
  {
    std::lock_guard lock(mutex);
    left.swap(calls);
  }
  for (auto& c : left) {
    for (auto& s : c->op_subs) s->reset();
    c->subs.clear();
  }
  ua.reset();
}

void WebRTCClient::Impl::wire() {
  std::weak_ptr<Impl> weak = weak_from_this();
  ua_subs.push_back(ua->on<sip::TransportStateChanged>([weak](const sip::TransportStateChanged& e) {
    auto self = weak.lock();
    if (!self) return;
    if (e.state == sip::TransportState::connected) self->emitter.emit(Connected{});
    if (e.state == sip::TransportState::reconnecting || e.state == sip::TransportState::closed)
      self->emitter.emit(Disconnected{e.reason, e.error});
  }));
  ua_subs.push_back(ua->on<sip::RegistrationStateChanged>([weak](const sip::RegistrationStateChanged& e) {
    auto self = weak.lock();
    if (!self) return;
    std::vector<Promise<void>> waiters;
    if (e.state == sip::RegistrationState::registered || e.state == sip::RegistrationState::failed) {
      std::lock_guard lock(self->mutex);
      waiters.swap(self->register_waiters);
    }
    if (e.state == sip::RegistrationState::registered) {
      for (auto& w : waiters) w.set({});
      self->emitter.emit(Registered{e.expires});
    } else if (e.state == sip::RegistrationState::unregistered) {
      self->emitter.emit(Unregistered{});
    } else if (e.state == sip::RegistrationState::failed) {
      Error err = e.error.value_or(Error(ErrorCategory::sip, "registration failed"));
      for (auto& w : waiters) w.set(err);
      self->emitter.emit(RegistrationFailed{err});
    }
  }));
  ua_subs.push_back(ua->on<sip::IncomingCall>([weak](const sip::IncomingCall& e) {
    auto self = weak.lock();
    if (!self) return;
    auto c = self->add_call(e.session, nullptr, true);
    self->watch_session(c);
    Invite invite{e.session, detail::sdp_has_video(e.session.remote_sdp()),
                  wants_auto_answer(e.session.initial_request()), e.replaces};
    bool video = invite.has_video;
    if (e.replaces) {
      if (auto old = self->find(*e.replaces)) {
        std::lock_guard lock(self->mutex);
        video = video && old->video;
      }
    }
    self->emitter.emit(invite);
    // The target of an attended transfer takes the new leg without ringing: it replaces a call we accepted.
    if (e.replaces) {
      WebRTCClient(self).answer(e.session, {.video = video}).then([weak](Result<void> r) {
        auto s = weak.lock();
        if (s && !r) s->rt.logger().warn(kCategory, "answering a replacing call failed: " + r.error().describe());
      });
    }
  }));
  ua_subs.push_back(ua->on<sip::IncomingMessage>([weak](const sip::IncomingMessage& e) {
    if (auto self = weak.lock())
      self->emitter.emit(SipMessage{e.from.uri.str(), e.from.display_name, e.content_type, e.body});
  }));
}

Result<std::shared_ptr<media::MediaEngine>> WebRTCClient::Impl::media_engine() {
  std::lock_guard lock(mutex);
  if (!engine) {
    auto e = media::make_gstreamer_engine(rt);
    if (!e) return std::move(e).error();
    engine = *e;
  }
  return engine;
}

Result<std::shared_ptr<media::CallMedia>> WebRTCClient::Impl::make_media(bool video) {
  auto eng = media_engine();
  if (!eng) return std::move(eng).error();
  media::MediaOptions opts;
  {
    std::lock_guard lock(mutex);
    opts = media_options;
  }
  return (*eng)->create_call(opts, video);
}

std::shared_ptr<CallState> WebRTCClient::Impl::find(const sip::Session& s) const {
  if (!s.valid()) return nullptr;
  std::lock_guard lock(mutex);
  for (const auto& c : calls) {
    if (c->session == s) return c;
  }
  return nullptr;
}

std::shared_ptr<CallState> WebRTCClient::Impl::add_call(sip::Session s, std::shared_ptr<media::CallMedia> m,
                                                        bool incoming) {
  auto c = std::make_shared<CallState>();
  c->session = std::move(s);
  c->media = std::move(m);
  c->incoming = incoming;
  std::lock_guard lock(mutex);
  calls.push_back(c);
  return c;
}

void WebRTCClient::Impl::watch_session(const std::shared_ptr<CallState>& c) {
  std::weak_ptr<Impl> weak = weak_from_this();
  std::weak_ptr<CallState> wc = c;
  auto& s = c->session;
  std::vector<Subscription> subs;
  subs.push_back(s.on<sip::Progress>([weak, wc](const sip::Progress& p) {
    auto self = weak.lock();
    auto call = wc.lock();
    if (!self || !call || call->incoming) return;
    self->emitter.emit(SessionProgress{call->session, p.status, p.reason});
  }));
  subs.push_back(s.on<sip::Accepted>([weak, wc](const sip::Accepted&) {
    auto self = weak.lock();
    auto call = wc.lock();
    if (!self || !call) return;
    bool video = false;
    if (call->media) video = call->media->has_video();
    {
      std::lock_guard lock(self->mutex);
      call->video = video;
    }
    self->emitter.emit(SessionAccepted{call->session, video});
    self->schedule_stats(call);
    self->watch_path(call);
  }));
  subs.push_back(s.on<sip::Terminated>([weak, wc](const sip::Terminated& t) {
    auto self = weak.lock();
    auto call = wc.lock();
    if (!self || !call) return;
    bool transferred = false;
    std::vector<std::shared_ptr<Subscription>> ops;
    {
      std::lock_guard lock(self->mutex);
      if (call->ended) return;
      call->ended = true;
      if (std::exchange(call->merged, false) &&
          std::none_of(self->calls.begin(), self->calls.end(), [&](const auto& o) { return o != call && o->merged; })) {
        self->conference.reset();
      }
      transferred = call->transferred || (call->transfer_pending && t.cause == sip::Terminated::Cause::remote_bye);
      ops.swap(call->op_subs);
      std::erase(self->calls, call);
    }
    // Later handlers of this same Terminated (a transfer's) still have to see it: release them afterwards.
    self->rt.post([ops = std::move(ops)] {
      for (const auto& o : ops) o->reset();
    });
    if (call->stats_timer) call->stats_timer->cancel();
    if (call->ice_timer) call->ice_timer->cancel();
    if (call->path_timer) call->path_timer->cancel();
    // The last figures: a closing media reads them once (the session has usually closed it already).
    std::optional<media::CallStats> last;
    if (call->media) {
      call->media->close();
      last = call->media->stats();
    }
    self->emitter.emit(SessionEnded{call->session, t, transferred, std::move(last)});
    call->subs.clear();  // this handler's own subscription among them: the emitter keeps it alive until it returns
  }));
  subs.push_back(s.on<sip::IncomingInfo>([weak, wc](const sip::IncomingInfo& i) {
    auto self = weak.lock();
    auto call = wc.lock();
    if (!self || !call || i.content_type != "application/dtmf-relay") return;
    if (const char t = detail::parse_dtmf_relay(i.body)) self->emitter.emit(SessionDtmf{call->session, t, true});
  }));
  subs.push_back(s.on<sip::IncomingDialogMessage>([weak, wc](const sip::IncomingDialogMessage& m) {
    auto self = weak.lock();
    auto call = wc.lock();
    if (self && call) self->emitter.emit(SessionMessage{call->session, m.content_type, m.body});
  }));
  subs.push_back(s.on<sip::IncomingReinvite>([weak, wc](const sip::IncomingReinvite& r) {
    auto self = weak.lock();
    auto call = wc.lock();
    if (!self || !call) return;
    // The media answers only what it wants: a re-offer that adds video gets video back (the peer upgraded).
    if (call->media && self->accept_video_upgrades && detail::sdp_has_video(r.remote_sdp) && !call->media->has_video())
      call->media->set_video_wanted(true);
    std::lock_guard lock(self->mutex);
    call->reinvite_in = true;
  }));
  subs.push_back(s.on<sip::IncomingRefer>([weak, wc](const sip::IncomingRefer& r) {
    auto self = weak.lock();
    auto call = wc.lock();
    if (!self || !call) {
      (void)r.referral->reject(603, "Decline");
      return;
    }
    self->follow_refer(call, r.referral);
  }));
  std::lock_guard lock(mutex);
  for (auto& sub : subs) c->subs.push_back(std::move(sub));
}

void WebRTCClient::Impl::watch_media(const std::shared_ptr<CallState>& c) {
  std::weak_ptr<Impl> weak = weak_from_this();
  std::weak_ptr<CallState> wc = c;
  auto& m = *c->media;
  std::vector<Subscription> subs;
  subs.push_back(m.on<media::IceStateChanged>([weak, wc](const media::IceStateChanged& e) {
    auto self = weak.lock();
    auto call = wc.lock();
    if (self && call) self->on_ice_state(call, e.state);
  }));
  subs.push_back(m.on<media::MediaConnected>([weak, wc](const media::MediaConnected&) {
    auto self = weak.lock();
    auto call = wc.lock();
    if (self && call) self->emitter.emit(SessionMediaConnected{call->session});
  }));
  subs.push_back(m.on<media::TrackAdded>([weak, wc](const media::TrackAdded& e) {
    auto self = weak.lock();
    auto call = wc.lock();
    if (self && call) self->emitter.emit(TrackReceived{call->session, e.kind});
  }));
  subs.push_back(m.on<media::DtmfReceived>([weak, wc](const media::DtmfReceived& e) {
    auto self = weak.lock();
    auto call = wc.lock();
    if (self && call) self->emitter.emit(SessionDtmf{call->session, e.tone, false});
  }));
  subs.push_back(m.on<media::MediaError>([weak, wc](const media::MediaError& e) {
    auto self = weak.lock();
    auto call = wc.lock();
    if (self && call) self->emitter.emit(SessionMediaError{call->session, e.error});
  }));
  std::lock_guard lock(mutex);
  for (auto& sub : subs) c->subs.push_back(std::move(sub));
}

void WebRTCClient::Impl::after_answer(const std::weak_ptr<CallState>& wc) {
  auto c = wc.lock();
  if (!c || !c->media) return;
  const Direction dir = c->media->negotiated_direction();
  const bool remote_held = dir == Direction::recvonly || dir == Direction::inactive;
  const bool video = c->media->has_video();
  bool hold_changed = false;
  bool video_changed = false;
  {
    std::lock_guard lock(mutex);
    if (!c->reinvite_in || c->ended) return;
    c->reinvite_in = false;
    hold_changed = c->remote_held != remote_held;
    c->remote_held = remote_held;
    video_changed = c->video != video;
    c->video = video;
  }
  if (hold_changed) emitter.emit(SessionHeld{c->session, remote_held, true});
  if (video_changed) emitter.emit(SessionVideoChanged{c->session, video});
}

void WebRTCClient::Impl::on_ice_state(const std::shared_ptr<CallState>& c, const std::string& state) {
  if (state == "disconnected" || state == "failed") {
    bool first = false;
    {
      std::lock_guard lock(mutex);
      if (c->ended) return;
      first = !c->ice_down;
      c->ice_down = true;
    }
    if (first) emitter.emit(SessionIceDisconnected{c->session});
    if (!c->ice_timer) c->ice_timer = std::make_unique<boost::asio::steady_timer>(rt.context());
    c->ice_timer->expires_after(config.ice_reconnect_delay);
    std::weak_ptr<Impl> weak = weak_from_this();
    std::weak_ptr<CallState> wc = c;
    c->ice_timer->async_wait([weak, wc](const boost::system::error_code& ec) {
      auto self = weak.lock();
      auto call = wc.lock();
      if (ec || !self || !call || !call->media) return;
      int attempt = 0;
      {
        std::lock_guard lock(self->mutex);
        if (call->ended || !call->ice_down || call->ice_attempts >= self->config.max_ice_restarts) return;
        attempt = ++call->ice_attempts;
      }
      self->emitter.emit(SessionIceReconnecting{call->session, attempt});
      call->media->request_ice_restart();
      call->session.reinvite().then([weak](Result<void> r) {
        auto s = weak.lock();
        if (s && !r) s->rt.logger().warn(kCategory, "ICE restart re-INVITE failed: " + r.error().describe());
      });
    });
  } else if (state == "connected" || state == "completed") {
    bool was_down = false;
    {
      std::lock_guard lock(mutex);
      was_down = c->ice_down;
      c->ice_down = false;
      c->ice_attempts = 0;
    }
    if (was_down) emitter.emit(SessionIceReconnected{c->session});
  }
}

void WebRTCClient::Impl::schedule_stats(const std::shared_ptr<CallState>& c) {
  if (config.network_stats_interval.count() <= 0 || !c->media) return;
  if (!c->stats_timer) c->stats_timer = std::make_unique<boost::asio::steady_timer>(rt.context());
  c->stats_timer->expires_after(config.network_stats_interval);
  std::weak_ptr<Impl> weak = weak_from_this();
  std::weak_ptr<CallState> wc = c;
  c->stats_timer->async_wait([weak, wc](const boost::system::error_code& ec) {
    auto self = weak.lock();
    auto call = wc.lock();
    if (ec || !self || !call || call->ended) return;
    self->emitter.emit(SessionNetworkStats{call->session, call->media->stats()});
    self->schedule_stats(call);
  });
}

// No packet from the peer for media_timeout while it should be sending (neither side holds the other):
// the path is down, handled as ICE going `disconnected` (restart re-INVITEs), again every media_timeout while it
// lasts; the first packet after that is ICE `connected` again. libnice 0.1.21 (Debian 12) has no consent
// freshness (RFC 7675): without this, a dead path would never be noticed.
void WebRTCClient::Impl::watch_path(const std::shared_ptr<CallState>& c) {
  const auto timeout = config.media_timeout;
  if (timeout.count() <= 0 || !c->media || !c->media->packets_received()) return;
  if (!c->path_timer) {
    c->path_timer = std::make_unique<boost::asio::steady_timer>(rt.context());
    std::lock_guard lock(mutex);
    c->path_packets = *c->media->packets_received();
    c->path_alive_at = std::chrono::steady_clock::now();
  }
  c->path_timer->expires_after(std::clamp<std::chrono::milliseconds>(timeout / 4, std::chrono::milliseconds(50),
                                                                     std::chrono::milliseconds(1000)));
  std::weak_ptr<Impl> weak = weak_from_this();
  std::weak_ptr<CallState> wc = c;
  c->path_timer->async_wait([weak, wc, timeout](const boost::system::error_code& ec) {
    auto self = weak.lock();
    auto call = wc.lock();
    if (ec || !self || !call) return;
    const std::uint64_t packets = call->media->packets_received().value_or(0);
    // Only a sendrecv session must carry packets both ways: a peer that holds us may send nothing at all.
    const bool expecting = call->media->negotiated_direction() == Direction::sendrecv;
    const auto now = std::chrono::steady_clock::now();
    const char* report = nullptr;
    {
      std::lock_guard lock(self->mutex);
      if (call->ended) return;
      const bool moved = packets != call->path_packets;
      call->path_packets = packets;
      if (moved || !expecting) {
        call->path_alive_at = now;
        if (call->path_down && moved) report = "connected";
        if (moved) call->path_down = false;
      } else if (now - call->path_alive_at >= timeout &&
                 (!call->path_down || now - call->path_reported_at >= timeout)) {
        call->path_down = true;
        call->path_reported_at = now;
        report = "disconnected";
      }
    }
    if (report) {
      if (*report == 'd') {
        self->rt.logger().warn(kCategory, "no media from the peer for " + std::to_string(timeout.count()) +
                                              " ms: the media path is taken for down");
      }
      self->on_ice_state(call, report);
    }
    self->watch_path(call);
  });
}

Result<sip::Session> WebRTCClient::Impl::invite(std::string target, CallOptions options, sip::InviteOptions io,
                                                std::optional<sip::Session> transferred_from) {
  if (target.empty()) return Error(ErrorCategory::invalid_argument, "call: no number to call");
  auto m = make_media(options.video);
  if (!m) return std::move(m).error();
  auto media = *m;
  for (auto& h : options.extra_headers) io.extra_headers.push_back(std::move(h));
  if (options.no_answer_timeout.count() > 0) io.no_answer_timeout = options.no_answer_timeout;
  // The bridge's answer notice needs the call, which exists only once the INVITE is made: a slot filled below
  // (the peer's first re-INVITE comes long after).
  auto slot = std::make_shared<std::weak_ptr<CallState>>();
  std::weak_ptr<Impl> weak = weak_from_this();
  auto bridge = std::make_shared<MediaBridge>(media, [weak, slot] {
    auto self = weak.lock();
    if (!self) return;
    std::weak_ptr<CallState> wc;
    {
      std::lock_guard lock(self->mutex);
      wc = *slot;
    }
    self->rt.post([weak, wc] {
      if (auto s = weak.lock()) s->after_answer(wc);
    });
  });
  auto s = ua->invite(target, bridge, std::move(io));
  if (!s) {
    media->close();
    return std::move(s).error();
  }
  auto c = add_call(*s, media, false);
  {
    std::lock_guard lock(mutex);
    c->video = options.video;
    *slot = c;
  }
  watch_session(c);
  watch_media(c);
  emit_later(InviteSent{*s, std::move(target), std::move(transferred_from)});
  return *s;
}

void WebRTCClient::Impl::follow_refer(const std::shared_ptr<CallState>& c,
                                      const std::shared_ptr<sip::Referral>& referral) {
  if (!config.follow_transfers) {
    (void)referral->reject(603, "Decline");
    return;
  }
  if (auto r = referral->accept(); !r) return;
  sip::InviteOptions io;
  io.replaces = referral->replaces();
  io.referred_by = referral->referred_by();
  bool video = false;
  {
    std::lock_guard lock(mutex);
    video = c->video;
  }
  auto target = referral->refer_to().uri;
  auto ns = invite(target.str(), {.video = video}, std::move(io), c->session);
  if (!ns) {
    rt.logger().warn(kCategory, "following a transfer failed: " + ns.error().describe());
    (void)referral->notify(503, "Service Unavailable");
    return;
  }
  referral->track(*ns);
  auto nc = find(*ns);
  if (!nc) return;
  // Once the new call is up the old one has served its purpose (the transferor usually hangs up too).
  auto sub = std::make_shared<Subscription>();
  std::weak_ptr<CallState> wold = c;
  std::weak_ptr<Impl> weak = weak_from_this();
  *sub = ns->on<sip::Accepted>([weak, wold, sub](const sip::Accepted&) {
    auto self = weak.lock();
    auto old = wold.lock();
    if (self && old) {
      {
        std::lock_guard lock(self->mutex);
        old->transferred = true;
      }
      old->session.hangup().then([](Result<void>) {});
    }
    sub->reset();
  });
  std::lock_guard lock(mutex);
  nc->op_subs.push_back(sub);
}

Async<void> WebRTCClient::Impl::renegotiate(const std::shared_ptr<CallState>& c) {
  auto p = promise();
  std::weak_ptr<Impl> weak = weak_from_this();
  c->session.reinvite().then([weak, c, p](Result<void> r) {
    auto self = weak.lock();
    if (!r || !self) {
      p.set(r ? Result<void>(Error(ErrorCategory::cancelled, "client gone")) : std::move(r));
      return;
    }
    const bool video = c->media->has_video();
    bool changed = false;
    {
      std::lock_guard lock(self->mutex);
      changed = c->video != video;
      c->video = video;
    }
    if (changed) self->emitter.emit(SessionVideoChanged{c->session, video});
    p.set({});
  });
  return p.async();
}

Async<void> WebRTCClient::Impl::set_hold(const sip::Session& s, bool hold) {
  auto c = find(s);
  if (!c) return make_ready<void>(rt.executor(), no_call());
  if (!c->media || s.state() != sip::SessionState::confirmed) return make_ready<void>(rt.executor(), not_answered());
  {
    std::lock_guard lock(mutex);
    if (c->held == hold) return make_ready<void>(rt.executor(), {});
  }
  c->media->set_local_direction(hold ? Direction::sendonly : Direction::sendrecv);
  auto p = promise();
  std::weak_ptr<Impl> weak = weak_from_this();
  sip::Session session = s;
  session.reinvite().then([weak, c, hold, p](Result<void> r) {
    auto self = weak.lock();
    if (!self) {
      p.set(Error(ErrorCategory::cancelled, "client gone"));
      return;
    }
    if (!r) {
      c->media->set_local_direction(hold ? Direction::sendrecv : Direction::sendonly);
      p.set(std::move(r));
      return;
    }
    {
      std::lock_guard lock(self->mutex);
      c->held = hold;
    }
    self->emitter.emit(SessionHeld{c->session, hold, false});
    p.set({});
  });
  return p.async();
}

Async<void> WebRTCClient::Impl::ping() {
  auto p = promise();
  auto a = ua->options();
  auto timer = std::make_shared<boost::asio::steady_timer>(rt.context());
  timer->expires_after(config.heartbeat_timeout);
  auto cancel_handle = a;
  timer->async_wait([cancel_handle](const boost::system::error_code& ec) mutable {
    if (!ec) cancel_handle.cancel();
  });
  a.then([p, timer](Result<sip::Message> r) {
    timer->cancel();
    if (!r) {
      Error e = std::move(r).error();
      if (e.category == ErrorCategory::cancelled) e = Error(ErrorCategory::timeout, "heartbeat: no answer in time");
      p.set(std::move(e));
      return;
    }
    p.set({});
  });
  return p.async();
}

void WebRTCClient::Impl::heartbeat_tick(std::uint64_t generation) {
  {
    std::lock_guard lock(mutex);
    if (!heartbeat_on || generation != heartbeat_generation) return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::weak_ptr<Impl> weak = weak_from_this();
  ping().then([weak, generation, t0](Result<void> r) {
    auto self = weak.lock();
    if (!self) return;
    int missed = 0;
    {
      std::lock_guard lock(self->mutex);
      if (!self->heartbeat_on || generation != self->heartbeat_generation) return;
      self->heartbeat_missed = r ? 0 : self->heartbeat_missed + 1;
      missed = self->heartbeat_missed;
      if (missed >= self->config.max_heartbeats) self->heartbeat_missed = 0;
    }
    if (r) {
      self->emitter.emit(HeartbeatAnswered{
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)});
    } else if (missed >= self->config.max_heartbeats) {
      self->emitter.emit(HeartbeatTimeout{missed});
      // The seed: a server that stopped answering is given up on; a new connection (and REGISTER) follows.
      self->ua->reconnect("heartbeat timeout");
    }
    if (!self->heartbeat_timer) self->heartbeat_timer = std::make_unique<boost::asio::steady_timer>(self->rt.context());
    self->heartbeat_timer->expires_after(self->config.heartbeat_delay);
    self->heartbeat_timer->async_wait([weak, generation](const boost::system::error_code& ec) {
      auto s = weak.lock();
      if (!ec && s) s->heartbeat_tick(generation);
    });
  });
}

// ------------------------------------------------------------------------------------------------ AttendedTransfer

struct AttendedTransfer::Impl {
  Runtime* rt = nullptr;
  std::weak_ptr<WebRTCClient::Impl> client;
  sip::Session session;
  sip::Session consultation;
  std::mutex mutex;
};

Result<sip::Session> AttendedTransfer::init(std::string target, CallOptions options) {
  if (!impl_) return Error(ErrorCategory::invalid_argument, "empty transfer");
  auto client = impl_->client.lock();
  if (!client) return Error(ErrorCategory::cancelled, "client gone");
  WebRTCClient(client).hold(impl_->session).then([](Result<void>) {});
  auto ns = client->invite(std::move(target), std::move(options), {}, std::nullopt);
  if (!ns) return ns;
  std::lock_guard lock(impl_->mutex);
  impl_->consultation = *ns;
  return ns;
}

Result<void> AttendedTransfer::init_with(const sip::Session& consultation) {
  if (!impl_) return Error(ErrorCategory::invalid_argument, "empty transfer");
  if (!consultation.valid()) return Error(ErrorCategory::invalid_argument, "no consultation call");
  std::lock_guard lock(impl_->mutex);
  impl_->consultation = consultation;
  return {};
}

sip::Session AttendedTransfer::session() const { return impl_ ? impl_->session : sip::Session{}; }

sip::Session AttendedTransfer::new_session() const {
  if (!impl_) return {};
  std::lock_guard lock(impl_->mutex);
  return impl_->consultation;
}

Async<void> AttendedTransfer::complete() {
  if (!impl_) return Async<void>();
  auto client = impl_->client.lock();
  if (!client) return make_ready<void>(impl_->rt->executor(), Error(ErrorCategory::cancelled, "client gone"));
  const sip::Session target = new_session();
  auto c = client->find(impl_->session);
  auto t = client->find(target);
  if (!c || !t) return make_ready<void>(client->rt.executor(), no_call());
  auto p = client->promise();
  auto done = std::make_shared<std::atomic<bool>>(false);
  auto sub = std::make_shared<Subscription>();
  std::weak_ptr<WebRTCClient::Impl> weak = client;
  auto finish = [weak, c, t, p, done, sub](Result<void> r) {
    if (done->exchange(true)) return;
    sub->reset();
    auto self = weak.lock();
    if (!r && self) {
      std::lock_guard lock(self->mutex);
      c->transfer_pending = false;
      t->transfer_pending = false;
    }
    if (r && self) {
      {
        std::lock_guard lock(self->mutex);
        c->transferred = true;
        t->transferred = true;
      }
      // The transferee's INVITE with Replaces ends the consultation leg at the target; ours we end ourselves.
      if (!c->ended) c->session.hangup().then([](Result<void>) {});
    }
    p.set(std::move(r));
  };
  *sub = c->session.on<sip::ReferNotify>([finish](const sip::ReferNotify& n) {
    if (n.status >= 200 && n.status < 300) finish({});
    if (n.status >= 300)
      finish(Error(ErrorCategory::sip, "transfer failed: " + std::to_string(n.status) + " " + n.reason, n.status));
  });
  {
    std::lock_guard lock(client->mutex);
    c->op_subs.push_back(sub);
  }
  const std::string target_uri = target.remote_identity().uri.str();
  c->session.refer(target_uri, target).then([weak, c, t, finish](Result<sip::Message> r) {
    if (!r) {
      finish(std::move(r).error());
      return;
    }
    // From the 202 on, the peers may hang up on us before the NOTIFY comes: that is the transfer going through.
    if (auto self = weak.lock()) {
      std::lock_guard lock(self->mutex);
      c->transfer_pending = true;
      t->transfer_pending = true;
    }
  });
  return p.async();
}

Async<void> AttendedTransfer::cancel() {
  if (!impl_) return Async<void>();
  auto client = impl_->client.lock();
  if (!client) return make_ready<void>(impl_->rt->executor(), Error(ErrorCategory::cancelled, "client gone"));
  WebRTCClient wc(client);
  const sip::Session target = new_session();
  auto p = client->promise();
  auto resume = [wc, s = impl_->session, p]() mutable {
    wc.unhold(s).then([p](Result<void> r) { p.set(std::move(r)); });
  };
  if (target.valid() && target.state() != sip::SessionState::terminated) {
    wc.hangup(target).then([resume](Result<void>) mutable { resume(); });
  } else {
    resume();
  }
  return p.async();
}

// ------------------------------------------------------------------------------------------------ WebRTCClient

WebRTCClient::WebRTCClient(Runtime& runtime, WebRtcConfig config)
    : WebRTCClient(detail::make_client(runtime, std::move(config), nullptr)) {}

WebRTCClient::WebRTCClient(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

WebRTCClient::~WebRTCClient() = default;

Async<WebRtcConfig> WebRTCClient::fetch_line_config(const rest::ApiClient& api, std::string user_uuid,
                                                    WebRtcConfig base) {
  Promise<WebRtcConfig> p(api.runtime().executor());
  const std::string server = api.base_url();  // "https://host:port/api/"
  const ConnectionOptions conn = api.connection_options();
  rest::ApiClient client = api;
  client.confd().get_user_line_sip_from_token(user_uuid).then(
      [p, base = std::move(base), server, conn](Result<std::vector<std::optional<rest::SipLine>>> r) mutable {
        if (!r) {
          p.set(std::move(r).error());
          return;
        }
        const rest::SipLine* line = nullptr;
        for (const auto& l : *r) {
          if (l && !l->username.empty()) {
            line = &*l;
            break;
          }
        }
        if (line == nullptr) {
          p.set(Error(ErrorCategory::invalid_argument, "the user has no SIP line with credentials"));
          return;
        }
        std::string_view rest = server;
        bool plain = false;
        if (rest.starts_with("http://")) {
          rest.remove_prefix(7);
          plain = true;
        } else if (rest.starts_with("https://")) {
          rest.remove_prefix(8);
        }
        rest = rest.substr(0, rest.find('/'));
        if (base.websocket_url.empty() && base.websocket_sip.empty() && base.host.empty()) {
          base.websocket_url = std::string(plain ? "ws://" : "wss://") + std::string(rest) + "/api/asterisk/ws";
        }
        if (base.host.empty()) base.host = host_of(rest);
        base.authorization_user = line->username;
        base.password = line->secret;
        if (base.domain.empty()) base.domain = line->endpoint_option("from_domain").value_or(host_of(rest));
        if (base.connection.tls.ca_file.empty() && !base.connection.tls.insecure) base.connection.tls = conn.tls;
        p.set(std::move(base));
      });
  return p.async();
}

Async<WebRTCClient> WebRTCClient::from_session(const rest::ApiClient& api, std::string user_uuid, WebRtcConfig config) {
  Promise<WebRTCClient> p(api.runtime().executor());
  Runtime* rt = &api.runtime();
  fetch_line_config(api, std::move(user_uuid), std::move(config)).then([p, rt](Result<WebRtcConfig> r) {
    if (!r) {
      p.set(std::move(r).error());
      return;
    }
    p.set(WebRTCClient(*rt, std::move(*r)));
  });
  return p.async();
}

Async<void> WebRTCClient::register_ua() {
  bool first = false;
  {
    std::lock_guard lock(impl_->mutex);
    first = !impl_->started;
    impl_->started = true;
  }
  if (first) return impl_->ua->start();
  if (impl_->config.skip_register) return make_ready<void>(impl_->rt.executor(), {});
  return impl_->ua->register_line();
}

Async<void> WebRTCClient::unregister_ua() { return impl_->ua->unregister(); }

Async<void> WebRTCClient::wait_for_register() {
  if (impl_->ua->is_registered()) return make_ready<void>(impl_->rt.executor(), {});
  auto p = impl_->promise();
  std::lock_guard lock(impl_->mutex);
  impl_->register_waiters.push_back(p);
  return p.async();
}

bool WebRTCClient::is_registered() const { return impl_->ua->is_registered(); }
bool WebRTCClient::is_connected() const { return impl_->ua->transport_state() == sip::TransportState::connected; }

Async<void> WebRTCClient::stop() {
  stop_heartbeat();
  auto p = impl_->promise();
  auto live = sessions();
  auto left = std::make_shared<std::atomic<std::size_t>>(live.size() + 1);
  auto impl = impl_;
  auto step = [impl, p, left]() {
    if (left->fetch_sub(1) != 1) return;
    impl->ua->stop().then([p](Result<void> r) { p.set(std::move(r)); });
  };
  for (auto& s : live) hangup(s).then([step](Result<void>) { step(); });
  step();
  return p.async();
}

void WebRTCClient::close() {
  stop_heartbeat();
  impl_->ua->close();
}

void WebRTCClient::attempt_reconnection() { impl_->ua->reconnect("reconnection requested"); }

Result<sip::Session> WebRTCClient::call(std::string number, CallOptions options) {
  return impl_->invite(std::move(number), std::move(options), {}, std::nullopt);
}

Async<void> WebRTCClient::answer(const sip::Session& session, AnswerOptions options) {
  auto& impl = *impl_;
  auto c = impl.find(session);
  if (!c) return make_ready<void>(impl.rt.executor(), no_call());
  {
    std::lock_guard lock(impl.mutex);
    if (c->media)
      return make_ready<void>(impl.rt.executor(), Error(ErrorCategory::invalid_argument, "already answered"));
  }
  const bool video = options.video && detail::sdp_has_video(session.remote_sdp());
  auto m = impl.make_media(video);
  if (!m) return make_ready<void>(impl.rt.executor(), std::move(m).error());
  {
    std::lock_guard lock(impl.mutex);
    c->media = *m;
    c->video = video;
  }
  impl.watch_media(c);
  std::weak_ptr<Impl> weak = impl_;
  std::weak_ptr<CallState> wc = c;
  auto bridge = std::make_shared<MediaBridge>(*m, [weak, wc] {
    if (auto self = weak.lock())
      self->rt.post([weak, wc] {
        if (auto s = weak.lock()) s->after_answer(wc);
      });
  });
  sip::Session s = session;
  return s.accept(bridge);
}

Result<void> WebRTCClient::reject(const sip::Session& session, int status) {
  if (!impl_->find(session)) return no_call();
  sip::Session s = session;
  return s.reject(status);
}

Async<void> WebRTCClient::hangup(const sip::Session& session) {
  if (!impl_->find(session)) return make_ready<void>(impl_->rt.executor(), no_call());
  sip::Session s = session;
  return s.hangup();
}

Async<void> WebRTCClient::hold(const sip::Session& session) { return impl_->set_hold(session, true); }
Async<void> WebRTCClient::unhold(const sip::Session& session) { return impl_->set_hold(session, false); }

bool WebRTCClient::is_held(const sip::Session& session) const {
  auto c = impl_->find(session);
  if (!c) return false;
  std::lock_guard lock(impl_->mutex);
  return c->held;
}

namespace {
template <class Event>
Result<void> media_toggle(WebRTCClient::Impl& impl, const sip::Session& session,
                          const std::function<void(media::CallMedia&)>& apply, Event event) {
  auto c = impl.find(session);
  if (!c) return no_call();
  if (!c->media) return not_answered();
  apply(*c->media);
  impl.emit_later(std::move(event));
  return {};
}
}  // namespace

Result<void> WebRTCClient::mute(const sip::Session& session) {
  return media_toggle(
      *impl_, session, [](media::CallMedia& m) { m.set_audio_muted(true); }, SessionMuted{session, true});
}
Result<void> WebRTCClient::unmute(const sip::Session& session) {
  return media_toggle(
      *impl_, session, [](media::CallMedia& m) { m.set_audio_muted(false); }, SessionMuted{session, false});
}
bool WebRTCClient::is_audio_muted(const sip::Session& session) const {
  auto c = impl_->find(session);
  return c && c->media && c->media->audio_muted();
}
Result<void> WebRTCClient::toggle_camera_off(const sip::Session& session) {
  return media_toggle(
      *impl_, session, [](media::CallMedia& m) { m.set_camera_enabled(false); }, SessionCamera{session, false});
}
Result<void> WebRTCClient::toggle_camera_on(const sip::Session& session) {
  return media_toggle(
      *impl_, session, [](media::CallMedia& m) { m.set_camera_enabled(true); }, SessionCamera{session, true});
}

Async<void> WebRTCClient::upgrade_to_video(const sip::Session& session) {
  auto c = impl_->find(session);
  if (!c) return make_ready<void>(impl_->rt.executor(), no_call());
  if (!c->media) return make_ready<void>(impl_->rt.executor(), not_answered());
  c->media->set_video_wanted(true);
  return impl_->renegotiate(c);
}

Async<void> WebRTCClient::downgrade_to_audio(const sip::Session& session) {
  auto c = impl_->find(session);
  if (!c) return make_ready<void>(impl_->rt.executor(), no_call());
  if (!c->media) return make_ready<void>(impl_->rt.executor(), not_answered());
  c->media->set_video_wanted(false);
  return impl_->renegotiate(c);
}

Async<void> WebRTCClient::start_screen_sharing(const sip::Session& session, media::VideoSource screen) {
  auto c = impl_->find(session);
  if (!c) return make_ready<void>(impl_->rt.executor(), no_call());
  if (!c->media) return make_ready<void>(impl_->rt.executor(), not_answered());
  {
    std::lock_guard lock(impl_->mutex);
    if (!c->video_before_share) c->video_before_share = impl_->media_options.video_source;
  }
  if (auto r = c->media->set_video_source(std::move(screen)); !r) return make_ready<void>(impl_->rt.executor(), r);
  {
    std::lock_guard lock(impl_->mutex);
    c->screensharing = true;
  }
  if (c->media->has_video()) return make_ready<void>(impl_->rt.executor(), {});
  c->media->set_video_wanted(true);
  return impl_->renegotiate(c);
}

Async<void> WebRTCClient::stop_screen_sharing(const sip::Session& session) {
  auto c = impl_->find(session);
  if (!c) return make_ready<void>(impl_->rt.executor(), no_call());
  media::VideoSource back;
  {
    std::lock_guard lock(impl_->mutex);
    if (!c->screensharing || !c->media) return make_ready<void>(impl_->rt.executor(), {});
    back = c->video_before_share.value_or(impl_->media_options.video_source);
    c->screensharing = false;
    c->video_before_share.reset();
  }
  return make_ready<void>(impl_->rt.executor(), c->media->set_video_source(std::move(back)));
}

Async<void> WebRTCClient::transfer(const sip::Session& session, std::string target) {
  auto& impl = *impl_;
  auto c = impl.find(session);
  if (!c) return make_ready<void>(impl.rt.executor(), no_call());
  if (session.state() != sip::SessionState::confirmed) return make_ready<void>(impl.rt.executor(), not_answered());
  auto p = impl.promise();
  auto done = std::make_shared<std::atomic<bool>>(false);
  auto subs = std::make_shared<std::vector<std::shared_ptr<Subscription>>>();
  std::weak_ptr<Impl> weak = impl_;
  auto finish = [weak, c, p, done](Result<void> r) {
    if (done->exchange(true)) return;
    auto self = weak.lock();
    if (!r && self) {
      std::lock_guard lock(self->mutex);
      c->transfer_pending = false;
    }
    if (r && self) {
      {
        std::lock_guard lock(self->mutex);
        c->transferred = true;
      }
      if (!c->ended) c->session.hangup().then([](Result<void>) {});
    }
    p.set(std::move(r));
  };
  auto notify = std::make_shared<Subscription>();
  auto ended = std::make_shared<Subscription>();
  auto release = [notify, ended] {
    notify->reset();
    ended->reset();
  };
  *notify = c->session.on<sip::ReferNotify>([finish, release](const sip::ReferNotify& n) {
    if (n.status < 200) return;
    if (n.status < 300) {
      finish({});
    } else {
      finish(Error(ErrorCategory::sip, "transfer failed: " + std::to_string(n.status) + " " + n.reason, n.status));
    }
    release();
  });
  // A server that moves the call itself may just hang up on us after the 202: that is a transfer done.
  auto accepted = std::make_shared<std::atomic<bool>>(false);
  *ended = c->session.on<sip::Terminated>([finish, release, accepted](const sip::Terminated& t) {
    if (accepted->load() && t.cause == sip::Terminated::Cause::remote_bye) {
      finish({});
    } else {
      finish(Error(ErrorCategory::sip, "the call ended during the transfer"));
    }
    release();
  });
  {
    std::lock_guard lock(impl.mutex);
    c->op_subs.push_back(notify);
    c->op_subs.push_back(ended);
  }
  sip::Session s = session;
  s.refer(std::move(target)).then([weak, c, finish, release, accepted](Result<sip::Message> r) {
    if (!r) {
      finish(std::move(r).error());
      release();
      return;
    }
    accepted->store(true);
    if (auto self = weak.lock()) {
      std::lock_guard lock(self->mutex);
      c->transfer_pending = true;
    }
  });
  return p.async();
}

AttendedTransfer WebRTCClient::atxfer(const sip::Session& session) {
  auto t = std::make_shared<AttendedTransfer::Impl>();
  t->rt = &impl_->rt;
  t->client = impl_;
  t->session = session;
  return AttendedTransfer(std::move(t));
}

Async<void> WebRTCClient::send_dtmf(const sip::Session& session, std::string tones, DtmfMethod method) {
  auto& impl = *impl_;
  auto c = impl.find(session);
  if (!c) return make_ready<void>(impl.rt.executor(), no_call());
  if (!c->media || session.state() != sip::SessionState::confirmed)
    return make_ready<void>(impl.rt.executor(), not_answered());
  for (auto& t : tones) {
    t = static_cast<char>(std::toupper(static_cast<unsigned char>(t)));
    if (!is_dtmf_tone(t))
      return make_ready<void>(impl.rt.executor(),
                              Error(ErrorCategory::invalid_argument, std::string("not a DTMF tone: ") + t));
  }
  if (tones.empty()) return make_ready<void>(impl.rt.executor(), {});
  bool info = method == DtmfMethod::info || impl.config.dtmf_always_info;
  if (!info && !c->media->dtmf_supported()) {
    if (method == DtmfMethod::rfc4733)
      return make_ready<void>(impl.rt.executor(),
                              Error(ErrorCategory::media, "the call did not negotiate telephone-event (RFC 4733)"));
    info = true;
  }
  auto p = impl.promise();
  struct Run {
    std::weak_ptr<Impl> client;
    std::shared_ptr<CallState> call;
    std::string tones;
    std::size_t next = 0;
    bool info = false;
    Promise<void> done;
    boost::asio::steady_timer timer;
    Run(std::weak_ptr<Impl> cl, std::shared_ptr<CallState> c, std::string t, bool i, Promise<void> d,
        boost::asio::io_context& io)
        : client(std::move(cl)), call(std::move(c)), tones(std::move(t)), info(i), done(std::move(d)), timer(io) {}
  };
  auto run = std::make_shared<Run>(impl_, c, std::move(tones), info, p, impl.rt.context());
  auto step = std::make_shared<std::function<void()>>();
  // The step function holds itself only through the timer's handler, so a finished run frees itself.
  *step = [run, weak_step = std::weak_ptr<std::function<void()>>(step)] {
    auto self = run->client.lock();
    auto again = weak_step.lock();
    if (!self || !again) {
      run->done.set(Error(ErrorCategory::cancelled, "client gone"));
      return;
    }
    if (run->next >= run->tones.size()) {
      run->done.set({});
      return;
    }
    const char tone = run->tones[run->next++];
    const auto duration = self->config.dtmf_duration;
    auto wait_then = [run, again](std::chrono::milliseconds d) {
      run->timer.expires_after(d);
      run->timer.async_wait([run, again](const boost::system::error_code& ec) {
        if (ec) {
          run->done.set(Error(ErrorCategory::cancelled, "cancelled"));
          return;
        }
        (*again)();
      });
    };
    if (run->info) {
      const std::string body =
          std::string("Signal=") + tone + "\r\nDuration=" + std::to_string(duration.count()) + "\r\n";
      run->call->session.info("application/dtmf-relay", body)
          .then([run, wait_then, gap = self->config.dtmf_gap](Result<sip::Message> r) {
            if (!r) {
              run->done.set(std::move(r).error());
              return;
            }
            wait_then(gap);
          });
    } else {
      if (auto r = run->call->media->send_dtmf(tone, duration); !r) {
        run->done.set(r);
        return;
      }
      wait_then(duration + self->config.dtmf_gap);
    }
  };
  impl.rt.post([step] { (*step)(); });
  return p.async();
}

Async<sip::Message> WebRTCClient::send_message(const sip::Session& session, std::string body,
                                               std::string content_type) {
  if (!impl_->find(session)) return make_ready<sip::Message>(impl_->rt.executor(), no_call());
  sip::Session s = session;
  return s.message(std::move(body), std::move(content_type));
}

Async<sip::Message> WebRTCClient::message(std::string destination, std::string body, std::string content_type) {
  return impl_->ua->send_message(std::move(destination), std::move(body), std::move(content_type));
}

Async<void> WebRTCClient::ice_restart(const sip::Session& session) {
  auto c = impl_->find(session);
  if (!c) return make_ready<void>(impl_->rt.executor(), no_call());
  if (!c->media) return make_ready<void>(impl_->rt.executor(), not_answered());
  c->media->request_ice_restart();
  return impl_->renegotiate(c);
}

Result<media::CallStats> WebRTCClient::stats(const sip::Session& session) const {
  auto c = impl_->find(session);
  if (!c) return no_call();
  if (!c->media) return not_answered();
  return c->media->stats();
}

bool WebRTCClient::has_video(const sip::Session& session) const {
  auto c = impl_->find(session);
  if (!c) return false;
  std::lock_guard lock(impl_->mutex);
  return c->video;
}

std::vector<sip::Session> WebRTCClient::sessions() const {
  std::vector<sip::Session> out;
  std::lock_guard lock(impl_->mutex);
  for (const auto& c : impl_->calls) out.push_back(c->session);
  return out;
}

// ------------------------------------------------------------------------------------------------ ad hoc conference

Async<void> WebRTCClient::merge(std::vector<sip::Session> sessions) {
  {
    std::lock_guard lock(impl_->mutex);
    std::size_t total = 0;
    for (const auto& c : impl_->calls) total += c->merged ? 1 : 0;
    for (const auto& s : sessions) {
      const auto it =
          std::find_if(impl_->calls.begin(), impl_->calls.end(), [&](const auto& c) { return c->session == s; });
      if (it == impl_->calls.end()) return make_ready<void>(impl_->rt.executor(), no_call());
      total += (*it)->merged ? 0 : 1;
    }
    if (std::cmp_greater(total, impl_->config.max_merge_sessions)) {
      return make_ready<void>(
          impl_->rt.executor(),
          Error(ErrorCategory::invalid_argument,
                "an ad hoc conference takes at most " + std::to_string(impl_->config.max_merge_sessions) + " calls"));
    }
  }
  std::vector<Async<void>> parts;
  for (const auto& s : sessions) parts.push_back(add_to_merge(s));
  return detail::when_all(impl_->rt, std::move(parts));
}

Async<void> WebRTCClient::add_to_merge(const sip::Session& session) {
  auto c = impl_->find(session);
  if (!c) return make_ready<void>(impl_->rt.executor(), no_call());
  if (!c->media || session.state() != sip::SessionState::confirmed) {
    return make_ready<void>(impl_->rt.executor(), not_answered());
  }
  std::shared_ptr<media::AudioBridge> bridge;
  bool held = false;
  {
    std::lock_guard lock(impl_->mutex);
    if (c->merged) return make_ready<void>(impl_->rt.executor(), {});
    const auto n = std::count_if(impl_->calls.begin(), impl_->calls.end(), [](const auto& o) { return o->merged; });
    if (n >= impl_->config.max_merge_sessions) {
      return make_ready<void>(
          impl_->rt.executor(),
          Error(ErrorCategory::invalid_argument,
                "an ad hoc conference takes at most " + std::to_string(impl_->config.max_merge_sessions) + " calls"));
    }
    if (!impl_->conference) impl_->conference = std::make_shared<media::AudioBridge>();
    bridge = impl_->conference;
    c->merged = true;
    held = c->held;
  }
  c->media->set_bridge(std::move(bridge));
  impl_->emitter.emit(SessionMerged{session, true});
  if (held) return impl_->set_hold(session, false);
  return make_ready<void>(impl_->rt.executor(), {});
}

Async<void> WebRTCClient::remove_from_merge(const sip::Session& session, bool hold) {
  auto c = impl_->find(session);
  if (!c) return make_ready<void>(impl_->rt.executor(), no_call());
  {
    std::lock_guard lock(impl_->mutex);
    if (!c->merged) return make_ready<void>(impl_->rt.executor(), {});
    c->merged = false;
    if (std::none_of(impl_->calls.begin(), impl_->calls.end(), [](const auto& o) { return o->merged; })) {
      impl_->conference.reset();
    }
  }
  if (c->media) c->media->set_bridge(nullptr);
  impl_->emitter.emit(SessionMerged{session, false});
  if (hold) return impl_->set_hold(session, true);
  return make_ready<void>(impl_->rt.executor(), {});
}

Async<void> WebRTCClient::unmerge(std::vector<sip::Session> sessions) {
  std::vector<Async<void>> parts;
  for (std::size_t i = 0; i < sessions.size(); ++i) {
    parts.push_back(remove_from_merge(sessions[i], /*hold=*/i + 1 < sessions.size()));
  }
  return detail::when_all(impl_->rt, std::move(parts));
}

bool WebRTCClient::is_conference(const sip::Session& session) const {
  auto c = impl_->find(session);
  std::lock_guard lock(impl_->mutex);
  return c && c->merged;
}

std::vector<sip::Session> WebRTCClient::merged_sessions() const {
  std::vector<sip::Session> out;
  std::lock_guard lock(impl_->mutex);
  for (const auto& c : impl_->calls) {
    if (c->merged) out.push_back(c->session);
  }
  return out;
}

Async<void> detail::when_all(Runtime& runtime, std::vector<Async<void>> parts) {
  if (parts.empty()) return make_ready<void>(runtime.executor(), {});
  struct Join {
    std::mutex m;
    std::size_t left = 0;
    std::optional<Error> first_error;
  };
  Promise<void> p(runtime.executor());
  auto join = std::make_shared<Join>();
  join->left = parts.size();
  for (auto& part : parts) {
    part.then([join, p](Result<void> r) {
      std::optional<Error> done;
      bool last = false;
      {
        std::lock_guard lock(join->m);
        if (!r && !join->first_error) join->first_error = r.error();
        last = --join->left == 0;
        if (last) done = join->first_error;
      }
      if (!last) return;
      if (done) {
        p.set(std::move(*done));
      } else {
        p.set({});
      }
    });
  }
  return p.async();
}

namespace {
// Applies `apply` to every call's media (first error wins, the others still get it).
Result<void> for_each_media(WebRTCClient::Impl& impl, const std::function<Result<void>(media::CallMedia&)>& apply) {
  std::vector<std::shared_ptr<media::CallMedia>> medias;
  {
    std::lock_guard lock(impl.mutex);
    for (const auto& c : impl.calls) {
      if (c->media) medias.push_back(c->media);
    }
  }
  Result<void> out;
  for (auto& m : medias) {
    auto r = apply(*m);
    if (!r && out) out = std::move(r);
  }
  return out;
}
}  // namespace

Result<void> WebRTCClient::change_audio_input_device(std::string device_id) {
  media::AudioSource src{.type = media::AudioSource::Type::device, .device_id = std::move(device_id)};
  {
    std::lock_guard lock(impl_->mutex);
    impl_->media_options.audio_source = src;
  }
  return for_each_media(*impl_, [&](media::CallMedia& m) { return m.set_audio_source(src); });
}

Result<void> WebRTCClient::change_audio_output_device(std::string device_id) {
  media::AudioSink sink{.type = media::AudioSink::Type::device, .device_id = std::move(device_id)};
  {
    std::lock_guard lock(impl_->mutex);
    impl_->media_options.audio_sink = sink;
  }
  return for_each_media(*impl_, [&](media::CallMedia& m) { return m.set_audio_sink(sink); });
}

Result<void> WebRTCClient::change_video_input_device(std::string device_id) {
  media::VideoSource src;
  {
    std::lock_guard lock(impl_->mutex);
    src = impl_->media_options.video_source;
    src.type = media::VideoSource::Type::device;
    src.device_id = std::move(device_id);
    impl_->media_options.video_source = src;
  }
  return for_each_media(*impl_, [&](media::CallMedia& m) { return m.set_video_source(src); });
}

void WebRTCClient::change_audio_output_volume(double volume) {
  if (std::isnan(volume)) return;  // not a volume: the current one stays
  volume = std::clamp(volume, 0.0, 1.0);
  {
    std::lock_guard lock(impl_->mutex);
    impl_->media_options.output_volume = volume;
  }
  (void)for_each_media(*impl_, [&](media::CallMedia& m) {
    m.set_output_volume(volume);
    return Result<void>{};
  });
}

double WebRTCClient::audio_output_volume() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->media_options.output_volume;
}

Result<void> WebRTCClient::set_audio_source(const sip::Session& session, media::AudioSource source) {
  auto c = impl_->find(session);
  if (!c) return no_call();
  if (!c->media) return not_answered();
  return c->media->set_audio_source(std::move(source));
}

Result<void> WebRTCClient::set_audio_sink(const sip::Session& session, media::AudioSink sink) {
  auto c = impl_->find(session);
  if (!c) return no_call();
  if (!c->media) return not_answered();
  return c->media->set_audio_sink(std::move(sink));
}

void WebRTCClient::start_heartbeat() {
  std::uint64_t gen = 0;
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->heartbeat_on) return;
    impl_->heartbeat_on = true;
    impl_->heartbeat_missed = 0;
    gen = ++impl_->heartbeat_generation;
  }
  std::weak_ptr<Impl> weak = impl_;
  impl_->rt.post([weak, gen] {
    if (auto s = weak.lock()) s->heartbeat_tick(gen);
  });
}

void WebRTCClient::stop_heartbeat() {
  std::lock_guard lock(impl_->mutex);
  impl_->heartbeat_on = false;
  ++impl_->heartbeat_generation;
}

bool WebRTCClient::has_heartbeat() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->heartbeat_on;
}

Async<void> WebRTCClient::ping_server() { return impl_->ping(); }

const WebRtcConfig& WebRTCClient::config() const { return impl_->config; }
sip::UserAgent& WebRTCClient::user_agent() { return *impl_->ua; }
Runtime& WebRTCClient::runtime() const { return impl_->rt; }
Emitter& WebRTCClient::emitter() { return impl_->emitter; }

}  // namespace wazo::phone
