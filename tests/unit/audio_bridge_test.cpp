// The ad hoc conference's mixer, alone: mix-minus, saturation, bounded queues, members leaving.
#include "media/audio_bridge.hpp"

#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

namespace wazo::media {
namespace {

std::vector<std::int16_t> filled(std::size_t n, std::int16_t v) { return std::vector<std::int16_t>(n, v); }

TEST(AudioBridge, EachMemberGetsTheOthersButNotItself) {
  AudioBridge bridge;
  const auto a = bridge.join();
  const auto b = bridge.join();
  const auto c = bridge.join();
  EXPECT_EQ(bridge.members(), 3U);
  bridge.push(a, filled(960, 100));
  bridge.push(b, filled(960, 20));

  auto to_a = filled(960, 1);
  EXPECT_EQ(bridge.mix_into(a, to_a), 1U);  // b only
  EXPECT_EQ(to_a.front(), 21);
  EXPECT_EQ(to_a.back(), 21);

  auto to_c = filled(960, 0);
  EXPECT_EQ(bridge.mix_into(c, to_c), 2U);  // a and b
  EXPECT_EQ(to_c[500], 120);

  auto to_b = filled(960, 0);
  EXPECT_EQ(bridge.mix_into(b, to_b), 1U);
  EXPECT_EQ(to_b[0], 100);
  // Taken once: the next buffer of b has nothing more from a.
  auto again = filled(960, 0);
  EXPECT_EQ(bridge.mix_into(b, again), 0U);
  EXPECT_EQ(again[0], 0);
}

TEST(AudioBridge, ShortQueuesFillThePrefixAndTheRestWaits) {
  AudioBridge bridge;
  const auto a = bridge.join();
  const auto b = bridge.join();
  bridge.push(a, filled(480, 7));
  auto out = filled(960, 0);
  EXPECT_EQ(bridge.mix_into(b, out), 1U);
  EXPECT_EQ(out[479], 7);
  EXPECT_EQ(out[480], 0);
  bridge.push(a, filled(1500, 3));
  out = filled(960, 0);
  bridge.mix_into(b, out);
  EXPECT_EQ(bridge.queued(a, b), 540U);
}

TEST(AudioBridge, SumsSaturateInsteadOfWrapping) {
  AudioBridge bridge;
  const auto a = bridge.join();
  const auto b = bridge.join();
  const auto c = bridge.join();
  bridge.push(a, filled(10, 30'000));
  bridge.push(b, filled(10, 30'000));
  auto out = filled(10, 10'000);
  bridge.mix_into(c, out);
  EXPECT_EQ(out[0], 32'767);
  bridge.push(a, filled(10, -30'000));
  bridge.push(b, filled(10, -30'000));
  out = filled(10, -10'000);
  bridge.mix_into(c, out);
  EXPECT_EQ(out[0], -32'768);
}

TEST(AudioBridge, AListenerThatStopsTakingHoldsAtMost200Ms) {
  AudioBridge bridge;
  const auto a = bridge.join();
  const auto b = bridge.join();
  for (int i = 0; i < 100; ++i) bridge.push(a, filled(960, static_cast<std::int16_t>(i)));  // 2 s
  EXPECT_LE(bridge.queued(a, b), AudioBridge::kMaxQueued);
  // What is kept is the newest audio: the last push's value comes out last.
  std::vector<std::int16_t> out(bridge.queued(a, b), 0);
  bridge.mix_into(b, out);
  EXPECT_EQ(out.back(), 99);
}

TEST(AudioBridge, AMemberThatLeftNeitherSpeaksNorHears) {
  AudioBridge bridge;
  const auto a = bridge.join();
  const auto b = bridge.join();
  bridge.push(a, filled(960, 5));
  bridge.leave(a);
  EXPECT_EQ(bridge.members(), 1U);
  auto out = filled(960, 0);
  EXPECT_EQ(bridge.mix_into(b, out), 0U) << "what a said before leaving is dropped with it";
  bridge.push(a, filled(960, 5));
  EXPECT_EQ(bridge.mix_into(b, out), 0U);
  EXPECT_EQ(bridge.mix_into(a, out), 0U);
  // A late joiner hears only what is said after it joined.
  const auto c = bridge.join();
  bridge.push(b, filled(960, 9));
  auto to_c = filled(960, 0);
  EXPECT_EQ(bridge.mix_into(c, to_c), 1U);
  EXPECT_EQ(to_c[0], 9);
}

}  // namespace
}  // namespace wazo::media
