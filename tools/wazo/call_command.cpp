#include "call_command.hpp"

#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "session_file.hpp"
#include "sip_command.hpp"
#include "wazo/phone/phone.hpp"
#include "wazo/phone/webrtc_client.hpp"
#include "wazo/rest/api_client.hpp"

namespace wazo::cli {

namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using namespace std::chrono_literals;

constexpr std::string_view kCallUsage =
    "wazo call EXTENSION [--video] [--play tone[:HZ]|none|FILE.wav | --mic ID] [--record FILE.wav | --speaker ID] "
    "[--camera ID] [--for SECONDS] [--dtmf DIGITS] [--hold AT:SECONDS] [--json] "
    "[--ws URL --user USER --password PASSWORD ...]";
constexpr std::string_view kAnswerUsage =
    "wazo answer [--auto] [--count N] [--wait SECONDS] [--video] [--play tone[:HZ]|none|FILE.wav | --mic ID] "
    "[--record FILE.wav | --speaker ID] [--camera ID] [--for SECONDS] [--dtmf DIGITS] [--hold AT:SECONDS] [--json] "
    "[--ws URL --user USER --password PASSWORD ...]";

std::atomic<bool> g_call_interrupted{false};
extern "C" void on_call_interrupt(int /*signal*/) { g_call_interrupted = true; }

std::optional<double> parse_number(std::string_view text, double min, double max) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v) || v < min || v > max) {
    return std::nullopt;
  }
  return v;
}

milliseconds to_ms(double seconds) { return milliseconds(static_cast<long long>(std::llround(seconds * 1000))); }

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

struct CallArgs {
  bool is_call = true;
  std::string extension;
  SipLineOptions line;
  // the call
  bool video = false;
  std::string play = "tone";
  bool play_given = false;
  std::string record;
  // Devices (ids from `wazo devices`; "default": the system's default one) instead of the tone, the file, the
  // test pattern.
  std::optional<std::string> mic, speaker, camera;
  std::optional<milliseconds> duration;  // --for, from the answer
  std::string dtmf;
  std::optional<milliseconds> hold_at;  // --hold AT:SECONDS, from the answer
  milliseconds hold_for{0};
  bool auto_answer = false;
  int count = 1;
  std::optional<milliseconds> wait;  // answer: give up when no call came within it
  bool json = false;
};

bool valid_dtmf(std::string_view digits) {
  if (digits.empty()) return false;
  for (char c : digits) {
    if (!((c >= '0' && c <= '9') || c == '*' || c == '#' || (c >= 'A' && c <= 'D') || (c >= 'a' && c <= 'd')))
      return false;
  }
  return true;
}

