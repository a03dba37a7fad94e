#include <engram/net/rate_limits.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
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

/// Reads an HTTP-date piece by piece. Day and month names are English whatever the process's
/// locale: strptime's %a and %b follow LC_TIME, so a host that had set a German one read no
/// IMF-fixdate at all ("Wed" is no German day). Names are matched without regard to case, as
/// strptime did.
struct date_reader {
    std::string_view rest;

    bool literal(std::string_view t) {
        if (rest.substr(0, t.size()) != t) return false;
        rest.remove_prefix(t.size());
        return true;
    }
    bool number(std::size_t digits, int& out) {
        if (rest.size() < digits) return false;
        out = 0;
        for (std::size_t i = 0; i < digits; ++i) {
            if (rest[i] < '0' || rest[i] > '9') return false;
            out = out * 10 + (rest[i] - '0');
        }
        rest.remove_prefix(digits);
        return true;
    }
    /// One of `names`; its position in `index`.
    template <std::size_t N>
    bool name(const std::array<std::string_view, N>& names, int& index) {
        for (std::size_t i = 0; i < N; ++i) {
            const auto n = names[i];
            if (rest.size() < n.size()) continue;
            bool same = true;
            for (std::size_t k = 0; k < n.size() && same; ++k)
                same = (rest[k] | 0x20) == (n[k] | 0x20);  // ASCII letters only: case folded
            if (same) {
                rest.remove_prefix(n.size());
                index = static_cast<int>(i);
                return true;
            }
        }
        return false;
    }
    /// A day of the month: two digits, or one, as strptime also took.
    bool day(int& out) { return number(2, out) || number(1, out); }
    bool clock(int& h, int& m, int& s) {
        return number(2, h) && literal(":") && number(2, m) && literal(":") && number(2, s);
    }
};

constexpr std::array<std::string_view, 7> short_days{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> long_days{"Monday", "Tuesday", "Wednesday", "Thursday",
                                                    "Friday", "Saturday", "Sunday"};
constexpr std::array<std::string_view, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/// An HTTP-date in any of its three forms, which a recipient must accept (RFC 9110, 5.6.7):
/// IMF-fixdate ("Wed, 21 Oct 2015 07:28:00 GMT"), and the obsolete RFC 850 ("Wednesday,
/// 21-Oct-15 07:28:00 GMT") and asctime ("Wed Oct 21 07:28:00 2015") forms. Seconds since the
/// epoch; nothing if `text` is none of them whole.
std::optional<std::int64_t> http_date_seconds(std::string_view text, std::chrono::system_clock::time_point now) {
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, ignored = 0;
    bool read = false;
    if (date_reader r{text}; r.name(short_days, ignored) && r.literal(", ") && r.day(day) && r.literal(" ") &&
                             r.name(months, month) && r.literal(" ") && r.number(4, year) && r.literal(" ") &&
                             r.clock(hour, minute, second) && r.literal(" GMT") && r.rest.empty()) {
        read = true;
    } else if (date_reader r2{text}; r2.name(long_days, ignored) && r2.literal(", ") && r2.day(day) &&
                                     r2.literal("-") && r2.name(months, month) && r2.literal("-") &&
                                     r2.number(2, year) && r2.literal(" ") && r2.clock(hour, minute, second) &&
                                     r2.literal(" GMT") && r2.rest.empty()) {
        // A two-digit year more than 50 years ahead is the most recent past year with those
        // digits (RFC 9110, 5.6.7).
        const auto today = std::chrono::year_month_day(std::chrono::floor<std::chrono::days>(now));
        const int this_year = static_cast<int>(today.year());
        year += this_year - this_year % 100;
        if (year > this_year + 50) year -= 100;
        read = true;
    } else if (date_reader r3{text};
               r3.name(short_days, ignored) && r3.literal(" ") && r3.name(months, month) && r3.literal(" ") &&
               (r3.literal(" ") ? r3.number(1, day) : r3.number(2, day)) && r3.literal(" ") &&
               r3.clock(hour, minute, second) && r3.literal(" ") && r3.number(4, year) && r3.rest.empty()) {
        read = true;
    }
    // The day is not checked against its month's length: "31 Feb" counts on into March, as
    // strptime and timegm did.
    if (!read || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
    namespace chr = std::chrono;
    const auto first_of_month = chr::sys_days(chr::year(year) / chr::month(static_cast<unsigned>(month + 1)) / 1);
    const auto date = first_of_month + chr::days(day - 1);
    return std::int64_t{date.time_since_epoch().count()} * 86400 + hour * 3600 + minute * 60 + second;
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
    if (const auto at = http_date_seconds(s, now)) {
        // In seconds first: a system_clock time point (nanoseconds) ends in 2262, and a date
        // past that ("31 Dec 9999") overflowed it.
        constexpr std::int64_t limit = 9'000'000'000'000'000;  // seconds; ×1000 still fits
        return std::chrono::seconds(std::clamp<std::int64_t>(*at, -limit, limit)) -
               std::chrono::duration_cast<milliseconds>(now.time_since_epoch());
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
