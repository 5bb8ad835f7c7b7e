// The GStreamer webrtcbin engine: one pipeline per call. See media_engine.hpp for the contract and
// ../shared/reference/webrtcbin-lab.md for the webrtcbin 1.22 pitfalls this code works around (numbered below).
//
// Threads. webrtcbin answers on its own threads (promises, notify::*, pad-added) and the media flows on streaming
// threads. Nothing here calls into webrtcbin from those callbacks (pitfall 7): they only post to the Runtime's
// I/O thread, which drives the offer/answer steps, reads webrtcbin's properties and delivers SdpCallbacks and
// events. Pad probes read atomics only. Callbacks keep the shared `Call` state alive through their user data;
// the pipeline is owned by `Call` until close(), which breaks that cycle.
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/sdp/sdp.h>
#include <gst/video/video-event.h>
#include <gst/webrtc/webrtc.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <sstream>

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <boost/asio/steady_timer.hpp>

#include "media/devices.hpp"
#include "media/gst_util.hpp"
#include "media/media_engine.hpp"
#include "media/sdp.hpp"

namespace wazo::media {

namespace {

using namespace detail;  // NOLINT(google-build-using-namespace): the helpers are this file's vocabulary
namespace asio = boost::asio;

constexpr const char* kLog = "media";
constexpr int kOpusPt = 111;
constexpr int kVp8Pt = 96;
constexpr int kH264Pt = 102;
constexpr int kTelephoneEventPt = 101;

Error media_error(std::string message) { return Error(ErrorCategory::media, std::move(message)); }

bool has_element(const char* factory) {
  GstElementFactory* f = gst_element_factory_find(factory);
  if (f) gst_object_unref(f);
  return f != nullptr;
}

// A numeric stats field whatever integer type this GStreamer version gives it.
std::optional<std::int64_t> int_field(const GstStructure* s, const char* field) {
  const GValue* v = gst_structure_get_value(s, field);
  if (!v) return std::nullopt;
  if (G_VALUE_HOLDS_INT(v)) return g_value_get_int(v);
  if (G_VALUE_HOLDS_UINT(v)) return g_value_get_uint(v);
  if (G_VALUE_HOLDS_INT64(v)) return g_value_get_int64(v);
  if (G_VALUE_HOLDS_UINT64(v)) return static_cast<std::int64_t>(g_value_get_uint64(v));
  return std::nullopt;
}

std::string percent_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// True when an interface other than loopback is up with an IPv4 or IPv6 address.
// libnice asks for a UPnP port mapping of every host candidate and reports gathering done only when that times out
// ("UPnP port mapping timed out", 200 ms): a fixed 200 ms on every offer and answer, so on call setup. SIP media
// needs no UPnP (STUN and TURN cover NAT), so it is turned off on the agent as soon as webrtcbin makes its first
// transport, whose nicesrc carries the agent; webrtcbin gathers only after that.
using PacketCounter = std::shared_ptr<std::atomic<std::uint64_t>>;

// Every nicesrc of a call's pipeline (one per ICE transport, made by webrtcbin): no UPnP on its agent (pitfall:
// the agent would talk to the LAN's gateway), and a count of the packets it receives (RTP, RTCP, DTLS), which
// says whether the media path is alive (libnice 0.1.21 has no consent freshness to say so).
void on_element_added(GstBin* /*bin*/, GstBin* /*sub_bin*/, GstElement* element, gpointer data) {
  GstElementFactory* factory = gst_element_get_factory(element);
  if (!factory) return;
  const gchar* name = gst_plugin_feature_get_name(reinterpret_cast<GstPluginFeature*>(factory));
  if (!name || std::strcmp(name, "nicesrc") != 0) return;
  GObject* agent = nullptr;
  g_object_get(element, "agent", &agent, nullptr);
  if (agent) {
    if (g_object_class_find_property(reinterpret_cast<GObjectClass*>(reinterpret_cast<GTypeInstance*>(agent)->g_class),
                                     "upnp")) {
      g_object_set(agent, "upnp", FALSE, nullptr);
    }
    g_object_unref(agent);
  }
  if (GstPad* src = gst_element_get_static_pad(element, "src")) {
    gst_pad_add_probe(
        src, static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
        +[](GstPad*, GstPadProbeInfo* info, gpointer counter) {
          const guint n = (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST)
                              ? gst_buffer_list_length(GST_PAD_PROBE_INFO_BUFFER_LIST(info))
                              : 1U;
          static_cast<PacketCounter*>(counter)->get()->fetch_add(n, std::memory_order_relaxed);
          return GST_PAD_PROBE_OK;
        },
        new PacketCounter(*static_cast<PacketCounter*>(data)),
        [](gpointer counter) { delete static_cast<PacketCounter*>(counter); });
    gst_object_unref(src);
  }
}

bool has_non_loopback_interface() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return true;
  bool found = false;
  for (ifaddrs* i = list; i && !found; i = i->ifa_next) {
    if (!i->ifa_addr || !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK)) continue;
    found = i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6;
  }
  freeifaddrs(list);
  return found;
}

// Marks the application's sink callbacks (on a streaming thread): close() called from there must not wait for
// the thread it runs on.
class InCallback {
 public:
  InCallback() { depth() += 1; }
  ~InCallback() { depth() -= 1; }
  InCallback(const InCallback&) = delete;
  InCallback& operator=(const InCallback&) = delete;
  static bool active() { return depth() > 0; }

 private:
  static int& depth() {
    thread_local int d = 0;
    return d;
  }
};

// ------------------------------------------------------------------------------------------------ WAV input

struct WavData {
  int rate = 0;
  int channels = 0;
  std::vector<std::int16_t> samples;  // interleaved
};

Result<WavData> read_wav(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return media_error("cannot open the WAV file " + path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto u32 = [&](std::size_t at) {
    std::uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[at + static_cast<std::size_t>(i)]);
    return v;
  };
  auto u16 = [&](std::size_t at) {
    return static_cast<std::uint16_t>(static_cast<unsigned char>(bytes[at]) |
                                      (static_cast<unsigned char>(bytes[at + 1]) << 8));
  };
  if (bytes.size() < 12 || std::memcmp(bytes.data(), "RIFF", 4) != 0 || std::memcmp(bytes.data() + 8, "WAVE", 4) != 0) {
    return media_error(path + " is not a WAV file");
  }
  WavData wav;
  int bits = 0;
  std::size_t at = 12;
  while (at + 8 <= bytes.size()) {
    const std::uint32_t size = u32(at + 4);
    const std::size_t body = at + 8;
    if (body + size > bytes.size() && std::memcmp(bytes.data() + at, "data", 4) != 0) break;
    if (std::memcmp(bytes.data() + at, "fmt ", 4) == 0 && size >= 16) {
      if (u16(body) != 1) return media_error(path + ": only PCM WAV files are supported");
      wav.channels = u16(body + 2);
      wav.rate = static_cast<int>(u32(body + 4));
      bits = u16(body + 14);
    } else if (std::memcmp(bytes.data() + at, "data", 4) == 0) {
      const std::size_t n = std::min<std::size_t>(size, bytes.size() - body) / 2;
      wav.samples.resize(n);
      std::memcpy(wav.samples.data(), bytes.data() + body, n * 2);
      break;
    }
    at = body + size + (size & 1);
  }
  if (bits != 16 || wav.channels < 1 || wav.rate < 1000 || wav.samples.empty()) {
    return media_error(path + ": needs 16-bit PCM audio");
  }
  return wav;
}

// ------------------------------------------------------------------------------------------------ RTP bits

struct RtpHeader {
  bool marker = false;
  int pt = 0;
  std::uint16_t seq = 0;
  std::uint32_t ts = 0;
  std::uint32_t ssrc = 0;
  std::size_t payload_offset = 0;
};

std::optional<RtpHeader> parse_rtp(const std::uint8_t* d, std::size_t n) {
  if (n < 12 || (d[0] >> 6) != 2) return std::nullopt;
  RtpHeader h;
  h.marker = (d[1] & 0x80) != 0;
  h.pt = d[1] & 0x7f;
  h.seq = static_cast<std::uint16_t>((d[2] << 8) | d[3]);
  h.ts = (std::uint32_t{d[4]} << 24) | (std::uint32_t{d[5]} << 16) | (std::uint32_t{d[6]} << 8) | d[7];
  h.ssrc = (std::uint32_t{d[8]} << 24) | (std::uint32_t{d[9]} << 16) | (std::uint32_t{d[10]} << 8) | d[11];
  std::size_t off = 12 + 4 * static_cast<std::size_t>(d[0] & 0x0f);
  if ((d[0] & 0x10) && off + 4 <= n) off += 4 + 4 * static_cast<std::size_t>((d[off + 2] << 8) | d[off + 3]);
  if (d[0] & 0x20) {
    const std::size_t pad = d[n - 1];
    if (pad > n) return std::nullopt;
    n -= pad;
  }
  if (off > n) return std::nullopt;
  h.payload_offset = off;
  return h;
}

char dtmf_char(int event) {
  static constexpr char kTones[] = "0123456789*#ABCD";
  return event >= 0 && event < 16 ? kTones[event] : 0;
}
int dtmf_event(char tone) {
  static constexpr std::string_view kTones = "0123456789*#ABCD";
  const auto i = kTones.find(static_cast<char>(std::toupper(static_cast<unsigned char>(tone))));
  return i == std::string_view::npos ? -1 : static_cast<int>(i);
}

const char* ice_state_name(GstWebRTCICEConnectionState s) {
  switch (s) {
    case GST_WEBRTC_ICE_CONNECTION_STATE_NEW:
      return "new";
    case GST_WEBRTC_ICE_CONNECTION_STATE_CHECKING:
      return "checking";
    case GST_WEBRTC_ICE_CONNECTION_STATE_CONNECTED:
      return "connected";
    case GST_WEBRTC_ICE_CONNECTION_STATE_COMPLETED:
      return "completed";
    case GST_WEBRTC_ICE_CONNECTION_STATE_FAILED:
      return "failed";
    case GST_WEBRTC_ICE_CONNECTION_STATE_DISCONNECTED:
      return "disconnected";
    case GST_WEBRTC_ICE_CONNECTION_STATE_CLOSED:
      return "closed";
  }
  return "new";
}

// A promise reply's error, if any.
std::optional<std::string> promise_error(GstPromise* promise) {
  if (gst_promise_wait(promise) != GST_PROMISE_RESULT_REPLIED) return std::string("no reply from webrtcbin");
  const GstStructure* reply = gst_promise_get_reply(promise);
  if (reply && gst_structure_has_field(reply, "error")) {
    GError* e = nullptr;
    gst_structure_get(reply, "error", G_TYPE_ERROR, &e, nullptr);
    std::string why = e ? e->message : "unknown error";
    if (e) g_error_free(e);
    return why;
  }
  return std::nullopt;
}

// ------------------------------------------------------------------------------------------------ the call

struct VideoCodec {
  std::string name;  // "VP8" or "H264"
  int pt = 0;
  std::string fmtp;
};

struct SendBranch {
  GstElement* source = nullptr;  // swappable (set_*_source)
  GstElement* chain = nullptr;   // convert ! encode ! pay
  GstPad* webrtc_pad = nullptr;  // webrtcbin sink_N (ref held)
  int mline = -1;
  std::string codec;
  int pt = -1;
};

struct RecvBranch {
  GstElement* bin = nullptr;     // depay ! decode ! convert ! caps
  GstElement* volume = nullptr;  // audio only
  GstElement* sink = nullptr;    // swappable (set_audio_sink)
  GstElement* wavenc = nullptr;  // when the sink writes a WAV file
  std::string codec;
  std::optional<guint> ssrc;  // the peer's, for the statistics
};

struct DtmfJob {
  int event = 0;
  std::chrono::milliseconds duration{100};
};

class Call : public std::enable_shared_from_this<Call> {
 public:
  Call(Runtime& runtime, MediaOptions options, bool video)
      : runtime_(runtime),
        options_(std::move(options)),
        video_wanted_(video),
        gather_timer_(std::in_place, runtime.executor()),
        check_timer_(std::in_place, runtime.executor()) {
    audio_sink_options_ = options_.audio_sink;
    audio_source_ = options_.audio_source;
    video_source_ = options_.video_source;
  }

  Result<void> build();
  void close();

  // sip::MediaSession
  void create_offer(sip::MediaSession::SdpCallback done);
  void create_answer(std::string remote_offer, sip::MediaSession::SdpCallback done);
  Result<void> set_remote_answer(std::string sdp);

  void set_local_direction(Direction d);
  Direction local_direction() const {
    std::lock_guard lock(mutex_);
    return local_direction_;
  }
  Direction negotiated_direction() const {
    std::lock_guard lock(mutex_);
    return audio_mline_ >= 0 ? mline_dir(audio_mline_) : Direction::inactive;
  }
  void set_audio_muted(bool muted) {
    audio_muted_ = muted;
    refresh_gates();
  }
  bool audio_muted() const { return audio_muted_; }
  void set_camera_enabled(bool enabled);
  bool camera_enabled() const { return camera_enabled_; }
  void set_video_wanted(bool wanted) {
    std::lock_guard lock(mutex_);
    video_wanted_ = wanted;
  }
  bool has_video() const {
    std::lock_guard lock(mutex_);
    return video_mline_ >= 0 && video_active_ && mline_dir(video_mline_) != Direction::inactive;
  }
  Result<void> send_dtmf(char tone, std::chrono::milliseconds duration);
  bool dtmf_supported() const { return te_send_pt_ >= 0; }
  std::uint64_t packets_received() const { return packets_in_->load(std::memory_order_relaxed); }
  void request_ice_restart() {
    std::lock_guard lock(mutex_);
    ice_restart_ = true;
  }
  Result<void> set_audio_source(AudioSource source);
  Result<void> set_video_source(VideoSource source);
  Result<void> set_audio_sink(AudioSink sink);
  void set_output_volume(double volume);
  CallStats stats() const;
  void set_bridge(std::shared_ptr<AudioBridge> bridge);
  bool bridged() const { return bridged_; }
  Emitter& emitter() { return emitter_; }