// Parses the arguments of `call` or `answer` into `a`; a usage error's exit code otherwise.
std::optional<int> parse_args(Context& ctx, const std::vector<std::string>& args, CallArgs& a) {
  const std::string cmd = a.is_call ? "call" : "answer";
  const std::string_view usage = a.is_call ? kCallUsage : kAnswerUsage;
  auto bad = [&](const std::string& message) -> std::optional<int> {
    return usage_error(ctx.err, cmd + ": " + message, usage);
  };
  std::vector<std::string> positional;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (!arg.starts_with("--") || arg == "--") {
      if (arg == "--") {
        positional.insert(positional.end(), args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
        break;
      }
      positional.push_back(arg);
      continue;
    }
    std::string name = arg;
    std::optional<std::string> inline_value;
    if (const auto eq = arg.find('='); eq != std::string::npos) {
      name = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
    }
    auto flag = [&](std::string_view n) { return name == n && !inline_value; };
    std::string v;
    auto value = [&]() {
      if (inline_value) {
        v = *inline_value;
      } else if (i + 1 < args.size()) {
        v = args[++i];
      } else {
        return false;
      }
      return !v.empty();
    };
    if (flag("--insecure")) {
      a.line.insecure = true;
    } else if (flag("--video")) {
      a.video = true;
    } else if (flag("--json")) {
      a.json = true;
    } else if (!a.is_call && flag("--auto")) {
      a.auto_answer = true;
    } else if (is_sip_line_option(name) || name == "--play" || name == "--record" || name == "--for" ||
               name == "--dtmf" || name == "--hold" || name == "--mic" || name == "--speaker" || name == "--camera" ||
               (!a.is_call && (name == "--count" || name == "--wait"))) {
      if (!value()) return bad(name + " needs a value");
      if (is_sip_line_option(name)) {
        if (auto error = apply_sip_line_option(a.line, name, v)) return bad(*error);
      } else if (name == "--play") {
        a.play = v;
        a.play_given = true;
      } else if (name == "--mic") {
        a.mic = v;
      } else if (name == "--speaker") {
        a.speaker = v;
      } else if (name == "--camera") {
        a.camera = v;
      } else if (name == "--record") {
        a.record = v;
      } else if (name == "--for") {
        auto s = parse_number(v, 0.001, 31'536'000);
        if (!s) return bad("--for needs a positive number of seconds");
        a.duration = to_ms(*s);
      } else if (name == "--wait") {
        auto s = parse_number(v, 0.001, 31'536'000);
        if (!s) return bad("--wait needs a positive number of seconds");
        a.wait = to_ms(*s);
      } else if (name == "--dtmf") {
        if (!valid_dtmf(v)) return bad("--dtmf takes the keys 0-9 * # A-D");
        a.dtmf = v;
      } else if (name == "--count") {
        auto n = parse_number(v, 1, 10'000);
        if (!n || *n != std::floor(*n)) return bad("--count needs a whole number from 1");
        a.count = static_cast<int>(*n);
      } else {  // --hold AT:SECONDS
        const auto colon = v.find(':');
        auto at = colon == std::string::npos ? std::nullopt : parse_number(v.substr(0, colon), 0, 86'400);
        auto len = colon == std::string::npos ? std::nullopt : parse_number(v.substr(colon + 1), 0.001, 86'400);
        if (!at || !len) return bad("--hold needs AT:SECONDS (hold AT s after the answer, for SECONDS)");
        a.hold_at = to_ms(*at);
        a.hold_for = to_ms(*len);
      }
    } else {
      return bad("unknown argument " + arg);
    }
  }
  if (a.is_call) {
    if (positional.size() != 1) return bad(positional.empty() ? "which extension?" : "one extension only");
    a.extension = positional[0];
  } else if (!positional.empty()) {
    return bad("unexpected argument " + positional[0]);
  }
  if (a.line.insecure && !a.line.ca_file.empty()) return bad("--insecure and --ca-file exclude each other");
  if (a.mic && a.play_given) return bad("--mic and --play exclude each other");
  if (a.speaker && !a.record.empty()) return bad("--speaker and --record exclude each other");
  if (a.camera && !a.video) return bad("--camera is for video calls: add --video");
  if (a.hold_at && a.duration && *a.hold_at + a.hold_for > *a.duration)
    return bad("--hold must end (AT + SECONDS) within --for");
  if (a.play != "tone" && a.play != "none" && !a.play.starts_with("tone:")) {
    if (!std::ifstream(a.play)) return bad("cannot read the file " + a.play + " (--play tone, none or a WAV file)");
  } else if (a.play.starts_with("tone:") && !parse_number(std::string_view(a.play).substr(5), 20, 20'000)) {
    return bad("--play tone:HZ needs a frequency from 20 to 20000");
  }
  return std::nullopt;
}

// The WebRTC configuration of the line: the one given on the command line, else the session user's first SIP line
// (confd), over the engine's WebSocket.
std::optional<phone::WebRtcConfig> line_config(Context& ctx, CallArgs& args, int& code) {
  const std::string cmd = args.is_call ? "call" : "answer";
  SipLineOptions& a = args.line;
  phone::WebRtcConfig c;
  c.user_agent_string = "wazo-cli/" WAZO_VERSION;
  c.connection.connect_timeout = std::min(c.connection.connect_timeout, ctx.options.timeout);
  if (auto failed = prepare_sip_line(ctx, a, cmd, args.is_call ? kCallUsage : kAnswerUsage)) {
    code = *failed;
    return std::nullopt;
  }
  if (a.explicit_line()) {
    c.websocket_url = a.ws;
    c.authorization_user = a.user;
    c.password = a.password;
    c.domain = a.domain;  // from --ws when --domain is missing
    const bool insecure = a.insecure || (a.ca_file.empty() && ctx.options.insecure);
    c.connection.tls = TlsOptions{.ca_file = a.ca_file.empty() ? ctx.options.ca_file : a.ca_file, .insecure = insecure};
    if (!a.auth_user.empty()) {
      c.ua_overrides = [auth = a.auth_user](sip::UserAgentOptions& o) { o.auth_user = auth; };
    }
    return c;
  }
  std::optional<phone::WebRtcConfig> out;
  code = with_session(
      ctx,
      [&](rest::ApiClient& client, const SavedSession& saved) {
        if (!a.domain.empty()) c.domain = a.domain;
        if (a.insecure || !a.ca_file.empty())
          c.connection.tls = TlsOptions{.ca_file = a.ca_file, .insecure = a.insecure};
        c.display_name = saved.username;
        // The CLI's own rule, shared with `wazo sip register`: ws:// for an http:// engine, wss:// otherwise.
        auto ws = sip_ws_url_for_host(saved.host);
        if (!ws) return fail(ctx, cmd + ": cannot make a WebSocket URL from the host " + saved.host);
        c.websocket_url = *ws;
        auto r = phone::WebRTCClient::fetch_line_config(client, saved.uuid, c).get();
        if (!r) return fail(ctx, cmd + ": cannot read your SIP line: " + describe_failure(r.error()));
        ctx.secrets.add(r->password);
        if (!a.insecure && a.ca_file.empty()) {
          const SessionTls tls = session_tls(ctx.options, saved);
          r->connection.tls.insecure = tls.insecure;
          r->connection.tls.ca_file = tls.ca_file;
        }
        out = std::move(*r);
        return kExitOk;
      },
      "not logged in (run: wazo --host URL login USER PASSWORD, or give --ws, --user, --password)");
  return out;
}

media::MediaOptions media_options(const CallArgs& a) {
  media::MediaOptions m;
  // The answering side gets another default pitch, so that a recording tells who it hears.
  const double default_hz = a.is_call ? 440.0 : 660.0;
  if (a.play == "none") {
    m.audio_source = {.type = media::AudioSource::Type::none};
  } else if (a.play == "tone") {
    m.audio_source = {.type = media::AudioSource::Type::tone, .frequency = default_hz, .volume = 0.3};
  } else if (a.play.starts_with("tone:")) {
    m.audio_source = {.type = media::AudioSource::Type::tone,
                      .frequency = parse_number(std::string_view(a.play).substr(5), 20, 20'000).value_or(default_hz),
                      .volume = 0.3};
  } else {
    m.audio_source = {.type = media::AudioSource::Type::wav_file, .path = a.play, .loop = true};
  }
  auto device_id = [](const std::string& id) { return id == "default" ? std::string() : id; };
  if (a.mic) m.audio_source = {.type = media::AudioSource::Type::device, .device_id = device_id(*a.mic)};
  if (a.speaker) {
    m.audio_sink = {.type = media::AudioSink::Type::device, .device_id = device_id(*a.speaker)};
  } else if (a.record.empty()) {
    m.audio_sink = {.type = media::AudioSink::Type::none};
  } else {
    m.audio_sink = {.type = media::AudioSink::Type::wav_file, .path = a.record};
  }
  m.video_source = {.type = media::VideoSource::Type::test_pattern};
  if (a.camera) m.video_source = {.type = media::VideoSource::Type::device, .device_id = device_id(*a.camera)};
  m.video_sink = {.type = media::VideoSink::Type::none};
  // Without STUN or TURN servers only host candidates come, at once; the default wait would only delay the call.
  m.ice_gathering_timeout = 1000ms;
  return m;
}

// Words for a SIP failure of an INVITE: what the user wants to know first.
std::string status_words(int status) {
  switch (status) {
    case 486:
    case 600:
      return "busy";
    case 603:
      return "declined";
    case 403:
      return "rejected";
    case 404:
    case 484:
    case 604:
      return "not found";
    case 480:
      return "unavailable";
    case 408:
      return "no answer";
    case 487:
      return "cancelled";
    case 488:
    case 606:
      return "media not acceptable";
    default:
      return status >= 500 ? "server failure" : "rejected";
  }
}

std::string status_text(int status, const std::string& reason) {
  std::string s = std::to_string(status);
  const std::string phrase = reason.empty() ? std::string(sip::reason_phrase(status)) : reason;
  if (!phrase.empty()) s += " " + phrase;
  return one_line(s);
}

Json stream_json(const media::StreamStats& s) {
  Json j{{"codec", s.codec},
         {"bytes_sent", s.bytes_sent},
         {"packets_sent", s.packets_sent},
         {"bytes_received", s.bytes_received},
         {"packets_received", s.packets_received},
         {"packets_lost", s.packets_lost},
         {"jitter_ms", s.jitter_ms},
         {"round_trip_ms", s.round_trip_ms}};
  if (s.kind == media::Kind::audio) {
    j["decoded_seconds"] = static_cast<double>(s.decoded) / 48'000.0;
    j["level"] = s.level;
  } else {
    j["frames_decoded"] = s.decoded;
    j["frames_sent"] = s.encoded;
  }
  return j;
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// What one call looked like, from the phone's events.
struct CallRecord {
  phone::CallSession call;
  std::optional<Clock::time_point> answered_at;
  bool media_connected = false;
  bool ended = false;
  phone::EndCause cause = phone::EndCause::error;
  int sip_status = 0;
  std::string reason;
  std::optional<Error> error;
  std::optional<media::CallStats> stats;  // the media's figures, from CallEnded
  int hold_changes = 0;                   // held / resumed events so far, either side
  int changes = 0;                        // what the driving loop waits for: media up, hold changes, the end
};

// The phone's events as lines ("+0.20 s established") or JSON objects, and the calls' state for the main thread.
// Shared with the phone's handlers and continuations, which may outlive a command's stack frame by a moment.
class Watch {
 public:
  Watch(Context& ctx, bool json) : ctx_(ctx), json_(json), t0_(Clock::now()) {}

  // From now on, the connection's end is ours: not worth a line.
  void closing() {
    std::lock_guard lock(mutex_);
    closing_ = true;
  }

  void restart_clock() {
    std::lock_guard lock(mutex_);
    t0_ = Clock::now();
  }

  void say(const std::string& event, const std::string& text, Json extra = Json::object()) {
    std::lock_guard lock(mutex_);
    print(event, text, std::move(extra));
  }

  void subscribe(phone::Phone& p, std::vector<Subscription>& subs) {
    subs.push_back(p.on<phone::CallOutgoing>([this](const phone::CallOutgoing& e) {
      std::lock_guard lock(mutex_);
      calls_[e.call.sip_call_id].call = e.call;
      print("calling", "calling " + e.call.dialed_extension, {{"extension", e.call.dialed_extension}});
    }));
    subs.push_back(p.on<phone::CallIncoming>([this](const phone::CallIncoming& e) {
      std::lock_guard lock(mutex_);
      calls_[e.call.sip_call_id].call = e.call;
      incoming_.push_back(e.call.sip_call_id);
      std::string who = e.call.display_name;
      if (!e.call.number.empty() && e.call.number != who) who += " <" + e.call.number + ">";
      print("incoming", "incoming call from " + who + (e.has_video ? " (video)" : ""),
            {{"from", e.call.display_name}, {"number", e.call.number}, {"video", e.has_video}});
      cv_.notify_all();
    }));
    subs.push_back(p.on<phone::CallProgress>([this](const phone::CallProgress& e) {
      if (e.status == 100) return;
      std::lock_guard lock(mutex_);
      calls_[e.call.sip_call_id].call = e.call;
      const bool ringing = e.status == 180 || e.status == 183;
      print(ringing ? "ringing" : "progress", ringing ? "ringing" : "progress " + status_text(e.status, e.reason),
            {{"status", e.status}});
    }));
    subs.push_back(p.on<phone::CallAccepted>([this](const phone::CallAccepted& e) {
      std::lock_guard lock(mutex_);
      auto& r = calls_[e.call.sip_call_id];
      r.call = e.call;
      r.answered_at = Clock::now();
      print("established", std::string("established") + (e.has_video ? " (audio and video)" : ""),
            {{"video", e.has_video}});
      cv_.notify_all();
    }));
    subs.push_back(p.on<phone::MediaConnected>([this](const phone::MediaConnected& e) {
      std::lock_guard lock(mutex_);
      auto& r = calls_[e.call.sip_call_id];
      r.media_connected = true;
      ++r.changes;
      print("media_connected", "media connected (ICE and DTLS up)");
      cv_.notify_all();
    }));
    subs.push_back(p.on<phone::TrackAdded>([this](const phone::TrackAdded& e) {
      std::lock_guard lock(mutex_);
      const char* kind = e.kind == media::Kind::audio ? "audio" : "video";
      print("track", std::string("receiving ") + kind, {{"kind", kind}});
    }));
    subs.push_back(p.on<phone::CallHeld>([this](const phone::CallHeld& e) {
      std::lock_guard lock(mutex_);
      print("held", e.remote ? "held by the peer" : "held", {{"remote", e.remote}});
      changed_hold(e.call.sip_call_id);
    }));
    subs.push_back(p.on<phone::CallResumed>([this](const phone::CallResumed& e) {
      std::lock_guard lock(mutex_);
      print("resumed", e.remote ? "resumed by the peer" : "resumed", {{"remote", e.remote}});
      changed_hold(e.call.sip_call_id);
    }));
    subs.push_back(p.on<phone::DtmfReceived>([this](const phone::DtmfReceived& e) {
      std::lock_guard lock(mutex_);
      const std::string key(1, e.tone);
      print("dtmf_received", "DTMF " + key + " received (" + (e.via_info ? "SIP INFO" : "RFC 4733") + ")",
            {{"key", key}, {"via_info", e.via_info}});
    }));
    subs.push_back(p.on<phone::IceDisconnected>([this](const phone::IceDisconnected&) {
      std::lock_guard lock(mutex_);
      print("ice_disconnected", "media path lost");
    }));
    subs.push_back(p.on<phone::IceReconnecting>([this](const phone::IceReconnecting& e) {
      std::lock_guard lock(mutex_);
      print("ice_restart", "ICE restart (attempt " + std::to_string(e.attempt) + ")", {{"attempt", e.attempt}});
    }));
    subs.push_back(p.on<phone::IceReconnected>([this](const phone::IceReconnected&) {
      std::lock_guard lock(mutex_);
      print("ice_reconnected", "media path back");
    }));
    subs.push_back(p.on<phone::MessageReceived>([this](const phone::MessageReceived& e) {
      std::lock_guard lock(mutex_);
      print("message", "message from " + e.from + ": " + one_line(e.body), {{"from", e.from}, {"body", e.body}});
    }));
    subs.push_back(p.on<phone::Disconnected>([this](const phone::Disconnected& e) {
      std::lock_guard lock(mutex_);
      if (closing_) return;
      const std::string why = e.error ? describe_failure(*e.error) : e.reason;
      print("disconnected", "connection lost" + (why.empty() ? "" : " (" + why + ")"), {{"reason", why}});
    }));
    subs.push_back(p.on<phone::CallEnded>([this](const phone::CallEnded& e) {
      std::lock_guard lock(mutex_);
      auto& r = calls_[e.call.sip_call_id];
      r.call = e.call;
      r.ended = true;
      r.cause = e.cause;
      r.sip_status = e.sip_status;
      r.reason = e.reason;
      r.error = e.error;
      if (e.stats) r.stats = e.stats;
      ++r.changes;
      std::string text = std::string("ended (") + phone::to_string(e.cause) + ")";
      Json extra{{"cause", phone::to_string(e.cause)}};
      if (e.sip_status >= 300) {
        text += ": " + status_text(e.sip_status, e.reason);
        extra["status"] = e.sip_status;
      } else if (e.error) {
        text += ": " + describe_failure(*e.error);
      }
      print("ended", text, std::move(extra));
      cv_.notify_all();
    }));
  }

  // The next incoming call not handled yet, waiting up to `limit`.
  std::optional<std::string> next_incoming(milliseconds limit) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, limit, [&] { return !incoming_.empty(); });
    if (incoming_.empty()) return std::nullopt;
    auto id = incoming_.front();
    incoming_.pop_front();
    return id;
  }

  // Waits up to `limit` for the call to be answered or to end; true when either happened.
  bool wait_settled(const std::string& id, milliseconds limit) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, limit, [&] {
      auto it = calls_.find(id);
      return it != calls_.end() && (it->second.answered_at || it->second.ended);
    });
  }

  bool wait_ended(const std::string& id, milliseconds limit) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, limit, [&] { return calls_[id].ended; });
  }

  // Waits up to `limit` for the call's record to change from what `seen` (its `changes`) says; the record.
  CallRecord wait_change(const std::string& id, int seen, milliseconds limit) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, limit, [&] { return calls_[id].changes != seen; });
    return calls_[id];
  }

  CallRecord record(const std::string& id) {
    std::lock_guard lock(mutex_);
    return calls_[id];
  }

 private:
  void changed_hold(const std::string& id) {  // under mutex_
    auto& r = calls_[id];
    ++r.hold_changes;
    ++r.changes;
    cv_.notify_all();
  }

  void print(const std::string& event, const std::string& text, Json extra = Json::object()) {
    const double t = seconds_between(t0_, Clock::now());
    if (json_) {
      Json j{{"t", std::round(t * 1000) / 1000}, {"event", event}};
      for (auto& [k, v] : extra.items()) j[k] = v;
      ctx_.out << ctx_.secrets.redact(j.dump(-1, ' ', false, Json::error_handler_t::replace)) << std::endl;
    } else {
      ctx_.out << ctx_.secrets.redact("+" + fixed(t, 2) + " s " + text) << std::endl;
    }
  }

  Context& ctx_;
  const bool json_;
  std::mutex mutex_;
  std::condition_variable cv_;
  Clock::time_point t0_;
  std::map<std::string, CallRecord> calls_;
  std::deque<std::string> incoming_;
  bool closing_ = false;
};

