// The snapshot file format (server/snapshot_format.h): round trips, and every way a file can be
// damaged — truncated at every length, any single byte flipped, foreign files, a future version,
// crafted files whose checksum is right but whose records are not (named cases, and 2000 random
// manglings) — is DATA_LOSS with a message saying what is wrong, never a crash or an
// out-of-bounds read.

#include "server/snapshot_format.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace hourglass::server::snapshot {
namespace {

namespace fs = std::filesystem;

class FormatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("hg_snapfmt_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string PathOf(const std::string& name) const { return (dir_ / name).string(); }

  // Writes `records` with `header` to a file and returns its bytes.
  std::string WriteFile(const std::string& name, const Header& header,
                        const std::vector<Record>& records) {
    const std::string path = PathOf(name);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    EXPECT_GE(fd, 0);
    SnapshotWriter writer(fd, header);
    for (const Record& r : records) EXPECT_TRUE(writer.Add(r).ok());
    EXPECT_TRUE(writer.Finish().ok());
    EXPECT_EQ(writer.records(), records.size());
    ::close(fd);
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  void Put(const std::string& name, const std::string& bytes) {
    std::ofstream(PathOf(name), std::ios::binary | std::ios::trunc) << bytes;
  }

  // Reads a file; `seen` receives its records.
  absl::StatusOr<FileSummary> Read(const std::string& name, std::vector<std::string>* seen) {
    const int fd = ::open(PathOf(name).c_str(), O_RDONLY);
    EXPECT_GE(fd, 0);
    auto collect = [&](const Record& r) {
      seen->push_back(std::to_string(static_cast<int>(r.space)) + "|" + std::string(r.key) + "|" +
                      std::string(r.value) + "|" + std::to_string(r.deadline_wall_ms));
      return absl::OkStatus();
    };
    absl::FunctionRef<absl::Status(const Record&)> fn(collect);
    absl::StatusOr<FileSummary> summary = ReadSnapshot(fd, seen == nullptr ? nullptr : &fn);
    ::close(fd);
    return summary;
  }
  absl::StatusOr<FileSummary> Verify(const std::string& name) { return Read(name, nullptr); }

  // A file whose checksum matches `content` (header + records), however malformed.
  void PutWithChecksum(const std::string& name, const std::string& content) {
    Sha256 sha;
    sha.Update(content.data(), content.size());
    const Digest d = sha.Finish();
    Put(name, content + std::string(reinterpret_cast<const char*>(d.data()), d.size()));
  }

  fs::path dir_;
};

Header SomeHeader(bool clean = false) {
  Header h;
  h.clean = clean;
  for (size_t i = 0; i < h.id.size(); ++i) h.id[i] = static_cast<uint8_t>(i * 7 + 1);
  h.wall_ms = 1'767'225'600'123;
  h.mono_ms = 987'654;
  return h;
}

// A few records of every shape; `big` and `long_key` (when not empty) add large ones.
std::vector<Record> SomeRecords(std::string_view big = "", std::string_view long_key = "") {
  std::vector<Record> records = {
      {storage::Space::kKv, "k1", "v1", storage::kNoDeadline},
      {storage::Space::kSession, "session-id", "", 1'767'225'700'000},
      {storage::Space::kIndex, std::string_view("s:\0user", 7), "members", -5},
  };
  if (!big.empty()) records.push_back({storage::Space::kCache, "big", big, 42});
  if (!long_key.empty()) records.push_back({storage::Space::kKv, long_key, "max key", 7});
  return records;
}

TEST_F(FormatTest, RoundTripsEveryField) {
  const std::string big(3 << 20, 'x');  // crosses the 1 MiB buffers
  const std::string long_key(65535, 'K');
  const std::vector<Record> records = SomeRecords(big, long_key);
  const std::string bytes = WriteFile("s", SomeHeader(/*clean=*/true), records);
  std::vector<std::string> seen;
  auto summary = Read("s", &seen);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->records, records.size());
  EXPECT_EQ(summary->bytes, bytes.size());
  EXPECT_TRUE(summary->header.clean);
  EXPECT_EQ(summary->header.id, SomeHeader().id);
  EXPECT_EQ(summary->header.wall_ms, SomeHeader().wall_ms);
  EXPECT_EQ(summary->header.mono_ms, SomeHeader().mono_ms);
  ASSERT_EQ(seen.size(), records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    const Record& r = records[i];
    EXPECT_EQ(seen[i], std::to_string(static_cast<int>(r.space)) + "|" + std::string(r.key) + "|" +
                           std::string(r.value) + "|" + std::to_string(r.deadline_wall_ms));
  }
  EXPECT_EQ(bytes.substr(0, 8), std::string(kMagic));
}

TEST_F(FormatTest, AnEmptyStoreIsAValidFile) {
  const std::string bytes = WriteFile("s", SomeHeader(), {});
  EXPECT_EQ(bytes.size(), kHeaderBytes + 2 + kDigestBytes);
  auto summary = Verify("s");
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->records, 0u);
  EXPECT_FALSE(summary->header.clean);
}