 private:
  using SdpCallback = sip::MediaSession::SdpCallback;

  // ---- negotiation (I/O thread)
  void start_offer(SdpCallback done);
  void after_remote_offer(std::vector<std::string> offered_kinds);
  void on_description_created(GstPromise* promise, bool offer);
  void set_local(GstWebRTCSessionDescription* desc);
  Result<void> with_new_ice_credentials(GstWebRTCSessionDescription* desc);
  void after_local_set();
  void check_gathering();
  void finish_local();
  void fail_pending(Error e);
  void start_ice_check_timer();

  // ---- branches
  Result<GstElement*> make_audio_source(const AudioSource& s);
  Result<GstElement*> make_video_source(const VideoSource& s);
  Result<GstElement*> make_audio_sink(const AudioSink& s, GstElement** wavenc);
  Result<void> link_send(Kind kind, int mline, int pt, const std::string& codec, const std::string& fmtp);
  // Replaces the source of an outgoing stream; before there is one, only remembers it (`remember`, called under
  // the lock either way) for when the stream is linked.
  Result<void> swap_source(Kind kind, GstElement* replacement, const std::function<void()>& remember);
  void on_webrtc_pad(GstPad* pad);
  void on_rtpbin_pad(GstPad* pad);
  void refresh_gates();
  Direction mline_dir(int mline) const;  // under mutex_
  Ref<GstElement> webrtc() const;
  template <class Event>
  void post_event(Event e) {
    runtime_.post([self = shared_from_this(), e = std::move(e)] { self->emitter_.emit(e); });
  }

  // ---- pad probes and webrtcbin signals (static: GLib calls them with the shared state as user data)
  static GstPadProbeReturn send_probe(GstPad* pad, GstPadProbeInfo* info, gpointer data);
  static GstPadProbeReturn recv_gate_probe(GstPad* pad, GstPadProbeInfo* info, gpointer data);
  static GstPadProbeReturn decoded_probe(GstPad* pad, GstPadProbeInfo* info, gpointer data);
  static GstPadProbeReturn dtmf_receive_probe(GstPad* pad, GstPadProbeInfo* info, gpointer data);
  static GstPadProbeReturn mix_probe(GstPad* pad, GstPadProbeInfo* info, gpointer data);
  GstPadProbeReturn on_send_buffer(Kind kind, GstPadProbeInfo* info);
  bool on_incoming_rtp(GstBuffer* buffer);  // true: a telephone-event packet, consumed
  void on_decoded(Kind kind, GstBuffer* buffer);

  Runtime& runtime_;
  const MediaOptions options_;
  Emitter emitter_;

  mutable std::mutex mutex_;
  GstElement* pipeline_ = nullptr;  // owned until close()
  // webrtcdsp's far-end reference: in the incoming audio path ahead of any sink, made with the pipeline when the
  // call starts on a microphone with echo cancellation (webrtcdsp looks its probe up by name when it starts, and
  // a probe serves one dsp: the name is the call's own). Null otherwise.
  GstElement* echo_probe_ = nullptr;
  std::string echo_probe_name_;
  GstElement* webrtc_ = nullptr;  // owned until close()
  bool closed_ = false;

  // Negotiation state, under mutex_.
  Direction local_direction_ = Direction::sendrecv;
  bool video_wanted_ = false;
  bool video_active_ = false;         // the last SDP we sent has an active video m-line
  bool ice_restart_ = false;          // asked for: our next offer restarts ICE
  bool new_ice_credentials_ = false;  // the next local description gets a new ufrag and pwd
  std::string remote_ufrag_;          // the peer's, from its last description: a change is its ICE restart
  int audio_mline_ = -1;
  int video_mline_ = -1;
  std::map<int, Direction> remote_dirs_;      // the peer's direction per m-line (its point of view)
  std::map<int, Direction> negotiated_dirs_;  // ours, per m-line, after the last complete exchange
  std::map<int, Direction> offered_dirs_;     // what our pending offer said
  SdpCallback pending_;
  bool pending_offer_ = false;
  bool awaiting_gathering_ = false;
  bool last_local_was_offer_ = false;
  std::optional<sdp::Rtpmap> remote_te_;  // the peer's telephone-event in its offer
  std::string remote_offer_text_;
  SendBranch audio_send_, video_send_;
  RecvBranch audio_recv_, video_recv_;
  AudioSink audio_sink_options_;
  AudioSource audio_source_;  // what the outgoing streams use (set_*_source changes them), under mutex_
  VideoSource video_source_;
  // I/O thread only; reset there by close() so that no timer outlives the Runtime with a Call kept alive elsewhere.
  std::optional<asio::steady_timer> gather_timer_;
  std::optional<asio::steady_timer> check_timer_;

  std::mutex candidates_mutex_;
  std::map<unsigned, std::vector<std::string>> candidates_;

  // Read by pad probes.
  std::atomic<bool> audio_muted_{false};
  std::atomic<bool> camera_enabled_{true};
  std::atomic<bool> audio_send_ok_{true}, video_send_ok_{true};
  std::atomic<bool> audio_recv_ok_{true}, video_recv_ok_{true};
  std::atomic<int> te_send_pt_{-1}, te_send_clock_{8000}, te_recv_pt_{-1}, te_recv_clock_{8000};
  std::atomic<std::uint64_t> audio_decoded_{0}, video_decoded_{0}, audio_encoded_{0}, video_encoded_{0};
  std::atomic<double> level_{0};
  PacketCounter packets_in_ = std::make_shared<std::atomic<std::uint64_t>>(0);  // what the nicesrcs received
  std::atomic<bool> audio_track_seen_{false}, video_track_seen_{false};
  std::atomic<bool> connected_{false};
  // The ad hoc conference this call is a member of (set_bridge); read by the decode and encode threads.
  std::atomic<bool> bridged_{false};
  mutable std::mutex bridge_mutex_;
  std::shared_ptr<AudioBridge> bridge_;
  AudioBridge::MemberId member_ = 0;
  // Only touched by the audio decode thread.
  double level_sum_ = 0;
  std::uint64_t level_count_ = 0;

  // DTMF sending, from the audio send probe.
  std::mutex dtmf_mutex_;
  std::deque<DtmfJob> dtmf_queue_;
  struct ActiveDtmf {
    DtmfJob job;
    std::uint32_t ts = 0;
    std::uint64_t elapsed_ns = 0;
    int end_sent = 0;
    bool first = true;
  };
  std::optional<ActiveDtmf> dtmf_active_;
  int dtmf_gap_ = 0;  // buffers of audio between two digits
  // DTMF receiving, from the rtpbin input probe.
  std::mutex dtmf_rx_mutex_;
  std::optional<std::uint32_t> dtmf_rx_last_ts_;

  mutable std::mutex stats_mutex_;
  mutable CallStats last_stats_;
};

Ref<GstElement> Call::webrtc() const {
  std::lock_guard lock(mutex_);
  if (closed_ || !webrtc_) return Ref<GstElement>();
  return Ref<GstElement>(static_cast<GstElement*>(gst_object_ref(webrtc_)));
}

Direction Call::mline_dir(int mline) const {
  if (auto it = negotiated_dirs_.find(mline); it != negotiated_dirs_.end()) return it->second;
  return local_direction_;
}

void Call::refresh_gates() {
  std::lock_guard lock(mutex_);
  const auto gate = [&](int mline, bool& send, bool& recv) {
    const Direction d = mline >= 0 ? mline_dir(mline) : local_direction_;
    // Nothing goes out before the first answer: the peer may still refuse the stream (and RTP sent before ICE
    // is up would only be counted, never delivered).
    const bool negotiated = mline >= 0 && negotiated_dirs_.count(mline) > 0;
    send = negotiated && sdp::has_send(d) && sdp::has_send(local_direction_);
    recv = sdp::has_recv(d) && sdp::has_recv(local_direction_);
  };
  bool send = false, recv = false;
  gate(audio_mline_, send, recv);
  // Bridged, a muted call still carries the other members' audio (the mix probe silences our own source).
  audio_send_ok_ = send && (!audio_muted_ || bridged_);
  audio_recv_ok_ = recv;
  gate(video_mline_, send, recv);
  video_send_ok_ = send && camera_enabled_ && video_active_;
  video_recv_ok_ = recv && video_active_;
}

// ------------------------------------------------------------------------------------------------ build

Result<void> Call::build() {
  auto self = shared_from_this();
  pipeline_ = gst_pipeline_new(nullptr);  // pitfall 8: a pipeline of our own, not gst_parse_launch
  gst_object_ref_sink(pipeline_);
  // The system clock, always: a microphone or speaker would otherwise become the pipeline's clock, which stands
  // still until the device delivers (stalling every source and timer of the call) and is lost when the device is
  // switched during the call. Devices follow the system clock by resampling (their default slaving).
  {
    GstClock* clock = gst_system_clock_obtain();
    gst_pipeline_use_clock(GST_PIPELINE(pipeline_), clock);
    gst_object_unref(clock);
  }
  g_signal_connect_data(
      pipeline_, "deep-element-added", reinterpret_cast<GCallback>(&on_element_added), new PacketCounter(packets_in_),
      +[](gpointer counter, GClosure*) { delete static_cast<PacketCounter*>(counter); }, GConnectFlags{});
  webrtc_ = make_element("webrtcbin", "webrtc");
  if (!webrtc_) return media_error("the GStreamer element webrtcbin is missing (gstreamer1.0-plugins-bad)");
  gst_object_ref(webrtc_);
  gst_bin_add(as_bin(pipeline_), webrtc_);
  if (options_.echo_cancellation && options_.audio_source.type == AudioSource::Type::device &&
      has_element("webrtcechoprobe")) {
    static std::atomic<unsigned> probes{0};
    echo_probe_name_ = "wazo-echo-probe-" + std::to_string(++probes);
    echo_probe_ = make_element("webrtcechoprobe", echo_probe_name_.c_str());
    if (echo_probe_) gst_bin_add(as_bin(pipeline_), echo_probe_);  // linked when incoming audio comes
  }
  // Pitfall 9: max-bundle writes later m-lines as port 0 + bundle-only, which SIP peers read as rejected.
  gst_util_set_object_arg(as_object(webrtc_), "bundle-policy", "max-compat");
  g_object_set(webrtc_, "latency", 100, nullptr);
  if (options_.ice_transport_policy == IceTransportPolicy::relay) {
    gst_util_set_object_arg(as_object(webrtc_), "ice-transport-policy", "relay");
  }
  {
    std::vector<std::string> addresses = options_.ice_local_addresses;
    if (addresses.empty() && !has_non_loopback_interface()) addresses.emplace_back("127.0.0.1");
    GObject* ice = nullptr;
    g_object_get(webrtc_, "ice-agent", &ice, nullptr);
    for (const auto& address : addresses) {
      gboolean added = FALSE;
      if (ice) g_signal_emit_by_name(ice, "add-local-ip-address", address.c_str(), &added);
      if (!added) return Error(ErrorCategory::invalid_argument, "ICE cannot use the local address " + address);
    }
    if (ice) g_object_unref(ice);
  }
  for (const auto& server : options_.ice_servers) {
    for (const auto& url : server.urls) {
      const auto colon = url.find(':');
      if (colon == std::string::npos) return Error(ErrorCategory::invalid_argument, "bad ICE server URL: " + url);
      const std::string scheme = url.substr(0, colon);
      std::string rest = url.substr(colon + 1);
      while (rest.starts_with("/")) rest.erase(0, 1);
      if (scheme == "stun") {
        const std::string stun = "stun://" + rest.substr(0, rest.find('?'));
        g_object_set(webrtc_, "stun-server", stun.c_str(), nullptr);
      } else if (scheme == "turn" || scheme == "turns") {
        const std::string turn =
            scheme + "://" + percent_encode(server.username) + ":" + percent_encode(server.credential) + "@" + rest;
        gboolean added = FALSE;
        g_signal_emit_by_name(webrtc_, "add-turn-server", turn.c_str(), &added);
        if (!added) return Error(ErrorCategory::invalid_argument, "webrtcbin refused the TURN server " + url);
      } else {
        return Error(ErrorCategory::invalid_argument, "unknown ICE server scheme: " + url);
      }
    }
  }

  connect_shared(
      webrtc_, "on-ice-candidate",
      +[](GstElement*, guint mline, gchar* candidate, gpointer data) {
        auto& call = shared_from_data<Call>(data);
        std::lock_guard lock(call.candidates_mutex_);
        call.candidates_[mline].emplace_back(candidate);
      },
      self);
  connect_shared(
      webrtc_, "notify::ice-gathering-state",
      +[](GstElement*, GParamSpec*, gpointer data) {
        auto call = shared_from_data<Call>(data).shared_from_this();
        call->runtime_.post([call] { call->check_gathering(); });
      },
      self);
  connect_shared(
      webrtc_, "notify::ice-connection-state",
      +[](GstElement*, GParamSpec*, gpointer data) {
        auto call = shared_from_data<Call>(data).shared_from_this();
        call->runtime_.post([call] {
          auto w = call->webrtc();
          if (!w) return;
          GstWebRTCICEConnectionState s = GST_WEBRTC_ICE_CONNECTION_STATE_NEW;
          g_object_get(w.get(), "ice-connection-state", &s, nullptr);
          call->emitter_.emit(IceStateChanged{ice_state_name(s)});
        });
      },
      self);
  connect_shared(
      webrtc_, "notify::connection-state",
      +[](GstElement*, GParamSpec*, gpointer data) {
        auto call = shared_from_data<Call>(data).shared_from_this();
        call->runtime_.post([call] {
          auto w = call->webrtc();
          if (!w) return;
          GstWebRTCPeerConnectionState s = GST_WEBRTC_PEER_CONNECTION_STATE_NEW;
          g_object_get(w.get(), "connection-state", &s, nullptr);
          const bool up = s == GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED;
          if (up && !call->connected_.exchange(true)) call->emitter_.emit(MediaConnected{});
          if (!up) call->connected_ = false;
        });
      },
      self);
  connect_shared(
      webrtc_, "pad-added",
      +[](GstElement*, GstPad* pad, gpointer data) { shared_from_data<Call>(data).on_webrtc_pad(pad); }, self);
  // Incoming telephone-events are taken out before rtpbin: its payload demuxer would open a pad for them that
  // webrtcbin 1.22 leaves unlinked.
  if (GstElement* rtpbin = gst_bin_get_by_name(as_bin(webrtc_), "rtpbin")) {
    connect_shared(
        rtpbin, "pad-added",
        +[](GstElement*, GstPad* pad, gpointer data) { shared_from_data<Call>(data).on_rtpbin_pad(pad); }, self);
    gst_object_unref(rtpbin);
  }

  GstBus* bus = gst_pipeline_get_bus(reinterpret_cast<GstPipeline*>(pipeline_));
  gst_bus_set_sync_handler(
      bus,
      +[](GstBus*, GstMessage* message, gpointer data) -> GstBusSyncReply {
        if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR) {
          GError* e = nullptr;
          gchar* debug = nullptr;
          gst_message_parse_error(message, &e, &debug);
          std::string text = std::string(GST_OBJECT_NAME(message->src)) + ": " + (e ? e->message : "error");
          auto& call = shared_from_data<Call>(data);
          call.runtime_.logger().warn(kLog, text + (debug ? std::string(" (") + debug + ")" : ""));
          if (e) g_error_free(e);
          g_free(debug);
          call.post_event(MediaError{media_error(text)});
        }
        // No bus watch: nothing may pile up on the bus. A dropped message is ours to unref (it holds its source).
        gst_message_unref(message);
        return GST_BUS_DROP;
      },
      new std::shared_ptr<Call>(self), shared_deleter<Call>());
  gst_object_unref(bus);

  if (gst_element_set_state(pipeline_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    return media_error("the call's pipeline did not start");
  }
  return {};
}