void print_stats(Context& ctx, bool json, const CallRecord& r) {
  const media::CallStats s = r.stats.value_or(media::CallStats{});
  if (json) {
    Json j{{"event", "statistics"}, {"mos", s.mos}, {"ice_state", s.ice_state}};
    if (r.call.answer_time && r.call.end_time)
      j["duration"] =
          std::round(std::chrono::duration<double>(*r.call.end_time - *r.call.answer_time).count() * 1000) / 1000;
    if (!s.local_candidate_type.empty()) j["local_candidate"] = s.local_candidate_type;
    if (!s.remote_candidate_type.empty()) j["remote_candidate"] = s.remote_candidate_type;
    j["audio"] = s.audio ? stream_json(*s.audio) : Json(nullptr);
    if (s.video) j["video"] = stream_json(*s.video);
    ctx.out << j.dump(-1, ' ', false, Json::error_handler_t::replace) << std::endl;
    return;
  }
  std::string head = "statistics:";
  if (r.call.answer_time && r.call.end_time)
    head = "statistics (" + fixed(std::chrono::duration<double>(*r.call.end_time - *r.call.answer_time).count(), 1) +
           " s call):";
  if (!s.local_candidate_type.empty())
    head +=
        " ICE " + s.local_candidate_type + " -> " + (s.remote_candidate_type.empty() ? "?" : s.remote_candidate_type);
  ctx.out << head << '\n';
  auto stream = [&](const char* name, const std::optional<media::StreamStats>& st) {
    if (!st) {
      ctx.out << "  " << name << ": none\n";
      return;
    }
    ctx.out << "  " << name << " (" << (st->codec.empty() ? "?" : st->codec) << ")\n";
    ctx.out << "    sent      " << st->bytes_sent << " bytes, " << st->packets_sent << " packets\n";
    ctx.out << "    received  " << st->bytes_received << " bytes, " << st->packets_received << " packets, "
            << st->packets_lost << " lost, jitter " << fixed(st->jitter_ms, 1) << " ms, RTT "
            << fixed(st->round_trip_ms, 1) << " ms\n";
    if (st->kind == media::Kind::audio) {
      ctx.out << "    decoded   " << fixed(static_cast<double>(st->decoded) / 48'000.0, 2) << " s of audio, level "
              << fixed(st->level, 3) << '\n';
    } else {
      ctx.out << "    decoded   " << st->decoded << " frames, sent " << st->encoded << " frames\n";
    }
  };
  stream("audio", s.audio);
  if (s.video) stream("video", s.video);
  ctx.out << "  MOS " << fixed(s.mos, 2) << std::endl;
}

// Why a call did not go well, or nullopt when it was established, had media from the peer and ended by a hang-up.
std::optional<std::string> judge(const CallRecord& r) {
  if (!r.answered_at) {
    if (r.sip_status >= 300) return status_words(r.sip_status) + " (" + status_text(r.sip_status, r.reason) + ")";
    if (r.cause == phone::EndCause::cancelled) return std::string("cancelled before the answer");
    if (r.cause == phone::EndCause::remote_cancel) return std::string("the caller hung up before the answer");
    if (r.cause == phone::EndCause::timeout) return std::string("no answer");
    if (r.error) return "not established: " + describe_failure(*r.error);
    return "not established (" + std::string(phone::to_string(r.cause)) + ")";
  }
  if (r.cause != phone::EndCause::hangup && r.cause != phone::EndCause::remote_hangup) {
    std::string why = "the call ended abnormally (" + std::string(phone::to_string(r.cause)) + ")";
    if (r.error) why += ": " + describe_failure(*r.error);
    return why;
  }
  if (!r.stats || !r.stats->audio || r.stats->audio->bytes_received == 0)
    return std::string("no media: nothing was received from the peer");
  return std::nullopt;
}

// Runs the plan of an established call until it ends: DTMF once the media is up, hold and resume, hang-up at
// --for or on Ctrl-C. Sleeps until the next of these is due or the call's record changes, not in a fixed tick
// (the CLI is what people measure a call's footprint with); the statistics come with the call's end.
void drive(phone::Phone& ph, const std::shared_ptr<Watch>& w, const std::string& id, const CallArgs& a) {
  const CallRecord start = w->record(id);
  const phone::CallSession call = start.call;
  const Clock::time_point answered = start.answered_at.value_or(Clock::now());
  bool dtmf_sent = a.dtmf.empty();
  int hold_stage = a.hold_at ? 0 : 2;  // 0 before the hold, 1 held, 2 done
  int hold_changes_seen = start.hold_changes;
  std::optional<Clock::time_point> hangup_at;
  CallRecord rec = start;
  for (;;) {
    auto now = Clock::now();
    // What is due next; Ctrl-C is a flag set by a signal handler, looked at every 200 ms.
    Clock::time_point due = hangup_at ? *hangup_at + 10s : now + 200ms;
    if (!hangup_at && a.duration) due = std::min(due, answered + *a.duration);
    if (!dtmf_sent) due = std::min(due, answered + 2s);
    if (hold_stage == 0) due = std::min(due, answered + *a.hold_at);
    if (hold_stage == 1) due = std::min(due, answered + *a.hold_at + a.hold_for);
    const auto wait = std::clamp(std::chrono::duration_cast<milliseconds>(due - now), 0ms, 200ms);
    rec = w->wait_change(id, rec.changes, wait);
    if (rec.ended) break;
    now = Clock::now();
    // The byte counters right after a hold or a resume: the held direction's counter stops, then goes on.
    if (rec.hold_changes != hold_changes_seen) {
      hold_changes_seen = rec.hold_changes;
      if (auto s = ph.stats(call); s && s->audio) {
        w->say("counters",
               "  audio so far: sent " + std::to_string(s->audio->bytes_sent) + " bytes, received " +
                   std::to_string(s->audio->bytes_received) + " bytes",
               {{"bytes_sent", s->audio->bytes_sent}, {"bytes_received", s->audio->bytes_received}});
      }
    }
    const auto elapsed = now - answered;
    if (hangup_at) {
      // A peer or a server that does not answer the BYE does not keep us forever.
      if (now - *hangup_at > 10s) {
        w->say("warning", "the call did not end within 10 s of the hang-up");
        break;
      }
      continue;
    }
    if (g_call_interrupted || (a.duration && elapsed >= *a.duration)) {
      w->say("hangup", "hanging up");
      ph.hangup(call).then([w, id](Result<void> r) {
        if (!r && !w->record(id).ended) w->say("hangup_failed", "hang-up failed: " + describe_failure(r.error()));
      });
      hangup_at = now;
      continue;
    }
    if (!dtmf_sent && (rec.media_connected || elapsed >= 2s)) {
      dtmf_sent = true;
      ph.send_key(call, a.dtmf).then([w, digits = a.dtmf](Result<void> r) {
        if (r) {
          w->say("dtmf_sent", "sent DTMF " + digits, {{"keys", digits}});
        } else {
          w->say("dtmf_failed", "DTMF failed: " + describe_failure(r.error()));
        }
      });
    }
    if (hold_stage == 0 && elapsed >= *a.hold_at) {
      hold_stage = 1;
      ph.hold(call).then([w](Result<void> r) {
        if (!r) w->say("hold_failed", "hold failed: " + describe_failure(r.error()));
      });
    } else if (hold_stage == 1 && elapsed >= *a.hold_at + a.hold_for) {
      hold_stage = 2;
      ph.resume(call).then([w](Result<void> r) {
        if (!r) w->say("resume_failed", "resume failed: " + describe_failure(r.error()));
      });
    }
  }
}

// The phone of a command: client, phone and the event subscriptions, taken down in order (unregister first).
struct Line {
  Line(Context& c, phone::WebRtcConfig config, std::shared_ptr<Watch> w)
      : ctx(c),
        client(c.runtime, std::move(config)),
        phone(client, phone::PhoneOptions{.allow_video = true}),
        watch(std::move(w)) {
    watch->subscribe(phone, subs);
  }
  ~Line() {
    watch->closing();
    auto stopped = phone.stop().get_for(std::chrono::duration_cast<milliseconds>(ctx.options.timeout));
    if (!stopped || !*stopped) client.close();
    subs.clear();
  }
  Line(const Line&) = delete;
  Line& operator=(const Line&) = delete;

  // Connects and registers; the error's text on failure.
  std::optional<std::string> start() {
    auto r = phone.register_ua().get_for(std::chrono::duration_cast<milliseconds>(ctx.options.timeout + 5s));
    if (!r) return std::string("no answer from the SIP server within the timeout");
    if (!*r) return describe_failure(r->error());
    return std::nullopt;
  }

  Context& ctx;
  phone::WebRTCClient client;
  phone::Phone phone;
  std::shared_ptr<Watch> watch;
  std::vector<Subscription> subs;
};

void catch_signals() {
  g_call_interrupted = false;
  std::signal(SIGINT, on_call_interrupt);
  std::signal(SIGTERM, on_call_interrupt);
}

// A writable --record file, checked before the call so that the failure is clear and early.
bool can_record(const std::string& path) { return path.empty() || std::ofstream(path, std::ios::trunc).good(); }

}  // namespace

