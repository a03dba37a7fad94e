// The retry decision and delay, as the official SDKs compute them (pure functions).
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include <engram/net/client_config.hpp>

namespace engram::net {

/// Whether a response with this status may be retried: `x-should-retry` ("true"/"false") wins;
/// otherwise 408, 409, 429 and every 5xx are retried.
bool should_retry_status(int http_status, std::string_view x_should_retry) noexcept;

/// The delay before retry number `retry` (0 for the first retry). `hint` is the server's
/// retry-after; it is used when positive and within policy.max_retry_after. `unit_random` is a
/// number in [0, 1) used for jitter (inject it to make tests deterministic).
std::chrono::milliseconds retry_delay(const retry_policy& policy, unsigned retry,
                                      std::optional<std::chrono::milliseconds> hint, double unit_random) noexcept;

}  // namespace engram::net
