#include "wazo/media/media.hpp"

#include <algorithm>
#include <cmath>

namespace wazo::media {

const char* to_string(Direction d) noexcept {
  switch (d) {
    case Direction::sendrecv:
      return "sendrecv";
    case Direction::sendonly:
      return "sendonly";
    case Direction::recvonly:
      return "recvonly";
    case Direction::inactive:
      return "inactive";
  }
  return "sendrecv";
}

// ITU-T G.107 E-model, simplified as most softphones do: R = 93.2 - Id - Ie_eff, with the one-way delay
// estimated as RTT/2 plus a jitter buffer of twice the jitter plus 10 ms of codec delay, and Opus's equipment
// impairment (Ie = 0, Bpl = 25 with FEC off; conservative) for packet loss.
double estimate_mos(double loss_percent, double jitter_ms, double round_trip_ms) noexcept {
  const double delay = std::max(0.0, round_trip_ms) / 2.0 + 2.0 * std::max(0.0, jitter_ms) + 10.0;
  double id = 0.024 * delay;
  if (delay > 177.3) id += 0.11 * (delay - 177.3);
  const double ppl = std::clamp(loss_percent, 0.0, 100.0);
  const double ie_eff = 0.0 + (95.0 - 0.0) * ppl / (ppl + 25.0);
  const double r = std::clamp(93.2 - id - ie_eff, 0.0, 100.0);
  const double mos = 1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6;
  return std::clamp(mos, 1.0, 4.5);
}

}  // namespace wazo::media
