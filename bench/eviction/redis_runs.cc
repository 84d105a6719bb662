#include "bench/eviction/redis_runs.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string_view>

#include "bench/eviction/bench_common.h"
#include "bench/eviction/key_format.h"
#include "bench/eviction/resp_client.h"

namespace hourglass::bench {
namespace {

// utime + stime of `pid`, from /proc/PID/stat (fields 14 and 15, after the parenthesised name).
double ProcessCpuSeconds(int pid) {
  if (pid <= 0) return -1;
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) Die("cannot read " + path);
  char buf[1024];
  const size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) Die("malformed " + path);
  unsigned long long utime = 0, stime = 0;
  // After ")": state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
  // utime(14) stime(15).
  if (std::sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                  &stime) != 2) {
    Die("malformed " + path);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double CpuDelta(int pid, double before) { return pid > 0 ? ProcessCpuSeconds(pid) - before : -1; }

// An integer field of INFO `section` ("evicted_keys", "used_memory").
int64_t InfoField(RespClient& c, std::string_view section, std::string_view field) {
  const RespReply r = c.Command({"INFO", section});
  if (r.type != RespReply::Type::kBulk) Die("INFO: not a bulk string");
  // Lines are "name:value\r\n"; match the name at a line start.
  const std::string needle = std::string(field) + ":";
  for (size_t at = 0; at < r.str.size();) {
    if (r.str.compare(at, needle.size(), needle) == 0) {
      return std::strtoll(r.str.c_str() + at + needle.size(), nullptr, 10);
    }
    const size_t nl = r.str.find('\n', at);
    if (nl == std::string::npos) break;
    at = nl + 1;
  }
  Die("INFO " + std::string(section) + ": no " + std::string(field));
}

int64_t DbSize(RespClient& c) {
  const RespReply r = c.Command({"DBSIZE"});
  if (r.type != RespReply::Type::kInteger) Die("DBSIZE: not an integer");
  return r.integer;
}

std::string ConfigGet(RespClient& c, std::string_view name) {
  const RespReply r = c.Command({"CONFIG", "GET", name});
  if (r.type != RespReply::Type::kArray || r.elements.size() != 2 ||
      r.elements[1].type != RespReply::Type::kBulk) {
    Die("CONFIG GET " + std::string(name) + ": unexpected reply");
  }
  return r.elements[1].str;
}

void ExpectOk(RespClient& c, std::initializer_list<std::string_view> args) {
  const RespReply r = c.Command(args);
  if (r.type != RespReply::Type::kSimple || r.str != "OK") Die("command did not reply +OK");
}

// Pipelines `count` SETEX of ids [first, first + count) in batches; every reply must be +OK.
void SetexRange(RespClient& c, uint64_t first, uint64_t count, std::string_view value) {
  char key[kKeyBytes];
  const std::string ttl = std::to_string(kTtlMs / 1000);
  for (uint64_t done = 0; done < count;) {
    const uint64_t len = std::min<uint64_t>(kBatch, count - done);
    for (uint64_t j = 0; j < len; ++j)
      c.Append({"SETEX", MakeKey(first + done + j, key), ttl, value});
    c.Flush();
    for (uint64_t j = 0; j < len; ++j) c.ExpectSimple("OK");
    done += len;
  }
}

RedisFloodResult TimedFlood(RespClient& c, const RedisTarget& target, uint64_t writes,
                            uint64_t first_id) {
  const std::string value(kValueBytes, 'f');
  RedisFloodResult r;
  r.flood.resident_before = static_cast<uint64_t>(DbSize(c));
  const int64_t evicted0 = InfoField(c, "stats", "evicted_keys");
  const double server0 = target.pid > 0 ? ProcessCpuSeconds(target.pid) : 0;
  const double cpu0 = CpuSeconds();
  const double t0 = NowSeconds();
  SetexRange(c, first_id, writes, value);
  r.flood.seconds = NowSeconds() - t0;
  r.flood.cpu_seconds = CpuSeconds() - cpu0;  // the client's
  r.server_cpu_seconds = CpuDelta(target.pid, server0);
  r.flood.writes = writes;
  r.flood.evicted = static_cast<uint64_t>(InfoField(c, "stats", "evicted_keys") - evicted0);
  return r;
}

}  // namespace