int run_call(Context& ctx, const std::vector<std::string>& args) {
  CallArgs a;
  a.is_call = true;
  if (auto code = parse_args(ctx, args, a)) return *code;
  if (!can_record(a.record)) return fail(ctx, "call: cannot write " + a.record);
  int code = kExitOk;
  auto config = line_config(ctx, a, code);
  if (!config) return code;
  config->media = media_options(a);
  const bool json = a.json || ctx.options.json;

  auto watch = std::make_shared<Watch>(ctx, json);
  catch_signals();
  Line line(ctx, std::move(*config), watch);
  if (auto why = line.start()) return fail(ctx, "call: cannot register the line: " + *why);

  watch->restart_clock();
  auto made = line.phone.make_call(a.extension, {.video = a.video});
  if (!made) return fail(ctx, "call: " + describe_failure(made.error()));
  const std::string id = made->sip_call_id;

  bool cancelled = false;
  while (!watch->wait_settled(id, 200ms)) {
    if (g_call_interrupted && !cancelled) {
      cancelled = true;
      line.phone.hangup(*made).then([](Result<void>) {});
    }
  }
  if (watch->record(id).answered_at) drive(line.phone, watch, id, a);
  watch->wait_ended(id, 2s);
  const CallRecord r = watch->record(id);
  if (r.answered_at) print_stats(ctx, json, r);
  if (auto why = judge(r)) return fail(ctx, "call: " + a.extension + ": " + *why);
  return kExitOk;
}

