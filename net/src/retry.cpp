#include <engram/net/retry.hpp>

#include <algorithm>
#include <cmath>

namespace engram::net {

bool should_retry_status(int status, std::string_view x_should_retry) noexcept {
    if (x_should_retry == "true") return true;
    if (x_should_retry == "false") return false;
    return status == 408 || status == 409 || status == 429 || status >= 500;
}

std::chrono::milliseconds retry_delay(const retry_policy& policy, unsigned retry,
                                      std::optional<std::chrono::milliseconds> hint, double unit_random) noexcept {
    using std::chrono::milliseconds;
    if (hint && hint->count() > 0 && *hint <= policy.max_retry_after) return *hint;
    const double base = static_cast<double>(policy.initial_backoff.count()) * std::pow(2.0, std::min(retry, 30u));
    const double capped = std::min(base, static_cast<double>(policy.max_backoff.count()));
    const double jitter = std::clamp(policy.jitter, 0.0, 1.0) * std::clamp(unit_random, 0.0, 1.0);
    return milliseconds(static_cast<milliseconds::rep>(capped * (1.0 - jitter)));
}

}  // namespace engram::net
