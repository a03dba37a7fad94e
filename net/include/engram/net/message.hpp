// The Anthropic Messages API message, as JSON plus typed accessors.
#pragma once

#include <cstdint>
#include <new>
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
    explicit message(boost::json::object json) : json_(std::move(json)) {}

    // A message the client builds keeps its JSON in an arena of its own (a Boost.JSON
    // monotonic_resource, shared by the JSON's values and freed with the last of them), which a
    // move hands over with the JSON. A copy of a message is independent: it uses the default
    // allocator, so copies given to other threads share nothing. (A copy of json() made by hand
    // shares the arena, as Boost.JSON copies do: pass a storage_ptr to copy it elsewhere.)
    message(const message& other) : json_(other.json_, boost::json::storage_ptr()) {}
    message(message&&) noexcept = default;
    message& operator=(const message& other) {
        if (this != &other) *this = message(other);
        return *this;
    }
    message& operator=(message&& other) noexcept {
        // json::object's own move assignment keeps its allocator, and copies when they differ:
        // a message takes the JSON and its allocator, as its move constructor does.
        if (this != &other) {
            json_.~object();
            ::new (static_cast<void*>(&json_)) boost::json::object(std::move(other.json_));
        }
        return *this;
    }

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
