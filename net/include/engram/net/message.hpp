// The Anthropic Messages API message, as JSON plus typed accessors.
#pragma once

#include <cstdint>
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
