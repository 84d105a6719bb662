#include "server/domain/tokens.h"

#include <algorithm>
#include <vector>

#include "server/domain/digest.h"
#include "server/domain/member_index.h"
#include "server/domain/routing.h"
#include "server/domain/secure_random.h"
#include "server/domain/token_keys.h"

namespace hourglass::domain {
namespace {

using storage::Cursor;
using storage::KeyRef;
using storage::Space;

absl::Status TokenCollision() {
  // 2^-256 per pair of tokens: a broken CSPRNG, not bad luck.
  return absl::InternalError("generated token already exists");
}

absl::Status CheckQuery(const TokenQuery& query) {
  if (query.purpose.empty()) return absl::InvalidArgumentError("purpose: required");
  if (query.token.empty()) return absl::InvalidArgumentError("token: required");
  if (IsNumericCode(query.token) && query.subject.empty()) {
    return absl::InvalidArgumentError("subject: required for a NUMERIC code");
  }
  return absl::OkStatus();
}

// Where the presented token would live. Malformed tokens get a key that is never stored, so
// they take the same path (hash + lookup) as unknown ones.
TokenKey KeyOf(const TokenQuery& query) {
  if (IsNumericCode(query.token)) return NumericTokenKey(query.purpose, query.subject);
  if (IsRoutedSecret(query.token)) return OpaqueTokenKey(query.token);
  return UnmatchableTokenKey(query.token);
}

// Puts `record` back with its unchanged deadline (the entry is live, so the deadline is > now).
void Rewrite(Cursor& cursor, const TokenRecord& record) {
  cursor.Put(EncodeTokenRecord(record), cursor.deadline());
}

// Removal by expiry or eviction: unlist the token from its subject's index, under the shard
// lock the store holds (the index shares the token's shard by its tag).
void OnTokenRemoved(std::string_view key, std::string_view value, storage::ShardEditor& shard) {
  std::optional<TokenHeader> header = DecodeTokenHeader(value);
  if (!header || header->subject.empty()) return;
  const SubjectIndex index(header->subject);
  // FAILED_PRECONDITION only if the index were on another shard, which our keys never allow;
  // then the index's own deadline still bounds the leak.
  shard
      .Update(index.ref(),
              [&](Cursor& cursor) {
                RemoveMember(cursor, key);
                return absl::OkStatus();
              })
      .IgnoreError();
}

}  // namespace

TokenManager::TokenManager(storage::Store& store) : store_(store) {
  store_.SetRemovalHook(Space::kToken, OnTokenRemoved);
}

absl::StatusOr<IssuedToken> TokenManager::Issue(const NewToken& spec) {
  const bool numeric = spec.format == TokenFormat::kNumeric;
  if (spec.purpose.empty()) return absl::InvalidArgumentError("purpose: required");
  if (numeric && spec.subject.empty()) {
    return absl::InvalidArgumentError("subject: required for a NUMERIC code");
  }
  if (spec.ttl_ms <= 0) return absl::InvalidArgumentError("ttl: must be > 0");
  if (spec.max_uses == 0) return absl::InvalidArgumentError("max_uses: must be > 0");
  if (numeric && (spec.digits < kMinCodeDigits || spec.digits > kMaxCodeDigits)) {
    return absl::InvalidArgumentError("digits: must be 4-10");
  }
  if (numeric && spec.max_attempts == 0) {
    return absl::InvalidArgumentError("max_attempts: must be > 0");
  }

  TokenRecord record;
  record.format = spec.format;
  record.purpose = spec.purpose;
  record.subject = spec.subject;
  record.remaining_uses = spec.max_uses;
  record.payload = spec.payload;

  IssuedToken issued;
  TokenKey key;
  if (numeric) {
    absl::StatusOr<std::string> code = RandomDecimalCode(spec.digits);
    if (!code.ok()) return code.status();
    issued.token = std::move(*code);
    key = NumericTokenKey(spec.purpose, spec.subject);
    record.max_attempts = spec.max_attempts;
    record.code_hash = NumericCodeHash(key, issued.token);
  } else {
    absl::StatusOr<std::string> tag = spec.subject.empty()
                                          ? RandomRoutingTag()
                                          : absl::StatusOr<std::string>(RoutingTag(spec.subject));
    if (!tag.ok()) return tag.status();
    // An all-digit token would read as a NUMERIC code: draw again (p = (10/64)^47).
    do {
      absl::StatusOr<std::string> token = NewRoutedSecret(*tag);
      if (!token.ok()) return token.status();
      issued.token = std::move(*token);
    } while (IsNumericCode(issued.token));
    key = OpaqueTokenKey(issued.token);
  }
  const int64_t now = store_.clock().MonotonicMs();
  issued.deadline_ms = now + spec.ttl_ms;
  issued.expire_wall_ms = store_.clock().WallMs() + spec.ttl_ms;
  record.expire_wall_ms = issued.expire_wall_ms;
  const std::string value = EncodeTokenRecord(record);

  absl::Status status;
  if (spec.subject.empty()) {
    status = store_.Update(key.ref(), [&](Cursor& cursor) {
      if (cursor.found()) return TokenCollision();
      cursor.Put(value, issued.deadline_ms);
      return absl::OkStatus();
    });
  } else {
    const SubjectIndex index(spec.subject);
    const KeyRef keys[] = {key.ref(), index.ref()};
    status = store_.UpdateMany(keys, [&](absl::Span<Cursor* const> cursors) {
      // A NUMERIC slot is meant to be replaced (a new code for purpose + subject).
      if (!numeric && cursors[0]->found()) return TokenCollision();
      cursors[0]->Put(value, issued.deadline_ms);
      AddMember(*cursors[1], key.key, issued.deadline_ms);
      return absl::OkStatus();
    });
  }
  if (!status.ok()) return status;
  return issued;
}

absl::StatusOr<TokenCheck> TokenManager::Verify(const TokenQuery& query) {
  return Check(query, /*consume=*/false);
}

absl::StatusOr<TokenCheck> TokenManager::Consume(const TokenQuery& query) {
  return Check(query, /*consume=*/true);
}

absl::StatusOr<TokenCheck> TokenManager::Check(const TokenQuery& query, bool consume) {
  if (absl::Status s = CheckQuery(query); !s.ok()) return s;
  // Hashing happens before the lock, and for every shape of token.
  const TokenKey key = KeyOf(query);
  const bool numeric = IsNumericCode(query.token);
  const std::string code_hash = numeric ? NumericCodeHash(key, query.token) : std::string();

  TokenCheck check;
  absl::Status status = store_.Update(key.ref(), [&](Cursor& cursor) {
    check = TokenCheck{};
    if (!cursor.found()) return absl::OkStatus();
    std::optional<TokenRecord> record = DecodeTokenRecord(cursor.value());
    if (!record) return absl::OkStatus();
    if (record->purpose != query.purpose) {
      check.reason = TokenReason::kPurposeMismatch;
    } else if (record->spent()) {
      check.reason = TokenReason::kUsedUp;
    } else if (record->locked()) {
      check.reason = TokenReason::kTooManyAttempts;
    } else if (numeric && !ConstantTimeEquals(code_hash, record->code_hash)) {
      // Counted on Verify too: otherwise Verify would be a free guessing oracle.
      ++record->attempts;
      Rewrite(cursor, *record);
      check.reason = TokenReason::kWrongCode;
    } else {
      check.reason = TokenReason::kOk;
      check.subject = record->subject;
      check.payload = record->payload;
      check.deadline_ms = cursor.deadline();
      check.expire_wall_ms = record->expire_wall_ms;
      if (consume) {
        --record->remaining_uses;
        Rewrite(cursor, record->spent() ? Tombstone(*record) : *record);
      }
      check.remaining_uses = record->remaining_uses;
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return check;
}

absl::StatusOr<bool> TokenManager::Revoke(const TokenQuery& query) {
  if (absl::Status s = CheckQuery(query); !s.ok()) return s;
  const bool numeric = IsNumericCode(query.token);
  if (!numeric && !IsRoutedSecret(query.token)) return false;
  const TokenKey key = KeyOf(query);
  const std::string code_hash = numeric ? NumericCodeHash(key, query.token) : std::string();

  // The index is named by the subject: given with a code, read from the record for a token.
  std::string subject(numeric ? query.subject : std::string_view());
  if (!numeric) {
    absl::Status read = store_.Update(key.ref(), [&](Cursor& cursor) {
      if (!cursor.found()) return absl::OkStatus();
      std::optional<TokenHeader> header = DecodeTokenHeader(cursor.value());
      if (header) subject = std::string(header->subject);
      return absl::OkStatus();
    });
    if (!read.ok()) return read;
  }

  std::vector<KeyRef> keys = {key.ref()};
  std::optional<SubjectIndex> index;
  if (!subject.empty()) {
    index.emplace(subject);
    keys.push_back(index->ref());
  }
  bool revoked = false;
  absl::Status status = store_.UpdateMany(keys, [&](absl::Span<Cursor* const> cursors) {
    revoked = false;
    Cursor& cursor = *cursors[0];
    if (!cursor.found()) return absl::OkStatus();
    std::optional<TokenRecord> record = DecodeTokenRecord(cursor.value());
    // The subject re-check covers a token replaced between the read and this step.
    if (!record || record->purpose != query.purpose || record->subject != subject ||
        !record->live()) {
      return absl::OkStatus();
    }
    if (numeric && !ConstantTimeEquals(code_hash, record->code_hash)) {
      // Revoke must not be a guessing oracle either.
      ++record->attempts;
      Rewrite(cursor, *record);
      return absl::OkStatus();
    }
    cursor.Erase();
    if (cursors.size() > 1) RemoveMember(*cursors[1], key.key);
    revoked = true;
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return revoked;
}

absl::StatusOr<int64_t> TokenManager::RevokeSubject(std::string_view subject,
                                                    std::string_view purpose) {
  if (subject.empty()) return absl::InvalidArgumentError("subject: required");
  const SubjectIndex index(subject);
  int64_t revoked = 0;
  absl::Status status = UpdateOverIndex(
      store_, index.ref(), Space::kToken, TokenKeyAffinity, {}, [&](const IndexStep& step) {
        revoked = 0;
        std::vector<std::string_view> kept;
        int64_t kept_deadline = 0;
        for (size_t i = 0; i < step.members.size(); ++i) {
          Cursor& cursor = *step.member_cursors[i];
          if (!cursor.found()) continue;  // already gone: just unlisted
          std::optional<TokenRecord> record = DecodeTokenRecord(cursor.value());
          if (!record) {
            cursor.Erase();
            continue;
          }
          if ((purpose.empty() || record->purpose == purpose) && record->live()) {
            cursor.Erase();
            ++revoked;
            continue;
          }
          kept.push_back(step.members[i]);
          kept_deadline = std::max(kept_deadline, cursor.deadline());
        }
        SetMembers(*step.index, kept, kept_deadline);
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return revoked;
}

std::optional<std::string> TokenEventKey(std::string_view key, std::string_view value) {
  std::optional<TokenHeader> header = DecodeTokenHeader(value);
  if (!header) return std::nullopt;
  std::string out(header->purpose);
  out.push_back(':');
  out.append(header->subject);
  return out;
}

}  // namespace hourglass::domain