void Call::close() {
  if (InCallback::active()) {
    // Stopping the pipeline from one of its own streaming threads would wait for that thread: do it from the
    // I/O thread instead.
    runtime_.post([self = shared_from_this()] { self->close(); });
    return;
  }
  // The figures as the call ends: stats() of a closed call gives them (a call's summary, a CLI's last line).
  if (webrtc()) (void)stats();
  GstElement* pipeline = nullptr;
  GstElement* webrtc = nullptr;
  GstElement* wavenc = nullptr;
  std::vector<GstPad*> pads;
  SdpCallback pending;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = true;
    pipeline = std::exchange(pipeline_, nullptr);
    webrtc = std::exchange(webrtc_, nullptr);
    wavenc = audio_recv_.wavenc;
    for (auto* b : {&audio_send_, &video_send_}) {
      if (b->webrtc_pad) pads.push_back(std::exchange(b->webrtc_pad, nullptr));
    }
    // The codec names stay: statistics read while the call closes (or after) still name them.
    audio_recv_ = RecvBranch{.codec = audio_recv_.codec};
    video_recv_ = RecvBranch{.codec = video_recv_.codec};
    audio_send_ = SendBranch{.codec = audio_send_.codec};
    video_send_ = SendBranch{.codec = video_send_.codec};
    pending = std::move(pending_);
    pending_ = nullptr;
  }
  // A WAV file gets its final header from wavenc's EOS handling, done synchronously here.
  if (wavenc) {
    if (GstPad* sink = gst_element_get_static_pad(wavenc, "sink")) {
      gst_pad_send_event(sink, gst_event_new_eos());
      gst_object_unref(sink);
    }
  }
  if (pipeline) gst_element_set_state(pipeline, GST_STATE_NULL);
  set_bridge(nullptr);
  for (auto* p : pads) gst_object_unref(p);
  if (webrtc) gst_object_unref(webrtc);
  if (pipeline) gst_object_unref(pipeline);
  auto self = shared_from_this();
  runtime_.post([self, pending = std::move(pending)] {
    self->gather_timer_.reset();
    self->check_timer_.reset();
    if (pending) pending(Error(ErrorCategory::cancelled, "the call's media was closed"));
  });
}

// ------------------------------------------------------------------------------------------------ sources/sinks

Result<GstElement*> Call::make_audio_source(const AudioSource& s) {
  GstElement* bin = gst_bin_new(nullptr);
  GstElement* last = nullptr;
  auto add = [&](GstElement* e) {
    gst_bin_add(as_bin(bin), e);
    if (last) gst_element_link(last, e);
    last = e;
  };
  switch (s.type) {
    case AudioSource::Type::none:
    case AudioSource::Type::tone: {
      GstElement* src = make_element("audiotestsrc");
      g_object_set(src, "is-live", TRUE, nullptr);
      if (s.type == AudioSource::Type::none) {
        gst_util_set_object_arg(as_object(src), "wave", "silence");
      } else {
        g_object_set(src, "freq", s.frequency, "volume", std::clamp(s.volume, 0.0, 1.0), nullptr);
      }
      // 48 kHz mono in 20 ms buffers, what Opus encodes: no resampling, one frame per buffer (the defaults,
      // 44.1 kHz stereo in 1024-sample buffers, cost a resampler and a stereo encode on every call).
      g_object_set(src, "samplesperbuffer", 960, nullptr);
      add(src);
      GstElement* caps = make_element("capsfilter");
      GstCaps* raw = gst_caps_from_string("audio/x-raw,rate=48000,channels=1");
      g_object_set(caps, "caps", raw, nullptr);
      gst_caps_unref(raw);
      add(caps);
      break;
    }
    case AudioSource::Type::wav_file: {
      auto wav = read_wav(s.path);
      if (!wav) {
        gst_object_unref(bin);
        return std::move(wav).error();
      }
      GstElement* src = make_element("appsrc");
      GstCaps* caps =
          gst_caps_new_simple("audio/x-raw", "format", G_TYPE_STRING, "S16LE", "layout", G_TYPE_STRING, "interleaved",
                              "rate", G_TYPE_INT, wav->rate, "channels", G_TYPE_INT, wav->channels, nullptr);
      g_object_set(src, "caps", caps, "format", GST_FORMAT_TIME, "is-live", TRUE, nullptr);
      gst_caps_unref(caps);
      // The file is read once; need-data hands out 20 ms chunks stamped in running time, and clocksync paces them.
      struct Feeder {
        WavData wav;
        bool loop = true;
        std::size_t pos = 0;
        std::uint64_t sent_frames = 0;
        std::optional<GstClockTime> base;
      };
      auto* feeder = new Feeder{std::move(*wav), s.loop, 0, 0, std::nullopt};
      GstAppSrcCallbacks callbacks{};
      callbacks.need_data = +[](GstAppSrc* appsrc, guint, gpointer data) {
        auto& f = *static_cast<Feeder*>(data);
        auto* element = reinterpret_cast<GstElement*>(appsrc);
        if (!f.base) {
          const GstClockTime now = gst_element_get_current_running_time(element);
          f.base = now == GST_CLOCK_TIME_NONE ? 0 : now;
        }
        const std::size_t ch = static_cast<std::size_t>(f.wav.channels);
        const std::size_t frames = static_cast<std::size_t>(f.wav.rate) / 50;
        GstBuffer* buffer = gst_buffer_new_allocate(nullptr, frames * ch * 2, nullptr);
        GstMapInfo map;
        gst_buffer_map(buffer, &map, GST_MAP_WRITE);
        auto* out = reinterpret_cast<std::int16_t*>(map.data);
        for (std::size_t i = 0; i < frames * ch; ++i) {
          if (f.pos >= f.wav.samples.size() && f.loop) f.pos = 0;
          out[i] = f.pos < f.wav.samples.size() ? f.wav.samples[f.pos++] : 0;  // silence after the end
        }
        gst_buffer_unmap(buffer, &map);
        buffer->pts = *f.base + gst_util_uint64_scale(f.sent_frames, GST_SECOND, static_cast<guint64>(f.wav.rate));
        buffer->duration = gst_util_uint64_scale(frames, GST_SECOND, static_cast<guint64>(f.wav.rate));
        f.sent_frames += frames;
        gst_app_src_push_buffer(appsrc, buffer);
      };
      gst_app_src_set_callbacks(reinterpret_cast<GstAppSrc*>(src), &callbacks, feeder,
                                [](gpointer d) { delete static_cast<Feeder*>(d); });
      g_object_set(src, "max-bytes", guint64{static_cast<guint64>(feeder->wav.rate) * feeder->wav.channels / 5},
                   nullptr);
      add(src);
      GstElement* sync = make_element("clocksync");
      if (!sync) sync = make_element("identity");
      g_object_set(sync, "sync", TRUE, nullptr);
      add(sync);
      break;
    }
    case AudioSource::Type::device: {
      GstElement* src = s.device_id.empty() ? make_element("autoaudiosrc")
                                            : create_device_element(Device::Kind::audio_input, s.device_id);
      if (!src) {
        gst_object_unref(bin);
        return media_error("no microphone " + (s.device_id.empty() ? std::string("(default)") : s.device_id));
      }
      add(src);
      if (options_.echo_cancellation || options_.noise_suppression) {
        GstElement* dsp = make_element("webrtcdsp");
        if (dsp) {
          add(make_element("audioconvert"));
          add(make_element("audioresample"));
          // Without a probe (echo cancellation off, or a call that started on another source) the dsp only
          // suppresses noise: webrtcdsp fails to start when its probe is missing.
          const bool aec = options_.echo_cancellation && echo_probe_ != nullptr;
          if (options_.echo_cancellation && !aec) {
            runtime_.logger().info(kLog, "no echo cancellation for a microphone chosen during the call");
          }
          g_object_set(dsp, "echo-cancel", aec ? TRUE : FALSE, "noise-suppression",
                       options_.noise_suppression ? TRUE : FALSE, nullptr);
          if (aec) g_object_set(dsp, "probe", echo_probe_name_.c_str(), nullptr);
          add(dsp);
        }
      }
      break;
    }
  }
  GstPad* src_pad = gst_element_get_static_pad(last, "src");
  gst_element_add_pad(bin, gst_ghost_pad_new("src", src_pad));
  gst_object_unref(src_pad);
  return bin;
}

Result<GstElement*> Call::make_video_source(const VideoSource& s) {
  GstElement* src = nullptr;
  switch (s.type) {
    case VideoSource::Type::none:
      src = make_element("videotestsrc");
      gst_util_set_object_arg(as_object(src), "pattern", "black");
      g_object_set(src, "is-live", TRUE, nullptr);
      break;
    case VideoSource::Type::test_pattern:
      src = make_element("videotestsrc");
      gst_util_set_object_arg(as_object(src), "pattern", "ball");
      g_object_set(src, "is-live", TRUE, nullptr);
      break;
    case VideoSource::Type::device:
      src = s.device_id.empty() ? nullptr : create_device_element(Device::Kind::video_input, s.device_id);
      if (!src && s.device_id.empty() && g_file_test("/dev/video0", G_FILE_TEST_EXISTS)) src = make_element("v4l2src");
      if (!src) {
        return media_error("no camera " + (s.device_id.empty() ? std::string("(default)") : s.device_id));
      }
      break;
    case VideoSource::Type::screen: {
      const char* display = std::getenv("DISPLAY");
      if (!display || !*display) return media_error("screen sharing needs an X11 display (DISPLAY is not set)");
      src = make_element("ximagesrc");
      if (!src) return media_error("the GStreamer element ximagesrc is missing (gstreamer1.0-plugins-good)");
      g_object_set(src, "use-damage", FALSE, nullptr);
      break;
    }
  }
  return src;
}

