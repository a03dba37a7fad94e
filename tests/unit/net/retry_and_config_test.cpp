// Pure pieces of the client: retry decisions and delays, retry-after and rate-limit headers,
// base-URL parsing, configuration from the environment.
#include <engram/net/client_config.hpp>
#include <engram/net/rate_limits.hpp>
#include <engram/net/retry.hpp>

#include <clocale>
#include <cstdlib>
#include <map>

#include <boost/test/unit_test.hpp>

#include "support/fixtures.hpp"
#include "url.hpp"

using namespace std::chrono_literals;
using engram::net::retry_policy;

BOOST_AUTO_TEST_SUITE(retry_and_config)

BOOST_AUTO_TEST_CASE(retryable_statuses_follow_the_sdk_rule_and_x_should_retry_wins) {
    for (int s : {408, 409, 429, 500, 502, 503, 529}) BOOST_TEST(engram::net::should_retry_status(s, ""));
    for (int s : {400, 401, 403, 404, 413, 422}) BOOST_TEST(!engram::net::should_retry_status(s, ""));
    BOOST_TEST(!engram::net::should_retry_status(529, "false"));
    BOOST_TEST(engram::net::should_retry_status(400, "true"));
    BOOST_TEST(engram::net::should_retry_status(503, "maybe"));  // anything else: the status rule
}

BOOST_AUTO_TEST_CASE(backoff_doubles_from_half_a_second_to_eight_with_jitter) {
    retry_policy p;
    BOOST_TEST(engram::net::retry_delay(p, 0, std::nullopt, 0.0).count() == 500);
    BOOST_TEST(engram::net::retry_delay(p, 1, std::nullopt, 0.0).count() == 1000);
    BOOST_TEST(engram::net::retry_delay(p, 4, std::nullopt, 0.0).count() == 8000);
    BOOST_TEST(engram::net::retry_delay(p, 9, std::nullopt, 0.0).count() == 8000);
    BOOST_TEST(engram::net::retry_delay(p, 0, std::nullopt, 0.999).count() >= 375);  // at most 25% off
    BOOST_TEST(engram::net::retry_delay(p, 0, std::nullopt, 0.999).count() < 500);
}

BOOST_AUTO_TEST_CASE(server_hint_is_used_only_when_positive_and_within_a_minute) {
    retry_policy p;
    BOOST_TEST(engram::net::retry_delay(p, 0, 1500ms, 0.5).count() == 1500);
    BOOST_TEST(engram::net::retry_delay(p, 0, 0ms, 0.0).count() == 500);
    BOOST_TEST(engram::net::retry_delay(p, 0, 120s, 0.0).count() == 500);
}

BOOST_AUTO_TEST_CASE(an_http_date_is_read_whatever_the_hosts_locale) {
    // A host that sets a locale of its own: German, built for this test from Debian's locale
    // sources (scripts/install-deps.sh installs them), where "Wed" and "Oct" are no names.
    char dir_template[] = "/tmp/engram-locale-XXXXXX";
    const char* dir = mkdtemp(dir_template);
    BOOST_REQUIRE(dir != nullptr);
    const std::string build = std::string("localedef -i de_DE -f UTF-8 ") + dir + "/de_DE.UTF-8 > /dev/null 2>&1";
    BOOST_REQUIRE_MESSAGE(std::system(build.c_str()) == 0, "localedef could not build de_DE.UTF-8 (package locales)");
    ::setenv("LOCPATH", dir, 1);
    BOOST_REQUIRE(std::setlocale(LC_ALL, "de_DE.UTF-8") != nullptr);

    const auto now = std::chrono::system_clock::from_time_t(1445412480);  // Wed, 21 Oct 2015 07:28:00 GMT
    const auto imf = engram::net::parse_retry_after("", "Wed, 21 Oct 2015 07:28:10 GMT", now);
    const auto rfc850 = engram::net::parse_retry_after("", "Wednesday, 21-Oct-15 07:28:20 GMT", now);
    const auto asctime = engram::net::parse_retry_after("", "Wed Oct 21 07:28:30 2015", now);
    const auto seconds = engram::net::parse_retry_after("", "1.5", now);  // the decimal point is '.' in any locale

    std::setlocale(LC_ALL, "C");
    ::unsetenv("LOCPATH");
    std::system((std::string("rm -rf ") + dir).c_str());
    BOOST_TEST((imf && imf->count() == 10000));
    BOOST_TEST((rfc850 && rfc850->count() == 20000));
    BOOST_TEST((asctime && asctime->count() == 30000));
    BOOST_TEST((seconds && seconds->count() == 1500));
}

