// `wazo call` and `wazo answer`: the real `wazo` binary twice (alice and bob, each logged in to a real
// wazo-dev-engine with its seeded WebRTC line), a real call through the engine's SIP proxy with the GStreamer media
// engine, in the media tests' loopback-only network namespace.
#include <signal.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <mutex>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "child_process.hpp"
#include "engine_process.hpp"
#include "pulse_process.hpp"

namespace wazo::cli {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using Outcome = test::ProcessOutcome;

// "    sent      12345 bytes, 100 packets" in the text statistics; nullopt when absent.
std::optional<std::uint64_t> bytes_in(const std::string& out, const std::string& direction) {
  std::smatch m;
  const std::regex re("\\n +" + direction + " +([0-9]+) bytes");
  if (!std::regex_search(out, m, re)) return std::nullopt;
  return std::stoull(m[1].str());
}

// Each line of a --json output that is a JSON object.
std::vector<Json> json_lines(const std::string& out) {
  std::vector<Json> found;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    auto j = Json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.is_object()) found.push_back(std::move(j));
  }
  return found;
}

// The last {"event":"statistics",...} line of a --json output.
std::optional<Json> json_stats(const std::string& out) {
  std::optional<Json> found;
  for (auto& j : json_lines(out)) {
    if (j.value("event", "") == "statistics") found = std::move(j);
  }
  return found;
}

std::vector<std::string> json_events(const std::string& out) {
  std::vector<std::string> names;
  for (const auto& j : json_lines(out)) names.push_back(j.value("event", ""));
  return names;
}

// The {"event":"counters"} objects of a --json output (printed right after each hold and resume).
std::vector<Json> json_counters(const std::string& out) {
  std::vector<Json> found;
  for (auto& j : json_lines(out)) {
    if (j.value("event", "") == "counters") found.push_back(std::move(j));
  }
  return found;
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

struct Wav {
  int rate = 0;
  int channels = 0;
  std::vector<std::int16_t> samples;  // interleaved
};

// A 16-bit PCM WAV file (the chunks in any order); nullopt when it is not one.
std::optional<Wav> read_wav(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  const std::string b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (b.size() < 12 || b.compare(0, 4, "RIFF") != 0 || b.compare(8, 4, "WAVE") != 0) return std::nullopt;
  auto u32 = [&](std::size_t p) {
    std::uint32_t v = 0;
    std::memcpy(&v, b.data() + p, 4);
    return v;
  };
  auto u16 = [&](std::size_t p) {
    std::uint16_t v = 0;
    std::memcpy(&v, b.data() + p, 2);
    return v;
  };
  Wav w;
  int bits = 0;
  for (std::size_t p = 12; p + 8 <= b.size();) {
    const std::string id = b.substr(p, 4);
    std::size_t size = u32(p + 4);
    const std::size_t body = p + 8;
    if (id == "fmt " && body + 16 <= b.size()) {
      w.channels = u16(body + 2);
      w.rate = static_cast<int>(u32(body + 4));
      bits = u16(body + 14);
    } else if (id == "data") {
      size = std::min(size, b.size() - body);
      w.samples.resize(size / 2);
      std::memcpy(w.samples.data(), b.data() + body, w.samples.size() * 2);
    }
    p = body + size + (size & 1);
  }
  if (bits != 16 || w.channels < 1 || w.rate <= 0) return std::nullopt;
  return w;
}

// The RMS (0..1) of a recording's first channel and its pitch from the zero crossings (Hz).
std::pair<double, double> level_and_pitch(const Wav& w) {
  double sum = 0;
  std::size_t crossings = 0;
  const std::size_t frames = w.samples.size() / static_cast<std::size_t>(w.channels);
  for (std::size_t i = 0; i < frames; ++i) {
    const double s = w.samples[i * static_cast<std::size_t>(w.channels)] / 32768.0;
    sum += s * s;
    if (i > 0 && (w.samples[(i - 1) * static_cast<std::size_t>(w.channels)] < 0) != (s < 0)) ++crossings;
  }
  if (frames == 0) return {0.0, 0.0};
  return {std::sqrt(sum / static_cast<double>(frames)),
          static_cast<double>(crossings) / 2.0 / (static_cast<double>(frames) / w.rate)};
}

class CliCall : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(WAZO_CLI_PATH)) << "no wazo binary at '" << WAZO_CLI_PATH << "'";
    ASSERT_TRUE(engine_.running()) << engine_.error();
    for (const char* who : {"alice", "bob"}) {
      const auto r = as(who, {"--host", engine_.url(), "login", who, "secret"});
      ASSERT_EQ(r.code, 0) << who << ": " << r.err;
    }
  }

  Outcome as(const std::string& who, const std::vector<std::string>& args,
             const std::function<void(pid_t, const std::string&)>& on_output = {}) {
    std::vector<std::string> env{"WAZO_SESSION_FILE=" + dir_.file(who + ".json")};
    env.insert(env.end(), extra_env_.begin(), extra_env_.end());
    return test::run_process(WAZO_CLI_PATH, args, env, {}, on_output);
  }

  // Runs `wazo answer ARGS` as bob in the background; returns once bob said he waits for calls (false when he
  // did not within 20 s). join_bob() gives his outcome.
  bool start_bob(std::vector<std::string> args) {
    args.insert(args.begin(), "answer");
    bob_ = std::thread([this, args] {
      auto r = as("bob", args, [this](pid_t, const std::string& out) {
        if (out.find("waiting for") != std::string::npos || out.find(R"("event":"registered")") != std::string::npos) {
          std::lock_guard lock(m_);
          ready_ = true;
          cv_.notify_all();
        }
      });
      std::lock_guard lock(m_);
      bob_outcome_ = std::move(r);
      done_ = true;
      cv_.notify_all();
    });
    std::unique_lock lock(m_);
    return cv_.wait_for(lock, 20s, [&] { return ready_ || done_; }) && ready_;
  }

  Outcome join_bob() {
    if (bob_.joinable()) bob_.join();
    std::lock_guard lock(m_);
    return bob_outcome_;
  }

  void TearDown() override { join_bob(); }

  test::EngineProcess engine_;
  test::TempDir dir_;
  std::vector<std::string> extra_env_;  // for every `wazo` run: "NAME=value"
  std::thread bob_;
  std::mutex m_;
  std::condition_variable cv_;
  bool ready_ = false;
  bool done_ = false;
  Outcome bob_outcome_;
};

