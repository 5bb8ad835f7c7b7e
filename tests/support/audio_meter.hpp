// The RMS of what an audio callback sink gets, over a window the test chooses (tests of volume and silence).
#pragma once

#include <cmath>
#include <cstdint>
#include <mutex>

#include "wazo/media/media.hpp"

namespace wazo::test {

class AudioMeter {
 public:
  // For AudioSink::on_frame (called on a media thread).
  void add(const media::AudioFrame& f) {
    const std::size_t n = f.frames * static_cast<std::size_t>(f.channels);
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double v = f.samples[i] / 32768.0;
      sum += v * v;
    }
    std::lock_guard lock(m_);
    sum_ += sum;
    n_ += n;
  }
  // The RMS (0..1) since the last call, or -1 when no sample came; starts a new window.
  double rms_and_reset() {
    std::lock_guard lock(m_);
    const double r = n_ ? std::sqrt(sum_ / static_cast<double>(n_)) : -1;
    sum_ = 0;
    n_ = 0;
    return r;
  }

 private:
  std::mutex m_;
  double sum_ = 0;
  std::uint64_t n_ = 0;
};

}  // namespace wazo::test
