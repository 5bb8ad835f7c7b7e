// Event decode + dispatch on one core, on the shared mix (../shared/bench-data/events-mix.jsonl: 2,000 websocketd
// v2 frames), against a baseline in the same run: nlohmann::json parse of the frame + name lookup in a map + a
// call — the C++ form of what the JavaScript SDK does per frame. Prints events/s for each and their ratio.
// The JavaScript SDK's figure on the same mix is 224,606 events/s (../shared/bench-data/README.md).
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "events/decoder.hpp"
#include "events/dispatcher.hpp"
#include "wazo/core/subscription.hpp"
#include "wazo/events/catalog.hpp"

namespace {

std::vector<std::string> g_frames;
std::size_t g_bytes = 0;

void load(const char* path) {
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    g_bytes += line.size();
    g_frames.push_back(std::move(line));
  }
}

// Baseline: parse the whole frame into a DOM, look the name up, call a handler.
void BM_Baseline_NlohmannParseLookupCall(benchmark::State& state) {
  std::map<std::string, std::function<void(const nlohmann::json&)>, std::less<>> handlers;
  std::size_t seen = 0;
  for (const char* name : {"chatd_presence_updated", "call_updated", "chatd_user_room_message_created",
                           "users_services_dnd_updated", "auth_session_expire_soon"}) {
    handlers[name] = [&seen](const nlohmann::json& data) { seen += data.size(); };
  }
  for (auto _ : state) {
    for (const auto& f : g_frames) {
      auto j = nlohmann::json::parse(f);
      const auto& data = j["data"];
      auto it = handlers.find(data["name"].get_ref<const std::string&>());
      if (it != handlers.end()) it->second(data["data"]);
    }
  }
  benchmark::DoNotOptimize(seen);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * g_frames.size()));
}

// The SDK's path: simdjson On Demand decode, then the Dispatcher (name handlers, "*" handlers, typed lookup).
// Each frame is copied into the receive buffer first, as the client does.
void BM_Sdk_DecodeDispatch(benchmark::State& state) {
  wazo::Emitter typed;
  wazo::events::detail::Dispatcher dispatcher(typed);
  wazo::events::detail::Decoder decoder;
  std::size_t seen = 0;
  std::vector<wazo::Subscription> subs;
  for (const char* name : {"chatd_presence_updated", "call_updated", "chatd_user_room_message_created",
                           "users_services_dnd_updated", "auth_session_expire_soon"}) {
    subs.push_back(dispatcher.on(name, [&seen](const wazo::events::RawEvent& e) { seen += e.payload_json.size(); }));
  }
  std::string buffer;
  for (auto _ : state) {
    for (const auto& f : g_frames) {
      buffer.assign(f);
      auto frame = decoder.decode(buffer);
      if (frame) dispatcher.dispatch(*frame);
    }
  }
  benchmark::DoNotOptimize(seen);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * g_frames.size()));
}

// The same with a typed handler for the most frequent event (its payload is parsed into ChatdPresenceUpdated).
void BM_Sdk_DecodeDispatchTypedPresence(benchmark::State& state) {
  wazo::Emitter typed;
  wazo::events::detail::Dispatcher dispatcher(typed);
  wazo::events::detail::Decoder decoder;
  std::size_t seen = 0;
  auto sub = typed.on<wazo::events::ChatdPresenceUpdated>(
      [&seen](const wazo::events::ChatdPresenceUpdated& p) { seen += p.state.size(); });
  std::string buffer;
  for (auto _ : state) {
    for (const auto& f : g_frames) {
      buffer.assign(f);
      auto frame = decoder.decode(buffer);
      if (frame) dispatcher.dispatch(*frame);
    }
  }
  benchmark::DoNotOptimize(seen);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * g_frames.size()));
}

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) {
      const double rate = r.counters.count("items_per_second") ? double(r.counters.at("items_per_second")) : 0.0;
      rates_[r.benchmark_name()] = rate;
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    const double base = rates_["BM_Baseline_NlohmannParseLookupCall"];
    const double sdk = rates_["BM_Sdk_DecodeDispatch"];
    const double typed = rates_["BM_Sdk_DecodeDispatchTypedPresence"];
    if (base > 0 && sdk > 0) {
      std::printf("\nframes: %zu, %.0f bytes on average\n", g_frames.size(),
                  static_cast<double>(g_bytes) / static_cast<double>(g_frames.size()));
      std::printf("baseline (nlohmann parse + lookup + call): %.0f events/s\n", base);
      std::printf("SDK decode + dispatch:                     %.0f events/s  (%.2fx the baseline)\n", sdk, sdk / base);
      std::printf("SDK with a typed presence handler:         %.0f events/s  (%.2fx the baseline)\n", typed,
                  typed / base);
    }
  }

 private:
  std::map<std::string, double> rates_;
};

}  // namespace

BENCHMARK(BM_Baseline_NlohmannParseLookupCall)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Sdk_DecodeDispatch)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Sdk_DecodeDispatchTypedPresence)->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  const char* path = std::getenv("WAZO_BENCH_EVENTS");
  load(path != nullptr ? path : WAZO_BENCH_DATA_DIR "/events-mix.jsonl");
  if (g_frames.empty()) {
    std::fprintf(stderr, "no frames: set WAZO_BENCH_EVENTS to events-mix.jsonl\n");
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  return 0;
}
