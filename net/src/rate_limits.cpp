#include <engram/net/rate_limits.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <string>

namespace engram::net {
namespace {

std::optional<std::int64_t> to_int(std::string_view s) {
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return v;
}

std::optional<double> to_double(std::string_view s) {
    // std::from_chars for double is in libstdc++ 11+, locale-independent.
    double v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
    return v;
}

rate_limit_window window(const std::function<std::string_view(std::string_view)>& header, std::string_view name) {
    // The names are composed on the stack: this runs for every response.
    char buf[64];
    auto field = [&](std::string_view suffix) {
        constexpr std::string_view prefix = "anthropic-ratelimit-";
        std::size_t n = 0;
        for (std::string_view part : {prefix, name, std::string_view("-"), suffix}) {
            part.copy(buf + n, part.size());
            n += part.size();
        }
        return header(std::string_view(buf, n));
    };
    static_assert(sizeof buf >= std::string_view("anthropic-ratelimit-output-tokens-remaining").size());
    rate_limit_window w;
    w.limit = to_int(field("limit"));
    w.remaining = to_int(field("remaining"));
    w.reset = std::string(field("reset"));
    return w;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view ms, std::string_view s,
                                                           std::chrono::system_clock::time_point now) {
    using std::chrono::milliseconds;
    // A double outside the integer's range has no defined conversion (a server's "1e300" came
    // out as a large negative wait): such a wait is held at the longest one there is, which the
    // retry policy then refuses as too long, as it does any wait beyond max_retry_after.
    const auto to_ms = [](double v) {
        constexpr double top = 9.0e18;  // below INT64_MAX, exactly representable as a double
        return milliseconds(v >= top ? milliseconds::max().count()
                            : v <= -top ? milliseconds::min().count()
                                        : static_cast<milliseconds::rep>(v));
    };
    if (auto v = to_double(ms)) return to_ms(*v);
    if (auto v = to_double(s)) return to_ms(*v * 1000.0);
    if (!s.empty()) {
        // An HTTP-date in any of its three forms, which a recipient must accept (RFC 9110,
        // 5.6.7): IMF-fixdate ("Wed, 21 Oct 2015 07:28:00 GMT"), and the obsolete RFC 850
        // ("Wednesday, 21-Oct-15 07:28:00 GMT") and asctime ("Wed Oct 21 07:28:00 2015") forms.
        const std::string text(s);
        std::tm tm{};
        const char* end = nullptr;
        for (const char* form : {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"}) {
            tm = std::tm{};
            end = strptime(text.c_str(), form, &tm);
            if (end && *end == '\0') break;
        }
        if (end && *end == '\0') {
            // In seconds first: a system_clock time point (nanoseconds) ends in 2262, and a date
            // past that ("31 Dec 9999") overflowed it.
            constexpr std::int64_t limit = 9'000'000'000'000'000;  // seconds; ×1000 still fits
            const std::int64_t at = std::clamp<std::int64_t>(timegm(&tm), -limit, limit);
            return std::chrono::seconds(at) - std::chrono::duration_cast<milliseconds>(now.time_since_epoch());
        }
    }
    return std::nullopt;
}

rate_limits parse_rate_limits(const std::function<std::string_view(std::string_view)>& header,
                              std::chrono::system_clock::time_point now) {
    rate_limits r;
    r.requests = window(header, "requests");
    r.tokens = window(header, "tokens");
    r.input_tokens = window(header, "input-tokens");
    r.output_tokens = window(header, "output-tokens");
    r.retry_after = parse_retry_after(header("retry-after-ms"), header("retry-after"), now);
    return r;
}

}  // namespace engram::net