Result<GstElement*> Call::make_audio_sink(const AudioSink& s, GstElement** wavenc) {
  *wavenc = nullptr;
  switch (s.type) {
    case AudioSink::Type::none: {
      GstElement* sink = make_element("fakesink");
      g_object_set(sink, "sync", FALSE, "async", FALSE, nullptr);
      return sink;
    }
    case AudioSink::Type::callback: {
      GstElement* sink = make_element("appsink");
      g_object_set(sink, "sync", FALSE, "async", FALSE, "max-buffers", 20u, "drop", TRUE, nullptr);
      auto* handler = new std::function<void(const AudioFrame&)>(s.on_frame);
      GstAppSinkCallbacks callbacks{};
      callbacks.new_sample = +[](GstAppSink* appsink, gpointer data) -> GstFlowReturn {
        GstSample* sample = gst_app_sink_pull_sample(appsink);
        if (!sample) return GST_FLOW_OK;
        auto& fn = *static_cast<std::function<void(const AudioFrame&)>*>(data);
        GstBuffer* buffer = gst_sample_get_buffer(sample);
        GstMapInfo map;
        if (fn && buffer && gst_buffer_map(buffer, &map, GST_MAP_READ)) {
          AudioFrame frame;
          frame.samples = reinterpret_cast<const std::int16_t*>(map.data);
          frame.frames = map.size / 2;
          frame.pts = std::chrono::nanoseconds(buffer->pts == GST_CLOCK_TIME_NONE ? 0 : buffer->pts);
          const InCallback in_callback;
          fn(frame);
          gst_buffer_unmap(buffer, &map);
        }
        gst_sample_unref(sample);
        return GST_FLOW_OK;
      };
      gst_app_sink_set_callbacks(reinterpret_cast<GstAppSink*>(sink), &callbacks, handler,
                                 [](gpointer d) { delete static_cast<std::function<void(const AudioFrame&)>*>(d); });
      return sink;
    }
    case AudioSink::Type::wav_file: {
      if (s.path.empty()) return Error(ErrorCategory::invalid_argument, "the WAV sink needs a path");
      GstElement* bin = gst_bin_new(nullptr);
      GstElement* enc = make_element("wavenc");
      GstElement* file = make_element("filesink");
      g_object_set(file, "location", s.path.c_str(), "sync", FALSE, "async", FALSE, nullptr);
      gst_bin_add_many(as_bin(bin), enc, file, nullptr);
      gst_element_link(enc, file);
      GstPad* pad = gst_element_get_static_pad(enc, "sink");
      gst_element_add_pad(bin, gst_ghost_pad_new("sink", pad));
      gst_object_unref(pad);
      *wavenc = enc;
      return bin;
    }
    case AudioSink::Type::device: {
      GstElement* sink = s.device_id.empty() ? make_element("autoaudiosink")
                                             : create_device_element(Device::Kind::audio_output, s.device_id);
      if (!sink) return media_error("no speaker " + (s.device_id.empty() ? std::string("(default)") : s.device_id));
      // The device's own format (channels, rate) from the call's 48 kHz mono.
      GstElement* bin = gst_bin_new(nullptr);
      GstElement* convert = make_element("audioconvert");
      GstElement* resample = make_element("audioresample");
      gst_bin_add_many(as_bin(bin), convert, resample, sink, nullptr);
      gst_element_link_many(convert, resample, sink, nullptr);
      GstPad* pad = gst_element_get_static_pad(convert, "sink");
      gst_element_add_pad(bin, gst_ghost_pad_new("sink", pad));
      gst_object_unref(pad);
      return bin;
    }
  }
  return media_error("unknown audio sink");
}

// Every audio send chain starts with our source as 48 kHz mono S16, where a conference's mix is added (mix_probe).
constexpr const char* kMixPoint =
    "audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate=48000,channels=1,layout=interleaved ! identity "
    "name=mix";

// Links an encoder branch to webrtcbin's sink_<mline> (pitfall 2: after the remote offer, with its payload type).
Result<void> Call::link_send(Kind kind, int mline, int pt, const std::string& codec, const std::string& fmtp) {
  auto w = webrtc();
  if (!w) return Error(ErrorCategory::cancelled, "the call's media was closed");
  AudioSource audio_source;
  VideoSource video_source;
  {
    std::lock_guard lock(mutex_);
    audio_source = audio_source_;
    video_source = video_source_;
  }
  std::string chain;
  if (kind == Kind::audio && (codec == "PCMU" || codec == "PCMA")) {
    // G.711 for offers without Opus (an Asterisk or gateway that offers only PCMU/PCMA).
    const bool ulaw = codec == "PCMU";
    chain = std::string(kMixPoint) +
            " ! audioresample ! audio/x-raw,rate=8000,channels=1 ! queue max-size-time=100000000 leaky=downstream ! " +
            (ulaw ? "mulawenc ! rtppcmupay" : "alawenc ! rtppcmapay") + " pt=" + std::to_string(pt) +
            " ! capsfilter caps=\"application/x-rtp,media=audio,encoding-name=" + codec +
            ",payload=" + std::to_string(pt) + ",clock-rate=8000\"";
  } else if (kind == Kind::audio) {
    // Pitfall 5: encoding-params=2, or webrtcbin writes OPUS/48000 without the channel count.
    // No queue before the encoder: the source is live and has its own thread already (one hop less per buffer).
    chain = std::string(kMixPoint) +
            " ! opusenc complexity=" + std::to_string(std::clamp(options_.audio_complexity, 0, 10)) +
            " bitrate=" + std::to_string(options_.audio_bitrate) + " ! rtpopuspay pt=" + std::to_string(pt) +
            " ! capsfilter caps=\"application/x-rtp,media=audio,encoding-name=OPUS,payload=" + std::to_string(pt) +
            ",clock-rate=48000,encoding-params=(string)2,minptime=(string)10,useinbandfec=(string)1\"";
  } else {
    const auto& v = video_source;
    const std::string raw =
        "videoconvert ! videoscale ! videorate ! video/x-raw,format=I420,width=" + std::to_string(v.width) +
        ",height=" + std::to_string(v.height) + ",framerate=" + std::to_string(v.fps) +
        "/1 ! queue max-size-buffers=2 leaky=downstream";
    if (codec == "H264") {
      chain = raw + " ! openh264enc bitrate=" + std::to_string(options_.video_bitrate) +
              " complexity=low gop-size=60 ! video/x-h264,profile=constrained-baseline ! h264parse ! rtph264pay "
              "config-interval=-1 aggregate-mode=zero-latency pt=" +
              std::to_string(pt) +
              " ! capsfilter caps=\"application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload=" +
              std::to_string(pt) + ",packetization-mode=(string)1\"";
    } else {
      // One encoder thread up to 640x480: libvpx's worker threads busy-wait on each other, and on a machine whose
      // cores are taken (two calls, or the peer on the same box) that spinning took 60-100 % of a core instead of
      // ~30 %. Larger frames get a second thread.
      const int threads = v.width * v.height > 640 * 480 ? 2 : 1;
      chain = raw + " ! vp8enc deadline=1 cpu-used=8 threads=" + std::to_string(threads) +
              " keyframe-max-dist=60 error-resilient=partitions " +
              "target-bitrate=" + std::to_string(options_.video_bitrate) +
              " ! rtpvp8pay picture-id-mode=15-bit pt=" + std::to_string(pt) +
              " ! capsfilter caps=\"application/x-rtp,media=video,encoding-name=VP8,clock-rate=90000,payload=" +
              std::to_string(pt) + "\"";
    }
  }
  (void)fmtp;
  auto chain_bin = parse_bin(chain);
  if (!chain_bin) return std::move(chain_bin).error();
  if (GstElement* mix = gst_bin_get_by_name(as_bin(*chain_bin), "mix")) {
    GstPad* p = gst_element_get_static_pad(mix, "src");
    gst_pad_add_probe(p, GST_PAD_PROBE_TYPE_BUFFER, &Call::mix_probe, new std::shared_ptr<Call>(shared_from_this()),
                      shared_deleter<Call>());
    gst_object_unref(p);
    gst_object_unref(mix);
  }
  auto source = kind == Kind::audio ? make_audio_source(audio_source) : make_video_source(video_source);
  if (!source) {
    gst_object_unref(*chain_bin);
    return std::move(source).error();
  }
  const std::string pad_name = mline >= 0 ? "sink_" + std::to_string(mline) : "sink_%u";
  GstPad* sink = gst_element_request_pad_simple(w.get(), pad_name.c_str());
  if (!sink) {
    gst_object_unref(*chain_bin);
    gst_object_unref(*source);
    return media_error("webrtcbin gave no " + pad_name + " pad");
  }
  GstElement* pipeline = nullptr;
  {
    std::lock_guard lock(mutex_);
    pipeline = pipeline_ ? static_cast<GstElement*>(gst_object_ref(pipeline_)) : nullptr;
  }
  if (!pipeline) {
    gst_object_unref(sink);
    return Error(ErrorCategory::cancelled, "the call's media was closed");
  }
  gst_bin_add_many(as_bin(pipeline), *source, *chain_bin, nullptr);
  gst_element_link(*source, *chain_bin);
  GstPad* src = gst_element_get_static_pad(*chain_bin, "src");
  const GstPadLinkReturn linked = gst_pad_link(src, sink);
  gst_object_unref(src);
  auto self = shared_from_this();
  gst_pad_add_probe(sink, static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
                    &Call::send_probe, new std::shared_ptr<Call>(self), shared_deleter<Call>());
  // The probe's user data says nothing about the kind; the pad does.
  g_object_set_data(as_object(sink), "wazo-kind", GINT_TO_POINTER(kind == Kind::audio ? 1 : 2));
  gst_element_sync_state_with_parent(*chain_bin);
  gst_element_sync_state_with_parent(*source);
  gst_object_unref(pipeline);
  if (linked != GST_PAD_LINK_OK) {
    gst_object_unref(sink);
    return media_error("cannot link the " + codec + " encoder to webrtcbin (" + gst_pad_link_get_name(linked) + ")");
  }
  // sink_%u: the transceiver's m-line is where webrtcbin puts it; read it back from the pad's name.
  int index = mline;
  if (index < 0) {
    gchar* name = gst_pad_get_name(sink);
    index = std::atoi(name + 5);
    g_free(name);
  }
  std::lock_guard lock(mutex_);
  auto& branch = kind == Kind::audio ? audio_send_ : video_send_;
  branch = SendBranch{*source, *chain_bin, sink, index, codec, pt};
  (kind == Kind::audio ? audio_mline_ : video_mline_) = index;
  return {};
}

// ------------------------------------------------------------------------------------------------ receive side

void Call::on_webrtc_pad(GstPad* pad) {
  if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC) return;
  GstCaps* caps = gst_pad_get_current_caps(pad);
  if (!caps) caps = gst_pad_query_caps(pad, nullptr);
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  const std::string media = gst_structure_get_string(s, "media") ? gst_structure_get_string(s, "media") : "";
  std::string encoding =
      gst_structure_get_string(s, "encoding-name") ? gst_structure_get_string(s, "encoding-name") : "";
  guint ssrc = 0;
  const bool has_ssrc = gst_structure_get_uint(s, "ssrc", &ssrc) != FALSE;
  gst_caps_unref(caps);
  for (auto& c : encoding) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const bool audio = media == "audio";
  std::string chain;
  if (audio && encoding == "OPUS") {
    chain = "rtpopusdepay ! opusdec plc=true";
  } else if (audio && encoding == "PCMU") {
    chain = "rtppcmudepay ! mulawdec";
  } else if (audio && encoding == "PCMA") {
    chain = "rtppcmadepay ! alawdec";
  } else if (encoding == "VP8") {
    chain = "rtpvp8depay ! vp8dec";
  } else if (encoding == "H264") {
    chain = "rtph264depay ! h264parse ! openh264dec";
  } else {
    post_event(MediaError{media_error("no decoder for incoming " + media + " " + encoding)});
    return;
  }
  if (audio) {
    chain +=
        " ! audioconvert ! audioresample ! audio/x-raw,format=S16LE,rate=48000,channels=1,layout=interleaved"
        " ! identity name=decoded ! volume name=volume";
  } else {
    chain += " ! videoconvert ! video/x-raw,format=I420 ! identity name=decoded";
  }
  // Audio decodes on the jitter buffer's own thread (a queue there cost a thread and ~0.3 % of a core per call);
  // video keeps a leaky queue so a slow decoder drops frames instead of holding the jitter buffer.
  if (!audio) chain = "queue max-size-time=200000000 leaky=downstream ! " + chain;
  auto bin = parse_bin(chain);
  if (!bin) {
    post_event(MediaError{bin.error()});
    return;
  }
  auto self = shared_from_this();
  GstElement* sink = nullptr;
  GstElement* wavenc = nullptr;
  if (audio) {
    AudioSink options;
    {
      std::lock_guard lock(mutex_);
      options = audio_sink_options_;
    }
    auto made = make_audio_sink(options, &wavenc);
    if (!made) {
      post_event(MediaError{made.error()});
      GstElement* fake = make_element("fakesink");
      g_object_set(fake, "sync", FALSE, "async", FALSE, nullptr);
      made = fake;
    }
    sink = *made;
  } else if (options_.video_sink.type == VideoSink::Type::callback) {
    sink = make_element("appsink");
    g_object_set(sink, "sync", FALSE, "async", FALSE, "max-buffers", 2u, "drop", TRUE, nullptr);
    auto* handler = new std::function<void(const VideoFrame&)>(options_.video_sink.on_frame);
    GstAppSinkCallbacks callbacks{};
    callbacks.new_sample = +[](GstAppSink* appsink, gpointer data) -> GstFlowReturn {
      GstSample* sample = gst_app_sink_pull_sample(appsink);
      if (!sample) return GST_FLOW_OK;
      auto& fn = *static_cast<std::function<void(const VideoFrame&)>*>(data);
      GstBuffer* buffer = gst_sample_get_buffer(sample);
      const GstStructure* st = gst_caps_get_structure(gst_sample_get_caps(sample), 0);
      GstMapInfo map;
      if (fn && buffer && gst_buffer_map(buffer, &map, GST_MAP_READ)) {
        VideoFrame frame;
        frame.data = map.data;
        frame.size = map.size;
        gst_structure_get_int(st, "width", &frame.width);
        gst_structure_get_int(st, "height", &frame.height);
        frame.pts = std::chrono::nanoseconds(buffer->pts == GST_CLOCK_TIME_NONE ? 0 : buffer->pts);
        const InCallback in_callback;
        fn(frame);
        gst_buffer_unmap(buffer, &map);
      }
      gst_sample_unref(sample);
      return GST_FLOW_OK;
    };
    gst_app_sink_set_callbacks(reinterpret_cast<GstAppSink*>(sink), &callbacks, handler,
                               [](gpointer d) { delete static_cast<std::function<void(const VideoFrame&)>*>(d); });
  } else if (options_.video_sink.type == VideoSink::Type::window) {
    sink = make_element("autovideosink");
  } else {
    sink = make_element("fakesink");
    g_object_set(sink, "sync", FALSE, "async", FALSE, nullptr);
  }
  GstElement* pipeline = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (closed_ || !pipeline_) {
      gst_object_unref(*bin);
      gst_object_unref(sink);
      return;
    }
    pipeline = static_cast<GstElement*>(gst_object_ref(pipeline_));
  }
  gst_bin_add_many(as_bin(pipeline), *bin, sink, nullptr);
  if (GstElement* decoded = gst_bin_get_by_name(as_bin(*bin), "decoded")) {
    GstPad* p = gst_element_get_static_pad(decoded, "src");
    g_object_set_data(as_object(p), "wazo-kind", GINT_TO_POINTER(audio ? 1 : 2));
    gst_pad_add_probe(p, GST_PAD_PROBE_TYPE_BUFFER, &Call::decoded_probe, new std::shared_ptr<Call>(self),
                      shared_deleter<Call>());
    gst_object_unref(p);
    gst_object_unref(decoded);
  }
  if (audio && echo_probe_) {
    gst_element_link_many(*bin, echo_probe_, sink, nullptr);
  } else {
    gst_element_link(*bin, sink);
  }
  gst_element_sync_state_with_parent(sink);
  gst_element_sync_state_with_parent(*bin);
  g_object_set_data(as_object(pad), "wazo-kind", GINT_TO_POINTER(audio ? 1 : 2));
  gst_pad_add_probe(pad, static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
                    &Call::recv_gate_probe, new std::shared_ptr<Call>(self), shared_deleter<Call>());
  GstPad* bin_sink = gst_element_get_static_pad(*bin, "sink");
  gst_pad_link(pad, bin_sink);
  gst_object_unref(bin_sink);
  {
    std::lock_guard lock(mutex_);
    auto& r = audio ? audio_recv_ : video_recv_;
    if (has_ssrc) r.ssrc = ssrc;
    r.bin = *bin;
    r.sink = sink;
    r.codec = encoding;
    r.wavenc = wavenc;
    r.volume = audio ? gst_bin_get_by_name(as_bin(*bin), "volume") : nullptr;
    if (r.volume) {
      g_object_set(r.volume, "volume", std::clamp(options_.output_volume, 0.0, 1.0), nullptr);
      gst_object_unref(r.volume);  // the pipeline keeps it
    }
  }
  gst_object_unref(pipeline);
}

