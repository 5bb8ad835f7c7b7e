// The user agent's side of digest authentication: the retry rule (answer a challenge once; another one after
// that is a refusal of the credentials unless it says stale=true; never a loop), and random tokens for tags,
// Call-IDs and branches. Challenge parsing and the Authorization value come from sip/detail/digest.hpp.
#pragma once

#include <random>
#include <string>

#include "sip/detail/digest.hpp"
#include "sip/detail/parse_util.hpp"

namespace wazo::sip::detail {

inline std::string random_token(std::size_t n) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::uniform_int_distribution<int> d(0, 35);
  std::string s(n, 'x');
  for (auto& ch : s) ch = kChars[d(rng)];
  return s;
}

// The retry rule for one request chain (REGISTER, INVITE, ...).
struct AuthRetry {
  int answered = 0;
  int stale_rounds = 0;
  // True when `c` may be answered; records it.
  bool admit(const DigestChallenge& c) {
    if (answered > 0 && !c.stale) return false;
    if (c.stale && ++stale_rounds > 2) return false;
    ++answered;
    return true;
  }
};

}  // namespace wazo::sip::detail
