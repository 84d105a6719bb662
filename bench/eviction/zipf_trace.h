#pragma once

// The seeded Zipf read-through trace of the eviction benchmark, written once to a file so that
// hourglass and Redis replay exactly the same requests.
//
// A trace is `warmup + measured` key ids in [0, keys). Rank r (1 = most popular) is drawn with
// probability r^-alpha / H(keys, alpha) by rejection-inversion (Hoermann & Derflinger 1996: exact,
// O(1) per draw, no table); ranks map to key ids through a seeded permutation so that popular
// keys are not adjacent (nor on neighbouring hash slots). Everything derives from one
// std::mt19937_64 seeded with `seed`, through integer arithmetic only (no std::*_distribution,
// whose output differs between standard libraries), so a seed names one trace.
//
// File format (little-endian, as written by this machine): a 48-byte `TraceHeader`, then
// `warmup + measured` uint32 key ids.
//
// Thread-safety: ZipfSampler is not thread-safe (it holds the generator); the free functions
// are.

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace hourglass::bench {

class ZipfSampler {
 public:
  // `keys` >= 1, `alpha` > 0 (alpha == 1 is handled).
  ZipfSampler(uint64_t keys, double alpha);
  // A rank in [1, keys].
  uint64_t Sample(std::mt19937_64& rng) const;

 private:
  double H(double x) const;
  double HIntegral(double x) const;
  double HIntegralInverse(double x) const;

  uint64_t keys_;
  double alpha_;
  double h_integral_x1_;
  double h_integral_n_;
  double s_;
};

// A uniform double in [0, 1) from the top 53 bits of one draw.
double UniformDouble(std::mt19937_64& rng);
// A uniform integer in [0, n), n >= 1, unbiased (rejection).
uint64_t UniformBelow(std::mt19937_64& rng, uint64_t n);

struct TraceHeader {
  char magic[8];  // "HGZIPF1\0"
  uint32_t keys;
  uint32_t warmup;
  uint32_t measured;
  uint32_t reserved;
  double alpha;
  uint64_t seed;
  uint64_t checksum;  // FNV-1a over the ids, to catch a truncated or foreign file
};
static_assert(sizeof(TraceHeader) == 48);

struct Trace {
  TraceHeader header;
  std::vector<uint32_t> ids;  // warmup first, then measured
};

// Generates the trace. Deterministic in (keys, alpha, seed, warmup, measured).
Trace GenerateTrace(uint32_t keys, double alpha, uint64_t seed, uint32_t warmup, uint32_t measured);

// Compares the rank frequencies of `trace` with the exact Zipf probabilities (top 1, top 100,
// top 10 % of ranks); returns an empty string when every share is within 6 standard deviations,
// else a description. The rank permutation is re-derived from the header's seed.
std::string CheckZipfShares(const Trace& trace);

// Write / read a trace file. Both abort with a message on an I/O error or a malformed file.
void WriteTrace(const Trace& trace, const std::string& path);
Trace ReadTrace(const std::string& path);

}  // namespace hourglass::bench