int run_answer(Context& ctx, const std::vector<std::string>& args) {
  CallArgs a;
  a.is_call = false;
  if (auto code = parse_args(ctx, args, a)) return *code;
  if (!can_record(a.record)) return fail(ctx, "answer: cannot write " + a.record);
  int code = kExitOk;
  auto config = line_config(ctx, a, code);
  if (!config) return code;
  config->media = media_options(a);
  const std::string user = config->authorization_user;
  const bool json = a.json || ctx.options.json;

  auto watch = std::make_shared<Watch>(ctx, json);
  catch_signals();
  Line line(ctx, std::move(*config), watch);
  if (auto why = line.start()) return fail(ctx, "answer: cannot register the line: " + *why);
  watch->restart_clock();
  watch->say("registered",
             "registered as " + user + ", waiting for " +
                 (a.count == 1 ? std::string("a call") : std::to_string(a.count) + " calls"),
             {{"user", user}});

  std::optional<std::string> failure;
  auto waiting_since = Clock::now();
  for (int handled = 0; handled < a.count;) {
    if (g_call_interrupted) {
      failure = "interrupted after " + std::to_string(handled) + " of " + std::to_string(a.count) + " calls";
      break;
    }
    if (a.wait && Clock::now() - waiting_since > *a.wait) {
      failure = "no call came within " + fixed(std::chrono::duration<double>(*a.wait).count(), 1) + " s";
      break;
    }
    auto id = watch->next_incoming(200ms);  // Ctrl-C is looked at between waits
    if (!id) continue;
    ++handled;
    const CallRecord incoming = watch->record(*id);
    bool take = a.auto_answer;
    if (!incoming.ended && !a.auto_answer) {
      ctx.err << "answer the call from " << incoming.call.display_name << "? [Y/n] " << std::flush;
      std::string reply;
      take = static_cast<bool>(std::getline(std::cin, reply)) && (reply.empty() || reply[0] == 'y' || reply[0] == 'Y');
    }
    if (!watch->record(*id).ended) {
      if (take) {
        auto r = line.phone.accept(incoming.call, {.video = a.video})
                     .get_for(std::chrono::duration_cast<milliseconds>(ctx.options.timeout + 5s));
        if (!r || !*r) watch->say("answer_failed", "answer failed: " + (r ? describe_failure(r->error()) : "timeout"));
      } else {
        (void)line.phone.reject(incoming.call);
      }
      if (watch->wait_settled(*id, 5s) && watch->record(*id).answered_at) drive(line.phone, watch, *id, a);
      if (!watch->record(*id).ended) line.phone.hangup(incoming.call).then([](Result<void>) {});
      watch->wait_ended(*id, 2s);
    }
    const CallRecord r = watch->record(*id);
    if (r.answered_at) print_stats(ctx, json, r);
    auto why = take ? judge(r) : std::optional<std::string>("declined here");
    if (why && !failure) failure = "call from " + incoming.call.number + ": " + *why;
    waiting_since = Clock::now();
  }
  if (failure) return fail(ctx, "answer: " + *failure);
  return kExitOk;
}

int run_devices(Context& ctx, const std::vector<std::string>& args) {
  if (!args.empty()) return usage_error(ctx.err, "devices takes no arguments", "wazo devices");
  auto devices = media::list_devices();
  if (!devices) return fail(ctx, "devices: " + devices.error().message);
  for (const auto& d : *devices) {
    const char* kind = d.kind == media::Device::Kind::audio_input    ? "microphone"
                       : d.kind == media::Device::Kind::audio_output ? "speaker"
                                                                     : "camera";
    if (ctx.options.json) {
      ctx.out << Json{{"kind", kind}, {"id", d.id}, {"name", d.name}, {"default", d.is_default}}.dump(
                     -1, ' ', false, Json::error_handler_t::replace)
              << '\n';
    } else {
      ctx.out << kind << "  " << d.id << "  " << d.name << (d.is_default ? "  (default)" : "") << '\n';
    }
  }
  if (devices->empty() && !ctx.options.json) ctx.out << "no devices (no sound server or camera is reachable)\n";
  ctx.out << std::flush;
  return kExitOk;
}

}  // namespace wazo::cli
