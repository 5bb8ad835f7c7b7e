#include "wazo/phone/phone.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <mutex>
#include <utility>

#include "phone/detail/client_impl.hpp"
#include "wazo/events/websocket_client.hpp"
#include "wazo/sip/message.hpp"

namespace wazo::phone {

const char* to_string(EndCause cause) noexcept {
  switch (cause) {
    case EndCause::hangup:
      return "hangup";
    case EndCause::remote_hangup:
      return "remote_hangup";
    case EndCause::cancelled:
      return "cancelled";
    case EndCause::remote_cancel:
      return "remote_cancel";
    case EndCause::rejected:
      return "rejected";
    case EndCause::transferred:
      return "transferred";
    case EndCause::replaced:
      return "replaced";
    case EndCause::timeout:
      return "timeout";
    case EndCause::transport:
      return "transport";
    case EndCause::error:
      return "error";
  }
  return "error";
}

namespace {

Error no_call() { return {ErrorCategory::invalid_argument, "no such call on this phone"}; }

PartyIdentity party(const sip::Identity& id) { return {id.display_name, id.number, id.uri.str()}; }

EndCause end_cause(const sip::Terminated& t, bool transferred) {
  if (transferred) return EndCause::transferred;
  using C = sip::Terminated::Cause;
  switch (t.cause) {
    case C::local_bye:
      return EndCause::hangup;
    case C::remote_bye:
      return EndCause::remote_hangup;
    case C::cancelled:
      return EndCause::cancelled;
    case C::remote_cancel:
      return EndCause::remote_cancel;
    case C::rejected:
      return EndCause::rejected;
    case C::replaced:
      return EndCause::replaced;
    case C::timeout:
      return EndCause::timeout;
    case C::transport:
      return EndCause::transport;
    case C::error:
      return EndCause::error;
  }
  return EndCause::error;
}

// The Wazo call id, when the engine put it in the INVITE (incoming) or the final response (outgoing).
std::string wazo_call_id(const sip::Session& s) {
  if (auto m = s.initial_request()) {
    if (auto v = m->header("X-Wazo-Call-ID")) return std::string(*v);
  }
  return {};
}

}  // namespace

struct Phone::Impl : std::enable_shared_from_this<Phone::Impl> {
  struct Entry {
    CallSession snap;
    sip::Session session;
    bool quiet_hold = false;  // hold(..., with_event = false) under way
    bool quiet_mute = false;
  };

  Impl(WebRTCClient c, PhoneOptions o) : client(std::move(c)), options(std::move(o)) {
    ring_device = options.audio_ring_device;
  }

  WebRTCClient client;
  PhoneOptions options;
  Emitter emitter;
  std::vector<Subscription> subs;
  mutable std::mutex mutex;
  std::vector<Entry> entries;  // live calls, oldest first
  // sip_call_id → Wazo call id from calld events that came before their call's INVITE (oldest dropped first).
  std::deque<std::pair<std::string, std::string>> early_call_ids;
  std::string ring_device;
  double ring_volume = 1.0;

  Entry* find_locked(const sip::Session& s) {
    for (auto& e : entries) {
      if (e.session == s) return &e;
    }
    return nullptr;
  }
  Entry* find_locked(const std::string& id) {
    if (id.empty()) return nullptr;
    for (auto& e : entries) {
      if (e.snap.is_id(id)) return &e;
    }
    return nullptr;
  }
  std::optional<sip::Session> session_of(const CallSession& call) {
    std::lock_guard lock(mutex);
    Entry* e = find_locked(call.sip_call_id);
    if (e == nullptr) e = find_locked(call.call_id);
    if (e == nullptr) return std::nullopt;
    return e->session;
  }