void Call::on_rtpbin_pad(GstPad* pad) {
  gchar* name = gst_pad_get_name(pad);
  const bool input = g_str_has_prefix(name, "recv_rtp_sink_");
  g_free(name);
  if (!input) return;
  gst_pad_add_probe(pad, static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST),
                    &Call::dtmf_receive_probe, new std::shared_ptr<Call>(shared_from_this()), shared_deleter<Call>());
}

bool Call::on_incoming_rtp(GstBuffer* buffer) {
  const int pt = te_recv_pt_;
  if (pt < 0) return false;
  GstMapInfo map;
  if (!gst_buffer_map(buffer, &map, GST_MAP_READ)) return false;
  bool consumed = false;
  if (auto h = parse_rtp(map.data, map.size); h && h->pt == pt) {
    consumed = true;
    if (map.size >= h->payload_offset + 4) {
      const std::uint8_t* p = map.data + h->payload_offset;
      const bool end = (p[1] & 0x80) != 0;
      const int duration = (p[2] << 8) | p[3];
      if (end) {
        std::lock_guard lock(dtmf_rx_mutex_);
        if (dtmf_rx_last_ts_ != h->ts) {  // the end packet comes three times
          dtmf_rx_last_ts_ = h->ts;
          const int clock = std::max(1, te_recv_clock_.load());
          if (const char tone = dtmf_char(p[0])) {
            post_event(DtmfReceived{tone, std::chrono::milliseconds(duration * 1000 / clock)});
          }
        }
      }
    }
  }
  gst_buffer_unmap(buffer, &map);
  return consumed;
}

GstPadProbeReturn Call::dtmf_receive_probe(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto& call = shared_from_data<Call>(data);
  if (call.te_recv_pt_ < 0) return GST_PAD_PROBE_OK;
  if (GstBuffer* buffer = gst_pad_probe_info_get_buffer(info)) {
    return call.on_incoming_rtp(buffer) ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
  }
  if (GstBufferList* list = gst_pad_probe_info_get_buffer_list(info)) {
    bool any = false;
    for (guint i = 0; i < gst_buffer_list_length(list) && !any; ++i) {
      auto h = std::optional<RtpHeader>();
      GstMapInfo map;
      GstBuffer* b = gst_buffer_list_get(list, i);
      if (gst_buffer_map(b, &map, GST_MAP_READ)) {
        h = parse_rtp(map.data, map.size);
        gst_buffer_unmap(b, &map);
      }
      any = h && h->pt == call.te_recv_pt_;
    }
    if (!any) return GST_PAD_PROBE_OK;
    list = gst_buffer_list_make_writable(list);
    for (guint i = 0; i < gst_buffer_list_length(list);) {
      if (call.on_incoming_rtp(gst_buffer_list_get(list, i))) {
        gst_buffer_list_remove(list, i, 1);
      } else {
        ++i;
      }
    }
    info->data = list;
  }
  return GST_PAD_PROBE_OK;
}

GstPadProbeReturn Call::recv_gate_probe(GstPad* pad, GstPadProbeInfo*, gpointer data) {
  auto& call = shared_from_data<Call>(data);
  const bool audio = GPOINTER_TO_INT(g_object_get_data(as_object(pad), "wazo-kind")) == 1;
  return (audio ? call.audio_recv_ok_ : call.video_recv_ok_) ? GST_PAD_PROBE_OK : GST_PAD_PROBE_DROP;
}

GstPadProbeReturn Call::decoded_probe(GstPad* pad, GstPadProbeInfo* info, gpointer data) {
  auto& call = shared_from_data<Call>(data);
  const bool audio = GPOINTER_TO_INT(g_object_get_data(as_object(pad), "wazo-kind")) == 1;
  if (GstBuffer* buffer = gst_pad_probe_info_get_buffer(info))
    call.on_decoded(audio ? Kind::audio : Kind::video, buffer);
  return GST_PAD_PROBE_OK;
}

void Call::on_decoded(Kind kind, GstBuffer* buffer) {
  if (kind == Kind::video) {
    ++video_decoded_;
    if (!video_track_seen_.exchange(true)) post_event(TrackAdded{Kind::video});
    return;
  }
  GstMapInfo map;
  if (!gst_buffer_map(buffer, &map, GST_MAP_READ)) return;
  const auto* s = reinterpret_cast<const std::int16_t*>(map.data);
  const std::size_t n = map.size / 2;
  for (std::size_t i = 0; i < n; ++i) {
    const double v = s[i] / 32768.0;
    level_sum_ += v * v;
  }
  if (bridged_) {
    std::lock_guard lock(bridge_mutex_);
    if (bridge_) bridge_->push(member_, std::span<const std::int16_t>(s, n));
  }
  gst_buffer_unmap(buffer, &map);
  level_count_ += n;
  audio_decoded_ += n;
  if (level_count_ >= 48'000) {
    level_ = std::sqrt(level_sum_ / static_cast<double>(level_count_));
    level_sum_ = 0;
    level_count_ = 0;
  }
  if (!audio_track_seen_.exchange(true)) post_event(TrackAdded{Kind::audio});
}

// ------------------------------------------------------------------------------------------------ send side

// Our source's audio (48 kHz mono S16) on its way to the encoder: in a conference, the other members' audio is
// added to it, and a muted call sends only theirs.
GstPadProbeReturn Call::mix_probe(GstPad*, GstPadProbeInfo* info, gpointer data) {
  auto& call = shared_from_data<Call>(data);
  if (!call.bridged_) return GST_PAD_PROBE_OK;
  GstBuffer* buffer = gst_pad_probe_info_get_buffer(info);
  if (!buffer) return GST_PAD_PROBE_OK;
  buffer = gst_buffer_make_writable(buffer);
  info->data = buffer;
  GstMapInfo map;
  if (!gst_buffer_map(buffer, &map, GST_MAP_READWRITE)) return GST_PAD_PROBE_OK;
  std::span<std::int16_t> samples(reinterpret_cast<std::int16_t*>(map.data), map.size / 2);
  if (call.audio_muted_) std::fill(samples.begin(), samples.end(), std::int16_t{0});
  {
    std::lock_guard lock(call.bridge_mutex_);
    if (call.bridge_) call.bridge_->mix_into(call.member_, samples);
  }
  gst_buffer_unmap(buffer, &map);
  return GST_PAD_PROBE_OK;
}

void Call::set_bridge(std::shared_ptr<AudioBridge> bridge) {
  {
    std::lock_guard lock(bridge_mutex_);
    if (bridge_ == bridge) return;
    if (bridge_) bridge_->leave(member_);
    bridge_ = std::move(bridge);
    member_ = bridge_ ? bridge_->join() : 0;
    bridged_ = bridge_ != nullptr;
  }
  refresh_gates();
}

GstPadProbeReturn Call::send_probe(GstPad* pad, GstPadProbeInfo* info, gpointer data) {
  auto& call = shared_from_data<Call>(data);
  const bool audio = GPOINTER_TO_INT(g_object_get_data(as_object(pad), "wazo-kind")) == 1;
  return call.on_send_buffer(audio ? Kind::audio : Kind::video, info);
}

GstPadProbeReturn Call::on_send_buffer(Kind kind, GstPadProbeInfo* info) {
  // Pitfall 1: webrtcbin keeps sending whatever the negotiated direction; hold, mute and camera-off drop here.
  if (!(kind == Kind::audio ? audio_send_ok_ : video_send_ok_)) return GST_PAD_PROBE_DROP;
  GstBuffer* buffer = gst_pad_probe_info_get_buffer(info);
  if (!buffer) return GST_PAD_PROBE_OK;  // a list: let it through uncounted
  if (kind == Kind::video) {
    GstMapInfo map;
    if (gst_buffer_map(buffer, &map, GST_MAP_READ)) {
      if (map.size > 1 && (map.data[1] & 0x80)) ++video_encoded_;  // the marker ends a frame
      gst_buffer_unmap(buffer, &map);
    }
    return GST_PAD_PROBE_OK;
  }
  const std::uint64_t duration = buffer->duration == GST_CLOCK_TIME_NONE ? 20 * GST_MSECOND : buffer->duration;
  audio_encoded_ += duration * 48'000 / GST_SECOND;
  const int te_pt = te_send_pt_;
  if (te_pt < 0) return GST_PAD_PROBE_OK;

  std::lock_guard lock(dtmf_mutex_);
  if (!dtmf_active_) {
    if (dtmf_gap_ > 0) {
      --dtmf_gap_;
      return GST_PAD_PROBE_OK;
    }
    if (dtmf_queue_.empty()) return GST_PAD_PROBE_OK;
    dtmf_active_ = ActiveDtmf{dtmf_queue_.front(), 0, 0, 0, true};
    dtmf_queue_.pop_front();
  }
  // RFC 4733: the event's packets replace the voice packets (same SSRC and sequence numbers), all with the
  // timestamp of the event's start; the end packet goes three times.
  GstMapInfo map;
  if (!gst_buffer_map(buffer, &map, GST_MAP_READ)) return GST_PAD_PROBE_OK;
  const auto h = parse_rtp(map.data, map.size);
  std::uint8_t header[12];
  if (h) std::memcpy(header, map.data, 12);
  gst_buffer_unmap(buffer, &map);
  if (!h) return GST_PAD_PROBE_OK;
  auto& active = *dtmf_active_;
  if (active.first) active.ts = h->ts;
  active.elapsed_ns += duration;
  const int clock = std::max(1, te_send_clock_.load());
  const bool end = active.elapsed_ns >= static_cast<std::uint64_t>(active.job.duration.count()) * GST_MSECOND;
  const auto units = static_cast<std::uint32_t>(
      std::min<std::uint64_t>(0xffff, active.elapsed_ns * static_cast<std::uint64_t>(clock) / GST_SECOND));
  GstBuffer* event = gst_buffer_new_allocate(nullptr, 16, nullptr);
  GstMapInfo out;
  gst_buffer_map(event, &out, GST_MAP_WRITE);
  std::memcpy(out.data, header, 12);
  out.data[0] = 0x80;  // V=2, no padding, extension or CSRC
  out.data[1] = static_cast<std::uint8_t>((active.first ? 0x80 : 0) | (te_pt & 0x7f));
  out.data[4] = static_cast<std::uint8_t>(active.ts >> 24);
  out.data[5] = static_cast<std::uint8_t>(active.ts >> 16);
  out.data[6] = static_cast<std::uint8_t>(active.ts >> 8);
  out.data[7] = static_cast<std::uint8_t>(active.ts);
  out.data[12] = static_cast<std::uint8_t>(active.job.event);
  out.data[13] = static_cast<std::uint8_t>((end ? 0x80 : 0) | 10);  // volume -10 dBm0
  out.data[14] = static_cast<std::uint8_t>(units >> 8);
  out.data[15] = static_cast<std::uint8_t>(units);
  gst_buffer_unmap(event, &out);
  gst_buffer_copy_into(event, buffer, GST_BUFFER_COPY_TIMESTAMPS, 0, 0);
  active.first = false;
  if (end && ++active.end_sent >= 3) {
    dtmf_active_.reset();
    dtmf_gap_ = 3;
  }
  gst_buffer_unref(buffer);
  info->data = event;
  return GST_PAD_PROBE_OK;
}

