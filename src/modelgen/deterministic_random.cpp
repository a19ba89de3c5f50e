#include "modelgen/deterministic_random.h"

#include <cassert>
#include <cmath>

namespace quant::modelgen {

uint64_t hash_name(std::string_view name) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

double coin_sum_unit_scale() {
  // sqrt is correctly rounded under IEEE-754, so this is the same double everywhere.
  static const double scale = 1.0 / (static_cast<double>(1 << 24) * std::sqrt(8.0 + 1.0 / 12.0));
  return scale;
}

double exp_small(double x) {
  assert(x >= -1.0 && x <= 1.0);
  // 1 + x + x^2/2! + ...: the 20th term is below 2^-60 for |x| <= 1.
  double sum = 1.0;
  double term = 1.0;
  for (int k = 1; k <= 20; ++k) {
    term = term * x / k;
    sum = sum + term;
  }
  return sum;
}

}  // namespace quant::modelgen
