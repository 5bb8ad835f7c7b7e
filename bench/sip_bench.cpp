// SIP message parse and serialise on one core, on the six shared messages (../shared/bench-data/sip-messages:
// INVITE with a WebRTC offer, 200 OK with an answer, REGISTER with Authorization, 401, NOTIFY with sipfrag,
// OPTIONS), against a baseline in the same run: the least work any parser does — split the bytes into lines with
// memchr and each header line into name/value views, no validation, no copies. Prints messages/s and the ratios.
// SIP.js 0.21.2 on the same set: 1,095 messages/s parse (INVITE 1,044/s), 13 µs to serialise the INVITE
// (../shared/bench-data/README.md).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

#include "wazo/sip/message.hpp"

namespace {

std::vector<std::string> g_messages;
std::string g_invite;
std::size_t g_bytes = 0;

void load(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".txt") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& p : files) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    g_bytes += ss.str().size();
    if (p.filename().string().starts_with("invite")) g_invite = ss.str();
    g_messages.push_back(ss.str());
  }
}

// Baseline: lines by memchr, name/value views split at ':', the body as the rest. No checks at all.
std::size_t split_only(std::string_view m) {
  std::size_t pos = 0;
  std::size_t n = 0;
  while (pos < m.size()) {
    const void* nl = std::memchr(m.data() + pos, '\n', m.size() - pos);
    if (nl == nullptr) break;
    const auto end = static_cast<std::size_t>(static_cast<const char*>(nl) - m.data());
    std::string_view line = m.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    const std::size_t colon = line.find(':');
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
    benchmark::DoNotOptimize(name.data());
    benchmark::DoNotOptimize(value.data());
    ++n;
  }
  const std::string_view body = m.substr(pos);
  benchmark::DoNotOptimize(body.data());
  return n;
}

void BM_Baseline_SplitLines(benchmark::State& state) {
  for (auto _ : state) {
    for (const auto& m : g_messages) benchmark::DoNotOptimize(split_only(m));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * g_messages.size()));
}

void BM_Sdk_Parse(benchmark::State& state) {
  for (auto _ : state) {
    for (const auto& m : g_messages) {
      auto r = wazo::sip::Message::parse(m);
      benchmark::DoNotOptimize(r);
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * g_messages.size()));
}

// What a user agent does with each incoming message: parse, then read the top Via, From, To and CSeq.
void BM_Sdk_ParseAndReadDialogHeaders(benchmark::State& state) {
  for (auto _ : state) {
    for (const auto& m : g_messages) {
      auto r = wazo::sip::Message::parse(m);
      if (!r) continue;
      auto via = r->top_via();
      auto from = r->from();
      auto to = r->to();
      auto cseq = r->cseq();
      benchmark::DoNotOptimize(via);
      benchmark::DoNotOptimize(from);
      benchmark::DoNotOptimize(to);
      benchmark::DoNotOptimize(cseq);
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * g_messages.size()));
}

void BM_Baseline_SplitLinesInvite(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(split_only(g_invite));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_Sdk_ParseInvite(benchmark::State& state) {
  for (auto _ : state) {
    auto r = wazo::sip::Message::parse(g_invite);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

// Baseline for serialising: copy the INVITE's wire bytes into a new string (what any serialiser must at least do).
void BM_Baseline_CopyInvite(benchmark::State& state) {
  for (auto _ : state) {
    std::string out(g_invite);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_Sdk_SerializeInvite(benchmark::State& state) {
  auto m = wazo::sip::Message::parse(g_invite);
  if (!m) {
    state.SkipWithError("the INVITE does not parse");
    return;
  }
  for (auto _ : state) {
    std::string out = m->serialize();
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
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
    const double base = rates_["BM_Baseline_SplitLines"];
    const double parse = rates_["BM_Sdk_Parse"];
    const double views = rates_["BM_Sdk_ParseAndReadDialogHeaders"];
    const double base_invite = rates_["BM_Baseline_SplitLinesInvite"];
    const double invite = rates_["BM_Sdk_ParseInvite"];
    const double copy = rates_["BM_Baseline_CopyInvite"];
    const double ser = rates_["BM_Sdk_SerializeInvite"];
    if (base <= 0 || parse <= 0) return;
    std::printf("\nmessages: %zu, %.0f bytes on average\n", g_messages.size(),
                static_cast<double>(g_bytes) / static_cast<double>(g_messages.size()));
    std::printf("baseline (split lines, no checks):  %.0f messages/s\n", base);
    std::printf("SDK parse, the six messages:        %.0f messages/s  (%.2fx the baseline; SIP.js 1,095/s: %.0fx)\n",
                parse, parse / base, parse / 1095.0);
    if (views > 0) {
      std::printf("SDK parse + Via/From/To/CSeq views:  %.0f messages/s  (SIP.js: %.0fx)\n", views, views / 1095.0);
    }
    if (invite > 0 && base_invite > 0) {
      std::printf("SDK parse, the INVITE:              %.0f messages/s  (%.2fx the baseline; SIP.js 1,044/s: %.0fx)\n",
                  invite, invite / base_invite, invite / 1044.0);
    }
    if (ser > 0 && copy > 0) {
      std::printf("SDK serialise, the INVITE:          %.0f ns  (a plain copy: %.0f ns; SIP.js 13 us: %.0fx)\n",
                  1e9 / ser, 1e9 / copy, 13000.0 / (1e9 / ser));
    }
  }

 private:
  std::map<std::string, double> rates_;
};

}  // namespace

BENCHMARK(BM_Baseline_SplitLines)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Sdk_Parse)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Sdk_ParseAndReadDialogHeaders)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Baseline_SplitLinesInvite)->Unit(benchmark::kNanosecond);
BENCHMARK(BM_Sdk_ParseInvite)->Unit(benchmark::kNanosecond);
BENCHMARK(BM_Baseline_CopyInvite)->Unit(benchmark::kNanosecond);
BENCHMARK(BM_Sdk_SerializeInvite)->Unit(benchmark::kNanosecond);

int main(int argc, char** argv) {
  const char* dir = std::getenv("WAZO_BENCH_SIP_MESSAGES");
  load(dir != nullptr ? dir : WAZO_BENCH_DATA_DIR "/sip-messages");
  if (g_messages.size() != 6 || g_invite.empty()) {
    std::fprintf(stderr, "expected the six shared SIP messages: set WAZO_BENCH_SIP_MESSAGES\n");
    return 1;
  }
  for (const auto& m : g_messages) {
    if (auto r = wazo::sip::Message::parse(m); !r) {
      std::fprintf(stderr, "a shared message does not parse: %s\n", r.error().message.c_str());
      return 1;
    }
  }
  benchmark::Initialize(&argc, argv);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  return 0;
}