Result<void> Call::send_dtmf(char tone, std::chrono::milliseconds duration) {
  const int event = dtmf_event(tone);
  if (event < 0) return Error(ErrorCategory::invalid_argument, std::string("not a DTMF tone: ") + tone);
  if (te_send_pt_ < 0) return media_error("the peer did not negotiate telephone-event (RFC 4733)");
  if (!audio_send_ok_) return media_error("no outgoing audio to carry DTMF (held or muted)");
  std::lock_guard lock(dtmf_mutex_);
  dtmf_queue_.push_back({event, std::clamp(duration, std::chrono::milliseconds(40), std::chrono::milliseconds(5000))});
  return {};
}

void Call::set_camera_enabled(bool enabled) {
  const bool was = camera_enabled_.exchange(enabled);
  refresh_gates();
  if (enabled && !was) {
    // The peer's decoder needs a key frame to start again.
    GstPad* pad = nullptr;
    {
      std::lock_guard lock(mutex_);
      if (video_send_.webrtc_pad) pad = static_cast<GstPad*>(gst_object_ref(video_send_.webrtc_pad));
    }
    if (pad) {
      gst_pad_push_event(pad, gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
      gst_object_unref(pad);
    }
  }
}

void Call::set_local_direction(Direction d) {
  {
    std::lock_guard lock(mutex_);
    local_direction_ = d;
  }
  refresh_gates();
}

void Call::set_output_volume(double volume) {
  std::lock_guard lock(mutex_);
  if (audio_recv_.volume) g_object_set(audio_recv_.volume, "volume", std::clamp(volume, 0.0, 1.0), nullptr);
}

// ------------------------------------------------------------------------------------------------ switching

// Blocks the old element's output, takes it out, puts the replacement in its place and lets data flow again.
Result<void> Call::swap_source(Kind kind, GstElement* replacement, const std::function<void()>& remember) {
  GstElement* old = nullptr;
  GstElement* chain = nullptr;
  GstElement* pipeline = nullptr;
  {
    std::lock_guard lock(mutex_);
    auto& b = kind == Kind::audio ? audio_send_ : video_send_;
    if (closed_) {
      gst_object_unref(replacement);
      return Error(ErrorCategory::cancelled, "the call's media was closed");
    }
    remember();
    if (!b.source) {  // not linked yet (before the answer, or no video yet): used when it is
      gst_object_unref(replacement);
      return {};
    }
    old = static_cast<GstElement*>(gst_object_ref(b.source));
    chain = static_cast<GstElement*>(gst_object_ref(b.chain));
    pipeline = static_cast<GstElement*>(gst_object_ref(pipeline_));
    b.source = replacement;
  }
  struct Blocked {
    std::mutex m;
    std::condition_variable cv;
    bool hit = false;
  };
  auto blocked = std::make_shared<Blocked>();
  GstPad* old_src = gst_element_get_static_pad(old, "src");
  gst_pad_add_probe(
      old_src, GST_PAD_PROBE_TYPE_BLOCK_DOWNSTREAM,
      +[](GstPad*, GstPadProbeInfo*, gpointer data) {
        auto& b = shared_from_data<Blocked>(data);
        std::lock_guard lock(b.m);
        b.hit = true;
        b.cv.notify_all();
        return GST_PAD_PROBE_OK;  // stays blocked until the element goes to NULL
      },
      new std::shared_ptr<Blocked>(blocked), shared_deleter<Blocked>());
  {
    std::unique_lock lock(blocked->m);
    blocked->cv.wait_for(lock, std::chrono::milliseconds(500), [&] { return blocked->hit; });
  }
  gst_element_unlink(old, chain);
  gst_element_set_state(old, GST_STATE_NULL);
  gst_bin_remove(as_bin(pipeline), old);
  gst_object_unref(old_src);
  gst_object_unref(old);
  gst_bin_add(as_bin(pipeline), replacement);
  const bool linked = gst_element_link(replacement, chain) != FALSE;
  gst_element_sync_state_with_parent(replacement);
  gst_object_unref(chain);
  gst_object_unref(pipeline);
  if (!linked) return media_error("the new source does not fit the encoder");
  return {};
}

Result<void> Call::set_audio_source(AudioSource source) {
  auto made = make_audio_source(source);
  if (!made) return std::move(made).error();
  return swap_source(Kind::audio, *made, [&] { audio_source_ = std::move(source); });
}

Result<void> Call::set_video_source(VideoSource source) {
  auto made = make_video_source(source);
  if (!made) return std::move(made).error();
  return swap_source(Kind::video, *made, [&] { video_source_ = std::move(source); });
}

Result<void> Call::set_audio_sink(AudioSink sink) {
  GstElement* wavenc = nullptr;
  auto made = make_audio_sink(sink, &wavenc);
  if (!made) return std::move(made).error();
  GstElement* old = nullptr;
  GstElement* old_wavenc = nullptr;
  GstElement* volume = nullptr;
  GstElement* pipeline = nullptr;
  {
    std::lock_guard lock(mutex_);
    audio_sink_options_ = sink;
    if (closed_ || !audio_recv_.sink) {  // no incoming audio yet: used when it comes
      gst_object_unref(*made);
      return {};
    }
    old = static_cast<GstElement*>(gst_object_ref(audio_recv_.sink));
    old_wavenc = audio_recv_.wavenc;
    // What feeds the sink: the echo probe when there is one, else the chain.
    volume = static_cast<GstElement*>(gst_object_ref(echo_probe_ ? echo_probe_ : audio_recv_.bin));
    pipeline = static_cast<GstElement*>(gst_object_ref(pipeline_));
    audio_recv_.sink = *made;
    audio_recv_.wavenc = wavenc;
  }
  // The swap happens when no buffer is on its way through the pad (at once when none is): a device sink holds
  // the streaming thread while it waits for room in its ring buffer, and a sink set to NULL under a buffer would
  // answer FLUSHING, which stops the jitter buffer's task for good.
  struct Swap {
    GstElement* upstream;
    GstElement* old;
    GstElement* old_wavenc;
    GstElement* made;
    GstElement* pipeline;
  };
  auto* swap = new Swap{volume, old, old_wavenc, static_cast<GstElement*>(gst_object_ref_sink(*made)), pipeline};
  GstPad* src = gst_element_get_static_pad(volume, "src");
  gst_pad_add_probe(
      src, GST_PAD_PROBE_TYPE_IDLE,
      [](GstPad*, GstPadProbeInfo*, gpointer data) -> GstPadProbeReturn {
        auto* w = static_cast<Swap*>(data);
        gst_element_unlink(w->upstream, w->old);
        if (w->old_wavenc) {
          if (GstPad* p = gst_element_get_static_pad(w->old_wavenc, "sink")) {
            gst_pad_send_event(p, gst_event_new_eos());
            gst_object_unref(p);
          }
        }
        gst_element_set_state(w->old, GST_STATE_NULL);
        gst_bin_remove(as_bin(w->pipeline), w->old);
        gst_bin_add(as_bin(w->pipeline), w->made);
        gst_element_link(w->upstream, w->made);
        gst_element_sync_state_with_parent(w->made);
        return GST_PAD_PROBE_REMOVE;
      },
      swap,
      [](gpointer data) {
        auto* w = static_cast<Swap*>(data);
        for (GstElement* e : {w->upstream, w->old, w->made, w->pipeline}) gst_object_unref(e);
        delete w;
      });
  gst_object_unref(src);
  return {};
}

// ------------------------------------------------------------------------------------------------ offer/answer

void Call::fail_pending(Error e) {
  SdpCallback done;
  {
    std::lock_guard lock(mutex_);
    done = std::move(pending_);
    pending_ = nullptr;
    awaiting_gathering_ = false;
  }
  if (gather_timer_) gather_timer_->cancel();
  if (done) done(std::move(e));
}

void Call::create_offer(SdpCallback done) {
  runtime_.post([self = shared_from_this(), done = std::move(done)]() mutable { self->start_offer(std::move(done)); });
}

void Call::start_offer(SdpCallback done) {
  bool need_audio = false, need_video = false;
  std::string video_codec;
  {
    std::lock_guard lock(mutex_);
    if (closed_) {
      done(Error(ErrorCategory::cancelled, "the call's media was closed"));
      return;
    }
    if (pending_) {
      done(Error(ErrorCategory::invalid_argument, "an offer or answer is already being made"));
      return;
    }
    pending_ = std::move(done);
    pending_offer_ = true;
    need_audio = audio_send_.chain == nullptr;
    need_video = video_wanted_ && video_send_.chain == nullptr;
    // webrtcbin 1.22 has no ice-restart offer option and reuses its credentials: set_local() writes new ones into
    // the offer, and webrtcbin gives whatever the local description says to the ICE agent.
    new_ice_credentials_ = std::exchange(ice_restart_, false);
  }
  if (need_audio) {
    if (auto r = link_send(Kind::audio, -1, kOpusPt, "OPUS", {}); !r) return fail_pending(std::move(r).error());
  }
  if (need_video) {
    const bool h264 = options_.prefer_h264 && has_element("openh264enc");
    if (auto r = link_send(Kind::video, -1, h264 ? kH264Pt : kVp8Pt, h264 ? "H264" : "VP8", {}); !r) {
      return fail_pending(std::move(r).error());
    }
  }
  auto w = webrtc();
  if (!w) return fail_pending(Error(ErrorCategory::cancelled, "the call's media was closed"));
  GstPromise* promise = gst_promise_new_with_change_func(
      +[](GstPromise* p, gpointer data) { shared_from_data<Call>(data).on_description_created(p, true); },
      new std::shared_ptr<Call>(shared_from_this()), shared_deleter<Call>());
  g_signal_emit_by_name(w.get(), "create-offer", nullptr, promise);
  gst_promise_unref(promise);  // webrtcbin holds its own reference until it replies
}

void Call::create_answer(std::string remote_offer, SdpCallback done) {
  runtime_.post([self = shared_from_this(), offer = std::move(remote_offer), done = std::move(done)]() mutable {
    auto parsed = sdp::parse(offer);
    if (!parsed) return done(std::move(parsed).error());
    {
      std::lock_guard lock(self->mutex_);
      if (self->closed_) return done(Error(ErrorCategory::cancelled, "the call's media was closed"));
      if (self->pending_) return done(Error(ErrorCategory::invalid_argument, "an offer or answer is being made"));
      self->pending_ = std::move(done);
      self->pending_offer_ = false;
    }
    // Pitfall 1: webrtcbin sees sendrecv; the real directions are ours to keep.
    std::vector<std::string> kinds;
    std::map<int, Direction> dirs;
    std::optional<sdp::Rtpmap> te;
    for (std::size_t i = 0; i < parsed->media.size(); ++i) {
      auto& m = parsed->media[i];
      kinds.push_back(sdp::media_kind(m));
      dirs[static_cast<int>(i)] = sdp::direction(m);
      if (sdp::media_port(m) != 0) sdp::set_direction(m, Direction::sendrecv);
      if (kinds.back() == "audio" && !te) {
        te = sdp::find_codec(m, "telephone-event", 8000);
        if (!te) te = sdp::find_codec(m, "telephone-event", 48000);
      }
    }
    const std::string text = sdp::serialize(*parsed);
    GstSDPMessage* message = nullptr;
    gst_sdp_message_new_from_text(text.c_str(), &message);
    if (!message) return self->fail_pending(Error(ErrorCategory::parse, "SDP: GStreamer could not read the offer"));
    {
      std::lock_guard lock(self->mutex_);
      self->remote_dirs_ = dirs;
      self->remote_te_ = te;
      self->remote_offer_text_ = offer;
      // An offer with new ICE credentials restarts ICE; the answer must then have new ones too (RFC 8839
      // §4.4.1.1.2), which webrtcbin 1.22 does not do by itself.
      const std::string ufrag = sdp::ice_ufrag(*parsed);
      if (!self->remote_ufrag_.empty() && !ufrag.empty() && ufrag != self->remote_ufrag_) {
        self->new_ice_credentials_ = true;
        self->runtime_.logger().info(kLog, "the peer restarts ICE");
      }
      if (!ufrag.empty()) self->remote_ufrag_ = ufrag;
    }
    auto w = self->webrtc();
    if (!w) {
      gst_sdp_message_free(message);
      return self->fail_pending(Error(ErrorCategory::cancelled, "the call's media was closed"));
    }
    GstWebRTCSessionDescription* desc = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_OFFER, message);
    struct Ctx {
      std::shared_ptr<Call> call;
      std::vector<std::string> kinds;
    };
    GstPromise* promise = gst_promise_new_with_change_func(
        +[](GstPromise* p, gpointer data) {
          auto& ctx = *static_cast<Ctx*>(data);
          auto error = promise_error(p);
          auto call = ctx.call;
          call->runtime_.post([call, error, offered = ctx.kinds]() mutable {
            if (error) return call->fail_pending(media_error("webrtcbin rejected the offer: " + *error));
            call->after_remote_offer(std::move(offered));
          });
        },
        new Ctx{self, std::move(kinds)}, [](gpointer d) { delete static_cast<Ctx*>(d); });
    g_signal_emit_by_name(w.get(), "set-remote-description", desc, promise);
    gst_promise_unref(promise);
    gst_webrtc_session_description_free(desc);
  });
}