  // The entry of `s`, made when new.
  Entry& entry_locked(const sip::Session& s, bool caller, const std::string& dialed) {
    if (Entry* e = find_locked(s)) return *e;
    Entry e;
    e.session = s;
    auto& c = e.snap;
    c.sip_call_id = s.call_id();
    c.call_id = wazo_call_id(s);
    if (c.call_id.empty()) {
      const auto it = std::find_if(early_call_ids.begin(), early_call_ids.end(),
                                   [&](const auto& p) { return p.first == c.sip_call_id; });
      if (it != early_call_ids.end()) {
        c.call_id = it->second;
        early_call_ids.erase(it);
      }
    }
    const sip::Identity remote = s.remote_identity();
    c.number = remote.number;
    c.display_name = remote.display_name.empty() ? remote.number : remote.display_name;
    c.is_caller = caller;
    c.caller_number = caller ? s.local_identity().number : remote.number;
    const auto invite = s.initial_request();
    if (caller) {
      c.dialed_extension = dialed;
    } else if (invite) {
      c.dialed_extension = invite->request_uri().user;
    }
    if (invite && invite->has_header("P-Asserted-Identity")) c.asserted_identity = party(remote);
    for (const auto& d : s.diversion()) c.diversion.push_back({party(d.identity), d.reason, d.counter});
    c.ringing = !caller;
    c.creation_time = CallSession::Clock::now();
    entries.push_back(std::move(e));
    return entries.back();
  }

  // Applies `change` to the call's snapshot and emits `make(snapshot)` (when it gives an event).
  template <class F>
  void update(const sip::Session& s, F&& change) {
    std::unique_lock lock(mutex);
    Entry* e = find_locked(s);
    if (e == nullptr) return;
    change(*e, lock);
  }

