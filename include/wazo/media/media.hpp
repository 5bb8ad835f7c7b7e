// WebRTC media options, devices, frames and statistics: the public face of the media layer (GStreamer webrtcbin
// underneath, never visible here). A phone call owns one media session made from these options.
//
//   wazo::media::MediaOptions m;
//   m.audio_source = {.type = AudioSource::Type::tone, .frequency = 440};
//   m.audio_sink = {.type = AudioSink::Type::callback,
//                   .on_frame = [](const AudioFrame& f) { /* 48 kHz s16 interleaved, on a media thread */ }};
//   m.ice_servers = {{.urls = {"turn:turn.example.com:3478?transport=udp"}, .username = "u", .credential = "p"}};
//
// Headless apps and tests use the tone / WAV / test-pattern sources and the WAV / callback sinks; desktops use
// devices (list_devices()) and may switch them during a call.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "wazo/core/result.hpp"

namespace wazo::media {

enum class Kind : std::uint8_t { audio, video };

// RFC 3264 direction, from our point of view.
enum class Direction : std::uint8_t { sendrecv, sendonly, recvonly, inactive };
[[nodiscard]] const char* to_string(Direction d) noexcept;

struct IceServer {
  std::vector<std::string> urls;  // stun:host:port, turn:host:port?transport=udp|tcp, turns:...
  std::string username;
  std::string credential;  // never logged
};
enum class IceTransportPolicy : std::uint8_t { all, relay };

// ------------------------------------------------------------------------------------------------ sources

struct AudioSource {
  enum class Type : std::uint8_t {
    none,      // send silence
    tone,      // a sine at `frequency` Hz, `volume` 0..1 (headless apps, tests, IVR prompts)
    wav_file,  // `path`, looped when `loop`
    device,    // a microphone: `device_id` from list_devices(), empty = the default one
  };
  Type type = Type::tone;
  double frequency = 440.0;
  double volume = 0.3;
  std::string path;
  bool loop = true;
  std::string device_id;
};

struct VideoSource {
  enum class Type : std::uint8_t {
    none,          // no outgoing video
    test_pattern,  // moving test pattern
    device,        // a camera: `device_id`, empty = the default one
    screen,        // screen capture (X11 ximagesrc; PipeWire where available)
  };
  Type type = Type::test_pattern;
  int width = 640;
  int height = 480;
  int fps = 30;
  std::string device_id;
};

// ------------------------------------------------------------------------------------------------ sinks

// Decoded audio handed to the application: 48 kHz, S16LE interleaved. Valid during the callback only.
struct AudioFrame {
  const std::int16_t* samples = nullptr;
  std::size_t frames = 0;  // samples per channel
  int rate = 48'000;
  int channels = 1;
  std::chrono::nanoseconds pts{0};
};
// Decoded video handed to the application: I420, tightly packed (Y, then U, then V). Valid during the callback.
struct VideoFrame {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  int width = 0;
  int height = 0;
  std::chrono::nanoseconds pts{0};
};

struct AudioSink {
  enum class Type : std::uint8_t {
    none,      // decode and count, play nowhere
    device,    // a speaker: `device_id`, empty = the default one
    wav_file,  // write a WAV file at `path` (finalised when the call ends)
    callback,  // on_frame, called on a media thread (the C++ form of the JavaScript SDK's stream.attach)
  };
  Type type = Type::none;
  std::string device_id;
  std::string path;
  std::function<void(const AudioFrame&)> on_frame;
};

struct VideoSink {
  enum class Type : std::uint8_t { none, window, callback };
  Type type = Type::none;
  std::function<void(const VideoFrame&)> on_frame;
};

// ------------------------------------------------------------------------------------------------ options

struct MediaOptions {
  AudioSource audio_source;
  AudioSink audio_sink;
  VideoSource video_source;  // used when the call has video
  VideoSink video_sink;
  std::vector<IceServer> ice_servers;
  IceTransportPolicy ice_transport_policy = IceTransportPolicy::all;
  // Extra local addresses to gather host candidates on. libnice skips loopback interfaces; when the machine has
  // no other interface up (a loopback-only network namespace, as in the media tests) 127.0.0.1 is added anyway.
  std::vector<std::string> ice_local_addresses;
  // How long an offer or answer waits for ICE gathering before it goes out with what it has.
  std::chrono::milliseconds ice_gathering_timeout{3'000};
  // The seed's iceCheckingTimeout: ICE must connect within it after the answer, or the call gets IceFailed.
  std::chrono::milliseconds ice_checking_timeout{10'000};
  // webrtcdsp on a device microphone (ignored for tone/WAV sources).
  bool echo_cancellation = true;
  bool noise_suppression = true;
  double output_volume = 1.0;  // 0..1 (device and callback sinks)
  int audio_bitrate = 32'000;  // Opus, bits/s
  // Opus encoder complexity, 0..10: 10 spends about twice the encoder CPU of 5 for a difference in speech quality
  // few hear at 32 kb/s (pjsip's default is 5 too).
  int audio_complexity = 5;
  int video_bitrate = 1'000'000;
  bool prefer_h264 = false;  // offer H.264 (openh264) before VP8
};

// ------------------------------------------------------------------------------------------------ devices

struct Device {
  enum class Kind : std::uint8_t { audio_input, audio_output, video_input };
  Kind kind = Kind::audio_input;
  std::string id;  // stable for the session of the machine; pass it back in AudioSource/AudioSink/VideoSource
  std::string name;
  bool is_default = false;
};
// The machine's microphones, speakers and cameras (GstDeviceMonitor). An empty list on a headless machine.
[[nodiscard]] Result<std::vector<Device>> list_devices();

// ------------------------------------------------------------------------------------------------ statistics

struct StreamStats {
  Kind kind = Kind::audio;
  std::string codec;  // "OPUS", "VP8", "H264"
  std::uint64_t bytes_sent = 0;
  std::uint64_t packets_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t packets_received = 0;
  std::int64_t packets_lost = 0;
  double jitter_ms = 0;
  double round_trip_ms = 0;   // from RTCP; 0 until known
  std::uint64_t decoded = 0;  // audio: samples per channel decoded; video: frames decoded
  double level = 0;           // audio: RMS of the last decoded second, 0..1 (hears the peer's tone)
  std::uint64_t encoded = 0;  // audio: samples sent; video: frames sent
};

struct CallStats {
  std::optional<StreamStats> audio;
  std::optional<StreamStats> video;
  std::string ice_state;             // "new", "checking", "connected", "completed", "failed", "disconnected", "closed"
  std::string local_candidate_type;  // "host", "srflx", "relay" of the selected pair, when known
  std::string remote_candidate_type;
  double mos = 0;  // E-model estimate (1..4.5) from loss, jitter and RTT; 0 before any audio
};

// An E-model (ITU-T G.107, simplified) MOS estimate for an Opus-like codec.
[[nodiscard]] double estimate_mos(double loss_percent, double jitter_ms, double round_trip_ms) noexcept;

}  // namespace wazo::media