void Call::after_remote_offer(std::vector<std::string> kinds) {
  std::string offer_text;
  bool want_video = false;
  bool have_audio = false, have_video = false;
  {
    std::lock_guard lock(mutex_);
    offer_text = remote_offer_text_;
    want_video = video_wanted_;
    have_audio = audio_send_.chain != nullptr;
    have_video = video_send_.chain != nullptr;
  }
  auto parsed = sdp::parse(offer_text);
  if (!parsed) return fail_pending(std::move(parsed).error());
  bool audio_done = have_audio, video_done = have_video;
  bool any_video = false;
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    const auto& m = parsed->media[i];
    if (sdp::media_port(m) == 0) continue;
    if (kinds[i] == "audio" && !audio_done) {
      // Opus first; G.711 only when the peer offers no Opus, then in the offer's order.
      std::optional<sdp::Rtpmap> codec = sdp::find_codec(m, "opus", 48000);
      std::string name = "OPUS";
      if (!codec) {
        for (const auto& r : sdp::rtpmaps(m)) {
          for (const char* g711 : {"PCMU", "PCMA"}) {
            if (!codec && r.clock_rate == 8000 && g_ascii_strcasecmp(r.name.c_str(), g711) == 0) {
              codec = r;
              name = g711;
            }
          }
        }
      }
      if (!codec) {
        std::string offered;
        for (const auto& r : sdp::rtpmaps(m)) offered += (offered.empty() ? "" : ", ") + r.name;
        return fail_pending(media_error("no common audio codec: the offer has " +
                                        (offered.empty() ? std::string("none") : offered) +
                                        ", we support OPUS, PCMU, PCMA"));
      }
      if (auto r = link_send(Kind::audio, static_cast<int>(i), codec->pt, name, codec->fmtp); !r) {
        return fail_pending(std::move(r).error());
      }
      audio_done = true;
    } else if (kinds[i] == "video") {
      any_video = true;
      if (video_done || !want_video) continue;
      auto vp8 = sdp::find_codec(m, "VP8", 90000);
      std::optional<sdp::Rtpmap> h264;
      if (has_element("openh264enc")) {
        for (const auto& r : sdp::rtpmaps(m)) {
          if (r.name != "H264" && r.name != "h264") continue;
          if (!h264 || (r.fmtp.find("packetization-mode=1") != std::string::npos &&
                        h264->fmtp.find("packetization-mode=1") == std::string::npos)) {
            h264 = r;
          }
        }
      }
      const bool use_h264 = h264 && (!vp8 || options_.prefer_h264);
      if (!vp8 && !use_h264) continue;  // answered inactive below
      const auto& codec = use_h264 ? *h264 : *vp8;
      if (auto r = link_send(Kind::video, static_cast<int>(i), codec.pt, use_h264 ? "H264" : "VP8", codec.fmtp); !r) {
        return fail_pending(std::move(r).error());
      }
      video_done = true;
    }
  }
  if (!audio_done) return fail_pending(media_error("the offer has no audio stream"));
  {
    std::lock_guard lock(mutex_);
    video_active_ = any_video && want_video && video_send_.chain != nullptr;
  }
  auto w = webrtc();
  if (!w) return fail_pending(Error(ErrorCategory::cancelled, "the call's media was closed"));
  GstPromise* promise = gst_promise_new_with_change_func(
      +[](GstPromise* p, gpointer data) { shared_from_data<Call>(data).on_description_created(p, false); },
      new std::shared_ptr<Call>(shared_from_this()), shared_deleter<Call>());
  g_signal_emit_by_name(w.get(), "create-answer", nullptr, promise);
  gst_promise_unref(promise);
}

// On a webrtcbin thread: take the description and go back to the I/O thread (pitfall 7).
void Call::on_description_created(GstPromise* promise, bool offer) {
  auto error = promise_error(promise);
  GstWebRTCSessionDescription* desc = nullptr;
  if (!error) {
    gst_structure_get(gst_promise_get_reply(promise), offer ? "offer" : "answer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION,
                      &desc, nullptr);
    if (!desc) error = "webrtcbin made no description";
  }
  auto self = shared_from_this();
  runtime_.post([self, error, desc] {
    if (error) return self->fail_pending(media_error("webrtcbin could not make the " + *error));
    self->set_local(desc);
  });
}

namespace {

// RFC 8839 §5.4: ice-char is ALPHA / DIGIT / "+" / "/"; 16 characters (ufrag, at least 4) and 32 (pwd, at
// least 22) from the system's random source.
std::string random_ice_chars(std::size_t n) {
  static constexpr std::string_view kChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::random_device source;
  std::string out(n, 'x');
  for (auto& c : out) c = kChars[source() % kChars.size()];
  return out;
}

}  // namespace

Result<void> Call::with_new_ice_credentials(GstWebRTCSessionDescription* desc) {
  gchar* text = gst_sdp_message_as_text(desc->sdp);
  auto parsed = sdp::parse(text ? text : "");
  g_free(text);
  if (!parsed) return std::move(parsed).error();
  sdp::set_ice_credentials(*parsed, random_ice_chars(16), random_ice_chars(32));
  GstSDPMessage* message = nullptr;
  if (gst_sdp_message_new_from_text(sdp::serialize(*parsed).c_str(), &message) != GST_SDP_OK || !message) {
    return Error(ErrorCategory::parse, "SDP: GStreamer could not read our description with new ICE credentials");
  }
  gst_sdp_message_free(desc->sdp);
  desc->sdp = message;
  runtime_.logger().info(kLog, "ICE restart: new credentials in our " +
                                   std::string(desc->type == GST_WEBRTC_SDP_TYPE_OFFER ? "offer" : "answer"));
  return {};
}

void Call::set_local(GstWebRTCSessionDescription* desc) {
  auto w = webrtc();
  if (!w) {
    gst_webrtc_session_description_free(desc);
    return fail_pending(Error(ErrorCategory::cancelled, "the call's media was closed"));
  }
  bool restart = false;
  {
    std::lock_guard lock(mutex_);
    restart = std::exchange(new_ice_credentials_, false);
  }
  if (restart) {
    if (auto r = with_new_ice_credentials(desc); !r) {
      gst_webrtc_session_description_free(desc);
      return fail_pending(std::move(r).error());
    }
  }
  GstPromise* promise = gst_promise_new_with_change_func(
      +[](GstPromise* p, gpointer data) {
        auto call = shared_from_data<Call>(data).shared_from_this();
        auto error = promise_error(p);
        call->runtime_.post([call, error] {
          if (error) return call->fail_pending(media_error("webrtcbin refused our description: " + *error));
          call->after_local_set();
        });
      },
      new std::shared_ptr<Call>(shared_from_this()), shared_deleter<Call>());
  g_signal_emit_by_name(w.get(), "set-local-description", desc, promise);
  gst_promise_unref(promise);
  gst_webrtc_session_description_free(desc);
}

void Call::after_local_set() {
  {
    std::lock_guard lock(mutex_);
    if (!pending_) return;
    awaiting_gathering_ = true;
  }
  // Non-trickle SDP: wait for gathering to complete, but never longer than the option says.
  if (!gather_timer_) return;
  gather_timer_->expires_after(options_.ice_gathering_timeout);
  gather_timer_->async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock()) {
      self->runtime_.logger().info(kLog, "ICE gathering timed out; sending the candidates we have");
      self->finish_local();
    }
  });
  check_gathering();
}

void Call::check_gathering() {
  {
    std::lock_guard lock(mutex_);
    if (!awaiting_gathering_) return;
  }
  auto w = webrtc();
  if (!w) return;
  GstWebRTCICEGatheringState state = GST_WEBRTC_ICE_GATHERING_STATE_NEW;
  g_object_get(w.get(), "ice-gathering-state", &state, nullptr);
  if (state == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE) finish_local();
}

void Call::finish_local() {
  bool offer = false;
  {
    std::lock_guard lock(mutex_);
    if (!awaiting_gathering_) return;
    awaiting_gathering_ = false;
    offer = pending_offer_;
  }
  if (gather_timer_) gather_timer_->cancel();
  auto w = webrtc();
  if (!w) return fail_pending(Error(ErrorCategory::cancelled, "the call's media was closed"));
  GstWebRTCSessionDescription* desc = nullptr;
  g_object_get(w.get(), "local-description", &desc, nullptr);
  if (!desc) return fail_pending(media_error("webrtcbin has no local description"));
  gchar* text = gst_sdp_message_as_text(desc->sdp);
  gst_webrtc_session_description_free(desc);
  auto parsed = sdp::parse(text);
  g_free(text);
  if (!parsed) return fail_pending(std::move(parsed).error());
  auto& d = *parsed;

  {
    std::lock_guard cl(candidates_mutex_);
    sdp::inject_candidates(d, candidates_);  // pitfall 3
  }
  SdpCallback done;
  std::string out;
  {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < d.media.size(); ++i) {
      auto& m = d.media[i];
      const int mline = static_cast<int>(i);
      const std::string kind = sdp::media_kind(m);
      Direction dir = local_direction_;
      if (kind == "video" && (!video_wanted_ || video_send_.chain == nullptr)) dir = Direction::inactive;
      if (kind == "video" && mline == video_mline_) video_active_ = dir != Direction::inactive;
      if (offer) {
        offered_dirs_[mline] = dir;
        if (sdp::media_port(m) != 0) sdp::set_direction(m, dir);
        if (sdp::find_codec(m, "telephone-event").has_value() == false && kind == "audio") {
          // RFC 4733 events: webrtcbin does not offer them; we send and parse them ourselves.
          sdp::add_codec(
              m,
              {.pt = kTelephoneEventPt, .name = "telephone-event", .clock_rate = 8000, .channels = 0, .fmtp = "0-16"});
          te_recv_pt_ = kTelephoneEventPt;
          te_recv_clock_ = 8000;
        }
        if (auto setup = sdp::attribute(m, "setup"); setup && *setup != "actpass") {
          sdp::remove_attributes(m, "setup");
          m.push_back("a=setup:actpass");
        }
      } else {
        const auto remote = remote_dirs_.count(mline) ? remote_dirs_[mline] : Direction::sendrecv;
        const Direction answer = sdp::answer_direction(dir, remote);
        negotiated_dirs_[mline] = answer;
        if (sdp::media_port(m) != 0) sdp::set_direction(m, answer);
        if (kind == "audio" && mline == audio_mline_ && remote_te_ && !sdp::find_codec(m, "telephone-event")) {
          sdp::add_codec(m, *remote_te_);
          te_send_pt_ = remote_te_->pt;
          te_send_clock_ = remote_te_->clock_rate;
          te_recv_pt_ = remote_te_->pt;
          te_recv_clock_ = remote_te_->clock_rate;
        }
      }
    }
    sdp::sipify(d);  // pitfall 4
    last_local_was_offer_ = offer;
    done = std::move(pending_);
    pending_ = nullptr;
    out = sdp::serialize(d);
  }
  refresh_gates();
  if (!offer) start_ice_check_timer();
  if (done) done(out);
}

Result<void> Call::set_remote_answer(std::string text) {
  auto parsed = sdp::parse(text);
  if (!parsed) return std::move(parsed).error();
  std::map<int, Direction> dirs;
  std::optional<sdp::Rtpmap> te;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return Error(ErrorCategory::cancelled, "the call's media was closed");
    if (!last_local_was_offer_) return Error(ErrorCategory::invalid_argument, "no offer is waiting for an answer");
    for (std::size_t i = 0; i < parsed->media.size(); ++i) {
      auto& m = parsed->media[i];
      const int mline = static_cast<int>(i);
      const std::string kind = sdp::media_kind(m);
      dirs[mline] = sdp::direction(m);
      if (mline == audio_mline_ && sdp::media_port(m) != 0 && !sdp::find_codec(m, audio_send_.codec)) {
        return media_error("the answer has no audio codec we offered (" + audio_send_.codec + ")");
      }
      if (mline == audio_mline_) {
        te = sdp::find_codec(m, "telephone-event");
      }
      if (sdp::media_port(m) != 0) sdp::set_direction(m, Direction::sendrecv);
    }
  }
  const std::string rewritten = sdp::serialize(*parsed);
  GstSDPMessage* message = nullptr;
  if (gst_sdp_message_new_from_text(rewritten.c_str(), &message) != GST_SDP_OK || !message) {
    return Error(ErrorCategory::parse, "SDP: GStreamer could not read the answer");
  }
  auto w = webrtc();
  if (!w) {
    gst_sdp_message_free(message);
    return Error(ErrorCategory::cancelled, "the call's media was closed");
  }
  GstWebRTCSessionDescription* desc = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_ANSWER, message);
  GstPromise* promise = gst_promise_new();
  g_signal_emit_by_name(w.get(), "set-remote-description", desc, promise);
  gst_webrtc_session_description_free(desc);
  auto error = promise_error(promise);  // webrtcbin works on its own thread and calls nothing of ours meanwhile
  gst_promise_unref(promise);
  if (error) return media_error("webrtcbin rejected the answer: " + *error);
  {
    std::lock_guard lock(mutex_);
    last_local_was_offer_ = false;
    if (auto ufrag = sdp::ice_ufrag(*parsed); !ufrag.empty()) remote_ufrag_ = std::move(ufrag);
    remote_dirs_ = dirs;
    for (const auto& [mline, offered] : offered_dirs_) {
      const auto it = dirs.find(mline);
      negotiated_dirs_[mline] = sdp::answer_direction(offered, it == dirs.end() ? Direction::sendrecv : it->second);
    }
    if (te) {
      te_send_pt_ = te->pt;
      te_send_clock_ = te->clock_rate;
    } else {
      te_send_pt_ = -1;
    }
  }
  refresh_gates();
  runtime_.post([self = shared_from_this()] { self->start_ice_check_timer(); });
  return {};
}

void Call::start_ice_check_timer() {
  if (connected_) return;
  if (!check_timer_) return;
  check_timer_->expires_after(options_.ice_checking_timeout);
  check_timer_->async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->connected_) return;
    auto w = self->webrtc();
    if (!w) return;
    self->emitter_.emit(IceStateChanged{"failed"});
    self->emitter_.emit(MediaError{Error(ErrorCategory::timeout, "ICE did not connect in time")});
  });
}