  void wire();
};

void Phone::Impl::wire() {
  std::weak_ptr<Impl> weak = weak_from_this();
  auto forward = [&]<class E>(std::type_identity<E>) {
    subs.push_back(client.on<E>([weak](const E& e) {
      if (auto self = weak.lock()) self->emitter.emit(e);
    }));
  };
  forward(std::type_identity<Connected>{});
  forward(std::type_identity<Disconnected>{});
  forward(std::type_identity<Registered>{});
  forward(std::type_identity<Unregistered>{});
  forward(std::type_identity<RegistrationFailed>{});
  forward(std::type_identity<HeartbeatTimeout>{});
  forward(std::type_identity<HeartbeatAnswered>{});

  subs.push_back(client.on<Invite>([weak](const Invite& e) {
    auto self = weak.lock();
    if (!self) return;
    CallIncoming ev;
    {
      std::lock_guard lock(self->mutex);
      auto& entry = self->entry_locked(e.session, false, {});
      entry.snap.auto_answer = e.should_auto_answer;
      ev.call = entry.snap;
    }
    ev.has_video = e.has_video && self->options.allow_video;
    if (e.replaces) ev.replaces = e.replaces->call_id();
    self->emitter.emit(ev);
  }));
  subs.push_back(client.on<InviteSent>([weak](const InviteSent& e) {
    auto self = weak.lock();
    if (!self) return;
    CallOutgoing ev;
    {
      std::lock_guard lock(self->mutex);
      ev.call = self->entry_locked(e.session, true, e.target).snap;
    }
    if (e.transferred_from) ev.transferred_from = e.transferred_from->call_id();
    self->emitter.emit(ev);
  }));
  subs.push_back(client.on<SessionProgress>([weak](const SessionProgress& e) {
    auto self = weak.lock();
    if (!self) return;
    std::optional<CallProgress> ev;
    self->update(e.session, [&](Entry& x, auto&) {
      x.snap.sip_status = e.status;
      if (e.status == 180 || e.status == 183) x.snap.ringing = true;
      ev = CallProgress{x.snap, e.status, e.reason};
    });
    if (ev) self->emitter.emit(*ev);
  }));
  subs.push_back(client.on<SessionAccepted>([weak](const SessionAccepted& e) {
    auto self = weak.lock();
    if (!self) return;
    std::optional<CallAccepted> ev;
    self->update(e.session, [&](Entry& x, auto&) {
      auto& c = x.snap;
      c.answered = true;
      c.ringing = false;
      c.sip_status = 200;
      c.answer_time = c.start_time = CallSession::Clock::now();
      c.video = e.has_video;
      c.camera_enabled = e.has_video;
      if (c.call_id.empty()) c.call_id = wazo_call_id(e.session);
      ev = CallAccepted{c, e.has_video};
    });
    if (ev) self->emitter.emit(*ev);
  }));
  subs.push_back(client.on<SessionEnded>([weak](const SessionEnded& e) {
    auto self = weak.lock();
    if (!self) return;
    std::optional<CallSession> snap;
    {
      std::lock_guard lock(self->mutex);
      auto it = std::find_if(self->entries.begin(), self->entries.end(),
                             [&](const Entry& x) { return x.session == e.session; });
      if (it == self->entries.end()) return;
      snap = std::move(it->snap);
      self->entries.erase(it);
    }
    auto& c = *snap;
    c.terminated = true;
    c.ringing = false;
    c.end_time = CallSession::Clock::now();
    if (e.info.status != 0) c.sip_status = e.info.status;
    const EndCause cause = end_cause(e.info, e.transferred);
    if (c.is_caller && !c.answered &&
        (cause == EndCause::rejected || cause == EndCause::timeout || cause == EndCause::transport ||
         cause == EndCause::error)) {
      Error err = e.info.error.value_or(Error(ErrorCategory::sip, "call failed", e.info.status));
      if (cause == EndCause::rejected) {
        err = Error(ErrorCategory::sip, "call rejected: " + std::to_string(e.info.status) + " " + e.info.reason,
                    e.info.status);
      }
      self->emitter.emit(CallFailed{c, err});
    }
    self->emitter.emit(CallEnded{c, cause, e.info.status, e.info.reason, e.info.error, e.stats});
  }));
  subs.push_back(client.on<SessionHeld>([weak](const SessionHeld& e) {
    auto self = weak.lock();
    if (!self) return;
    std::optional<CallSession> snap;
    self->update(e.session, [&](Entry& x, auto&) {
      if (e.remote) {
        x.snap.remotely_held = e.held;
      } else {
        x.snap.paused = e.held;
        if (x.quiet_hold) {
          x.quiet_hold = false;
          return;
        }
      }
      snap = x.snap;
    });
    if (!snap) return;
    if (e.held) {
      self->emitter.emit(CallHeld{*snap, e.remote});
    } else {
      self->emitter.emit(CallResumed{*snap, e.remote});
    }
  }));
  subs.push_back(client.on<SessionMerged>([weak](const SessionMerged& e) {
    if (auto self = weak.lock()) self->update(e.session, [&](Entry& x, auto&) { x.snap.conference = e.merged; });
  }));
  subs.push_back(client.on<SessionMuted>([weak](const SessionMuted& e) {
    auto self = weak.lock();
    if (!self) return;
    std::optional<CallSession> snap;
    self->update(e.session, [&](Entry& x, auto&) {
      x.snap.muted = e.muted;
      if (x.quiet_mute) {
        x.quiet_mute = false;
        return;
      }
      snap = x.snap;
    });
    if (!snap) return;
    if (e.muted) {
      self->emitter.emit(CallMuted{*snap});
    } else {
      self->emitter.emit(CallUnmuted{*snap});
    }
  }));
  subs.push_back(client.on<SessionCamera>([weak](const SessionCamera& e) {
    auto self = weak.lock();
    if (!self) return;
    std::optional<CallSession> snap;
    self->update(e.session, [&](Entry& x, auto&) {
      x.snap.camera_enabled = e.enabled;
      x.snap.video_muted = !e.enabled;
      snap = x.snap;
    });
    if (!snap) return;
    if (e.enabled) {
      self->emitter.emit(CameraResumed{*snap});
    } else {
      self->emitter.emit(CameraDisabled{*snap});
    }
  }));
  subs.push_back(client.on<SessionVideoChanged>([weak](const SessionVideoChanged& e) {
    auto self = weak.lock();
    if (!self) return;
    std::optional<VideoChanged> ev;
    self->update(e.session, [&](Entry& x, auto&) {
      x.snap.video = e.has_video;
      x.snap.camera_enabled = e.has_video && !x.snap.video_muted;
      ev = VideoChanged{x.snap, e.has_video};
    });
    if (ev) self->emitter.emit(*ev);
  }));
  // Media and network events: the snapshot as it is.
  auto relay = [&]<class In, class Out>(std::type_identity<In>, std::type_identity<Out>, auto make) {
    subs.push_back(client.on<In>([weak, make](const In& e) {
      auto self = weak.lock();
      if (!self) return;
      std::optional<CallSession> snap;
      self->update(e.session, [&](Entry& x, auto&) { snap = x.snap; });
      if (snap) self->emitter.emit(Out(make(*snap, e)));
    }));
  };
  relay(std::type_identity<TrackReceived>{}, std::type_identity<TrackAdded>{},
        [](const CallSession& c, const TrackReceived& e) {
          return TrackAdded{c, e.kind};
        });
  relay(std::type_identity<SessionMediaConnected>{}, std::type_identity<MediaConnected>{},
        [](const CallSession& c, const SessionMediaConnected&) { return MediaConnected{c}; });
  relay(std::type_identity<SessionIceDisconnected>{}, std::type_identity<IceDisconnected>{},
        [](const CallSession& c, const SessionIceDisconnected&) { return IceDisconnected{c}; });
  relay(std::type_identity<SessionIceReconnecting>{}, std::type_identity<IceReconnecting>{},
        [](const CallSession& c, const SessionIceReconnecting& e) {
          return IceReconnecting{c, e.attempt};
        });
  relay(std::type_identity<SessionIceReconnected>{}, std::type_identity<IceReconnected>{},
        [](const CallSession& c, const SessionIceReconnected&) { return IceReconnected{c}; });
  relay(std::type_identity<SessionNetworkStats>{}, std::type_identity<NetworkStats>{},
        [](const CallSession& c, const SessionNetworkStats& e) {
          return NetworkStats{c, e.stats};
        });
  relay(std::type_identity<SessionDtmf>{}, std::type_identity<DtmfReceived>{},
        [](const CallSession& c, const SessionDtmf& e) {
          return DtmfReceived{c, e.tone, e.via_info};
        });
  relay(std::type_identity<SessionMessage>{}, std::type_identity<MessageReceived>{},
        [](const CallSession& c, const SessionMessage& e) {
          return MessageReceived{c, e.session.remote_identity().uri.str(), e.content_type, e.body};
        });
  subs.push_back(client.on<SipMessage>([weak](const SipMessage& e) {
    if (auto self = weak.lock()) self->emitter.emit(MessageReceived{std::nullopt, e.from, e.content_type, e.body});
  }));
}

// ------------------------------------------------------------------------------------------------ Phone

Phone::Phone(WebRTCClient client, PhoneOptions options)
    : impl_(std::make_shared<Impl>(std::move(client), std::move(options))) {
  impl_->wire();
  impl_->client.impl()->accept_video_upgrades = impl_->options.allow_video;
  if (!impl_->options.audio_output_device.empty()) {
    if (auto r = impl_->client.change_audio_output_device(impl_->options.audio_output_device); !r)
      impl_->client.runtime().logger().warn("phone", "audio output device: " + r.error().describe());
  }
}

Phone::~Phone() = default;

namespace {
template <class T>
Async<T> fail(WebRTCClient& c, Error e) {
  return make_ready<T>(c.runtime().executor(), std::move(e));
}
}  // namespace

Result<CallSession> Phone::make_call(std::string number, MakeCallOptions options) {
  if (options.video && !impl_->options.allow_video)
    return Error(ErrorCategory::invalid_argument, "make_call: video is not allowed on this phone (allow_video)");
  const std::string dialed = number;
  auto s = impl_->client.call(std::move(number), {.video = options.video,
                                                  .extra_headers = std::move(options.extra_headers),
                                                  .no_answer_timeout = options.no_answer_timeout});
  if (!s) return std::move(s).error();
  std::lock_guard lock(impl_->mutex);
  return impl_->entry_locked(*s, true, dialed).snap;
}

Async<void> Phone::accept(const CallSession& call, AcceptOptions options) {
  auto s = impl_->session_of(call);
  if (!s) return fail<void>(impl_->client, no_call());
  return impl_->client.answer(*s, {.video = options.video && impl_->options.allow_video});
}

Result<void> Phone::reject(const CallSession& call) {
  auto s = impl_->session_of(call);
  if (!s) return no_call();
  return impl_->client.reject(*s, 486);
}

Result<void> Phone::ignore(const CallSession& call) {
  std::lock_guard lock(impl_->mutex);
  Impl::Entry* e = impl_->find_locked(call.sip_call_id);
  if (e == nullptr) return no_call();
  e->snap.ignored = true;
  return {};
}

Async<void> Phone::hangup(const CallSession& call) {
  auto s = impl_->session_of(call);
  if (!s) return fail<void>(impl_->client, no_call());
  return impl_->client.hangup(*s);
}

Async<void> Phone::end_current_call() {
  auto c = current_call();
  if (!c) return make_ready<void>(impl_->client.runtime().executor(), {});
  return hangup(*c);
}

Async<void> Phone::hold(const CallSession& call, bool with_event) {
  std::optional<sip::Session> s;
  {
    std::lock_guard lock(impl_->mutex);
    if (Impl::Entry* e = impl_->find_locked(call.sip_call_id)) {
      s = e->session;
      e->quiet_hold = !with_event && !e->snap.paused;
    }
  }
  if (!s) return fail<void>(impl_->client, no_call());
  return impl_->client.hold(*s);
}

Async<void> Phone::resume(const CallSession& call) {
  auto s = impl_->session_of(call);
  if (!s) return fail<void>(impl_->client, no_call());
  return impl_->client.unhold(*s);
}

Result<void> Phone::mute(const CallSession& call, bool with_event) {
  std::optional<sip::Session> s;
  {
    std::lock_guard lock(impl_->mutex);
    if (Impl::Entry* e = impl_->find_locked(call.sip_call_id)) {
      s = e->session;
      e->quiet_mute = !with_event;
    }
  }
  if (!s) return no_call();
  auto r = impl_->client.mute(*s);
  if (!r) {
    std::lock_guard lock(impl_->mutex);
    if (Impl::Entry* e = impl_->find_locked(call.sip_call_id)) e->quiet_mute = false;
  }
  return r;
}

Result<void> Phone::unmute(const CallSession& call) {
  auto s = impl_->session_of(call);
  if (!s) return no_call();
  return impl_->client.unmute(*s);
}

// ------------------------------------------------------------------------------------------------ conference

namespace {
// Runs `op` on the session of every call; the first unknown call fails the whole before anything is done.
template <class Op>
Async<void> on_each(Phone::Impl& impl, const std::vector<CallSession>& calls, Op op) {
  std::vector<sip::Session> sessions;
  for (const auto& c : calls) {
    auto s = impl.session_of(c);
    if (!s) return fail<void>(impl.client, no_call());
    sessions.push_back(*s);
  }
  std::vector<Async<void>> parts;
  for (const auto& s : sessions) parts.push_back(op(s));
  return detail::when_all(impl.client.runtime(), std::move(parts));
}
}  // namespace

Async<void> Phone::start_conference(const std::vector<CallSession>& calls) {
  std::vector<sip::Session> sessions;
  for (const auto& c : calls) {
    auto s = impl_->session_of(c);
    if (!s) return fail<void>(impl_->client, no_call());
    sessions.push_back(*s);
  }
  return impl_->client.merge(std::move(sessions));
}

Async<void> Phone::add_to_conference(const CallSession& call) {
  auto s = impl_->session_of(call);
  if (!s) return fail<void>(impl_->client, no_call());
  return impl_->client.add_to_merge(*s);
}

Async<void> Phone::hold_conference(const std::vector<CallSession>& calls) {
  return on_each(*impl_, calls, [this](const sip::Session& s) { return impl_->client.hold(s); });
}

Async<void> Phone::resume_conference(const std::vector<CallSession>& calls) {
  return on_each(*impl_, calls, [this](const sip::Session& s) { return impl_->client.unhold(s); });
}

Result<void> Phone::mute_conference(const std::vector<CallSession>& calls) {
  for (const auto& c : calls) {
    if (auto r = mute(c); !r) return r;
  }
  return {};
}

Result<void> Phone::unmute_conference(const std::vector<CallSession>& calls) {
  for (const auto& c : calls) {
    if (auto r = unmute(c); !r) return r;
  }
  return {};
}

Async<void> Phone::remove_from_conference(const std::vector<CallSession>& calls) {
  return on_each(*impl_, calls, [this](const sip::Session& s) { return impl_->client.remove_from_merge(s, true); });
}

Async<void> Phone::hangup_conference(const std::vector<CallSession>& calls) {
  return on_each(*impl_, calls, [this](const sip::Session& s) { return impl_->client.hangup(s); });
}

std::vector<CallSession> Phone::conference_calls() const {
  std::vector<CallSession> out;
  for (auto& c : calls()) {
    if (c.conference) out.push_back(std::move(c));
  }
  return out;
}

Result<void> Phone::turn_camera_off(const CallSession& call) {
  auto s = impl_->session_of(call);
  if (!s) return no_call();
  return impl_->client.toggle_camera_off(*s);
}

Result<void> Phone::turn_camera_on(const CallSession& call) {
  auto s = impl_->session_of(call);
  if (!s) return no_call();
  return impl_->client.toggle_camera_on(*s);
}

Async<void> Phone::upgrade_to_video(const CallSession& call) {
  if (!impl_->options.allow_video)
    return fail<void>(impl_->client, Error(ErrorCategory::invalid_argument, "video is not allowed on this phone"));
  auto s = impl_->session_of(call);
  if (!s) return fail<void>(impl_->client, no_call());
  return impl_->client.upgrade_to_video(*s);
}

Async<void> Phone::send_key(const CallSession& call, std::string tones, DtmfMethod method) {
  auto s = impl_->session_of(call);
  if (!s) return fail<void>(impl_->client, no_call());
  return impl_->client.send_dtmf(*s, std::move(tones), method);
}

namespace {
// Resolves `p` with `r`, emitting TransferCompleted first when it went through.
void after_transfer(const std::weak_ptr<Phone::Impl>& weak, Emitter* emitter, const CallSession& call,
                    const std::string& target, const Promise<void>& p, Result<void> r) {
  if (r && weak.lock()) emitter->emit(TransferCompleted{call, target});
  p.set(std::move(r));
}
}  // namespace

Async<void> Phone::transfer(const CallSession& call, std::string target) {
  auto s = impl_->session_of(call);
  if (!s) return fail<void>(impl_->client, no_call());
  Promise<void> p(impl_->client.runtime().executor());
  std::weak_ptr<Impl> weak = impl_;
  Emitter* em = &impl_->emitter;
  impl_->client.transfer(*s, target).then([weak, em, call, target, p](Result<void> r) {
    after_transfer(weak, em, call, target, p, std::move(r));
  });
  return p.async();
}

Async<void> Phone::indirect_transfer(const CallSession& source, const CallSession& destination) {
  auto s = impl_->session_of(source);
  auto d = impl_->session_of(destination);
  if (!s || !d) return fail<void>(impl_->client, no_call());
  auto t = impl_->client.atxfer(*s);
  if (auto r = t.init_with(*d); !r) return fail<void>(impl_->client, r.error());
  Promise<void> p(impl_->client.runtime().executor());
  std::weak_ptr<Impl> weak = impl_;
  Emitter* em = &impl_->emitter;
  const std::string target = destination.number;
  t.complete().then(
      [weak, em, source, target, p](Result<void> r) { after_transfer(weak, em, source, target, p, std::move(r)); });
  return p.async();
}

AttendedTransfer Phone::atxfer(const CallSession& call) {
  auto s = impl_->session_of(call);
  return impl_->client.atxfer(s.value_or(sip::Session{}));
}

Async<void> Phone::start_screen_sharing(const CallSession& call, media::VideoSource screen) {
  auto s = impl_->session_of(call);
  if (!s) return fail<void>(impl_->client, no_call());
  Promise<void> p(impl_->client.runtime().executor());
  std::weak_ptr<Impl> weak = impl_;
  sip::Session session = *s;
  impl_->client.start_screen_sharing(session, std::move(screen)).then([weak, session, p](Result<void> r) {
    auto self = weak.lock();
    if (r && self) {
      std::optional<CallSession> snap;
      self->update(session, [&](Impl::Entry& x, auto&) {
        x.snap.screensharing = true;
        snap = x.snap;
      });
      if (snap) self->emitter.emit(ScreenShareStarted{*snap});
    }
    p.set(std::move(r));
  });
  return p.async();
}

Async<void> Phone::stop_screen_sharing(const CallSession& call) {
  auto s = impl_->session_of(call);
  if (!s) return fail<void>(impl_->client, no_call());
  Promise<void> p(impl_->client.runtime().executor());
  std::weak_ptr<Impl> weak = impl_;
  sip::Session session = *s;
  impl_->client.stop_screen_sharing(session).then([weak, session, p](Result<void> r) {
    auto self = weak.lock();
    if (r && self) {
      std::optional<CallSession> snap;
      self->update(session, [&](Impl::Entry& x, auto&) {
        if (!x.snap.screensharing) return;
        x.snap.screensharing = false;
        snap = x.snap;
      });
      if (snap) self->emitter.emit(ScreenShareEnded{*snap});
    }
    p.set(std::move(r));
  });
  return p.async();
}

Async<sip::Message> Phone::send_message(const CallSession& call, std::string body, std::string content_type) {
  auto s = impl_->session_of(call);
  if (!s) return fail<sip::Message>(impl_->client, no_call());
  return impl_->client.send_message(*s, std::move(body), std::move(content_type));
}

Async<sip::Message> Phone::send_message(std::string destination, std::string body, std::string content_type) {
  return impl_->client.message(std::move(destination), std::move(body), std::move(content_type));
}

Result<media::CallStats> Phone::stats(const CallSession& call) const {
  auto s = impl_->session_of(call);
  if (!s) return no_call();
  return impl_->client.stats(*s);
}

Subscription Phone::follow_call_events(events::WebSocketClient& ws) {
  std::weak_ptr<Impl> weak = impl_;
  auto apply = [weak](const std::string& sip_call_id, const std::string& call_id) {
    auto self = weak.lock();
    if (!self || sip_call_id.empty() || call_id.empty()) return;
    std::lock_guard lock(self->mutex);
    for (auto& e : self->entries) {
      if (e.snap.sip_call_id == sip_call_id) {
        e.snap.call_id = call_id;
        return;
      }
    }
    auto& early = self->early_call_ids;
    std::erase_if(early, [&](const auto& p) { return p.first == sip_call_id; });
    early.emplace_back(sip_call_id, call_id);
    if (early.size() > 64) early.pop_front();
  };
  auto subs = std::make_shared<std::vector<Subscription>>();
  subs->push_back(
      ws.on<events::CallCreated>([apply](const events::CallCreated& e) { apply(e.sip_call_id, e.call_id); }));
  subs->push_back(
      ws.on<events::CallAnswered>([apply](const events::CallAnswered& e) { apply(e.sip_call_id, e.call_id); }));
  subs->push_back(
      ws.on<events::CallUpdated>([apply](const events::CallUpdated& e) { apply(e.sip_call_id, e.call_id); }));
  return Subscription([subs] { subs->clear(); });
}

Result<void> Phone::set_call_id(const std::string& sip_call_id, std::string call_id) {
  std::lock_guard lock(impl_->mutex);
  Impl::Entry* e = impl_->find_locked(sip_call_id);
  if (e == nullptr) return no_call();
  e->snap.call_id = std::move(call_id);
  return {};
}

bool Phone::has_an_active_call() const {
  std::lock_guard lock(impl_->mutex);
  return std::any_of(impl_->entries.begin(), impl_->entries.end(),
                     [](const Impl::Entry& e) { return e.snap.answered || e.snap.is_caller; });
}

bool Phone::has_incoming_call() const {
  std::lock_guard lock(impl_->mutex);
  return std::any_of(impl_->entries.begin(), impl_->entries.end(),
                     [](const Impl::Entry& e) { return !e.snap.is_caller && !e.snap.answered; });
}

std::size_t Phone::call_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->entries.size();
}

