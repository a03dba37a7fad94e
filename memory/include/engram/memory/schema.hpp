// The per-user memory record (schema version 1), its validation and its JSON form.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include <engram/memory/error.hpp>

namespace engram::memory {

/// The schema version written by this library. Files without `schema_version` are the tutorial's
/// original format (version 0); they load and are upgraded on the next write.
inline constexpr int current_schema_version = 1;

/// How sure the extraction was about a fact. Ordered: low < medium < high.
enum class confidence { low = 0, medium = 1, high = 2 };

/// Whether the user said the fact or the model inferred it.
enum class fact_source { inferred = 0, stated = 1 };

std::string_view to_string(confidence c) noexcept;
std::string_view to_string(fact_source s) noexcept;
std::optional<confidence> parse_confidence(std::string_view s) noexcept;
std::optional<fact_source> parse_fact_source(std::string_view s) noexcept;

/// One remembered fact.
struct fact {
    std::string text;
    memory::confidence confidence = confidence::medium;
    fact_source source = fact_source::inferred;
    std::string first_seen;      ///< ISO-8601 UTC; empty when unknown (tutorial files).
    std::string last_confirmed;  ///< ISO-8601 UTC; empty when unknown.
    std::string session;         ///< Session id that last stated or confirmed it; may be empty.
    bool operator==(const fact&) const = default;
};

/// One remembered decision.
struct decision {
    std::string topic;
    std::string decision;  ///< named like the JSON field
    std::string date;
    bool operator==(const struct decision&) const = default;
};

/// What engram remembers about one user: the part that is rendered into prompts.
struct user_memory {
    int schema_version = current_schema_version;
    std::string user_id;
    std::string created_at;    ///< ISO-8601 UTC; empty when unknown.
    std::string last_session;  ///< ISO-8601 UTC of the last finished session; empty = never.
    std::int64_t session_count = 0;
    std::map<std::string, std::string> preferences;
    std::vector<fact> key_facts;  ///< In the order they were added.
    std::string running_summary;
    std::vector<decision> recent_decisions;  ///< Oldest first.
    bool operator==(const user_memory&) const = default;
};

/// One applied update, kept so the user can see what was learned and undo it.
struct history_entry {
    std::string at;                    ///< When it was applied (ISO-8601 UTC).
    std::string session;               ///< The session the update came from.
    std::vector<std::string> changes;  ///< Human-readable diff lines.
    user_memory before;                ///< The memory as it was before the update (for undo).
    bool operator==(const history_entry&) const = default;
};

/// Everything stored in one user's file: the memory, the ids of sessions already applied (so a
/// replayed journal job is never applied twice) and the bounded update history, newest last.
struct user_record {
    user_memory memory;
    std::vector<std::string> applied_sessions;  ///< Oldest first, bounded by merge_policy.
    std::vector<history_entry> history;         ///< Oldest first, bounded by merge_policy.
    bool operator==(const user_record&) const = default;
};

/// Hard validation limits for stored records (in bytes unless noted). Larger values are rejected
/// with an error naming the field, errc::unsupported_record (not invalid_record): a build with
/// larger limits may have written them, so the store leaves such a file alone rather than
/// quarantining it. Merge caps (merge_policy) are tighter and applied on write.
struct record_limits {
    std::size_t max_text = 2000;       ///< fact text, topic, decision, preference value
    std::size_t max_key = 200;         ///< preference key, session id
    std::size_t max_summary = 8000;    ///< running_summary
    std::size_t max_timestamp = 64;    ///< created_at, last_session, first_seen, ...
    std::size_t max_items = 1000;      ///< key_facts, recent_decisions, preferences, history
    std::size_t max_applied = 100000;  ///< applied_sessions
};

/// The blank record of a first-time user.
user_memory blank_memory(std::string user_id, std::string now);

/// Parses and validates a record file. Accepts schema version 1 and the tutorial's format (no
/// `schema_version`, `key_facts` as plain strings, `last_session` may be null). Never throws on bad
/// input; errors have a message naming the field and one of two codes:
/// - errc::invalid_record: malformed (not JSON, a wrong type, a bad value, invalid UTF-8, a missing
///   field), e.g. "key_facts[2].confidence: expected one of high, medium, low";
/// - errc::unsupported_record: well-formed but beyond what this build reads: a schema_version above
///   current_schema_version (checked first, whatever the rest holds), or a value beyond `limits`
///   (a text too long, a list with too many entries), e.g. "running_summary: too long (9000 bytes,
///   limit 8000)".
result<user_record> parse_record(std::string_view json_text, const record_limits& limits = {});

/// Same as parse_record, from an already parsed value.
result<user_record> record_from_json(const boost::json::value& v, const record_limits& limits = {});

/// Validates and converts one memory object (the record's top level without history).
result<user_memory> memory_from_json(const boost::json::value& v, const record_limits& limits = {});

/// The JSON form (always the current schema version).
boost::json::object to_json(const user_memory& m);
boost::json::object to_json(const user_record& r);

/// Serialized file contents (pretty-printed with two-space indentation, trailing newline).
std::string serialize(const user_record& r);

/// Pretty-prints any JSON value with two-space indentation (deterministic; keys in object order).
std::string pretty_json(const boost::json::value& v);

/// ISO-8601 UTC with seconds and a trailing Z, e.g. "2024-01-15T14:32:00Z".
std::string utc_timestamp(std::chrono::system_clock::time_point t);
inline std::string utc_now() {
    return utc_timestamp(std::chrono::system_clock::now());
}

}  // namespace engram::memory