// ------------------------------------------------------------------------------------------------ stats

void read_rtp_stats(const GstStructure* s, GstWebRTCStatsType type, StreamStats& out) {
  const auto u = [&](const char* f) {
    return static_cast<std::uint64_t>(std::max<std::int64_t>(0, int_field(s, f).value_or(0)));
  };
  double dbl = 0;
  switch (type) {
    case GST_WEBRTC_STATS_OUTBOUND_RTP:
      out.bytes_sent += u("bytes-sent");
      out.packets_sent += u("packets-sent");
      break;
    case GST_WEBRTC_STATS_INBOUND_RTP:
      out.bytes_received += u("bytes-received");
      out.packets_received += u("packets-received");
      out.packets_lost += int_field(s, "packets-lost").value_or(0);
      if (gst_structure_get_double(s, "jitter", &dbl)) out.jitter_ms = std::max(out.jitter_ms, dbl * 1000.0);
      break;
    case GST_WEBRTC_STATS_REMOTE_INBOUND_RTP:
      if (gst_structure_get_double(s, "round-trip-time", &dbl)) {
        out.round_trip_ms = std::max(out.round_trip_ms, dbl * 1000.0);
      }
      break;
    default:
      break;
  }
}

CallStats Call::stats() const {
  CallStats result;
  auto w = webrtc();
  if (w) {
    struct Reply {
      std::mutex m;
      std::condition_variable cv;
      GstStructure* stats = nullptr;
      bool done = false;
    };
    auto reply = std::make_shared<Reply>();
    GstPromise* promise = gst_promise_new_with_change_func(
        +[](GstPromise* p, gpointer data) {
          auto& r = shared_from_data<Reply>(data);
          const GstStructure* s =
              gst_promise_wait(p) == GST_PROMISE_RESULT_REPLIED ? gst_promise_get_reply(p) : nullptr;
          std::lock_guard lock(r.m);
          r.stats = s ? gst_structure_copy(s) : nullptr;
          r.done = true;
          r.cv.notify_all();
        },
        new std::shared_ptr<Reply>(reply), shared_deleter<Reply>());
    g_signal_emit_by_name(w.get(), "get-stats", nullptr, promise);
    gst_promise_unref(promise);
    GstStructure* s = nullptr;
    {
      // Bounded: a busy webrtcbin gives the previous figures instead of a stall.
      std::unique_lock lock(reply->m);
      reply->cv.wait_for(lock, std::chrono::seconds(1), [&] { return reply->done; });
      s = std::exchange(reply->stats, nullptr);
    }
    if (s && std::getenv("WAZO_MEDIA_DUMP_STATS")) {
      gchar* text = gst_structure_to_string(s);
      std::fprintf(stderr, "%s\n", text);
      g_free(text);
    }
    if (s) {
      StreamStats audio{.kind = Kind::audio}, video{.kind = Kind::video};
      std::map<std::string, std::string> codec_of;  // codec-id -> mime type
      std::map<std::string, std::string> candidate_type_of;
      std::string local_candidate, remote_candidate;
      struct Item {
        GstWebRTCStatsType type;
        const GstStructure* s;
      };
      std::vector<Item> items;
      const int n = gst_structure_n_fields(s);
      for (int i = 0; i < n; ++i) {
        const GValue* value = gst_structure_get_value(s, gst_structure_nth_field_name(s, static_cast<guint>(i)));
        if (!GST_VALUE_HOLDS_STRUCTURE(value)) continue;
        const GstStructure* item = gst_value_get_structure(value);
        GstWebRTCStatsType type{};
        if (!gst_structure_get(item, "type", GST_TYPE_WEBRTC_STATS_TYPE, &type, nullptr)) continue;
        items.push_back({type, item});
        const char* id = gst_structure_get_string(item, "id");
        if (type == GST_WEBRTC_STATS_CODEC && id) {
          if (const char* mime = gst_structure_get_string(item, "mime-type")) codec_of[id] = mime;
        } else if ((type == GST_WEBRTC_STATS_LOCAL_CANDIDATE || type == GST_WEBRTC_STATS_REMOTE_CANDIDATE) && id) {
          if (const char* t = gst_structure_get_string(item, "candidate-type")) candidate_type_of[id] = t;
        } else if (type == GST_WEBRTC_STATS_CANDIDATE_PAIR) {
          if (const char* l = gst_structure_get_string(item, "local-candidate-id")) local_candidate = l;
          if (const char* r = gst_structure_get_string(item, "remote-candidate-id")) remote_candidate = r;
        }
      }
      // webrtcbin 1.22 labels every stream of a bundled transport with the first one's kind and codec: the SSRCs
      // (ours from the payloaders' caps, the peer's from webrtcbin's source pads) say which stream is which.
      std::map<guint, std::string> kind_of_ssrc;
      {
        std::lock_guard lock(mutex_);
        for (const auto& [branch, name] : {std::pair{&audio_send_, "audio"}, std::pair{&video_send_, "video"}}) {
          if (!branch->webrtc_pad) continue;
          if (GstCaps* caps = gst_pad_get_current_caps(branch->webrtc_pad)) {
            guint ssrc = 0;
            if (gst_structure_get_uint(gst_caps_get_structure(caps, 0), "ssrc", &ssrc)) kind_of_ssrc[ssrc] = name;
            gst_caps_unref(caps);
          }
        }
        if (audio_recv_.ssrc) kind_of_ssrc[*audio_recv_.ssrc] = "audio";
        if (video_recv_.ssrc) kind_of_ssrc[*video_recv_.ssrc] = "video";
      }
      std::set<std::pair<int, guint>> seen;  // each transport of a bundle reports the same streams again
      for (const auto& item : items) {
        std::string kind;
        guint ssrc = 0;
        if (gst_structure_get_uint(item.s, "ssrc", &ssrc)) {
          if (!seen.emplace(static_cast<int>(item.type), ssrc).second) continue;
          if (auto it = kind_of_ssrc.find(ssrc); it != kind_of_ssrc.end()) kind = it->second;
        }
        if (const char* k = gst_structure_get_string(item.s, "kind"); k && kind.empty()) kind = k;
        if (kind.empty()) {
          if (const char* c = gst_structure_get_string(item.s, "codec-id")) {
            const auto it = codec_of.find(c);
            if (it != codec_of.end()) kind = it->second.starts_with("video") ? "video" : "audio";
          }
        }
        if (kind.empty()) continue;
        read_rtp_stats(item.s, item.type, kind == "video" ? video : audio);
      }
      gst_structure_free(s);
      std::lock_guard lock(mutex_);
      audio.codec = audio_send_.codec.empty() ? audio_recv_.codec : audio_send_.codec;
      video.codec = video_send_.codec.empty() ? video_recv_.codec : video_send_.codec;
      result.audio = audio;
      if (video_mline_ >= 0 || video_recv_.bin) result.video = video;
      result.local_candidate_type = candidate_type_of[local_candidate];
      result.remote_candidate_type = candidate_type_of[remote_candidate];
    }
    GstWebRTCICEConnectionState ice = GST_WEBRTC_ICE_CONNECTION_STATE_NEW;
    g_object_get(w.get(), "ice-connection-state", &ice, nullptr);
    result.ice_state = ice_state_name(ice);
  } else {
    std::lock_guard lock(stats_mutex_);
    result = last_stats_;
    result.ice_state = "closed";
  }
  if (result.audio) {
    result.audio->decoded = audio_decoded_;
    result.audio->encoded = audio_encoded_;
    result.audio->level = level_;
    const auto& a = *result.audio;
    const double total =
        static_cast<double>(a.packets_received) + static_cast<double>(std::max<std::int64_t>(0, a.packets_lost));
    if (a.packets_received > 0) {
      result.mos =
          estimate_mos(total > 0 ? 100.0 * static_cast<double>(std::max<std::int64_t>(0, a.packets_lost)) / total : 0,
                       a.jitter_ms, a.round_trip_ms);
    }
  }
  if (result.video) {
    result.video->decoded = video_decoded_;
    result.video->encoded = video_encoded_;
  }
  if (w) {
    std::lock_guard lock(stats_mutex_);
    last_stats_ = result;
  }
  return result;
}

// ------------------------------------------------------------------------------------------------ handles

// The CallMedia the phone holds: a handle over the shared state. Dropping it closes the call's media.
class GstCallMedia final : public CallMedia {
 public:
  explicit GstCallMedia(std::shared_ptr<Call> call) : call_(std::move(call)) {}
  ~GstCallMedia() override { call_->close(); }

  void create_offer(SdpCallback done) override { call_->create_offer(std::move(done)); }
  void create_answer(std::string remote_offer, SdpCallback done) override {
    call_->create_answer(std::move(remote_offer), std::move(done));
  }
  Result<void> set_remote_answer(std::string sdp) override { return call_->set_remote_answer(std::move(sdp)); }
  void close() override { call_->close(); }

  void set_local_direction(Direction d) override { call_->set_local_direction(d); }
  Direction local_direction() const override { return call_->local_direction(); }
  Direction negotiated_direction() const override { return call_->negotiated_direction(); }
  void set_audio_muted(bool muted) override { call_->set_audio_muted(muted); }
  bool audio_muted() const override { return call_->audio_muted(); }
  void set_camera_enabled(bool enabled) override { call_->set_camera_enabled(enabled); }
  bool camera_enabled() const override { return call_->camera_enabled(); }
  void set_video_wanted(bool wanted) override { call_->set_video_wanted(wanted); }
  bool has_video() const override { return call_->has_video(); }
  Result<void> send_dtmf(char tone, std::chrono::milliseconds duration) override {
    return call_->send_dtmf(tone, duration);
  }
  bool dtmf_supported() const override { return call_->dtmf_supported(); }
  void request_ice_restart() override { call_->request_ice_restart(); }
  std::optional<std::uint64_t> packets_received() const override { return call_->packets_received(); }
  Result<void> set_audio_source(AudioSource source) override { return call_->set_audio_source(std::move(source)); }
  Result<void> set_video_source(VideoSource source) override { return call_->set_video_source(std::move(source)); }
  Result<void> set_audio_sink(AudioSink sink) override { return call_->set_audio_sink(std::move(sink)); }
  void set_output_volume(double volume) override { call_->set_output_volume(volume); }
  CallStats stats() const override { return call_->stats(); }
  void set_bridge(std::shared_ptr<AudioBridge> bridge) override { call_->set_bridge(std::move(bridge)); }
  bool bridged() const override { return call_->bridged(); }

 protected:
  Emitter& emitter() override { return call_->emitter(); }

 private:
  std::shared_ptr<Call> call_;
};

class GstMediaEngine final : public MediaEngine {
 public:
  explicit GstMediaEngine(Runtime& runtime) : runtime_(runtime) {}
  // A call whose handle is still held elsewhere (a SIP session) must not outlive the Runtime it posts to:
  // the engine, made after the Runtime and dropped before it, ends its calls' media.
  ~GstMediaEngine() override {
    std::vector<std::weak_ptr<Call>> calls;
    {
      std::lock_guard lock(mutex_);
      calls.swap(calls_);
    }
    for (auto& weak : calls) {
      if (auto call = weak.lock()) call->close();
    }
  }

  Result<std::shared_ptr<CallMedia>> create_call(const MediaOptions& options, bool video) override {
    auto call = std::make_shared<Call>(runtime_, options, video);
    {
      std::lock_guard lock(mutex_);
      std::erase_if(calls_, [](const auto& w) { return w.expired(); });
      calls_.push_back(call);
    }
    auto media = std::make_shared<GstCallMedia>(call);  // closes the call if build() fails half-way
    if (auto r = call->build(); !r) return std::move(r).error();
    return std::shared_ptr<CallMedia>(std::move(media));
  }

 private:
  Runtime& runtime_;
  std::mutex mutex_;
  std::vector<std::weak_ptr<Call>> calls_;
};

}  // namespace

Result<std::shared_ptr<MediaEngine>> make_gstreamer_engine(Runtime& runtime) {
  if (auto r = detail::ensure_gstreamer(); !r) return std::move(r).error();
  static constexpr std::array<std::pair<const char*, const char*>, 12> kRequired{{
      {"webrtcbin", "webrtc (gstreamer1.0-plugins-bad)"},
      {"nicesrc", "nice (gstreamer1.0-nice)"},
      {"dtlssrtpenc", "dtls (gstreamer1.0-plugins-bad)"},
      {"srtpenc", "srtp (gstreamer1.0-plugins-bad)"},
      {"opusenc", "opus (gstreamer1.0-plugins-base)"},
      {"opusdec", "opus (gstreamer1.0-plugins-base)"},
      {"rtpopuspay", "rtp (gstreamer1.0-plugins-good)"},
      {"vp8enc", "vpx (gstreamer1.0-plugins-good)"},
      {"vp8dec", "vpx (gstreamer1.0-plugins-good)"},
      {"audiotestsrc", "audiotestsrc (gstreamer1.0-plugins-base)"},
      {"videotestsrc", "videotestsrc (gstreamer1.0-plugins-base)"},
      {"appsink", "app (gstreamer1.0-plugins-base)"},
  }};
  for (const auto& [element, plugin] : kRequired) {
    GstElementFactory* f = gst_element_factory_find(element);
    if (!f) return media_error(std::string("the GStreamer element ") + element + " is missing: install " + plugin);
    gst_object_unref(f);
  }
  return std::shared_ptr<MediaEngine>(std::make_shared<GstMediaEngine>(runtime));
}

}  // namespace wazo::media