TEST_F(FormatTest, EveryTruncationIsDataLoss) {
  const std::string bytes = WriteFile("s", SomeHeader(), SomeRecords());
  for (size_t size = 0; size < bytes.size(); ++size) {
    Put("t", bytes.substr(0, size));
    auto summary = Verify("t");
    ASSERT_FALSE(summary.ok()) << size;
    EXPECT_EQ(summary.status().code(), absl::StatusCode::kDataLoss) << size;
    const std::string message(summary.status().message());
    if (size == 0) {
      EXPECT_NE(message.find("empty file"), std::string::npos);
    } else if (size < kHeaderBytes + kDigestBytes) {
      EXPECT_NE(message.find("truncated"), std::string::npos) << size << ": " << message;
    } else {
      EXPECT_NE(message.find("truncated or corrupted"), std::string::npos)
          << size << ": " << message;
    }
  }
}

TEST_F(FormatTest, EverySingleByteFlipIsDataLoss) {
  const std::string bytes = WriteFile("s", SomeHeader(), SomeRecords());
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string damaged = bytes;
    damaged[i] = static_cast<char>(damaged[i] ^ (1 << (i % 8)));
    Put("d", damaged);
    auto summary = Verify("d");
    ASSERT_FALSE(summary.ok()) << "flip at " << i;
    EXPECT_EQ(summary.status().code(), absl::StatusCode::kDataLoss) << i;
  }
}