BOOST_AUTO_TEST_CASE(a_two_digit_year_more_than_fifty_years_ahead_is_the_last_century) {
    // RFC 9110, 5.6.7. Now: Fri, 27 Nov 2026 00:00:00 GMT.
    const auto now = std::chrono::system_clock::from_time_t(1795737600);
    using std::chrono::seconds;
    auto at = [&](std::string_view date) { return engram::net::parse_retry_after("", date, now); };
    auto ms = [&](std::string_view date) -> std::int64_t {
        const auto v = at(date);
        return v ? v->count() : -1;
    };
    // 2076 is exactly fifty years ahead: kept. 2077 would be more: 1977.
    BOOST_TEST(ms("Wednesday, 01-Jan-76 00:00:00 GMT") ==
               std::chrono::duration_cast<std::chrono::milliseconds>(seconds(3345062400 - 1795737600)).count());
    BOOST_TEST(ms("Saturday, 01-Jan-77 00:00:00 GMT") ==
               std::chrono::duration_cast<std::chrono::milliseconds>(seconds(220924800 - 1795737600)).count());
    BOOST_TEST(ms("Sat, 7 Nov 2026 00:00:00 GMT") == -20LL * 86400 * 1000);  // a one-digit day
    // Each form whole: a missing GMT, a bad month, 25 o'clock.
    BOOST_TEST(!at("Fri, 27 Nov 2026 00:00:00").has_value());
    BOOST_TEST(!at("Fri, 27 Now 2026 00:00:00 GMT").has_value());
    BOOST_TEST(!at("Fri, 27 Nov 2026 25:00:00 GMT").has_value());
    BOOST_TEST(ms("fri, 27 NOV 2026 00:00:01 GMT") == 1000);  // names in any case, as strptime read them
}

BOOST_AUTO_TEST_CASE(retry_after_ms_then_seconds_then_http_date) {
    const auto now = std::chrono::system_clock::from_time_t(1445412480);  // Wed, 21 Oct 2015 07:28:00 GMT
    BOOST_TEST(engram::net::parse_retry_after("250", "7", now)->count() == 250);
    BOOST_TEST(engram::net::parse_retry_after("", "1.5", now)->count() == 1500);
    BOOST_TEST(engram::net::parse_retry_after("", "Wed, 21 Oct 2015 07:28:10 GMT", now)->count() == 10000);
    // The obsolete forms of an HTTP-date, which a recipient must accept too (RFC 9110, 5.6.7).
    BOOST_TEST(engram::net::parse_retry_after("", "Wednesday, 21-Oct-15 07:28:20 GMT", now)->count() == 20000);
    BOOST_TEST(engram::net::parse_retry_after("", "Wed Oct 21 07:28:30 2015", now)->count() == 30000);
    BOOST_TEST(engram::net::parse_retry_after("", "Thu Nov  5 07:28:00 2015", now)->count() == 15LL * 24 * 3600 * 1000);
    BOOST_TEST(!engram::net::parse_retry_after("", "Wed, 21 Oct 2015 07:28:10 GMT trailing", now).has_value());
    BOOST_TEST(!engram::net::parse_retry_after("", "soon", now).has_value());
    BOOST_TEST(!engram::net::parse_retry_after("x", "", now).has_value());
}

BOOST_AUTO_TEST_CASE(a_retry_after_beyond_any_wait_is_held_at_the_longest_and_the_backoff_applies) {
    using std::chrono::milliseconds;
    const auto now = std::chrono::system_clock::from_time_t(1445412480);  // Wed, 21 Oct 2015 07:28:00 GMT
    // Outside the integer range a double has no defined conversion: these came out negative.
    BOOST_TEST(engram::net::parse_retry_after("1e300", "", now)->count() == milliseconds::max().count());
    BOOST_TEST(engram::net::parse_retry_after("", "1e300", now)->count() == milliseconds::max().count());
    BOOST_TEST(engram::net::parse_retry_after("", "-1e300", now)->count() == milliseconds::min().count());
    BOOST_TEST(engram::net::parse_retry_after("", "9300000000000000", now)->count() == milliseconds::max().count());
    // A date past 2262 overflowed system_clock's nanoseconds.
    BOOST_TEST(engram::net::parse_retry_after("", "Fri, 31 Dec 9999 23:59:59 GMT", now)->count() ==
               (253402300799LL - 1445412480LL) * 1000);
    // The policy refuses such a wait and backs off instead.
    retry_policy p;  // backoff starts at 500 ms
    for (const char* huge : {"1e300", "-1e300"})
        BOOST_TEST(engram::net::retry_delay(p, 0, engram::net::parse_retry_after(huge, "", now), 0.0).count() == 500);
}

