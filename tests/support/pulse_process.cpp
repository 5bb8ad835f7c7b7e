#include "pulse_process.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child_process.hpp"
#include "server_process.hpp"

namespace wazo::test {

namespace {

using namespace std::chrono_literals;

constexpr const char* kPulseaudio = "/usr/bin/pulseaudio";
constexpr const char* kParec = "/usr/bin/parec";

}  // namespace

bool PulseProcess::available() { return access(kPulseaudio, X_OK) == 0 && access(kParec, X_OK) == 0; }

std::string PulseProcess::unavailable_message() {
  return "PulseAudio is not installed: pulseaudio and parec are needed; install the Debian packages pulseaudio, "
         "pulseaudio-utils and gstreamer1.0-pulseaudio";
}

PulseProcess::PulseProcess() {
  error_ = why_not_startable(!dir_.path().empty(), available(), unavailable_message());
  if (!error_.empty()) return;
  socket_ = dir_.file("native");
  const std::string home = dir_.file("home");
  const std::string runtime = dir_.file("runtime");
  mkdir(home.c_str(), 0700);
  mkdir(runtime.c_str(), 0700);
  // Through env(1): the server's own HOME and runtime directories, so that nothing of the user's session is used.
  ServerStart start;
  start.name = "pulseaudio";
  start.args = {"/usr/bin/env", "HOME=" + home, "XDG_RUNTIME_DIR=" + runtime, "PULSE_RUNTIME_PATH=" + runtime,
                kPulseaudio,
                "-n",  // no default.pa: only the modules below
                "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no", "--disallow-exit", "--log-target=stderr",
                "-L", "module-native-protocol-unix auth-anonymous=1 socket=" + socket_, "-L",
                std::string("module-null-sink sink_name=") + speaker_a +
                    " rate=48000 sink_properties=device.description=SpeakerA",
                "-L",
                std::string("module-null-sink sink_name=") + speaker_b +
                    " rate=48000 sink_properties=device.description=SpeakerB",
                // The sine microphone: a sine played into a null sink, heard on its monitor (module-sine-source stalls
                // pulsesrc after 200 ms).
                "-L", "module-null-sink sink_name=tone_feed rate=48000 sink_properties=device.description=ToneMic",
                "-L", "module-sine sink=tone_feed frequency=440", "-L",
                // The silent one the same way: module-null-source too stalls pulsesrc after a few packets.
                "module-null-sink sink_name=quiet_feed rate=48000 sink_properties=device.description=QuietMic"};
  start.output = dir_.file("pulseaudio.log");
  start.ready = [path = socket_](pid_t) { return unix_socket_accepts(path); };
  start.waiting_for = "open its socket " + socket_;
  pid_ = start_server(std::move(start), error_);
}

PulseProcess::~PulseProcess() { stop(); }

int PulseProcess::stop() { return stop_server(pid_); }

std::string PulseProcess::log() const { return read_whole_file(dir_.file("pulseaudio.log")); }

double PulseProcess::rms_of(const std::string& source, std::chrono::milliseconds duration) const {
  const long bytes = 48 * 2 * duration.count();
  const auto got =
      run_process("/bin/sh",
                  {"-c", std::string(kParec) + " -d " + source +
                             " --raw --format=s16le --rate=48000 --channels=1 --latency-msec=20 | head -c " +
                             std::to_string(bytes)},
                  {"PULSE_SERVER=" + server()});
  if (got.out.size() < static_cast<std::size_t>(bytes)) return -1;
  double sum = 0;
  const std::size_t n = got.out.size() / 2;
  for (std::size_t i = 0; i < n; ++i) {
    std::int16_t v = 0;
    std::memcpy(&v, got.out.data() + 2 * i, 2);
    sum += (v / 32768.0) * (v / 32768.0);
  }
  return std::sqrt(sum / static_cast<double>(n));
}

}  // namespace wazo::test
