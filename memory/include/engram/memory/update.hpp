// The extraction update: the versioned JSON contract an extraction call returns.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <engram/memory/error.hpp>
#include <engram/memory/schema.hpp>

namespace engram::memory {

/// Version of the update contract documented in memory/README.md. An update may carry
/// `"version": 1`; a higher version is rejected, an absent one means 1.
inline constexpr int update_contract_version = 1;

/// A fact the session taught. Confidence/source default to medium/inferred when absent.
struct new_fact {
    std::string text;
    std::optional<memory::confidence> confidence;
    std::optional<fact_source> source;
    bool operator==(const new_fact&) const = default;
};

/// "`old` is no longer true, `new` is." The replacement keeps the old fact's confidence and
/// source unless these optionals say otherwise.
struct fact_supersession {
    std::string old_text;
    std::string new_text;
    std::optional<memory::confidence> confidence;
    std::optional<fact_source> source;
    bool operator==(const fact_supersession&) const = default;
};

/// A parsed extraction result. Every field is optional; an empty update means nothing was learned
/// (the session is still counted when it is applied).
struct memory_update {
    std::optional<std::string> running_summary;  ///< Replaces the summary (cut to the policy's cap).
    std::vector<new_fact> new_facts;
    std::map<std::string, std::string> updated_preferences;
    std::vector<std::string> removed_preferences;
    std::vector<fact_supersession> superseded_facts;
    std::optional<decision> new_decision;
    bool operator==(const memory_update&) const = default;

    bool empty() const noexcept {
        return !running_summary && new_facts.empty() && updated_preferences.empty() &&
               removed_preferences.empty() && superseded_facts.empty() && !new_decision;
    }
};

/// Size limits for an update (bytes, or entries for lists). Exceeding one rejects the update.
struct update_limits {
    std::size_t max_summary = 20000;
    std::size_t max_text = 2000;
    std::size_t max_key = 200;
    std::size_t max_entries = 100;
};

/// Validates a parsed JSON update. Unknown fields are ignored; a wrong type or an oversized field
/// rejects the whole update with errc::invalid_update and a message naming the field, e.g.
/// "new_facts[1].confidence: expected one of high, medium, low". Never throws on bad input.
result<memory_update> update_from_json(const boost::json::value& v, const update_limits& limits = {});

/// Parses strict JSON text, then update_from_json.
result<memory_update> parse_update(std::string_view json_text, const update_limits& limits = {});

/// Parses a model's raw reply: tolerates what the tutorial's "common errors" lists, i.e. markdown
/// code fences (```json ... ```) and prose before or after the object, by taking the outermost
/// {...} span. Anything that still is not a valid update is rejected (never half-applied).
result<memory_update> parse_extraction_reply(std::string_view model_text, const update_limits& limits = {});

/// The contract's JSON form (round-trips through update_from_json).
boost::json::object to_json(const memory_update& u);

}  // namespace engram::memory
