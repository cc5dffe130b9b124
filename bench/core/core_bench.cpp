// presence-core-bench: the engine alone (no broker, no codec), in operations per second and heap
// bytes per member. Heap bytes come from glibc's mallinfo2() before and after building the state,
// so the figure is the engine's own allocation, not RSS.

#include <benchmark/benchmark.h>

#include <malloc.h>

#include <cstdint>
#include <string>
#include <vector>

#include "presence/core/engine.hpp"

namespace {

// Bytes glibc's malloc has handed out and not yet taken back (mallinfo2().uordblks).
std::int64_t live_bytes() { return static_cast<std::int64_t>(::mallinfo2().uordblks); }

}  // namespace

namespace {

using namespace presence::core;
using namespace std::chrono_literals;

const time_point t0 = time_point(std::chrono::milliseconds(1'700'000'000'000));

device_key dev(std::size_t i) { return {"u" + std::to_string(i), "d" + std::to_string(i)}; }
std::string party(std::size_t i) { return "p" + std::to_string(i); }
std::string session(std::size_t i, int n = 1) {
    return "s" + std::to_string(i) + "-" + std::to_string(n);
}
profile prof(std::size_t i) {
    return {"User " + std::to_string(i), "https://cdn.example.com/a/u" + std::to_string(i) + ".png",
            ""};
}

engine make_engine() { return engine(engine_config{.grace = 2min, .defer_snapshots = true}); }

// Connects n devices, each joining party i % parties; effects drained every `burst` inputs.
void fill(engine& e, std::size_t n, std::size_t parties, std::size_t burst = 100) {
    for (std::size_t i = 0; i < n; ++i) {
        e.on_connect(dev(i), session(i), prof(i), t0);
        e.on_join(party(i % parties), dev(i), session(i), t0);
        if (i % burst == 0) benchmark::DoNotOptimize(e.take_effects());
    }
    benchmark::DoNotOptimize(e.take_effects());
}

// Join then leave of one device in a party of size `range(0)`, effects drained after each input
// (the controller's worst case: one message per burst).
void bm_join_leave(benchmark::State& state) {
    const auto members = static_cast<std::size_t>(state.range(0));
    auto e = make_engine();
    fill(e, members, 1);
    const auto key = dev(members);
    e.on_connect(key, session(members), prof(members), t0);
    benchmark::DoNotOptimize(e.take_effects());
    for (auto _ : state) {
        e.on_join(party(0), key, session(members), t0);
        benchmark::DoNotOptimize(e.take_effects());
        e.on_leave(party(0), key, session(members), t0);
        benchmark::DoNotOptimize(e.take_effects());
    }
    state.SetItemsProcessed(state.iterations() * 2);
}
BENCHMARK(bm_join_leave)->Arg(5)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

// The same with the controller's coalescing hook refusing snapshots of parties above 256
// members (engine_config::want_snapshot): the cost a big party's change has between snapshots.
void bm_join_leave_coalesced(benchmark::State& state) {
    const auto members = static_cast<std::size_t>(state.range(0));
    auto e = engine(engine_config{.grace = 2min,
                                  .defer_snapshots = true,
                                  .want_snapshot = [](std::string_view, std::size_t n) {
                                      return n <= 256;
                                  }});
    fill(e, members, 1);
    const auto key = dev(members);
    e.on_connect(key, session(members), prof(members), t0);
    benchmark::DoNotOptimize(e.take_effects());
    for (auto _ : state) {
        e.on_join(party(0), key, session(members), t0);
        benchmark::DoNotOptimize(e.take_effects());
        e.on_leave(party(0), key, session(members), t0);
        benchmark::DoNotOptimize(e.take_effects());
    }
    state.SetItemsProcessed(state.iterations() * 2);
}
BENCHMARK(bm_join_leave_coalesced)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

// Joins and leaves spread over 2,000 parties of ~5 members, drained every 100 inputs.
void bm_churn_small_parties(benchmark::State& state) {
    constexpr std::size_t n = 10000;
    auto e = make_engine();
    fill(e, n, 2000);
    std::vector<bool> in(n, true);
    std::size_t i = 0;
    std::size_t ops = 0;
    for (auto _ : state) {
        const std::size_t d = (i * 7919) % n;
        ++i;
        if (in[d]) {
            e.on_leave(party(d % 2000), dev(d), session(d), t0);
        } else {
            e.on_join(party(d % 2000), dev(d), session(d), t0);
        }
        in[d] = !in[d];
        if (++ops % 100 == 0) benchmark::DoNotOptimize(e.take_effects());
    }
    benchmark::DoNotOptimize(e.take_effects());
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_churn_small_parties);

// A will then a reconnect (back) of one member of a 5-member party.
void bm_will_back(benchmark::State& state) {
    auto e = make_engine();
    fill(e, 10000, 2000);
    int n = 1;
    for (auto _ : state) {
        const std::size_t d = static_cast<std::size_t>(n) % 10000;
        e.on_will(dev(d), session(d, n), t0);  // stale unless current; keeps it cheap and real
        e.on_connect(dev(d), session(d, n + 1), {}, t0);
        benchmark::DoNotOptimize(e.take_effects());
        ++n;
    }
    state.SetItemsProcessed(state.iterations() * 2);
}
BENCHMARK(bm_will_back);

// Grace expiry: n members go reconnecting, then one tick expires them all.
void bm_expire(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    for (auto _ : state) {
        state.PauseTiming();
        auto e = make_engine();
        fill(e, n, n / 5 + 1);
        for (std::size_t i = 0; i < n; ++i) e.on_will(dev(i), session(i), t0);
        benchmark::DoNotOptimize(e.take_effects());
        state.ResumeTiming();
        e.tick(t0 + 3min);
        benchmark::DoNotOptimize(e.take_effects());
    }
    state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(bm_expire)->Arg(10000)->Unit(benchmark::kMillisecond);

// Heap bytes per member: parties of ~5 and one party of all members.
void bm_bytes_per_member(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    const auto parties = static_cast<std::size_t>(state.range(1));
    double per_member = 0;
    for (auto _ : state) {
        const auto before = live_bytes();
        {
            auto e = make_engine();
            fill(e, n, parties);
            per_member = static_cast<double>(live_bytes() - before) / static_cast<double>(n);
        }
    }
    state.counters["heap_bytes_per_member"] = per_member;
}
BENCHMARK(bm_bytes_per_member)
    ->Args({10000, 2000})
    ->Args({10000, 1})
    ->Args({50000, 10000})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
