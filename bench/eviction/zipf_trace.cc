#include "bench/eviction/zipf_trace.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "bench/eviction/bench_common.h"

namespace hourglass::bench {
namespace {

// log1p(x)/x and expm1(x)/x, with their series near 0 where the quotient loses precision
// (alpha == 1 makes the argument exactly 0).
double Log1pOverX(double x) {
  if (std::fabs(x) > 1e-8) return std::log1p(x) / x;
  return 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x));
}
double Expm1OverX(double x) {
  if (std::fabs(x) > 1e-8) return std::expm1(x) / x;
  return 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x));
}

uint64_t Fnv1a(const std::vector<uint32_t>& ids) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (uint32_t id : ids) {
    for (int b = 0; b < 4; ++b) {
      h ^= (id >> (8 * b)) & 0xff;
      h *= 0x100000001b3ULL;
    }
  }
  return h;
}

// perm[rank - 1] = key id. Fisher-Yates with the trace's generator, drawn before any sample.
std::vector<uint32_t> RankToId(uint32_t keys, std::mt19937_64& rng) {
  std::vector<uint32_t> perm(keys);
  for (uint32_t i = 0; i < keys; ++i) perm[i] = i;
  for (uint32_t i = keys; i > 1; --i) {
    const uint64_t j = UniformBelow(rng, i);
    std::swap(perm[i - 1], perm[j]);
  }
  return perm;
}

}  // namespace