std::optional<CallSession> Phone::current_call() const {
  std::lock_guard lock(impl_->mutex);
  if (impl_->entries.empty()) return std::nullopt;
  for (auto it = impl_->entries.rbegin(); it != impl_->entries.rend(); ++it) {
    if (it->snap.is_established() && !it->snap.paused) return it->snap;
  }
  return impl_->entries.back().snap;
}

std::vector<CallSession> Phone::calls() const {
  std::vector<CallSession> out;
  std::lock_guard lock(impl_->mutex);
  for (const auto& e : impl_->entries) out.push_back(e.snap);
  return out;
}

std::optional<CallSession> Phone::find(const std::string& id) const {
  std::lock_guard lock(impl_->mutex);
  if (Impl::Entry* e = impl_->find_locked(id)) return e->snap;
  return std::nullopt;
}

Async<void> Phone::register_ua() { return impl_->client.register_ua(); }
Async<void> Phone::unregister_ua() { return impl_->client.unregister_ua(); }
bool Phone::is_registered() const { return impl_->client.is_registered(); }
Async<void> Phone::stop() { return impl_->client.stop(); }
void Phone::start_heartbeat() { impl_->client.start_heartbeat(); }
void Phone::stop_heartbeat() { impl_->client.stop_heartbeat(); }

Result<void> Phone::change_audio_device(std::string device_id) {
  return impl_->client.change_audio_output_device(std::move(device_id));
}
Result<void> Phone::change_ring_device(std::string device_id) {
  std::lock_guard lock(impl_->mutex);
  impl_->ring_device = std::move(device_id);
  return {};
}
Result<void> Phone::change_audio_input_device(std::string device_id) {
  return impl_->client.change_audio_input_device(std::move(device_id));
}
Result<void> Phone::change_video_input_device(std::string device_id) {
  return impl_->client.change_video_input_device(std::move(device_id));
}
void Phone::change_audio_volume(double volume) { impl_->client.change_audio_output_volume(volume); }
void Phone::change_ring_volume(double volume) {
  if (std::isnan(volume)) return;  // not a volume: the current one stays
  std::lock_guard lock(impl_->mutex);
  impl_->ring_volume = std::clamp(volume, 0.0, 1.0);
}
std::string Phone::ring_device() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->ring_device;
}
double Phone::ring_volume() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->ring_volume;
}

WebRTCClient& Phone::client() { return impl_->client; }
const PhoneOptions& Phone::options() const { return impl_->options; }
Emitter& Phone::emitter() { return impl_->emitter; }

}  // namespace wazo::phone