TEST_F(CliCall, AliceCallsBobToneEachWayBothExitZeroAndBobRecordsAlicesTone) {
  const std::string wav = dir_.file("bob.wav");
  ASSERT_TRUE(start_bob({"--auto", "--count", "1", "--wait", "30", "--record", wav})) << join_bob().err;
  // alice's line given on the command line (any SIP-over-WebSocket server), her password on standard input.
  const auto alice = test::run_process(WAZO_CLI_PATH,
                                       {"call", "1002", "--for", "2", "--play", "tone", "--ws",
                                        "ws://127.0.0.1:" + std::to_string(engine_.port()) + "/api/asterisk/ws",
                                        "--user", "alicewebrtc", "--password", "-", "--domain", "wazo.local"},
                                       {"WAZO_SESSION_FILE=" + dir_.file("nobody.json")}, "Kq7xW3ka9PzR\n");
  const auto bob = join_bob();

  EXPECT_EQ(alice.code, 0) << alice.out << alice.err;
  EXPECT_EQ(bob.code, 0) << bob.out << bob.err;
  for (const auto* o : {&alice, &bob}) {
    EXPECT_NE(o->out.find(" s established"), std::string::npos) << o->out;
    EXPECT_NE(o->out.find(" s ended ("), std::string::npos) << o->out;
    EXPECT_GT(bytes_in(o->out, "sent").value_or(0), 0U) << o->out;
    EXPECT_GT(bytes_in(o->out, "received").value_or(0), 0U) << o->out;
    EXPECT_NE(o->out.find("MOS "), std::string::npos) << o->out;
  }
  EXPECT_NE(alice.out.find(" s calling 1002\n"), std::string::npos) << alice.out;
  EXPECT_NE(alice.out.find(" s ringing"), std::string::npos) << alice.out;
  EXPECT_NE(alice.out.find("ended (hangup)"), std::string::npos) << alice.out;
  EXPECT_NE(bob.out.find("incoming call from alicewebrtc"), std::string::npos) << bob.out;
  EXPECT_NE(bob.out.find("ended (remote_hangup)"), std::string::npos) << bob.out;
  // The passwords of the lines never show.
  EXPECT_EQ(alice.out.find("Kq7xW3ka9PzR"), std::string::npos);
  EXPECT_EQ(bob.out.find("Tz4mN8qe2VcL"), std::string::npos);

  // Bob's recording holds alice's 440 Hz tone: loud enough, and about 880 zero crossings a second.
  const auto w = read_wav(wav);
  ASSERT_TRUE(w) << "not a WAV file: " << wav;
  ASSERT_GT(w->samples.size(), static_cast<std::size_t>(w->rate * w->channels / 2)) << "under half a second";
  const auto [rms, hz] = level_and_pitch(*w);
  EXPECT_GT(rms, 0.02) << "the recording is silent";
  EXPECT_NEAR(hz, 440.0, 60.0) << "rms " << rms;
}