RedisHitRatioResult ReplayOnRedis(const Trace& trace, const RedisTarget& target) {
  RespClient c(target.port);
  RedisHitRatioResult out;
  out.policy = ConfigGet(c, "maxmemory-policy");
  out.maxmemory = std::strtoull(ConfigGet(c, "maxmemory").c_str(), nullptr, 10);
  if (DbSize(c) != 0) Die("the Redis server is not empty");
  const int64_t evicted0 = InfoField(c, "stats", "evicted_keys");
  const std::string value(kValueBytes, 'v');
  const std::string ttl = std::to_string(kTtlMs / 1000);
  const uint64_t warmup = trace.header.warmup;
  const uint64_t n = trace.ids.size();
  HitRatioResult& r = out.hit;
  char keys[kBatch][kKeyBytes];
  bool hit[kBatch];
  std::string got;
  const double server0 = target.pid > 0 ? ProcessCpuSeconds(target.pid) : 0;
  const double t0 = NowSeconds();
  for (uint64_t start = 0; start < n; start += kBatch) {
    const int len = static_cast<int>(std::min<uint64_t>(kBatch, n - start));
    for (int j = 0; j < len; ++j) c.Append({"GET", MakeKey(trace.ids[start + j], keys[j])});
    c.Flush();
    int misses = 0;
    for (int j = 0; j < len; ++j) {
      hit[j] = c.ReadBulkOrNil(&got);
      if (hit[j] && got != value) Die("GET returned a value that was never written");
      if (start + j >= warmup) {
        ++r.measured;
        r.hits += hit[j];
      }
      misses += !hit[j];
    }
    if (misses == 0) continue;
    for (int j = 0; j < len; ++j) {
      if (!hit[j]) c.Append({"SET", std::string_view(keys[j], kKeyBytes), value, "EX", ttl});
    }
    c.Flush();
    for (int j = 0; j < misses; ++j) c.ExpectSimple("OK");
    r.writes += misses;
  }
  r.seconds = NowSeconds() - t0;
  out.server_cpu_seconds = CpuDelta(target.pid, server0);
  r.resident_keys = static_cast<uint64_t>(DbSize(c));
  r.evicted = static_cast<uint64_t>(InfoField(c, "stats", "evicted_keys") - evicted0);
  r.used_bytes = static_cast<uint64_t>(InfoField(c, "memory", "used_memory"));
  return out;
}

RedisFloodResult FloodFullRedis(const RedisTarget& target, uint64_t cap_bytes, uint64_t writes,
                                uint64_t id_base) {
  RespClient c(target.port);
  ExpectOk(c, {"FLUSHALL"});
  ExpectOk(c, {"CONFIG", "SET", "maxmemory", std::to_string(cap_bytes)});
  ExpectOk(c, {"CONFIG", "SET", "maxmemory-policy", "allkeys-lru"});
  const int64_t evicted0 = InfoField(c, "stats", "evicted_keys");
  const std::string value(kValueBytes, 'p');
  // Fill in steps of 10 k keys until Redis starts evicting; bounded by 16 B per key of the cap.
  uint64_t id = 0;
  const uint64_t bound = cap_bytes / 16;
  while (InfoField(c, "stats", "evicted_keys") == evicted0) {
    if (id >= bound) Die("Redis never filled");
    SetexRange(c, id_base + id, 10'000, value);
    id += 10'000;
  }
  return TimedFlood(c, target, writes, id_base + id);
}

RedisFloodResult FloodUncappedRedis(const RedisTarget& target, uint64_t resident, uint64_t writes,
                                    uint64_t id_base) {
  RespClient c(target.port);
  ExpectOk(c, {"FLUSHALL"});
  ExpectOk(c, {"CONFIG", "SET", "maxmemory", "0"});
  SetexRange(c, id_base, resident, std::string(kValueBytes, 'p'));
  if (static_cast<uint64_t>(DbSize(c)) != resident) Die("Redis lost keys while uncapped");
  RedisFloodResult r = TimedFlood(c, target, writes, id_base + resident);
  if (r.flood.evicted != 0) Die("Redis evicted while uncapped");
  return r;
}

}  // namespace hourglass::bench
