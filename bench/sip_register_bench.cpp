// Registrations per second through a real Kamailio, from one process: N SDK user agents (wazo::sip::UserAgent,
// one Runtime, so one I/O thread) register at the same time against a Kamailio started by the test fixture
// (tests/support/kamailio_process.hpp) with N generated users and digest auth.
//
//   Register/N    connect the WebSocket + REGISTER → 401 → REGISTER with credentials → 200, for N agents at once;
//                 items/s = registrations per second (the agents are then closed, untimed)
//   Reregister/N  N agents already connected and registered send a new REGISTER (register_line) at once;
//                 items/s = re-registrations per second
//
// Kamailio runs with 2 TCP workers on this 2-core machine: the figures measure the SDK and Kamailio together.
// Register/N opens and closes thousands of WS connections a second: Kamailio gets 1 GB of shared memory (each
// WS connection holds ~66 KB until about a second after it is closed; out of memory, Kamailio closes new
// connections at once and the agents fail with "connection lost: End of file").
// WAZO_BENCH_SIP_DEBUG=1: the SDK's debug log and Kamailio's log (at the first failure) on stderr.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "kamailio_process.hpp"
#include "wazo/core/runtime.hpp"
#include "wazo/sip/user_agent.hpp"

namespace {

using namespace std::chrono_literals;

constexpr int kMaxAgents = 100;

wazo::test::KamailioProcess& kamailio() {
  static wazo::test::KamailioProcess* kam = [] {
    wazo::test::KamailioOptions options;
    options.users.clear();
    options.debug_log = std::getenv("WAZO_BENCH_SIP_DEBUG") != nullptr;
    options.shm_mb = 1024;  // thousands of WS connections opened and closed per second (see KamailioOptions)
    for (int i = 0; i < kMaxAgents; ++i) {
      options.users.push_back({"user" + std::to_string(i), "pw" + std::to_string(i) + "secret"});
    }
    return new wazo::test::KamailioProcess(std::move(options));  // stopped at exit by main()
  }();
  return *kam;
}

wazo::Runtime& runtime() {
  // WAZO_BENCH_SIP_DEBUG=1: the SDK's debug log to stderr, Kamailio's to stderr at exit (to diagnose, not time).
  static const bool debug = std::getenv("WAZO_BENCH_SIP_DEBUG") != nullptr;
  static wazo::Runtime rt(wazo::RuntimeOptions{.log_sink =
                                                   [](const wazo::LogRecord& r) {
                                                     if (debug)
                                                       std::fprintf(stderr, "[sdk] %s\n",
                                                                    std::string(r.message).c_str());
                                                   },
                                               .log_level = debug ? wazo::LogLevel::debug : wazo::LogLevel::off});
  return rt;
}

std::unique_ptr<wazo::sip::UserAgent> make_agent(int i) {
  wazo::sip::UserAgentOptions o;
  o.server = kamailio().ws_url();
  o.domain = kamailio().options().domain;
  o.user = "user" + std::to_string(i);
  o.password = "pw" + std::to_string(i) + "secret";
  o.register_expires = 600s;
  o.reconnect.enabled = false;
  o.keep_alive.mode = wazo::sip::KeepAliveOptions::Mode::none;
  return std::make_unique<wazo::sip::UserAgent>(runtime(), std::move(o));
}

bool check_kamailio(benchmark::State& state) {
  if (!kamailio().running()) {
    state.SkipWithError(("Kamailio did not start: " + kamailio().error()).c_str());
    return false;
  }
  return true;
}

// Untimed teardown: unregister all the agents at once (so that Kamailio does not pile up bindings run after run:
// the 200 to REGISTER lists them all in its Contact), wait for them together for at most a few seconds, then
// close whatever is left.
void close_all(std::vector<std::unique_ptr<wazo::sip::UserAgent>>& agents) {
  std::vector<wazo::Async<void>> stops;
  stops.reserve(agents.size());
  for (auto& a : agents) stops.push_back(a->stop());
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  for (auto& s : stops) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    (void)s.get_for(std::max(left, std::chrono::milliseconds(0)));
  }
  for (auto& a : agents) a->close();
  agents.clear();
}

void report_failure(std::int64_t& failures, const std::string& why) {
  if (failures++ != 0) return;
  std::fprintf(stderr, "registration failed: %s\n", why.c_str());
  if (std::getenv("WAZO_BENCH_SIP_DEBUG") != nullptr) {
    std::fprintf(stderr, "--- Kamailio's log so far ---\n%s--- end ---\n", kamailio().log().c_str());
  }
}

void Register(benchmark::State& state) {
  if (!check_kamailio(state)) return;
  const int n = static_cast<int>(state.range(0));
  std::int64_t failures = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<std::unique_ptr<wazo::sip::UserAgent>> agents;
    for (int i = 0; i < n; ++i) agents.push_back(make_agent(i));
    std::vector<wazo::Async<void>> starts;
    starts.reserve(agents.size());
    state.ResumeTiming();
    for (auto& a : agents) starts.push_back(a->start());
    for (auto& s : starts) {
      auto r = s.get_for(30s);
      if (!r || !*r) report_failure(failures, r ? r->error().describe() : "timeout");
    }
    state.PauseTiming();
    close_all(agents);
    state.ResumeTiming();
  }
  // Items: the registrations that succeeded; failures are counted apart (and the first one is printed).
  state.SetItemsProcessed(state.iterations() * n - failures);
  state.counters["failures"] = static_cast<double>(failures);
}

void Reregister(benchmark::State& state) {
  if (!check_kamailio(state)) return;
  const int n = static_cast<int>(state.range(0));
  std::vector<std::unique_ptr<wazo::sip::UserAgent>> agents;
  for (int i = 0; i < n; ++i) agents.push_back(make_agent(i));
  {
    std::vector<wazo::Async<void>> starts;
    for (auto& a : agents) starts.push_back(a->start());
    for (auto& s : starts) {
      auto r = s.get_for(30s);
      if (!r || !*r) {
        state.SkipWithError("initial registration failed");
        close_all(agents);
        return;
      }
    }
  }
  std::int64_t failures = 0;
  for (auto _ : state) {
    std::vector<wazo::Async<void>> regs;
    regs.reserve(agents.size());
    for (auto& a : agents) regs.push_back(a->register_line());
    for (auto& r : regs) {
      auto res = r.get_for(30s);
      if (!res || !*res) report_failure(failures, res ? res->error().describe() : "timeout");
    }
  }
  close_all(agents);
  state.SetItemsProcessed(state.iterations() * n - failures);
  state.counters["failures"] = static_cast<double>(failures);
}

BENCHMARK(Register)->Arg(1)->Arg(10)->Arg(50)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(Reregister)->Arg(1)->Arg(10)->Arg(50)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (!wazo::test::KamailioProcess::available()) {
    std::fprintf(stderr, "%s\n", wazo::test::KamailioProcess::unavailable_message().c_str());
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  kamailio().stop();
  return 0;
}
