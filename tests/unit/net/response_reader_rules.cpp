// The client's response parser keeps only the header fields the client reads and hands the
// decoded body to its sink, whatever the framing.
#include "response_reader.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/test/unit_test.hpp>

using engram::net::detail::response_reader;

namespace {

struct collect final : engram::net::detail::body_sink {
    void on_body(std::string_view piece) override { text += piece; }
    std::string text;
};

// Feeds `wire` one byte at a time, as the client feeds whatever it holds: returns whether the
// message completed without error.
bool feed_bytewise(response_reader& r, std::string_view wire) {
    std::string pending;
    for (char c : wire) {
        pending += c;
        boost::system::error_code ec;
        const auto used = r.put(boost::asio::buffer(pending), ec);
        pending.erase(0, used);
        if (ec && ec != boost::beast::http::error::need_more) return false;
    }
    return r.is_done();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(response_reader_rules)

BOOST_AUTO_TEST_CASE(only_the_fields_the_client_reads_are_kept_whatever_their_case) {
    response_reader r;
    collect body;
    r.set_sink(&body);
    const std::string wire =
        "HTTP/1.1 429 Too Many Requests\r\n"
        "Content-Type: application/json\r\n"
        "Request-Id: req_1\r\n"
        "ANTHROPIC-RATELIMIT-REQUESTS-LIMIT: 50\r\n"
        "anthropic-ratelimit-tokens-reset: 2025-10-30T16:17:36Z\r\n"
        "retry-after: 7\r\n"
        "X-Should-Retry: true\r\n"
        "anthropic-organization-id: not-kept\r\n"
        "Content-Length: 5\r\n\r\nhello";
    BOOST_REQUIRE(feed_bytewise(r, wire));
    BOOST_TEST(r.status() == 429);
    BOOST_TEST(r.header("request-id") == "req_1");
    BOOST_TEST(r.header("anthropic-ratelimit-requests-limit") == "50");
    BOOST_TEST(r.header("anthropic-ratelimit-tokens-reset") == "2025-10-30T16:17:36Z");
    BOOST_TEST(r.header("retry-after") == "7");
    BOOST_TEST(r.header("x-should-retry") == "true");
    BOOST_TEST(r.header("anthropic-organization-id").empty());
    BOOST_TEST(r.header("content-type").empty());
    BOOST_TEST(r.header("retry-after-ms").empty());
    BOOST_TEST(body.text == "hello");
    r.clear_headers();
    BOOST_TEST(r.header("request-id").empty());
}

BOOST_AUTO_TEST_CASE(a_chunked_body_reaches_the_sink_without_its_framing_and_keep_alive_is_read) {
    response_reader r;
    collect body;
    r.set_sink(&body);
    const std::string wire =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;ext=1\r\nevent\r\n1\r\n:\r\n0\r\n\r\n";
    BOOST_REQUIRE(feed_bytewise(r, wire));
    BOOST_TEST(r.status() == 200);
    BOOST_TEST(body.text == "event:");
    BOOST_TEST(r.keep_alive());
    BOOST_TEST(response_reader::kept("Retry-After-Ms"));
    BOOST_TEST(!response_reader::kept("anthropic-ratelimit-"));  // the prefix alone names nothing
}

BOOST_AUTO_TEST_SUITE_END()