// Devices, with PulseAudio's virtual ones: `wazo devices` lists them with their ids; alice calls with the sine
// microphone and speaker A, bob records. Bob's recording holds the sine (PulseAudio's 440 Hz, not a tone of the
// CLI's), and PulseAudio gets bob's 660 Hz tone from speaker A, nothing from speaker B.
TEST_F(CliCall, DevicesAreListedAndUsedForTheCall) {
  test::PulseProcess pulse;
  ASSERT_TRUE(pulse.running()) << pulse.error();
  extra_env_ = {"PULSE_SERVER=" + pulse.server()};
  const auto listed = as("alice", {"--json", "devices"});
  ASSERT_EQ(listed.code, 0) << listed.err;
  std::string mic, speaker;
  for (const auto& j : json_lines(listed.out)) {
    if (j.value("kind", "") == "microphone" && j.value("name", "").find("ToneMic") != std::string::npos)
      mic = j.value("id", "");
    if (j.value("kind", "") == "speaker" && j.value("name", "") == "SpeakerA") speaker = j.value("id", "");
  }
  ASSERT_FALSE(mic.empty() || speaker.empty()) << listed.out;
  const auto text = as("alice", {"devices"});
  EXPECT_NE(text.out.find("speaker  " + speaker + "  SpeakerA"), std::string::npos) << text.out;

  const std::string wav = dir_.file("bob.wav");
  ASSERT_TRUE(start_bob({"--auto", "--count", "1", "--wait", "30", "--record", wav})) << join_bob().err;
  std::optional<Outcome> alice;
  std::thread caller([&] { alice = as("alice", {"call", "1002", "--for", "4", "--mic", mic, "--speaker", speaker}); });
  std::this_thread::sleep_for(2500ms);
  const double on_a = pulse.rms_of(std::string(test::PulseProcess::speaker_a) + ".monitor", 500ms);
  const double on_b = pulse.rms_of(std::string(test::PulseProcess::speaker_b) + ".monitor", 500ms);
  caller.join();
  const auto bob = join_bob();
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->code, 0) << alice->out << alice->err;
  EXPECT_EQ(bob.code, 0) << bob.out << bob.err;
  EXPECT_GT(on_a, 0.01) << "alice's speaker A should play bob's tone";
  EXPECT_GE(on_b, 0.0);
  EXPECT_LT(on_b, 0.001) << "nothing into speaker B";
  const auto w = read_wav(wav);
  ASSERT_TRUE(w) << "not a WAV file: " << wav;
  const auto [rms, hz] = level_and_pitch(*w);
  EXPECT_GT(rms, 0.01) << "bob should hear alice's sine microphone";
  EXPECT_NEAR(hz, 440.0, 60.0) << "rms " << rms;

  const auto both = as("alice", {"call", "1002", "--mic", mic, "--play", "tone"});
  EXPECT_EQ(both.code, 2);
  EXPECT_NE(both.err.find("--mic and --play exclude each other"), std::string::npos) << both.err;
  const auto camera = as("alice", {"call", "1002", "--camera", "default"});
  EXPECT_EQ(camera.code, 2);
  EXPECT_NE(camera.err.find("--camera is for video calls"), std::string::npos) << camera.err;
}