double UniformDouble(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

uint64_t UniformBelow(std::mt19937_64& rng, uint64_t n) {
  // Reject the top partial block so every residue is equally likely.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x = rng();
  for (int i = 0; i < 1000 && x >= limit; ++i) x = rng();  // p(reject) < 2^-32 for n < 2^32
  return x % n;
}

// Rejection-inversion as in Hoermann & Derflinger, "Rejection-inversion to generate variates
// from monotone discrete distributions" (1996), in the form of Apache Commons RNG's
// RejectionInversionZipfSampler: invert the integral of the hat h(x) = x^-alpha, accept k when
// the draw falls under the histogram bar of k.
ZipfSampler::ZipfSampler(uint64_t keys, double alpha) : keys_(keys), alpha_(alpha) {
  h_integral_x1_ = HIntegral(1.5) - 1.0;
  h_integral_n_ = HIntegral(static_cast<double>(keys) + 0.5);
  s_ = 2.0 - HIntegralInverse(HIntegral(2.5) - H(2.0));
}

double ZipfSampler::H(double x) const { return std::exp(-alpha_ * std::log(x)); }

double ZipfSampler::HIntegral(double x) const {
  const double log_x = std::log(x);
  return Expm1OverX((1.0 - alpha_) * log_x) * log_x;
}

double ZipfSampler::HIntegralInverse(double x) const {
  double t = x * (1.0 - alpha_);
  if (t < -1.0) t = -1.0;  // rounding only: the true value is > -1
  return std::exp(Log1pOverX(t) * x);
}

uint64_t ZipfSampler::Sample(std::mt19937_64& rng) const {
  // The acceptance rate is above 0.9 for every alpha; the bound only guards against a bug.
  for (int attempt = 0; attempt < 1'000'000; ++attempt) {
    const double u = h_integral_n_ + UniformDouble(rng) * (h_integral_x1_ - h_integral_n_);
    const double x = HIntegralInverse(u);
    double kd = std::floor(x + 0.5);
    if (kd < 1.0) kd = 1.0;
    if (kd > static_cast<double>(keys_)) kd = static_cast<double>(keys_);
    if (kd - x <= s_ || u >= HIntegral(kd + 0.5) - H(kd)) return static_cast<uint64_t>(kd);
  }
  Die("Zipf sampler: no acceptance in 10^6 attempts");
}

Trace GenerateTrace(uint32_t keys, double alpha, uint64_t seed, uint32_t warmup,
                    uint32_t measured) {
  if (keys == 0 || !(alpha > 0.0)) Die("GenerateTrace: keys must be >= 1 and alpha > 0");
  std::mt19937_64 rng(seed);
  const std::vector<uint32_t> perm = RankToId(keys, rng);
  const ZipfSampler zipf(keys, alpha);
  Trace t{};
  std::memcpy(t.header.magic, "HGZIPF1", 8);
  t.header.keys = keys;
  t.header.warmup = warmup;
  t.header.measured = measured;
  t.header.alpha = alpha;
  t.header.seed = seed;
  const uint64_t n = uint64_t{warmup} + measured;
  t.ids.resize(n);
  for (uint64_t i = 0; i < n; ++i) t.ids[i] = perm[zipf.Sample(rng) - 1];
  t.header.checksum = Fnv1a(t.ids);
  return t;
}

std::string CheckZipfShares(const Trace& trace) {
  const uint32_t keys = trace.header.keys;
  const double alpha = trace.header.alpha;
  std::mt19937_64 rng(trace.header.seed);
  const std::vector<uint32_t> perm = RankToId(keys, rng);
  std::vector<uint32_t> rank_of(keys);  // 1-based
  for (uint32_t r = 0; r < keys; ++r) rank_of[perm[r]] = r + 1;
  // Exact probabilities: p(r) = r^-alpha / sum.
  double harmonic = 0;
  for (uint32_t r = keys; r >= 1; --r) harmonic += std::pow(static_cast<double>(r), -alpha);
  std::string problems;
  const uint32_t tops[] = {1, 100, keys / 10 > 0 ? keys / 10 : 1};
  for (uint32_t top : tops) {
    double p = 0;
    for (uint32_t r = 1; r <= top; ++r) p += std::pow(static_cast<double>(r), -alpha);
    p /= harmonic;
    uint64_t hits = 0;
    for (uint32_t id : trace.ids) hits += rank_of[id] <= top;
    const double n = static_cast<double>(trace.ids.size());
    const double sigma = std::sqrt(n * p * (1.0 - p));
    const double diff = static_cast<double>(hits) - n * p;
    if (std::fabs(diff) > 6.0 * sigma + 1.0) {
      char line[200];
      std::snprintf(line, sizeof(line), "top %u ranks: %llu requests, expected %.0f (sigma %.0f); ",
                    top, static_cast<unsigned long long>(hits), n * p, sigma);
      problems += line;
    }
  }
  return problems;
}

void WriteTrace(const Trace& trace, const std::string& path) {
  const std::string tmp = path + ".partial";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) Die("cannot create " + tmp);
  const bool ok =
      std::fwrite(&trace.header, sizeof(trace.header), 1, f) == 1 &&
      std::fwrite(trace.ids.data(), sizeof(uint32_t), trace.ids.size(), f) == trace.ids.size();
  if (std::fclose(f) != 0 || !ok) Die("cannot write " + tmp);
  // Rename last: a reader never sees a half-written trace under the final name.
  if (std::rename(tmp.c_str(), path.c_str()) != 0) Die("cannot rename " + tmp);
}

Trace ReadTrace(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) Die("cannot open " + path);
  Trace t{};
  if (std::fread(&t.header, sizeof(t.header), 1, f) != 1 ||
      std::memcmp(t.header.magic, "HGZIPF1", 8) != 0) {
    Die(path + ": not a trace file");
  }
  const uint64_t n = uint64_t{t.header.warmup} + t.header.measured;
  t.ids.resize(n);
  if (std::fread(t.ids.data(), sizeof(uint32_t), n, f) != n) Die(path + ": truncated");
  std::fclose(f);
  if (Fnv1a(t.ids) != t.header.checksum) Die(path + ": checksum mismatch");
  for (uint32_t id : t.ids) {
    if (id >= t.header.keys) Die(path + ": key id out of range");
  }
  return t;
}

}  // namespace hourglass::bench