TEST_F(FormatTest, ForeignFilesAreNamedForeign) {
  std::mt19937 rng(7);
  std::string noise(1 << 20, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  noise[0] = 'x';
  const std::string foreign[] = {"hello world\n", "{\"json\": true}", noise,
                                 std::string("\x89PNG\r\n\x1a\n", 8) + std::string(100, 'p'),
                                 std::string(500, '\0')};
  for (const std::string& content : foreign) {
    Put("f", content);
    auto summary = Verify("f");
    ASSERT_FALSE(summary.ok());
    EXPECT_EQ(summary.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(summary.status().message().find("not an hourglass snapshot"), std::string::npos)
        << summary.status();
  }
}

TEST_F(FormatTest, AFutureVersionIsNamed) {
  Header h = SomeHeader();
  h.version = 2;
  WriteFile("v", h, SomeRecords());
  auto summary = Verify("v");
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(summary.status().message().find("unsupported format version 2"), std::string::npos);
}

TEST_F(FormatTest, WellSummedButMalformedRecordsAreNamed) {
  const std::string header = EncodeHeader(SomeHeader());
  auto entry = [](uint8_t space, const std::string& key, const std::string& value) {
    std::string r;
    r.push_back(static_cast<char>(kEntryRecord));
    r.push_back(static_cast<char>(space));
    r.push_back(static_cast<char>(key.size()));
    r += key;
    r.push_back(static_cast<char>(value.size()));
    r += value;
    r += std::string(8, '\x7f');
    return r;
  };
  const std::string end1 = std::string("\xff\x01", 2);
  struct Case {
    std::string content;
    std::string expect;
  };
  std::string huge_key = header;
  huge_key.push_back(static_cast<char>(kEntryRecord));
  huge_key.push_back(0);
  huge_key += std::string("\xff\xff\xff\xff\x0f", 5);  // key length 2^32 - 1
  std::string huge_value = header + std::string(1, static_cast<char>(kEntryRecord)) +
                           std::string(1, 0) + std::string(1, 1) + "k" +
                           std::string("\xff\xff\xff\xff\x7f", 5);  // more than the file
  std::string bad_varint = header + std::string(1, static_cast<char>(kEntryRecord)) +
                           std::string(1, 0) + std::string(11, '\xff');
  const Case cases[] = {
      {header + entry(9, "k", "v") + end1, "unknown space 9"},
      {header + entry(0, "k", "v") + std::string("\xff\x02", 2), "counts 2 entries"},
      {header + entry(0, "k", "v") + end1 + "junk", "unexpected bytes after the end record"},
      {header + entry(0, "k", "v"), "no end record"},
      {header + std::string("\x07", 1), "unknown record kind 0x07"},
      {huge_key, "key length 4294967295 out of range"},
      {huge_value, "value length"},
      {bad_varint, "bad varint"},
      {header.substr(0, 12) + std::string("\x06\0\0\0", 4) + header.substr(16) + end1.substr(0, 1) +
           std::string(1, 0),
       "unknown header flags 0x6"},
  };
  for (const Case& c : cases) {
    PutWithChecksum("m", c.content);
    auto summary = Verify("m");
    ASSERT_FALSE(summary.ok()) << c.expect;
    EXPECT_EQ(summary.status().code(), absl::StatusCode::kDataLoss) << c.expect;
    EXPECT_NE(summary.status().message().find(c.expect), std::string::npos) << summary.status();
  }
}

TEST_F(FormatTest, RandomlyMangledRecordsWithAValidChecksumNeverCrash) {
  // The checksum is recomputed after each mangling, so the parser itself meets the damage.
  const std::string bytes = WriteFile("s", SomeHeader(), SomeRecords("some value"));
  const std::string content = bytes.substr(0, bytes.size() - kDigestBytes);
  std::mt19937 rng(1234);
  int parsed = 0;
  for (int round = 0; round < 2000; ++round) {
    std::string mangled = content;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = kHeaderBytes + rng() % (mangled.size() - kHeaderBytes);
      switch (rng() % 3) {
        case 0:
          mangled[at] = static_cast<char>(rng());
          break;
        case 1:
          mangled.erase(at, 1 + rng() % 8);
          break;
        default:
          mangled.insert(at, std::string(1 + rng() % 8, static_cast<char>(rng())));
          break;
      }
      if (mangled.size() <= kHeaderBytes) mangled = content;
    }
    PutWithChecksum("m", mangled);
    std::vector<std::string> seen;
    auto summary = Read("m", &seen);
    if (summary.ok()) {
      ++parsed;
      EXPECT_EQ(seen.size(), summary->records);
    } else {
      EXPECT_EQ(summary.status().code(), absl::StatusCode::kDataLoss) << summary.status();
    }
  }
  EXPECT_LT(parsed, 2000);  // most manglings are caught
}

TEST_F(FormatTest, ADirectoryIsAnIoErrorNotDamage) {
  fs::create_directories(dir_ / "sub");
  const int fd = ::open(PathOf("sub").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  auto summary = ReadSnapshot(fd);
  ::close(fd);
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kInternal);
}

TEST_F(FormatTest, TheCallbackErrorStopsTheRead) {
  WriteFile("s", SomeHeader(), SomeRecords());
  const int fd = ::open(PathOf("s").c_str(), O_RDONLY);
  int calls = 0;
  auto stop = [&](const Record&) {
    return ++calls == 2 ? absl::CancelledError("enough") : absl::OkStatus();
  };
  absl::FunctionRef<absl::Status(const Record&)> fn(stop);
  auto summary = ReadSnapshot(fd, &fn);
  ::close(fd);
  EXPECT_EQ(summary.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace hourglass::server::snapshot
