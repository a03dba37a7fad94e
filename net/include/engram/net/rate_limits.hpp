// The anthropic-ratelimit-* response headers, parsed.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace engram::net {

/// One rate-limit dimension (`anthropic-ratelimit-<name>-{limit,remaining,reset}`).
struct rate_limit_window {
    std::optional<std::int64_t> limit;
    std::optional<std::int64_t> remaining;
    std::string reset;  ///< RFC 3339 time at which the window is replenished, as sent
};

/// What the server said about its limits in one response. Absent headers stay empty.
struct rate_limits {
    rate_limit_window requests;
    rate_limit_window tokens;
    rate_limit_window input_tokens;
    rate_limit_window output_tokens;
    /// From `retry-after-ms` or `retry-after` (seconds or HTTP date), if present and valid.
    std::optional<std::chrono::milliseconds> retry_after;
};

/// Reads the headers through `header(name)` (returns "" when absent; names are lower case).
rate_limits parse_rate_limits(const std::function<std::string_view(std::string_view)>& header,
                              std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

/// Parses a `retry-after-ms` value, else a `retry-after` value (decimal seconds or an HTTP-date:
/// IMF-fixdate, or the obsolete RFC 850 and asctime forms, which RFC 9110 has recipients accept).
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view retry_after_ms,
                                                           std::string_view retry_after,
                                                           std::chrono::system_clock::time_point now);

}  // namespace engram::net
