// PulseAudio as a real process with virtual devices, for the device tests: two speakers (null sinks, whose
// monitors say what was played into them), a microphone that gives a 440 Hz sine and one that gives silence (the
// monitors of two more null sinks). Listens on a Unix socket in its own temporary directory (anonymous access), no
// D-Bus, no configuration file; stopped by PID.
//
//   wazo::test::PulseProcess pulse;
//   ASSERT_TRUE(pulse.running()) << pulse.error();
//   ScopedEnv server("PULSE_SERVER", pulse.server());
//   pulse.rms_of("speaker_a.monitor", 500ms)
#pragma once

#include <chrono>
#include <string>

#include <sys/types.h>

#include "engine_process.hpp"  // TempDir

namespace wazo::test {

class PulseProcess {
 public:
  // Device names (sink_name / source_name) and their descriptions (what a device list shows as the name).
  static constexpr const char* speaker_a = "speaker_a";           // "SpeakerA"
  static constexpr const char* speaker_b = "speaker_b";           // "SpeakerB"
  static constexpr const char* tone_mic = "tone_feed.monitor";    // "Monitor of ToneMic", 440 Hz
  static constexpr const char* quiet_mic = "quiet_feed.monitor";  // "Monitor of QuietMic", silence

  PulseProcess();  // starts pulseaudio and waits (up to ~10 s) for its socket to accept
  ~PulseProcess();
  PulseProcess(const PulseProcess&) = delete;
  PulseProcess& operator=(const PulseProcess&) = delete;

  [[nodiscard]] bool running() const { return pid_ > 0; }
  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] std::string server() const { return "unix:" + socket_; }  // for PULSE_SERVER
  [[nodiscard]] std::string log() const;
  int stop();

  // The RMS (0..1) of `duration` of 48 kHz mono recorded from `source` (parec), or -1 when recording failed.
  [[nodiscard]] double rms_of(const std::string& source, std::chrono::milliseconds duration) const;

  static bool available();
  static std::string unavailable_message();

 private:
  TempDir dir_;
  std::string socket_;
  pid_t pid_ = -1;
  std::string error_;
};

}  // namespace wazo::test