BOOST_AUTO_TEST_CASE(rate_limit_headers_from_a_recorded_response_are_parsed) {
    auto doc = engram::test::read_json(engram::test::fixtures_dir() / "anthropic" / "rec_sdkgo_tool_use_ping_midblock.headers.json");
    std::map<std::string, std::string> headers;
    for (const auto& kv : doc.at("headers").as_object()) {
        std::string name(kv.key());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        headers[name] = std::string(kv.value().as_array().at(0).as_string());
    }
    auto limits = engram::net::parse_rate_limits([&](std::string_view n) -> std::string_view {
        auto it = headers.find(std::string(n));
        return it == headers.end() ? std::string_view() : std::string_view(it->second);
    });
    BOOST_TEST(*limits.requests.limit == 4000);
    BOOST_TEST(*limits.requests.remaining == 3999);
    BOOST_TEST(*limits.tokens.limit == 280000);
    BOOST_TEST(*limits.output_tokens.limit == 80000);
    BOOST_TEST(limits.input_tokens.reset == "2025-10-30T16:17:36Z");
    BOOST_TEST(!limits.retry_after.has_value());
}

BOOST_AUTO_TEST_CASE(base_urls_parse_and_bad_ones_are_rejected_with_a_reason) {
    std::string err;
    auto a = engram::net::detail::parse_base_url("https://api.anthropic.com", err);
    BOOST_REQUIRE(a);
    BOOST_TEST(a->tls);
    BOOST_TEST(a->port == 443);
    BOOST_TEST(a->host_header() == "api.anthropic.com");
    auto b = engram::net::detail::parse_base_url("http://127.0.0.1:8080/proxy/", err);
    BOOST_REQUIRE(b);
    BOOST_TEST(!b->tls);
    BOOST_TEST(b->port == 8080);
    BOOST_TEST(b->path_prefix == "/proxy");
    BOOST_TEST(b->host_header() == "127.0.0.1:8080");
    BOOST_TEST(b->host_is_ip_literal());
    auto c = engram::net::detail::parse_base_url("https://[::1]:8443", err);
    BOOST_REQUIRE(c);
    BOOST_TEST(c->host == "::1");
    auto d = engram::net::detail::parse_base_url("https://proxy.internal/tenant%20a/v1", err);
    BOOST_REQUIRE(d);
    BOOST_TEST(d->path_prefix == "/tenant%20a/v1");
    // What would split the request line or the Host header, or is not a URL at all.
    for (const char* bad : {"ftp://x", "https://", "https://h:0", "https://h:99999", "https://u:p@h", "https://h/?q",
                            "api.anthropic.com", "https://proxy/p\r\nX-Evil: 1", "https://proxy/a b", "https://proxy/%zz",
                            "https://proxy/%2", "https://pro xy", "https://proxy\r\n/x", "https://[::1\n]", "https://proxy/\x7f"}) {
        err.clear();
        BOOST_TEST(!engram::net::detail::parse_base_url(bad, err), bad);
        BOOST_TEST(!err.empty());
    }
}

BOOST_AUTO_TEST_CASE(configuration_reads_base_url_and_key_from_the_environment) {
    setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9", 1);
    setenv("ANTHROPIC_API_KEY", "sk-env", 1);
    auto c = engram::net::client_config::from_env();
    BOOST_TEST(c.base_url == "http://127.0.0.1:9");
    BOOST_TEST(c.api_key == "sk-env");
    unsetenv("ANTHROPIC_BASE_URL");
    unsetenv("ANTHROPIC_API_KEY");
    auto d = engram::net::client_config::from_env();
    BOOST_TEST(d.base_url == "https://api.anthropic.com");
    BOOST_TEST(d.api_key.empty());
    BOOST_TEST(d.anthropic_version == "2023-06-01");
}

BOOST_AUTO_TEST_SUITE_END()
