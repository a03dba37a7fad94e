// The Anthropic Messages API message, as JSON plus typed accessors.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace engram::net {

/// Token usage. Each count is absent when the API did not report it.
struct usage {
    std::optional<std::int64_t> input_tokens;
    std::optional<std::int64_t> output_tokens;
    std::optional<std::int64_t> cache_creation_input_tokens;
    std::optional<std::int64_t> cache_read_input_tokens;
};

/// A Messages API message (`{"id","type":"message","role","model","content":[...],"stop_reason",
/// "stop_sequence","usage",...}`). The JSON is kept whole so block types and fields this version
/// does not know survive untouched; the accessors read the common fields.
class message {
public:
    message() = default;
    /// Takes `json` with its memory resource.
    explicit message(boost::json::object json) noexcept : json_(std::move(json)) {}
    /// A message read from a stream keeps its JSON in one arena of its own, released with it
    /// (a handful of allocations per reply instead of one per key). A copy is an independent
    /// tree with the default allocator, so copies never grow or pin that arena; a move takes
    /// the arena along. Growing a streamed message's JSON in place uses the arena, which gives
    /// nothing back until the message goes: copy it first if it is to be edited at length.
    message(const message& other) : json_(other.json_, boost::json::storage_ptr()) {}
    message(message&&) noexcept = default;
    message& operator=(const message& other) {
        if (this != &other) *this = message(other);
        return *this;
    }
    /// Adopts `other`'s JSON and its memory resource (Boost.JSON's own move assignment would
    /// keep this object's resource and copy into it).
    message& operator=(message&& other) noexcept {
        if (this != &other) {
            std::destroy_at(&json_);
            std::construct_at(&json_, std::move(other.json_));
        }
        return *this;
    }
    ~message() = default;

    const boost::json::object& json() const noexcept { return json_; }
    boost::json::object& json() noexcept { return json_; }

    std::string_view id() const noexcept { return string_field("id"); }
    std::string_view model() const noexcept { return string_field("model"); }
    std::string_view role() const noexcept { return string_field("role"); }
    /// Empty while the model has not stopped (or when the API sent null).
    std::string_view stop_reason() const noexcept { return string_field("stop_reason"); }
    std::string_view stop_sequence() const noexcept { return string_field("stop_sequence"); }
    /// The content blocks; an empty array if none.
    const boost::json::array& content() const noexcept;
    /// All `text` blocks concatenated.
    std::string text() const;
    struct usage usage() const noexcept;

private:
    std::string_view string_field(std::string_view key) const noexcept;
    boost::json::object json_;
};

}  // namespace engram::net