TEST_F(CliCall, HoldResumeAndDtmfAsJson) {
  ASSERT_TRUE(start_bob({"--auto", "--json", "--wait", "30", "--play", "tone:880"})) << join_bob().err;
  const auto alice = as("alice", {"--json", "call", "1002", "--for", "3", "--hold", "0.8:1", "--dtmf", "12#"});
  const auto bob = join_bob();
  EXPECT_EQ(alice.code, 0) << alice.out << alice.err;
  EXPECT_EQ(bob.code, 0) << bob.out << bob.err;

  const auto a_events = json_events(alice.out);
  for (const char* e : {"calling", "established", "held", "resumed", "dtmf_sent", "ended", "statistics"})
    EXPECT_TRUE(has(a_events, e)) << e << " missing in\n" << alice.out;
  const auto b_events = json_events(bob.out);
  for (const char* e : {"registered", "incoming", "established", "held", "resumed", "dtmf_received", "ended"})
    EXPECT_TRUE(has(b_events, e)) << e << " missing in\n" << bob.out;
  EXPECT_NE(bob.out.find(R"("remote":true)"), std::string::npos) << bob.out;

  // During the 1 s hold, alice (sendonly) goes on sending and bob (recvonly) stops: what alice receives and what
  // bob sends barely move (a 1 s tone is some 4000 bytes), the other direction does.
  const auto a_counters = json_counters(alice.out);
  const auto b_counters = json_counters(bob.out);
  ASSERT_EQ(a_counters.size(), 2U) << alice.out;
  ASSERT_EQ(b_counters.size(), 2U) << bob.out;
  auto delta = [](const std::vector<Json>& c, const char* key) {
    return c[1].value(key, std::int64_t{0}) - c[0].value(key, std::int64_t{0});
  };
  EXPECT_LT(delta(a_counters, "bytes_received"), 1500) << alice.out;
  EXPECT_GT(delta(a_counters, "bytes_sent"), 2500) << alice.out;
  EXPECT_LT(delta(b_counters, "bytes_sent"), 1500) << bob.out;
  EXPECT_GT(delta(b_counters, "bytes_received"), 2500) << bob.out;

  for (const auto* o : {&alice, &bob}) {
    const auto s = json_stats(o->out);
    ASSERT_TRUE(s) << o->out;
    ASSERT_TRUE((*s)["audio"].is_object()) << s->dump();
    EXPECT_GT((*s)["audio"].value("bytes_sent", 0), 0) << s->dump();
    EXPECT_GT((*s)["audio"].value("bytes_received", 0), 0) << s->dump();
    EXPECT_GT((*s)["audio"].value("decoded_seconds", 0.0), 0.5) << s->dump();
  }
}

TEST_F(CliCall, UnknownExtensionExitsOneAndSaysNotFound) {
  const auto r = as("alice", {"call", "1999", "--for", "1"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("wazo: error: call: 1999: not found (404"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("established"), std::string::npos) << r.out;
}

TEST_F(CliCall, BobNotRegisteredIsUnavailable) {
  const auto r = as("alice", {"call", "1002", "--for", "1"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("unavailable (480"), std::string::npos) << r.err;
}

TEST_F(CliCall, SigtermWhileWaitingUnregistersAndExitsOne) {
  bool signalled = false;
  const auto r = as("bob", {"answer", "--auto"}, [&](pid_t pid, const std::string& out) {
    if (!signalled && out.find("waiting for a call") != std::string::npos) {
      signalled = true;
      kill(pid, SIGTERM);
    }
  });
  EXPECT_TRUE(signalled) << r.out << r.err;
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("answer: interrupted after 0 of 1 calls"), std::string::npos) << r.err;
  // Unregistered on the way out: a call to bob now finds nobody.
  const auto call = as("alice", {"call", "1002", "--for", "1"});
  EXPECT_EQ(call.code, 1) << call.out << call.err;
  EXPECT_NE(call.err.find("unavailable (480"), std::string::npos) << call.err;
}

TEST_F(CliCall, UsageErrors) {
  auto r = as("alice", {"call"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("which extension?"), std::string::npos) << r.err;
  r = as("alice", {"call", "1002", "--hold", "2"});
  EXPECT_EQ(r.code, 2);
  r = as("alice", {"call", "1002", "--for", "2", "--hold", "1:3"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("within --for"), std::string::npos) << r.err;
  r = as("alice", {"call", "1002", "--play", dir_.file("missing.wav")});
  EXPECT_EQ(r.code, 2);
  r = as("alice", {"call", "1002", "--dtmf", "12x"});
  EXPECT_EQ(r.code, 2);
  r = as("alice", {"answer", "--count", "0"});
  EXPECT_EQ(r.code, 2);
  r = as("alice", {"answer", "1002"});
  EXPECT_EQ(r.code, 2);
  // answer alone with no call coming gives up after --wait.
  r = as("alice", {"answer", "--auto", "--wait", "0.5"});
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("no call came within 0.5 s"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace wazo::cli
