// claude_client against the in-process fake server: real HTTP/1.1, TLS and SSE on 127.0.0.1.
#include <engram/net/claude_client.hpp>
#include <engram/net/sse_parser.hpp>
#include <engram/net/retry.hpp>

#include <sys/resource.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <optional>
#include <future>
#include <mutex>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "support/fake_anthropic_server.hpp"
#include "support/fixtures.hpp"
#include "support/full_listener.hpp"
#include "support/run_coro.hpp"
#include "support/test_pki.hpp"

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using engram::net::claude_client;
using engram::net::client_config;
using engram::net::client_error;
using engram::net::errc;
using engram::net::error_kind;
using engram::net::message_request;
using engram::test::fake_anthropic_server;
using engram::test::scripted_response;

namespace {

constexpr const char* test_key = "sk-ant-test-SECRET-0123456789";

client_config config_for(const fake_anthropic_server& server) {
    client_config c;
    c.base_url = server.base_url();
    c.api_key = test_key;
    c.ca_file = engram::test::pki().ca_file;
    c.retry.initial_backoff = 5ms;
    c.retry.max_backoff = 20ms;
    return c;
}

// The same for a test that must see each failure as it is: no retries.
client_config config_without_retries(const fake_anthropic_server& server) {
    auto c = config_for(server);
    c.retry.max_retries = 0;
    return c;
}

// Scripts `n` streamed replies, "turn 0" to "turn n-1".
void push_turns(fake_anthropic_server& server, int n) {
    for (int i = 0; i < n; ++i) server.push(scripted_response::sse(engram::test::make_text_stream("turn " + std::to_string(i))));
}

message_request hello_request(const std::string& text = "Hello") {
    message_request r;
    r.body = {{"model", "claude-test"},
              {"max_tokens", 64},
              {"messages", json::array{{{"role", "user"}, {"content", text}}}}};
    return r;
}

// A stream that sends its message_start and then nothing more, holding the connection open.
scripted_response stalled_after_message_start(const std::string& text) {
    const std::string body = engram::test::make_text_stream(text, 2);
    auto stall = scripted_response::sse(body);
    stall.stop_after_bytes = body.find("content_block_start");
    stall.stall = true;
    return stall;
}

// A stream of `text` in `deltas` deltas, written in `pieces` writes `gap` apart.
scripted_response drip(const std::string& text, std::size_t deltas, std::size_t pieces, std::chrono::milliseconds gap) {
    const std::string body = engram::test::make_text_stream(text, deltas);
    auto s = scripted_response::sse(body, {body.size() / pieces + 1});
    s.delay_between_pieces = gap;
    return s;
}

// Reads a whole stream, returning the concatenated text deltas seen by the caller.
asio::awaitable<std::string> drain(engram::net::message_stream& s) {
    std::string text;
    while (auto ev = co_await s.next()) text += ev->text();
    co_return text;
}

template <class F>
client_error expect_client_error(F&& f) {
    try {
        f();
    } catch (const client_error& e) {
        BOOST_TEST(std::string(e.what()).find(test_key) == std::string::npos);  // never the key
        return e;
    }
    BOOST_FAIL("expected a client_error");
    throw std::logic_error("unreachable");
}

// Runs one request that must fail and returns its error (checked to be key-free).
client_error stream_failure(const client_config& cfg) {
    asio::io_context ioc;
    claude_client client(ioc.get_executor(), cfg);
    return expect_client_error([&] {
        engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
            auto s = co_await client.stream_message(hello_request());
            co_await drain(s);
        });
    });
}

client_error create_failure(const client_config& cfg) {
    asio::io_context ioc;
    claude_client client(ioc.get_executor(), cfg);
    return expect_client_error([&] {
        engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> { co_await client.create_message(hello_request()); });
    });
}

std::string fixture(const std::string& name) {
    return engram::test::read_file(engram::test::fixtures_dir() / "anthropic" / name);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(claude_client_integration)

BOOST_AUTO_TEST_CASE(streaming_over_tls_delivers_events_in_order_and_the_final_message) {
    fake_anthropic_server server(fake_anthropic_server::tls_mode::localhost_cert);
    auto headers = engram::test::read_json(engram::test::fixtures_dir() / "anthropic" / "rec_sdkgo_tool_use_ping_midblock.headers.json");
    auto script = scripted_response::sse(fixture("rec_sdkgo_tool_use_ping_midblock.sse"), {7, 1, 64, 3});
    for (const auto& kv : headers.at("headers").as_object()) {
        std::string name(kv.key());
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (name.starts_with("anthropic-ratelimit") || name == "request-id")
            script.headers.emplace_back(name, std::string(kv.value().as_array().at(0).as_string()));
    }
    server.push(script);
    asio::io_context ioc;
    claude_client client(ioc.get_executor(), config_for(server));
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto stream = co_await client.stream_message(hello_request());
        std::vector<engram::net::stream_event_kind> kinds;
        std::vector<json::value> received;
        std::string text;
        while (auto ev = co_await stream.next()) {
            kinds.push_back(ev->kind);
            received.push_back(ev->data());
            text += ev->text();
        }
        // Every event's JSON as the fixture has it, whichever path (fast text delta or full
        // parse) read it.
        std::vector<json::value> sent;
        engram::net::sse_parser sse;
        BOOST_REQUIRE(!sse.feed(fixture("rec_sdkgo_tool_use_ping_midblock.sse"),
                                [&](const engram::net::sse_event& e) { sent.push_back(json::parse(e.data)); }));
        BOOST_REQUIRE_EQUAL(received.size(), sent.size());
        for (std::size_t i = 0; i < sent.size(); ++i) BOOST_TEST(received[i] == sent[i], "event " << i);
        BOOST_TEST(text == "I'd be happy to check the weather in San Francisco for you. Let me get that information for you right away.");
        BOOST_TEST((kinds.front() == engram::net::stream_event_kind::message_start));
        BOOST_TEST((kinds.back() == engram::net::stream_event_kind::message_stop));
        const auto& msg = stream.current();
        BOOST_TEST(msg.stop_reason() == "tool_use");
        BOOST_TEST(msg.content().at(1).at("input") == (json::object{{"city", "San Francisco"}}));
        BOOST_TEST(*msg.usage().output_tokens == 79);
        const auto& info = stream.response();
        BOOST_TEST(info.http_status == 200);
        BOOST_TEST(!info.request_id.empty());
        BOOST_TEST(*info.limits.requests.limit == 4000);
        BOOST_TEST(*info.limits.input_tokens.remaining == 199000);
        BOOST_TEST(info.limits.tokens.reset == "2025-10-30T16:17:36Z");
    });
    const auto reqs = server.requests();
    BOOST_REQUIRE_EQUAL(reqs.size(), 1u);
    BOOST_TEST(reqs[0].method == "POST");
    BOOST_TEST(reqs[0].target == "/v1/messages");
    BOOST_TEST(reqs[0].headers.at("x-api-key") == test_key);
    BOOST_TEST(reqs[0].headers.at("anthropic-version") == "2023-06-01");
    BOOST_TEST(reqs[0].headers.at("accept") == "text/event-stream");
    auto body = json::parse(reqs[0].body);
    BOOST_TEST(body.at("stream") == true);
    BOOST_TEST(body.at("model") == "claude-test");
}

BOOST_AUTO_TEST_CASE(every_recorded_stream_gives_the_events_and_message_of_a_full_parse_however_its_bytes_arrive) {
    // The client reads a text delta block whole when a read holds all of it, else line by line
    // and with a JSON scan; either way the caller must see what full parses of the stream's
    // events say. The reference here: the SSE parser and the accumulator's full-parse apply().
    using engram::net::message_accumulator;
    using engram::net::stream_event_kind;
    std::size_t fixtures = 0;
    for (const auto& path : engram::test::fixture_files("anthropic", ".sse")) {
        const std::string body = engram::test::read_file(path);
        std::vector<std::string> expected;
        message_accumulator reference;
        bool fails = false;
        engram::net::sse_parser sse;
        BOOST_REQUIRE(!sse.feed(body, [&](const engram::net::sse_event& e) {
            if (fails) return;
            stream_event_kind kind{};
            json::value tree;
            if (reference.apply(e.type, e.data, &kind, &tree) || kind == stream_event_kind::error) {
                fails = true;  // the client throws here: nothing after it is delivered
                return;
            }
            const auto& o = tree.as_object();
            std::size_t index = 0;
            if (auto* i = o.if_contains("index")) index = i->to_number<std::size_t>();
            std::string text;
            if (kind == stream_event_kind::content_block_delta)
                for (const char* key : {"text", "thinking"})
                    if (auto* t = o.at("delta").as_object().if_contains(key); t && t->is_string()) text = t->as_string();
            expected.push_back(std::to_string(static_cast<int>(kind)) + "|" + std::to_string(index) + "|" + text + "|" +
                               json::serialize(tree));
        }));
        if (reference.finish()) fails = true;
        BOOST_TEST_CONTEXT("fixture " << path.filename().string()) {
            ++fixtures;
            auto whole = scripted_response::sse(body);
            auto pieces = scripted_response::sse(body, {7, 1, 64, 3});
            auto fragments = scripted_response::sse(body);
            fragments.wire_piece_size = 40;  // no read holds a whole block
            for (const auto* script : {&whole, &pieces, &fragments}) {
                BOOST_TEST_CONTEXT("delivery " << (script == &whole ? "whole" : script == &pieces ? "in pieces" : "in fragments")) {
                    fake_anthropic_server server;
                    server.push(*script);
                    asio::io_context ioc;
                    claude_client client(ioc.get_executor(), config_for(server));
                    std::vector<std::string> got;
                    bool threw = false;
                    json::value final_message;
                    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
                        auto stream = co_await client.stream_message(hello_request());
                        try {
                            co_await stream.read_all([&](const engram::net::stream_event& ev) {
                                got.push_back(std::to_string(static_cast<int>(ev.kind)) + "|" + std::to_string(ev.index) + "|" +
                                              std::string(ev.text()) + "|" + json::serialize(ev.data()));
                            });
                        } catch (const client_error&) {
                            threw = true;
                        }
                        final_message = stream.current().json();
                    });
                    BOOST_TEST(threw == fails);
                    BOOST_REQUIRE_EQUAL(got.size(), expected.size());
                    for (std::size_t i = 0; i < got.size(); ++i) BOOST_TEST(got[i] == expected[i], "event " << i);
                    BOOST_TEST(final_message == json::value(reference.current().json()));
                }
            }
        }
    }
    BOOST_TEST(fixtures > 10u);
}

BOOST_AUTO_TEST_CASE(a_default_stream_event_has_null_data_and_no_text) {
    const engram::net::stream_event ev;
    BOOST_TEST(ev.data().is_null());
    BOOST_TEST(ev.text().empty());
    BOOST_TEST(!ev.is_text_delta());
    const engram::net::stream_event copy(ev);
    BOOST_TEST(copy.data().is_null());
}

BOOST_AUTO_TEST_CASE(read_all_delivers_the_events_next_would_and_a_throwing_callback_closes_the_stream) {
    for (auto mode : {fake_anthropic_server::tls_mode::none, fake_anthropic_server::tls_mode::localhost_cert}) {
        BOOST_TEST_CONTEXT("tls " << (mode != fake_anthropic_server::tls_mode::none)) {
            fake_anthropic_server server(mode);
            const auto script = scripted_response::sse(fixture("rec_sdkgo_tool_use_ping_midblock.sse"), {7, 1, 64, 3});
            for (int i = 0; i < 4; ++i) server.push(script);
            asio::io_context ioc;
            claude_client client(ioc.get_executor(), config_for(server));
            engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
                std::vector<json::value> by_next, by_read_all;
                std::vector<std::string> texts_by_next;
                auto a = co_await client.stream_message(hello_request());
                while (auto ev = co_await a.next()) {
                    by_next.push_back(ev->data());
                    texts_by_next.emplace_back(ev->text());
                }
                auto b = co_await client.stream_message(hello_request());
                // An event lent to the callback may refer to the stream's buffer; a copy owns
                // its payload, and outlives the buffer's reuse by the later reads.
                std::vector<engram::net::stream_event> copies;
                co_await b.read_all([&](const engram::net::stream_event& ev) {
                    by_read_all.push_back(ev.data());
                    copies.push_back(ev);
                });
                BOOST_TEST(b.done());
                BOOST_REQUIRE_EQUAL(by_read_all.size(), by_next.size());
                BOOST_REQUIRE_EQUAL(copies.size(), by_next.size());
                for (std::size_t i = 0; i < by_next.size(); ++i) {
                    BOOST_TEST(by_read_all[i] == by_next[i], "event " << i);
                    BOOST_TEST(copies[i].data() == by_next[i], "copy of event " << i);
                    BOOST_TEST(copies[i].text() == texts_by_next[i], "text of event " << i);
                }
                BOOST_TEST((json::value(b.current().content()) == json::value(a.current().content())));
                BOOST_TEST(client.stats().idle == 1u);  // both read to the end: one pooled connection

                // The caller's exception ends the stream where it was thrown.
                auto c = co_await client.stream_message(hello_request());
                int seen = 0;
                try {
                    co_await c.read_all([&](const engram::net::stream_event&) {
                        if (++seen == 3) throw std::runtime_error("enough");
                    });
                    BOOST_ERROR("read_all returned although its callback threw");
                } catch (const std::runtime_error& e) {
                    BOOST_TEST(std::string(e.what()) == "enough");
                }
                BOOST_TEST(seen == 3);
                BOOST_TEST(c.done());
                BOOST_TEST(client.stats().in_use == 0u);

                // Also a system_error of the caller's own (a write to its client socket that went
                // away): it is the caller's, not a connection failure of the API's.
                auto d = co_await client.stream_message(hello_request());
                bool caught_as_is = false;
                try {
                    co_await d.read_all([&](const engram::net::stream_event&) {
                        throw boost::system::system_error(asio::error::broken_pipe, "writing to the caller's client");
                    });
                } catch (const engram::net::client_error& e) {
                    BOOST_ERROR("the callback's exception came back as a client_error: " << e.what());
                } catch (const boost::system::system_error& e) {
                    caught_as_is = e.code() == asio::error::broken_pipe;
                }
                BOOST_TEST(caught_as_is);
                BOOST_TEST(d.done());
                // Read again, it fails the same way, delivering nothing more.
                bool again_as_is = false;
                try {
                    auto ev = co_await d.next();
                    BOOST_ERROR("a read after the failure delivered " << (ev ? "an event" : "the end"));
                } catch (const engram::net::client_error& e) {
                    BOOST_ERROR("read again, the callback's exception came back as a client_error: " << e.what());
                } catch (const boost::system::system_error& e) {
                    again_as_is = e.code() == asio::error::broken_pipe;
                }
                BOOST_TEST(again_as_is);
                BOOST_TEST(client.stats().in_use == 0u);
            });
        }
    }
}

BOOST_AUTO_TEST_CASE(a_request_larger_than_the_socket_buffers_is_sent_whole_on_a_new_and_on_a_reused_connection) {
    // A write that cannot finish at once waits for the socket to drain: the connection is
    // watched for input only after its connect, and the write must bring writability back.
    for (auto mode : {fake_anthropic_server::tls_mode::none, fake_anthropic_server::tls_mode::localhost_cert}) {
        BOOST_TEST_CONTEXT("tls " << (mode != fake_anthropic_server::tls_mode::none)) {
            fake_anthropic_server server(mode);
            const std::string big(8 * 1024 * 1024, 'x');
            for (int i = 0; i < 2; ++i) server.push(scripted_response::sse(engram::test::make_text_stream("ok " + std::to_string(i))));
            asio::io_context ioc;
            claude_client client(ioc.get_executor(), config_for(server));
            engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
                for (int i = 0; i < 2; ++i) {
                    auto s = co_await client.stream_message(hello_request(big));
                    BOOST_TEST(co_await drain(s) == "ok " + std::to_string(i));
                }
            });
            const auto requests = server.requests();
            BOOST_REQUIRE_EQUAL(requests.size(), 2u);
            BOOST_TEST(requests[0].connection == requests[1].connection);  // the second reused the first's
            for (const auto& r : requests)
                BOOST_TEST(json::parse(r.body).at("messages").at(0).at("content").as_string().size() == big.size());
        }
    }
}

// Bytes past the end of a response (a stray second response), in the same write or later, in a
// packet of their own while the connection waits in the pool: taken for the next request's
// response, they would put every later request a response behind. Such a connection is not
// reused.
BOOST_AUTO_TEST_CASE(a_connection_with_bytes_past_the_end_of_its_response_is_not_reused) {
    for (int own_write = 0; own_write < 2; ++own_write)
    for (auto later : {0ms, 50ms})
    for (auto mode : {fake_anthropic_server::tls_mode::none, fake_anthropic_server::tls_mode::localhost_cert}) {
        if (own_write && later > 0ms) continue;  // a later write is a write of its own anyway
        BOOST_TEST_CONTEXT("tls " << (mode != fake_anthropic_server::tls_mode::none) << ", sent " << later.count()
                                  << " ms later" << (own_write ? ", in a write of its own" : "")) {
            fake_anthropic_server server(mode);
            const std::string stale = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 89\r\n\r\n"
                                      R"({"id":"x","type":"message","role":"assistant","content":[{"type":"text","text":"stale"}]})";
            auto first = scripted_response::json(200, R"({"id":"m1","type":"message","role":"assistant","content":[{"type":"text","text":"one"}]})");
            first.after_body = stale;
            first.after_body_delay = later;
            first.after_body_own_write = own_write == 1;
            server.push(first);
            server.push(scripted_response::json(200, R"({"id":"m2","type":"message","role":"assistant","content":[{"type":"text","text":"two"}]})"));
            asio::io_context ioc;
            claude_client client(ioc.get_executor(), config_for(server));
            engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
                auto m1 = co_await client.create_message(hello_request());
                BOOST_TEST(m1.text() == "one");
                // The late bytes arrive meanwhile (bytes in a write of their own, at once, may reach
                // the socket after the response's last ones were read).
                asio::steady_timer idle(co_await asio::this_coro::executor, own_write ? 20ms : 6 * later);
                co_await idle.async_wait(asio::use_awaitable);
                auto m2 = co_await client.create_message(hello_request());
                BOOST_TEST(m2.text() == "two");
            });
            const auto requests = server.requests();
            BOOST_REQUIRE_EQUAL(requests.size(), 2u);
            BOOST_TEST(requests[0].connection != requests[1].connection);
        }
    }
}

BOOST_AUTO_TEST_CASE(a_stream_longer_than_max_body_bytes_ends_with_body_too_large_and_its_partial_message) {
    // A server that never ends its stream (and is never quiet long enough for the idle timeout)
    // must not grow the message until the process runs out of memory.
    fake_anthropic_server server;
    std::string words;
    for (int i = 0; i < 200; ++i) words += "word" + std::to_string(i) + " ";
    server.push(scripted_response::sse(engram::test::make_text_stream(words, 200), {512}));
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.max_body_bytes = 8 * 1024;
    claude_client client(ioc.get_executor(), cfg);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto s = co_await client.stream_message(hello_request());
        std::string seen;
        try {
            co_await s.read_all([&](const engram::net::stream_event& ev) { seen += ev.text(); });
            BOOST_ERROR("a stream over max_body_bytes completed");
        } catch (const engram::net::client_error& e) {
            BOOST_TEST((e.code_value() == engram::net::errc::body_too_large), e.what());
            BOOST_TEST(std::string(e.what()).find("max_body_bytes") != std::string::npos, e.what());
            BOOST_REQUIRE(e.partial_message());
            BOOST_TEST(e.partial_message()->text() == seen);  // what arrived before the limit
        }
        BOOST_TEST(!seen.empty());
        BOOST_TEST(seen.size() < words.size());
        BOOST_TEST(client.stats().in_use == 0u);
    });
}

// A client whose kept-alive connections expire after 150 ms, and `turns` scripted replies.
struct short_idle_timeout {
    explicit short_idle_timeout(int turns) { push_turns(server, turns); }
    static client_config config(const fake_anthropic_server& server) {
        auto c = config_for(server);
        c.idle_connection_timeout = 150ms;
        return c;
    }
    fake_anthropic_server server;
    asio::io_context ioc;
    claude_client client{ioc.get_executor(), config(server)};
};

BOOST_AUTO_TEST_CASE(a_connection_idle_for_longer_than_idle_connection_timeout_is_not_reused) {
    short_idle_timeout t(3);
    auto& [server, ioc, client] = t;
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto s0 = co_await client.stream_message(hello_request());
        BOOST_TEST(co_await drain(s0) == "turn 0");
        auto s1 = co_await client.stream_message(hello_request());  // at once: reused
        BOOST_TEST(co_await drain(s1) == "turn 1");
        asio::steady_timer idle(co_await asio::this_coro::executor, 400ms);
        co_await idle.async_wait(asio::use_awaitable);
        auto s2 = co_await client.stream_message(hello_request());  // after the timeout: a new one
        BOOST_TEST(co_await drain(s2) == "turn 2");
    });
    const auto requests = server.requests();
    BOOST_REQUIRE_EQUAL(requests.size(), 3u);
    BOOST_TEST(requests[0].connection == requests[1].connection);
    BOOST_TEST(requests[1].connection != requests[2].connection);
    BOOST_TEST(client.stats().connections_opened == 2u);
}

// A server closes kept-alive connections that stay idle: until a request came for the host,
// the client kept such a socket (in CLOSE_WAIT) in its pool. Pruning closes it, and only it.
BOOST_AUTO_TEST_CASE(pruning_closes_the_idle_connections_the_server_closed_and_keeps_the_others) {
    fake_anthropic_server server;
    auto closed_by_server = scripted_response::sse(engram::test::make_text_stream("closed later"));
    closed_by_server.close_after = 50ms;
    server.push(closed_by_server);
    server.push(scripted_response::sse(engram::test::make_text_stream("kept open")));
    server.push(scripted_response::sse(engram::test::make_text_stream("on the kept one")));
    asio::io_context ioc;
    claude_client client(ioc.get_executor(), config_for(server));
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        // Both open before either is read: two connections.
        auto first = co_await client.stream_message(hello_request());
        auto second = co_await client.stream_message(hello_request());
        BOOST_TEST(co_await drain(first) == "closed later");
        BOOST_TEST(co_await drain(second) == "kept open");
        BOOST_REQUIRE(client.stats().idle == 2u);
        BOOST_REQUIRE(co_await engram::test::eventually([&] { return server.connections_open() == 1u; }));
        BOOST_TEST(client.stats().idle == 2u);  // the closed one is still pooled
        BOOST_TEST(client.prune_idle_connections() == 1u);
        BOOST_TEST(client.stats().idle == 1u);
        BOOST_TEST(client.prune_idle_connections() == 0u);
        auto third = co_await client.stream_message(hello_request());
        BOOST_TEST(co_await drain(third) == "on the kept one");
    });
    const auto requests = server.requests();
    BOOST_REQUIRE_EQUAL(requests.size(), 3u);
    BOOST_TEST(requests[2].connection == requests[1].connection);
    BOOST_TEST(client.stats().connections_opened == 2u);
}

BOOST_AUTO_TEST_CASE(pruning_closes_connections_idle_past_the_timeout_and_closing_all_leaves_none) {
    short_idle_timeout t(2);
    auto& [server, ioc, client] = t;
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto s0 = co_await client.stream_message(hello_request());
        BOOST_TEST(co_await drain(s0) == "turn 0");
        BOOST_TEST(client.prune_idle_connections() == 0u);  // live, and idle for less than 150 ms
        BOOST_TEST(client.stats().idle == 1u);
        asio::steady_timer idle(co_await asio::this_coro::executor, 300ms);
        co_await idle.async_wait(asio::use_awaitable);
        BOOST_TEST(client.prune_idle_connections() == 1u);
        BOOST_TEST(client.stats().idle == 0u);
        BOOST_TEST(co_await engram::test::eventually([&] { return server.connections_open() == 0u; }));
        auto s1 = co_await client.stream_message(hello_request());
        BOOST_TEST(co_await drain(s1) == "turn 1");
        BOOST_TEST(client.stats().idle == 1u);
        BOOST_TEST(client.close_idle_connections() == 1u);
        BOOST_TEST(client.stats().idle == 0u);
        BOOST_TEST(co_await engram::test::eventually([&] { return server.connections_open() == 0u; }));
    });
    BOOST_TEST(client.stats().connections_opened == 2u);
}

// Interim responses before the real one (100 Continue, 103 Early Hints, as a proxy or CDN may
// send) are read past: the stream is the 200 that follows, and the connection stays in step.
BOOST_AUTO_TEST_CASE(interim_responses_before_the_real_one_are_read_past) {
    fake_anthropic_server server;
    auto first = scripted_response::sse(engram::test::make_text_stream("after the hints"));
    first.before_header = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n";
    server.push(first);
    server.push(scripted_response::sse(engram::test::make_text_stream("second")));
    asio::io_context ioc;
    claude_client client(ioc.get_executor(), config_for(server));
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto s1 = co_await client.stream_message(hello_request());
        BOOST_TEST(co_await drain(s1) == "after the hints");
        auto s2 = co_await client.stream_message(hello_request());
        BOOST_TEST(co_await drain(s2) == "second");
    });
    BOOST_TEST(server.requests().size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_stream_whose_events_are_all_named_message_is_read_by_their_data) {
    // `event: message` is SSE's default type written out, as a proxy may do on every event.
    std::string body = engram::test::make_text_stream("named the default way", 3);
    std::size_t renamed = 0;
    for (std::size_t at = body.find("event: "); at != std::string::npos; at = body.find("event: ", at + 1)) {
        body.replace(at, body.find('\n', at) - at, "event: message");
        ++renamed;
    }
    BOOST_REQUIRE_GE(renamed, 8u);
    fake_anthropic_server server;
    server.push(scripted_response::sse(body));
    asio::io_context ioc;
    claude_client client(ioc.get_executor(), config_for(server));
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto s = co_await client.stream_message(hello_request());
        std::vector<engram::net::stream_event_kind> kinds;
        std::string text;
        while (auto ev = co_await s.next()) {
            kinds.push_back(ev->kind);
            text += ev->text();
        }
        BOOST_TEST(text == "named the default way");
        BOOST_REQUIRE(!kinds.empty());
        BOOST_TEST((kinds.front() == engram::net::stream_event_kind::message_start));
        BOOST_TEST((kinds.back() == engram::net::stream_event_kind::message_stop));
        BOOST_TEST(s.current().stop_reason() == "end_turn");
    });
}

BOOST_AUTO_TEST_CASE(a_refusal_sent_before_the_body_was_read_is_reported_not_the_broken_send) {
    // The server answers 413 once it has the header and closes with the body unread: the send
    // fails (reset) with the answer waiting. Reported as the send's failure, it was retried as
    // a dropped connection, the whole body each time.
    const auto fixture_body = engram::test::read_json(engram::test::fixtures_dir() / "errors" / "413_request_too_large.json");
    for (auto mode : {fake_anthropic_server::tls_mode::none, fake_anthropic_server::tls_mode::localhost_cert}) {
        fake_anthropic_server server(mode);
        auto refusal = scripted_response::json(413, std::string(fixture_body.at("body_raw").as_string()));
        refusal.answer_before_body = true;
        refusal.keep_alive = false;
        server.push(refusal);
        server.push(scripted_response::sse(engram::test::make_text_stream("after the refusal")));
        asio::io_context ioc;
        claude_client client(ioc.get_executor(), config_for(server));
        auto big = hello_request(std::string(16 * 1024 * 1024, 'x'));  // far past what socket buffers hold
        const auto e = expect_client_error([&] {
            engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> { co_await client.create_message(big); });
        });
        BOOST_TEST((e.code_value() == errc::request_too_large), e.what());
        BOOST_TEST(std::string(e.what()).find("Request exceeds the maximum size") != std::string::npos,
                   e.what() << (mode == fake_anthropic_server::tls_mode::none ? " (plain)" : " (TLS)"));
        BOOST_TEST(server.requests().size() == 1u);  // not retried
        // The next request takes a new connection and succeeds.
        engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
            auto s = co_await client.stream_message(hello_request());
            BOOST_TEST(co_await drain(s) == "after the refusal");
        });
        BOOST_TEST(server.connections_accepted() == 2u);
    }
}

BOOST_AUTO_TEST_CASE(non_streaming_over_tls_returns_the_message_and_sends_betas) {
    fake_anthropic_server server(fake_anthropic_server::tls_mode::localhost_cert);
    server.push(scripted_response::json(200, R"({"id":"msg_1","type":"message","role":"assistant","model":"claude-test",)"
                                             R"("content":[{"type":"text","text":"Hi there"}],"stop_reason":"end_turn",)"
                                             R"("stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":2}})"));
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.anthropic_beta = {"beta-a"};
    claude_client client(ioc.get_executor(), cfg);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto req = hello_request();
        req.betas = {"beta-b"};
        auto msg = co_await client.create_message(req);
        BOOST_TEST(msg.text() == "Hi there");
        BOOST_TEST(msg.id() == "msg_1");
        BOOST_TEST(*msg.usage().input_tokens == 3);
    });
    const auto reqs = server.requests();
    BOOST_REQUIRE_EQUAL(reqs.size(), 1u);
    BOOST_TEST(reqs[0].headers.at("anthropic-beta") == "beta-a,beta-b");
    BOOST_TEST(json::parse(reqs[0].body).at("stream") == false);
}

BOOST_AUTO_TEST_CASE(callback_style_api_completes_with_the_message) {
    fake_anthropic_server server;
    server.push(scripted_response::sse(engram::test::make_text_stream("callback works")));
    asio::io_context ioc;
    claude_client client(ioc.get_executor(), config_for(server));
    std::string text;
    bool called = false;
    client.async_stream_message(hello_request(), [&](std::exception_ptr e, engram::net::message_stream s) {
        BOOST_REQUIRE(!e);
        auto holder = std::make_shared<engram::net::message_stream>(std::move(s));
        auto step = std::make_shared<std::function<void(std::exception_ptr, std::optional<engram::net::stream_event>)>>();
        *step = [&, holder, step](std::exception_ptr e2, std::optional<engram::net::stream_event> ev) {
            BOOST_REQUIRE(!e2);
            if (!ev) {
                called = true;
                text = holder->current().text();
                *step = nullptr;  // break the self-reference
                return;
            }
            holder->async_next(*step);
        };
        holder->async_next(*step);
    });
    ioc.run_for(20s);
    BOOST_TEST(called);
    BOOST_TEST(text == "callback works");
}

BOOST_AUTO_TEST_CASE(a_callback_style_request_outlives_the_client_that_started_it) {
    // The operation starts on the executor, after the client is gone: it must hold the client's
    // state from the call on (AddressSanitizer in CI sees a read through the dead client).
    fake_anthropic_server server;
    server.set_handler([](const engram::test::recorded_request& r) {
        if (json::parse(r.body).at("stream") == true)
            return scripted_response::sse(engram::test::make_text_stream("streamed anyway"));
        return scripted_response::json(200, R"({"id":"msg_1","type":"message","role":"assistant","model":"claude-test",)"
                                            R"("content":[{"type":"text","text":"still here"}],"stop_reason":"end_turn",)"
                                            R"("stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":2}})");
    });
    asio::io_context ioc;
    std::string created, streamed;
    {
        claude_client client(ioc.get_executor(), config_for(server));
        client.async_create_message(hello_request(), [&](std::exception_ptr e, engram::net::message m) {
            BOOST_TEST(!e);
            created = m.text();
        });
        auto pending = client.async_stream_message(hello_request());  // deferred: started below
        std::move(pending)([&](std::exception_ptr e, engram::net::message_stream s) {
            BOOST_REQUIRE(!e);
            asio::co_spawn(ioc, [&, s = std::move(s)]() mutable -> asio::awaitable<void> { streamed = co_await drain(s); },
                           asio::detached);
        });
    }
    ioc.run_for(20s);
    BOOST_TEST(created == "still here");
    BOOST_TEST(streamed == "streamed anyway");
}

BOOST_AUTO_TEST_CASE(sequential_requests_reuse_one_keep_alive_connection) {
    fake_anthropic_server server;
    push_turns(server, 6);
    server.push(scripted_response::json(200, R"({"id":"m","type":"message","role":"assistant","content":[{"type":"text","text":"ok"}]})"));
    asio::io_context ioc;
    claude_client client(ioc.get_executor(), config_for(server));
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 6; ++i) {
            auto s = co_await client.stream_message(hello_request());
            BOOST_TEST(co_await drain(s) == "turn " + std::to_string(i));
        }
        auto m = co_await client.create_message(hello_request());
        BOOST_TEST(m.text() == "ok");
    });
    BOOST_TEST(server.requests().size() == 7u);
    BOOST_TEST(server.connections_accepted() == 1u);
    BOOST_TEST(client.stats().connections_opened == 1u);
    BOOST_TEST(client.stats().idle == 1u);
}

BOOST_AUTO_TEST_CASE(rate_limited_429_is_retried_after_the_retry_after_delay) {
    fake_anthropic_server server;
    auto limited = scripted_response::json(429, R"({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})");
    limited.headers = {{"retry-after-ms", "300"}};
    server.push(limited);
    server.push(scripted_response::sse(engram::test::make_text_stream("after the wait")));
    asio::io_context ioc;
    claude_client client(ioc.get_executor(), config_for(server));
    const auto start = std::chrono::steady_clock::now();
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto s = co_await client.stream_message(hello_request());
        BOOST_TEST(co_await drain(s) == "after the wait");
        BOOST_TEST(s.response().attempts == 2u);
    });
    // The server's hint (300 ms) replaced the 5 ms backoff configured for this test.
    BOOST_TEST((std::chrono::steady_clock::now() - start >= 300ms));
    BOOST_TEST(server.requests().size() == 2u);
}

BOOST_AUTO_TEST_CASE(overloaded_529_twice_then_success_announcing_each_retry) {
    fake_anthropic_server server;
    const char* body = R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})";
    auto overloaded = scripted_response::json(529, body);
    overloaded.headers.emplace_back("request-id", "req_busy");
    server.push(overloaded);
    server.push(overloaded);
    server.push(scripted_response::sse(engram::test::make_text_stream("third time")));
    asio::io_context ioc;
    claude_client client(ioc.get_executor(), config_for(server));
    std::vector<engram::net::retry_notice> notices;
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto req = hello_request();
        req.on_retry = [&](const engram::net::retry_notice& n) { notices.push_back(n); };
        auto s = co_await client.stream_message(std::move(req));
        BOOST_TEST(co_await drain(s) == "third time");
    });
    BOOST_TEST(server.requests().size() == 3u);
    BOOST_REQUIRE_EQUAL(notices.size(), 2u);
    BOOST_TEST(notices[0].failed_attempt == 1u);
    BOOST_TEST(notices[1].failed_attempt == 2u);
    BOOST_TEST(notices[1].delay >= notices[0].delay);
    BOOST_TEST(notices[0].reason.find("overloaded_error") != std::string::npos, notices[0].reason);
    BOOST_TEST(notices[0].reason.find("req_busy") != std::string::npos, notices[0].reason);
}

BOOST_AUTO_TEST_CASE(overloaded_beyond_max_retries_reports_overloaded) {
    fake_anthropic_server server;
    for (int i = 0; i < 3; ++i)
        server.push(scripted_response::json(529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"));
    asio::io_context ioc;
    claude_client client(ioc.get_executor(), config_for(server));
    auto e = expect_client_error([&] {
        engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> { co_await client.stream_message(hello_request()); });
    });
    BOOST_TEST((e.code_value() == errc::overloaded));
    BOOST_TEST(e.api()->http_status == 529);
    BOOST_TEST(server.requests().size() == 3u);  // 1 + max_retries (2)
}

BOOST_AUTO_TEST_CASE(bad_request_400_is_never_retried) {
    fake_anthropic_server server;
    auto bad = scripted_response::json(400, R"({"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"},"request_id":"req_body"})");
    bad.headers = {{"request-id", "req_header_400"}};
    server.push(bad);
    auto e = create_failure(config_for(server));
    BOOST_TEST((e.kind() == error_kind::api));
    BOOST_TEST((e.code_value() == errc::invalid_request));
    BOOST_TEST(e.api()->error_type == "invalid_request_error");
    BOOST_TEST(e.api()->message == "max_tokens: Field required");
    BOOST_TEST(e.api()->request_id == "req_header_400");
    BOOST_TEST(std::string(e.what()).find("req_header_400") != std::string::npos);
    BOOST_TEST(server.requests().size() == 1u);
}

BOOST_AUTO_TEST_CASE(x_should_retry_header_overrides_the_status_rule) {
    fake_anthropic_server server;
    auto no = scripted_response::json(503, R"({"type":"error","error":{"type":"api_error","message":"no"}})");
    no.headers = {{"x-should-retry", "false"}};
    server.push(no);
    auto yes = scripted_response::json(400, R"({"type":"error","error":{"type":"invalid_request_error","message":"try again"}})");
    yes.headers = {{"x-should-retry", "true"}};
    server.push(yes);
    server.push(scripted_response::sse(engram::test::make_text_stream("retried")));
    asio::io_context ioc;
    claude_client client(ioc.get_executor(), config_for(server));
    auto e = expect_client_error([&] {
        engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> { co_await client.stream_message(hello_request()); });
    });
    BOOST_TEST((e.code_value() == errc::api_internal));
    BOOST_TEST(server.requests().size() == 1u);  // 503 with x-should-retry: false: not retried
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto s = co_await client.stream_message(hello_request());
        BOOST_TEST(co_await drain(s) == "retried");  // 400 with x-should-retry: true: retried
    });
    BOOST_TEST(server.requests().size() == 3u);
}

BOOST_AUTO_TEST_CASE(every_recorded_error_body_becomes_a_typed_api_error) {
    const auto files = engram::test::fixture_files("errors", ".json");
    std::size_t checked = 0;
    for (const auto& path : files) {
        const auto doc = engram::test::read_json(path).as_object();
        if (!doc.contains("http_status")) continue;  // the docs summary file, not a response
        BOOST_TEST_CONTEXT("fixture " << path.filename().string()) {
            fake_anthropic_server server;
            auto script = scripted_response::json(static_cast<int>(doc.at("http_status").to_number<std::int64_t>()),
                                                  std::string(doc.at("body_raw").as_string()));
            std::string should_retry;
            if (auto* h = doc.if_contains("headers"); h && h->is_object())
                for (const auto& kv : h->as_object()) {
                    const std::string name(kv.key());
                    if (name == "content-length" || name == "connection" || name == "content-type" || name == "transfer-encoding") continue;
                    if (!kv.value().is_string()) continue;
                    if (name == "x-should-retry") should_retry = kv.value().as_string();
                    if (name == "retry-after") continue;  // keep the test fast; retry-after is tested above
                    script.headers.emplace_back(name, std::string(kv.value().as_string()));
                }
            server.set_handler([script](const engram::test::recorded_request&) { return script; });
            asio::io_context ioc;
            auto cfg = config_for(server);
            cfg.retry.max_retries = 1;
            claude_client client(ioc.get_executor(), cfg);
            auto e = expect_client_error([&] {
                engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> { co_await client.create_message(hello_request()); });
            });
            const int status = static_cast<int>(doc.at("http_status").to_number<std::int64_t>());
            const auto& body_error = doc.at("body").at("error").as_object();
            BOOST_TEST((e.kind() == error_kind::api));
            BOOST_TEST((e.code_value() == engram::net::errc_from_api(doc.at("error_type").as_string(), status)));
            BOOST_TEST(e.api()->http_status == status);
            BOOST_TEST(e.api()->error_type == std::string_view(body_error.at("type").as_string()));
            BOOST_TEST(e.api()->message == std::string_view(body_error.at("message").as_string()));
            if (auto* h = doc.if_contains("headers"); h && h->is_object() && h->as_object().contains("request-id"))
                BOOST_TEST(e.api()->request_id == std::string_view(h->at("request-id").as_string()));
            const bool retried = engram::net::should_retry_status(status, should_retry);
            BOOST_TEST(server.requests().size() == (retried ? 2u : 1u));
            ++checked;
        }
    }
    BOOST_TEST(checked >= 8u);
}

BOOST_AUTO_TEST_CASE(in_band_overloaded_error_event_is_an_overloaded_api_error) {
    fake_anthropic_server server;
    server.push(scripted_response::sse(fixture("docs_error_event_overloaded.sse")));
    auto e = stream_failure(config_for(server));
    BOOST_TEST((e.code_value() == errc::overloaded));
    BOOST_TEST(e.api()->http_status == 0);
    BOOST_TEST(e.api()->error_type == "overloaded_error");
    BOOST_TEST(server.requests().size() == 1u);
}

BOOST_AUTO_TEST_CASE(disconnect_mid_stream_reports_the_partial_message_and_is_not_retried) {
    fake_anthropic_server server;
    const std::string body = engram::test::make_text_stream("one two three four five six", 6);
    auto cut = scripted_response::sse(body, {40});
    // Cut inside the third delta event, after two deltas were complete.
    std::size_t at = 0;
    for (int i = 0; i < 3; ++i) at = body.find("event: content_block_delta", at + 1);
    BOOST_REQUIRE(at != std::string::npos);
    cut.stop_after_bytes = at + 10;
    server.push(cut);
    asio::io_context ioc;
    claude_client client(ioc.get_executor(), config_for(server));
    std::string seen;
    auto e = expect_client_error([&] {
        engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
            auto s = co_await client.stream_message(hello_request());
            while (auto ev = co_await s.next()) seen += ev->text();
        });
    });
    BOOST_TEST((e.kind() == error_kind::connection));
    BOOST_TEST(!seen.empty());
    BOOST_REQUIRE(e.partial_message());
    BOOST_TEST(e.partial_message()->text() == seen);
    BOOST_TEST(server.requests().size() == 1u);
    BOOST_TEST(client.stats().idle == 0u);  // the broken connection was not pooled
}

BOOST_AUTO_TEST_CASE(failure_before_any_event_is_retried_transparently) {
    fake_anthropic_server server;
    const std::string body = engram::test::make_text_stream("second try");
    auto cut = scripted_response::sse(body);
    cut.stop_after_bytes = 10;  // inside the first event: nothing reached the caller
    server.push(cut);
    server.push(scripted_response::sse(body));
    asio::io_context ioc;
    claude_client client(ioc.get_executor(), config_for(server));
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto s = co_await client.stream_message(hello_request());
        BOOST_TEST(co_await drain(s) == "second try");
    });
    BOOST_TEST(server.requests().size() == 2u);
}

BOOST_AUTO_TEST_CASE(retries_are_counted_over_the_whole_request_when_a_stream_fails_before_its_first_event) {
    // The stream's first response breaks before any event: it is sent again, and what that
    // resend's retries may do is what is left of max_retries, not max_retries afresh.
    fake_anthropic_server server;
    auto cut = scripted_response::sse(engram::test::make_text_stream("never seen"));
    cut.stop_after_bytes = 10;
    server.push(cut);
    for (int i = 0; i < 4; ++i)
        server.push(scripted_response::json(529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"));
    auto cfg = config_for(server);
    cfg.retry.max_retries = 2;
    auto e = stream_failure(cfg);
    BOOST_TEST((e.code_value() == errc::overloaded), e.what());
    BOOST_TEST(server.requests().size() == 3u);  // max_retries + 1
}

BOOST_AUTO_TEST_CASE(a_pool_of_connections_the_server_dropped_costs_one_free_resend_not_one_per_connection) {
    fake_anthropic_server server;
    server.set_handler([](const engram::test::recorded_request&) {
        auto s = scripted_response::sse(engram::test::make_text_stream("pooled", 2));
        s.delay_between_pieces = 20ms;  // the three overlap, so each has its own connection
        return s;
    });
    asio::io_context ioc;
    auto cfg = config_without_retries(server);
    claude_client client(ioc.get_executor(), cfg);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto a = co_await client.stream_message(hello_request());
        auto b = co_await client.stream_message(hello_request());
        auto c = co_await client.stream_message(hello_request());
        BOOST_TEST(co_await drain(a) == "pooled");
        BOOST_TEST(co_await drain(b) == "pooled");
        BOOST_TEST(co_await drain(c) == "pooled");
    });
    BOOST_REQUIRE(client.stats().idle == 3u);
    // Now the server takes each request and closes without an answer. The first, on a pooled
    // connection, looks like a socket closed while idle: sent again, once, on a new connection.
    // That one fails too, and with no retries allowed the request ends there: the other two
    // pooled connections must not each carry it again.
    for (int i = 0; i < 5; ++i) {
        scripted_response dropped;
        dropped.drop = true;
        server.push(dropped);
    }
    auto e = expect_client_error([&] {
        engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> { co_await client.create_message(hello_request()); });
    });
    BOOST_TEST((e.code_value() == errc::connection_closed), e.what());
    BOOST_TEST(server.requests().size() == 3u + 2u);
}

BOOST_AUTO_TEST_CASE(a_reused_connection_closed_long_after_its_request_is_an_attempt_not_a_stale_socket) {
    // The server took the request, worked on it for seconds, then closed without an answer: sent
    // again for free, it would be generated (and billed) twice although max_retries is 0.
    fake_anthropic_server server;
    server.push(scripted_response::sse(engram::test::make_text_stream("pooled")));
    scripted_response dropped;
    dropped.drop = true;
    dropped.delay_before_header = 2500ms;
    server.push(dropped);
    server.push(scripted_response::sse(engram::test::make_text_stream("sent twice")));
    asio::io_context ioc;
    auto cfg = config_without_retries(server);
    claude_client client(ioc.get_executor(), cfg);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto a = co_await client.stream_message(hello_request());
        BOOST_TEST(co_await drain(a) == "pooled");
    });
    auto e = expect_client_error([&] {
        engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> { co_await client.create_message(hello_request()); });
    });
    BOOST_TEST((e.code_value() == errc::connection_closed), e.what());
    BOOST_TEST(server.requests().size() == 2u);  // not sent a second time
}

BOOST_AUTO_TEST_CASE(an_error_response_whose_body_is_cut_short_is_still_reported_as_the_api_error) {
    fake_anthropic_server server;
    auto unauthorized = scripted_response::json(401, R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}})");
    unauthorized.stop_after_bytes = 12;
    server.push(unauthorized);
    auto e = stream_failure(config_for(server));
    BOOST_TEST((e.code_value() == errc::authentication), e.what());
    BOOST_TEST(server.requests().size() == 1u);  // a 401 is not retried, cut short or not
}

BOOST_AUTO_TEST_CASE(a_stream_that_failed_throws_again_when_read_again) {
    fake_anthropic_server server;
    const std::string body = engram::test::make_text_stream("cut in the middle of the reply", 6);
    auto cut = scripted_response::sse(body);
    cut.stop_after_bytes = body.find("content_block_stop") - 20;
    server.push(cut);
    asio::io_context ioc;
    claude_client client(ioc.get_executor(), config_for(server));
    int failures = 0;
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto s = co_await client.stream_message(hello_request());
        for (int attempt = 0; attempt < 2; ++attempt) {
            try {
                co_await drain(s);
            } catch (const client_error& e) {
                BOOST_TEST((e.code_value() == errc::connection_closed), e.what());
                ++failures;
            }
        }
    });
    BOOST_TEST(failures == 2);  // not a clean end the second time
}

BOOST_AUTO_TEST_CASE(a_body_slow_to_end_after_message_stop_costs_its_connection_not_the_callers_time) {
    // The message is complete at message_stop; the chunked body's end comes 5 s later. The
    // caller gets its message after about a second, and the connection is not kept.
    fake_anthropic_server server;
    auto late_end = scripted_response::sse(engram::test::make_text_stream("complete"));
    late_end.delay_before_end = 5s;
    server.push(late_end);
    asio::io_context ioc;
    claude_client client(ioc.get_executor(), config_for(server));
    std::chrono::steady_clock::duration took{};
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        const auto started = std::chrono::steady_clock::now();
        auto s = co_await client.stream_message(hello_request());
        BOOST_TEST(co_await drain(s) == "complete");
        took = std::chrono::steady_clock::now() - started;
    });
    BOOST_TEST((took < 3s));
    BOOST_TEST(client.stats().idle == 0u);
}

BOOST_AUTO_TEST_CASE(stream_without_message_stop_is_an_incomplete_stream_error_with_content) {
    fake_anthropic_server server;
    server.push(scripted_response::sse(fixture("sdk_py_basic_unterminated.sse")));
    auto e = stream_failure(config_for(server));
    BOOST_TEST((e.code_value() == errc::incomplete_stream));
    BOOST_REQUIRE(e.partial_message());
    BOOST_TEST(e.partial_message()->text() == "Hello there!");
}

BOOST_AUTO_TEST_CASE(stalled_body_hits_the_idle_timeout) {
    fake_anthropic_server server;
    const std::string body = engram::test::make_text_stream("stalls here and never ends", 4);
    auto stall = scripted_response::sse(body);
    stall.stop_after_bytes = body.find("content_block_stop");
    stall.stall = true;
    server.push(stall);
    auto cfg = config_for(server);
    cfg.stream_idle_timeout = 300ms;
    auto e = stream_failure(cfg);
    BOOST_TEST((e.code_value() == errc::stream_idle_timeout));
    BOOST_TEST((e.kind() == error_kind::timeout));
    BOOST_TEST(server.requests().size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_stream_slower_than_the_idle_timeout_in_total_but_never_silent_that_long_completes) {
    // The idle timeout bounds each silence, not the stream: 8 pieces 120 ms apart take about
    // a second against a 300 ms idle timeout, so the deadline must keep moving on.
    fake_anthropic_server server;
    server.push(drip("steady but slow", 4, 8, 120ms));
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.stream_idle_timeout = 300ms;
    cfg.retry.max_retries = 0;
    claude_client client(ioc.get_executor(), cfg);
    const auto started = std::chrono::steady_clock::now();
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto s = co_await client.stream_message(hello_request());
        BOOST_TEST(co_await drain(s) == "steady but slow");
    });
    BOOST_TEST((std::chrono::steady_clock::now() - started > 600ms));  // it really outlasted the timeout
}

// A plain connection reads at most 16 KiB at a time. What a burst leaves in the socket raised its
// one wake-up already, so the wait after a full read must ask epoll afresh; a wait that did not
// would hear nothing more. The idle timeout here is shorter than the watchdog's probe for such
// input (250 ms), which therefore never runs: a missed remainder would end in a timeout.
BOOST_AUTO_TEST_CASE(a_burst_larger_than_one_read_is_read_whole_without_waiting_for_more_input) {
    fake_anthropic_server server;
    std::string text;
    for (int i = 0; text.size() < 200 * 1024; ++i) text += "piece " + std::to_string(i) + " of a long burst. ";
    server.push(scripted_response::sse(engram::test::make_text_stream(text, 200)));  // one write
    asio::io_context ioc;
    auto cfg = config_without_retries(server);
    cfg.stream_idle_timeout = 200ms;
    claude_client client(ioc.get_executor(), cfg);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto s = co_await client.stream_message(hello_request());
        BOOST_TEST((co_await drain(s) == text));
    });
}

BOOST_AUTO_TEST_CASE(run_returns_once_the_requests_are_done_with_connections_still_pooled) {
    // Nothing the client keeps between requests (an idle pooled connection, its timeout timer)
    // may keep the io_context busy: a program that runs it until its work is done must not
    // wait out a connect or idle timeout.
    fake_anthropic_server server;
    server.push(scripted_response::sse(engram::test::make_text_stream("done", 2)));
    server.push(scripted_response::sse(engram::test::make_text_stream("again", 2)));
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.connect_timeout = 30s;
    cfg.stream_idle_timeout = 30s;
    cfg.response_header_timeout = 30s;
    claude_client client(ioc.get_executor(), cfg);
    std::string text;
    asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 2; ++i) {
            auto s = co_await client.stream_message(hello_request());
            text += co_await drain(s);
        }
    }, asio::detached);
    const auto started = std::chrono::steady_clock::now();
    ioc.run();
    BOOST_TEST(text == "doneagain");
    BOOST_TEST(client.stats().idle == 1u);  // the connection is still pooled
    BOOST_TEST((std::chrono::steady_clock::now() - started < 10s));
}

BOOST_AUTO_TEST_CASE(a_response_arriving_in_fragments_header_and_framing_included_decodes_the_same) {
    // Every read may end anywhere: inside the status line, a header field, a chunk-size line or
    // an event. Both kinds of connection keep such remainders in their own buffer until the
    // rest arrives (plain ones read into a per-thread buffer first, TLS ones through OpenSSL).
    for (auto mode : {fake_anthropic_server::tls_mode::none, fake_anthropic_server::tls_mode::localhost_cert}) {
        for (std::size_t piece : {std::size_t{1}, std::size_t{5}, std::size_t{37}}) {
            BOOST_TEST_CONTEXT("tls " << (mode != fake_anthropic_server::tls_mode::none) << ", fragments of " << piece) {
                fake_anthropic_server server(mode);
                auto script = scripted_response::sse(engram::test::make_text_stream("cut into fragments", piece == 1 ? 2 : 6), {40});
                script.wire_piece_size = piece;
                script.headers.emplace_back("request-id", "req_fragmented");
                server.push(script);
                server.push(script);  // and again on the same connection: nothing may be left over
                asio::io_context ioc;
                claude_client client(ioc.get_executor(), config_for(server));
                engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
                    for (int i = 0; i < 2; ++i) {
                        auto s = co_await client.stream_message(hello_request());
                        BOOST_TEST(co_await drain(s) == "cut into fragments");
                        BOOST_TEST(s.current().stop_reason() == "end_turn");
                        BOOST_TEST(s.response().request_id == "req_fragmented");
                    }
                }, 60s);
                BOOST_TEST(server.connections_accepted() == 1u);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(a_serialized_body_is_sent_as_given_with_stream_added) {
    fake_anthropic_server server;
    server.push(scripted_response::sse(engram::test::make_text_stream("from text", 2)));
    server.push(scripted_response::sse(engram::test::make_text_stream("never sent", 2)));
    asio::io_context ioc;
    claude_client client(ioc.get_executor(), config_for(server));
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        message_request r;
        r.serialized_body = R"( {"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]} )";
        auto s = co_await client.stream_message(std::move(r));
        BOOST_TEST(co_await drain(s) == "from text");
        for (const char* bad : {"[1]", "{\"model\":\"m\"", "not json"}) {
            message_request b;
            b.serialized_body = bad;
            try {
                co_await client.stream_message(std::move(b));
                BOOST_ERROR("a body that is not an object was sent: " << bad);
            } catch (const client_error& e) {
                BOOST_TEST((e.code_value() == errc::invalid_config));
            }
        }
    });
    BOOST_REQUIRE(server.requests().size() == 1u);
    const auto sent = boost::json::parse(server.requests()[0].body);
    BOOST_TEST((sent == boost::json::parse(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"stream":true})")));
}

BOOST_AUTO_TEST_CASE(chunk_extensions_are_skipped_and_an_endless_chunk_line_is_a_protocol_error) {
    // A connection keeps only the part of a line it cannot parse yet; a chunk-size line that
    // never ends must fail the request, not grow that remainder without bound, plain or TLS.
    using tls_mode = fake_anthropic_server::tls_mode;
    for (auto [mode, piece] : {std::pair{tls_mode::none, std::size_t{0}}, std::pair{tls_mode::none, std::size_t{7}},
                               std::pair{tls_mode::localhost_cert, std::size_t{0}}}) {
        BOOST_TEST_CONTEXT("fragments of " << piece << (mode == tls_mode::none ? ", plain" : ", TLS")) {
            fake_anthropic_server server(mode);
            auto script = scripted_response::sse(engram::test::make_text_stream("with extensions", 4), {30});
            script.chunk_extension = ";engram-test=\"x\";other";
            script.wire_piece_size = piece;
            server.push(script);
            auto endless = scripted_response::sse(engram::test::make_text_stream("never read", 2), {30});
            endless.chunk_extension = ";pad=" + std::string(40 * 1024, 'a');
            endless.wire_piece_size = piece == 0 ? 0 : 4096;
            server.push(endless);
            asio::io_context ioc;
            auto cfg = config_without_retries(server);
            claude_client client(ioc.get_executor(), cfg);
            engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
                auto s = co_await client.stream_message(hello_request());
                BOOST_TEST(co_await drain(s) == "with extensions");
            }, 60s);
            std::string seen;
            auto e = expect_client_error([&] {
                engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
                    auto s = co_await client.stream_message(hello_request());
                    seen = co_await drain(s);
                }, 60s);
            });
            BOOST_TEST((e.code_value() == errc::http_protocol_error), e.what());
            BOOST_TEST(seen.empty());
            BOOST_TEST(client.stats().idle == 0u);  // the connection was not pooled
        }
    }
}

BOOST_AUTO_TEST_CASE(a_line_break_in_a_header_value_is_refused_before_anything_is_sent) {
    // The request header is written as text: a CR or LF in a value would add header lines.
    fake_anthropic_server server;
    asio::io_context ioc;
    for (auto broken : {std::string("sk-ant-\r\nx-evil: 1"), std::string("sk-ant-\nx"), std::string("sk-ant-\0x", 10)}) {
        auto cfg = config_for(server);
        cfg.api_key = broken;
        auto e = expect_client_error([&] { claude_client client(ioc.get_executor(), cfg); });
        BOOST_TEST((e.code_value() == errc::invalid_config));
        BOOST_TEST(std::string(e.what()).find("sk-ant-") == std::string::npos);  // the key is not echoed
    }
    auto cfg = config_for(server);
    cfg.user_agent = "agent\r\nx-evil: 1";
    BOOST_TEST((expect_client_error([&] { claude_client client(ioc.get_executor(), cfg); }).code_value() == errc::invalid_config));

    // A request's own beta names are checked when it is sent.
    claude_client client(ioc.get_executor(), config_for(server));
    auto req = hello_request();
    req.betas = {"good-beta", "bad\r\nbeta"};
    auto e = expect_client_error([&] {
        engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> { co_await client.stream_message(std::move(req)); });
    });
    BOOST_TEST((e.code_value() == errc::invalid_config));
    BOOST_TEST(server.requests().empty());
}

BOOST_AUTO_TEST_CASE(a_tls_server_that_never_answers_the_handshake_hits_the_handshake_timeout) {
    // A listener that accepts and then says nothing.
    asio::io_context server_ioc;
    asio::ip::tcp::acceptor acceptor(server_ioc, {asio::ip::make_address("127.0.0.1"), 0});
    std::vector<asio::ip::tcp::socket> accepted;
    std::function<void()> accept_next = [&] {
        acceptor.async_accept([&](boost::system::error_code ec, asio::ip::tcp::socket s) {
            if (ec) return;
            accepted.push_back(std::move(s));
            accept_next();
        });
    };
    accept_next();
    std::thread server_thread([&] { server_ioc.run(); });

    client_config cfg;
    cfg.base_url = "https://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
    cfg.api_key = test_key;
    cfg.tls_handshake_timeout = 200ms;
    cfg.retry.max_retries = 1;
    cfg.retry.initial_backoff = 5ms;
    const auto started = std::chrono::steady_clock::now();
    auto e = stream_failure(cfg);
    const auto took = std::chrono::steady_clock::now() - started;
    BOOST_TEST((e.code_value() == errc::tls_handshake_timeout));
    BOOST_TEST((e.kind() == error_kind::timeout));
    BOOST_TEST((took >= 400ms));  // two attempts, each waited out
    BOOST_TEST((took < 5s));
    asio::post(server_ioc, [&] {
        acceptor.close();
        accepted.clear();
    });
    server_thread.join();
}

// A gateway may quote the key it refused, in its message, its type or a request id, and in
// several lines (any Unicode line break): errors carry none of it (callers print them as they
// are), each on one line.
BOOST_AUTO_TEST_CASE(a_key_the_server_quotes_back_is_redacted_from_errors_and_their_details) {
    const std::string key = test_key;
    const auto check = [&](const client_error& e) {
        const std::string what = e.what();
        BOOST_TEST(what.find(key) == std::string::npos, what);
        BOOST_TEST(what.find('\n') == std::string::npos, what);
        BOOST_TEST(what.find("***") != std::string::npos, what);
        BOOST_REQUIRE(e.api().has_value());
        for (const auto& field : {e.api()->message, e.api()->error_type, e.api()->request_id}) {
            BOOST_TEST(field.find(key) == std::string::npos, field);
            BOOST_TEST(field.find('\n') == std::string::npos, field);
        }
    };
    {
        fake_anthropic_server server;
        const std::string body = R"x({"type":"error","error":{"type":"authentication_error )x" + key +
                                 R"x(","message":"invalid x-api-key: )x" + key +
                                 R"x(\nsee\u2028the\u0085docs"},"request_id":"req\n)x" + key + R"x("})x";
        auto refused = scripted_response::json(401, body);
        server.push(refused);
        auto e = create_failure(config_for(server));
        BOOST_TEST((e.code_value() == errc::authentication));
        check(e);
        BOOST_TEST(e.api()->message == "invalid x-api-key: *** see the docs");
    }
    {
        fake_anthropic_server server;
        auto stream = scripted_response::sse(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\","
            "\"role\":\"assistant\",\"model\":\"x\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":1,"
            "\"output_tokens\":0}}}\n\n"
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"key " + key +
            " is overloaded\"}}\n\n");
        stream.headers.push_back({"request-id", "req_" + key});
        server.push(stream);
        auto cfg = config_without_retries(server);
        check(stream_failure(cfg));
    }
}

BOOST_AUTO_TEST_CASE(cancelling_the_reader_closes_the_stream_and_frees_its_connection) {
    using namespace asio::experimental::awaitable_operators;
    fake_anthropic_server server;
    server.push(stalled_after_message_start("waits forever"));
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.stream_idle_timeout = 30s;  // cancellation, not the timeout, must end the wait
    claude_client client(ioc.get_executor(), cfg);
    bool cancelled = false;
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto s = co_await client.stream_message(hello_request());
        auto first = co_await s.next();  // message_start arrives, then the server stalls
        BOOST_REQUIRE(first.has_value());
        asio::steady_timer timer(co_await asio::this_coro::executor, 200ms);
        try {
            auto result = co_await (s.next() || timer.async_wait(asio::use_awaitable));
            BOOST_TEST(result.index() == 1u);  // the timer won
        } catch (const client_error& e) {
            cancelled = e.code_value() == errc::cancelled;
        }
        cancelled = cancelled || s.done();
        BOOST_TEST(client.stats().in_use == 0u);
        // The server sees the connection close promptly.
        BOOST_TEST(co_await engram::test::eventually([&] { return server.connections_open() == 0u; }, 2s));
    }, 20s);
    BOOST_TEST(cancelled);
}

BOOST_AUTO_TEST_CASE(a_request_cancel_slot_cancels_a_stalled_stream_awaited_inline) {
    // The caller awaits next() in its own coroutine (no co_spawn per request) and cancels it
    // from elsewhere on the same executor through message_request::cancel_slot.
    fake_anthropic_server server;
    server.push(stalled_after_message_start("waits forever"));
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.stream_idle_timeout = 30s;  // cancellation, not the timeout, must end the wait
    claude_client client(ioc.get_executor(), cfg);
    asio::cancellation_signal cancel;
    std::optional<errc> code;
    const auto started = std::chrono::steady_clock::now();
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto req = hello_request();
        req.cancel_slot = cancel.slot();
        auto s = co_await client.stream_message(std::move(req));
        BOOST_REQUIRE((co_await s.next()).has_value());  // message_start, then the server stalls
        asio::steady_timer timer(co_await asio::this_coro::executor, 200ms);
        timer.async_wait([&](auto) { cancel.emit(asio::cancellation_type::terminal); });
        try {
            while (co_await s.next()) {
            }
        } catch (const client_error& e) {
            code = e.code_value();
        }
        BOOST_TEST(s.done());
        BOOST_TEST(client.stats().in_use == 0u);
        BOOST_TEST(client.stats().idle == 0u);  // a cancelled stream's connection is closed
    }, 20s);
    BOOST_REQUIRE(code.has_value());
    BOOST_TEST((*code == errc::cancelled));
    BOOST_TEST((std::chrono::steady_clock::now() - started < 10s));
}

BOOST_AUTO_TEST_CASE(a_cancellation_between_two_steps_is_not_lost) {
    // on_retry runs between the failed attempt and the backoff: no operation is pending, so
    // only a remembered cancellation can stop the backoff and the retry.
    fake_anthropic_server server;
    server.push(scripted_response::json(529, R"({"type":"error","error":{"type":"overloaded_error","message":"busy"}})"));
    server.push(scripted_response::sse(engram::test::make_text_stream("must not be sent", 2)));
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.retry.max_retries = 3;
    cfg.retry.initial_backoff = 8s;  // a wait that must not happen
    cfg.retry.max_backoff = 8s;
    cfg.retry.jitter = 0;
    claude_client client(ioc.get_executor(), cfg);
    asio::cancellation_signal cancel;
    std::optional<errc> code;
    const auto started = std::chrono::steady_clock::now();
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto req = hello_request();
        req.cancel_slot = cancel.slot();
        req.on_retry = [&](const engram::net::retry_notice&) { cancel.emit(asio::cancellation_type::terminal); };
        try {
            co_await client.stream_message(std::move(req));
        } catch (const client_error& e) {
            code = e.code_value();
        }
    }, 20s);
    BOOST_REQUIRE(code.has_value());
    BOOST_TEST((*code == errc::cancelled));
    BOOST_TEST(server.requests().size() == 1u);
    BOOST_TEST((std::chrono::steady_clock::now() - started < 4s));
}

BOOST_AUTO_TEST_CASE(a_request_cancel_slot_cancels_a_wait_for_a_free_connection) {
    fake_anthropic_server server;
    server.push(stalled_after_message_start("holds the only connection"));
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.max_connections_per_host = 1;
    cfg.stream_idle_timeout = 30s;
    claude_client client(ioc.get_executor(), cfg);
    asio::cancellation_signal cancel;
    std::optional<errc> code;
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto holder = co_await client.stream_message(hello_request());
        auto req = hello_request();
        req.cancel_slot = cancel.slot();
        asio::steady_timer timer(co_await asio::this_coro::executor, 200ms);
        timer.async_wait([&](auto) { cancel.emit(asio::cancellation_type::terminal); });
        try {
            co_await client.stream_message(std::move(req));
        } catch (const client_error& e) {
            code = e.code_value();
        }
        holder.close();
    }, 20s);
    BOOST_REQUIRE(code.has_value());
    BOOST_TEST((*code == errc::cancelled));
    BOOST_TEST(server.requests().size() == 1u);
}

BOOST_AUTO_TEST_CASE(certificate_for_another_host_is_refused) {
    fake_anthropic_server server(fake_anthropic_server::tls_mode::other_host_cert);
    auto e = create_failure(config_for(server));
    BOOST_TEST((e.code_value() == errc::certificate_verify_failed));
    BOOST_TEST((e.kind() == error_kind::tls));
    BOOST_TEST(server.requests().empty());
}

BOOST_AUTO_TEST_CASE(untrusted_certificate_is_refused_without_the_test_ca) {
    fake_anthropic_server server(fake_anthropic_server::tls_mode::localhost_cert);
    auto cfg = config_for(server);
    cfg.ca_file.clear();
    auto e = create_failure(cfg);
    BOOST_TEST((e.code_value() == errc::certificate_verify_failed));
}

BOOST_AUTO_TEST_CASE(ssl_cert_file_environment_variable_is_honoured) {
    fake_anthropic_server server(fake_anthropic_server::tls_mode::localhost_cert);
    server.push(scripted_response::sse(engram::test::make_text_stream("trusted via env")));
    const char* old = std::getenv("SSL_CERT_FILE");
    const std::string saved = old ? old : "";
    setenv("SSL_CERT_FILE", engram::test::pki().ca_file.c_str(), 1);
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.ca_file.clear();
    claude_client client(ioc.get_executor(), cfg);
    if (old) setenv("SSL_CERT_FILE", saved.c_str(), 1); else unsetenv("SSL_CERT_FILE");
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto s = co_await client.stream_message(hello_request());
        BOOST_TEST(co_await drain(s) == "trusted via env");
    });
}

BOOST_AUTO_TEST_CASE(a_host_name_is_resolved_and_its_certificate_checked_by_that_name) {
    // The other tests dial the IP literal 127.0.0.1 (no resolver); "localhost" goes through it.
    fake_anthropic_server server(fake_anthropic_server::tls_mode::localhost_cert);
    server.push(scripted_response::sse(engram::test::make_text_stream("found by name")));
    auto cfg = config_for(server);
    cfg.base_url = "https://localhost:" + std::to_string(server.port());
    asio::io_context ioc;
    claude_client client(ioc.get_executor(), cfg);
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto s = co_await client.stream_message(hello_request());
        BOOST_TEST(co_await drain(s) == "found by name");
    });
    BOOST_TEST(server.requests().size() == 1u);
}

using engram::test::full_listener;

namespace {
// A client of `listener` that tries once, bounded by `connect_timeout`.
client_config single_try_config(const full_listener& listener, std::chrono::milliseconds connect_timeout) {
    client_config cfg;
    cfg.base_url = listener.url();
    cfg.api_key = test_key;
    cfg.connect_timeout = connect_timeout;
    cfg.retry.max_retries = 0;
    return cfg;
}
}  // namespace

BOOST_AUTO_TEST_CASE(a_connect_the_listener_never_takes_ends_with_connect_timeout) {
    asio::io_context ioc;
    full_listener listener(ioc);
    claude_client client(ioc.get_executor(), single_try_config(listener, 300ms));
    const auto started = std::chrono::steady_clock::now();
    auto e = expect_client_error([&] {
        engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> { co_await client.stream_message(hello_request()); });
    });
    BOOST_TEST((e.code_value() == errc::connect_timeout));
    BOOST_TEST((std::chrono::steady_clock::now() - started < 5s));
    BOOST_TEST(client.stats().in_use == 0u);
}

BOOST_AUTO_TEST_CASE(a_connect_that_completes_after_a_wait_streams_normally) {
    // The connect is on its way when connect() returns: the client waits for it, then reads the
    // stream (the socket watched for input only from then on).
    asio::io_context ioc;
    full_listener listener(ioc);
    asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
        asio::steady_timer t(ioc, 100ms);
        co_await t.async_wait(asio::use_awaitable);
        [[maybe_unused]] auto first = co_await listener.acceptor.async_accept(asio::use_awaitable);  // the filler: room again
        auto s = co_await listener.acceptor.async_accept(asio::use_awaitable);      // the client, on its SYN's retry
        std::string request;
        char buf[4096];
        while (request.find("\r\n\r\n") == std::string::npos) {
            const auto n = co_await s.async_read_some(asio::buffer(buf), asio::use_awaitable);
            request.append(buf, n);
        }
        const auto header_end = request.find("\r\n\r\n") + 4;
        const auto cl = request.find("content-length: ") != std::string::npos ? request.find("content-length: ") : request.find("Content-Length: ");
        const std::size_t body_size = std::stoul(request.substr(cl + 16));
        while (request.size() < header_end + body_size) {
            const auto n = co_await s.async_read_some(asio::buffer(buf), asio::use_awaitable);
            request.append(buf, n);
        }
        const std::string body = engram::test::make_text_stream("late but whole", 3);
        const std::string response = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n" + body;
        co_await asio::async_write(s, asio::buffer(response), asio::use_awaitable);
        s.shutdown(asio::ip::tcp::socket::shutdown_send);
    }, asio::detached);
    claude_client client(ioc.get_executor(), single_try_config(listener, 10s));
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto s = co_await client.stream_message(hello_request());
        BOOST_TEST(co_await drain(s) == "late but whole");
        BOOST_TEST(s.current().stop_reason() == "end_turn");
    });
}

BOOST_AUTO_TEST_CASE(refused_connection_is_a_connection_error_after_retries) {
    std::uint16_t port;
    {
        fake_anthropic_server gone;  // bind a port, then free it
        port = gone.port();
    }
    asio::io_context ioc;
    client_config cfg;
    cfg.base_url = "http://127.0.0.1:" + std::to_string(port);
    cfg.api_key = test_key;
    cfg.retry.initial_backoff = 1ms;
    claude_client client(ioc.get_executor(), cfg);
    auto e = expect_client_error([&] {
        engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> { co_await client.create_message(hello_request()); });
    });
    BOOST_TEST((e.kind() == error_kind::connection));
    BOOST_TEST(client.stats().in_use == 0u);
}

BOOST_AUTO_TEST_CASE(total_timeout_bounds_a_request_until_its_header) {
    fake_anthropic_server server;
    auto late = scripted_response::sse(engram::test::make_text_stream("late"));
    late.delay_before_header = 1500ms;
    server.push(late);
    auto cfg = config_for(server);
    cfg.total_timeout = 400ms;
    auto e = stream_failure(cfg);
    BOOST_TEST((e.code_value() == errc::total_timeout), e.what());
}

// A long generation streams for longer than a request may take to be answered: as in the
// official SDKs, the total timeout does not cut a stream whose events keep coming.
BOOST_AUTO_TEST_CASE(a_stream_may_outlast_the_total_timeout_while_its_events_keep_coming) {
    fake_anthropic_server server;
    server.push(drip("slow drip of many pieces", 8, 8, 100ms));  // about 0.7 s
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.total_timeout = 400ms;
    claude_client client(ioc.get_executor(), cfg);
    const auto started = std::chrono::steady_clock::now();
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto s = co_await client.stream_message(hello_request());
        BOOST_TEST(co_await drain(s) == "slow drip of many pieces");
    });
    BOOST_TEST((std::chrono::steady_clock::now() - started > 400ms));  // it did outlast it
}

BOOST_AUTO_TEST_CASE(stream_total_timeout_bounds_a_stream_that_trickles) {
    fake_anthropic_server server;
    server.push(drip("slow drip of many pieces", 8, 8, 100ms));
    auto cfg = config_for(server);
    cfg.stream_total_timeout = 400ms;
    auto e = stream_failure(cfg);
    BOOST_TEST((e.code_value() == errc::total_timeout), e.what());
    BOOST_TEST(server.requests().size() == 1u);  // events were delivered: never sent again
}

BOOST_AUTO_TEST_CASE(slow_response_header_hits_the_header_timeout_and_is_retried) {
    fake_anthropic_server server;
    auto slow = scripted_response::sse(engram::test::make_text_stream("late"));
    slow.delay_before_header = 1500ms;
    server.push(slow);
    server.push(scripted_response::sse(engram::test::make_text_stream("on time")));
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.response_header_timeout = 200ms;
    // One connection per host: the failed attempt's connection must be given back before the
    // retry asks the pool for one, or the retry would wait for itself.
    cfg.max_connections_per_host = 1;
    cfg.total_timeout = 20s;
    claude_client client(ioc.get_executor(), cfg);
    const auto started = std::chrono::steady_clock::now();
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto s = co_await client.stream_message(hello_request());
        BOOST_TEST(co_await drain(s) == "on time");
    });
    BOOST_TEST(server.requests().size() == 2u);
    BOOST_TEST((std::chrono::steady_clock::now() - started < 10s));

    cfg.retry.max_retries = 0;
    server.push(slow);
    claude_client strict(ioc.get_executor(), cfg);
    auto e = expect_client_error([&] {
        engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> { co_await strict.create_message(hello_request()); });
    });
    BOOST_TEST((e.code_value() == errc::response_header_timeout));
}

BOOST_AUTO_TEST_CASE(pool_bound_makes_extra_requests_wait_for_a_free_connection) {
    fake_anthropic_server server;
    server.set_handler([](const engram::test::recorded_request&) {
        auto s = scripted_response::sse(engram::test::make_text_stream("pooled", 3), {64});
        s.delay_between_pieces = 10ms;
        return s;
    });
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.max_connections_per_host = 2;
    claude_client client(ioc.get_executor(), cfg);
    int ok = 0;
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        int finished = 0;
        asio::steady_timer all_done(ex, std::chrono::steady_clock::time_point::max());
        for (int i = 0; i < 8; ++i) {
            asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
                auto s = co_await client.stream_message(hello_request());
                if (co_await drain(s) == "pooled") ++ok;
                BOOST_TEST(client.stats().in_use <= 2u);
            }, [&](std::exception_ptr) { if (++finished == 8) all_done.cancel(); });
        }
        co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
    });
    BOOST_TEST(ok == 8);
    BOOST_TEST(server.connections_accepted() <= 2u);
    BOOST_TEST(server.requests().size() == 8u);
}

BOOST_AUTO_TEST_CASE(a_request_that_gave_up_waiting_for_a_connection_does_not_take_the_next_ones_turn) {
    // One connection. A holds it for about 2 s; B waits for it from 0 s and gives up at its
    // total timeout (1.5 s); C waits from 1.2 s. When A is done, the connection must go to C,
    // not to B, which is gone, leaving C to wait out its own timeout (2.7 s) with the
    // connection free.
    fake_anthropic_server server;
    server.push(drip("held for a while", 4, 6, 400ms));
    server.push(scripted_response::sse(engram::test::make_text_stream("C's turn")));
    asio::io_context ioc;
    auto cfg = config_for(server);
    cfg.max_connections_per_host = 1;
    cfg.total_timeout = 1500ms;
    claude_client client(ioc.get_executor(), cfg);
    std::string a_text, c_text;
    std::optional<errc> b_error;
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        int finished = 0;
        asio::steady_timer all_done(ex, std::chrono::steady_clock::time_point::max());
        auto done = [&](std::exception_ptr) { if (++finished == 3) all_done.cancel(); };
        asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
            auto s = co_await client.stream_message(hello_request("A"));
            a_text = co_await drain(s);
        }, done);
        asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
            try {
                co_await client.create_message(hello_request("B"));
            } catch (const client_error& e) {
                b_error = e.code_value();
            }
        }, done);
        asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
            asio::steady_timer t(ex, 1200ms);
            co_await t.async_wait(asio::use_awaitable);
            auto s = co_await client.stream_message(hello_request("C"));
            c_text = co_await drain(s);
        }, done);
        co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
    });
    BOOST_TEST(a_text == "held for a while");
    BOOST_TEST((b_error == errc::total_timeout));
    BOOST_TEST(c_text == "C's turn");
}

BOOST_AUTO_TEST_CASE(a_thousand_concurrent_streams_on_one_io_context_complete_correctly) {
    // Client and server share this process: 2,000 sockets need more than the usual 1,024.
    rlimit lim{};
    getrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < 4096 && lim.rlim_max >= 4096) {
        lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 8192);
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    BOOST_REQUIRE_MESSAGE(lim.rlim_cur >= 2100, "RLIMIT_NOFILE too low for 1,000 loopback streams");

    fake_anthropic_server server;
    // Each reply depends on its request, so crossed streams would be detected.
    server.set_handler([](const engram::test::recorded_request& r) {
        auto body = json::parse(r.body);
        std::string who(body.at("messages").at(0).at("content").as_string());
        auto s = scripted_response::sse(engram::test::make_text_stream("reply to " + who, 5), {200});
        s.delay_between_pieces = 5ms;
        return s;
    });
    asio::io_context ioc;
    claude_client client(ioc.get_executor(), config_for(server));
    constexpr int n = 1000;
    int ok = 0;
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        int finished = 0;
        asio::steady_timer all_done(ex, std::chrono::steady_clock::time_point::max());
        for (int i = 0; i < n; ++i) {
            asio::co_spawn(ex, [&, i]() -> asio::awaitable<void> {
                auto s = co_await client.stream_message(hello_request("session-" + std::to_string(i)));
                auto text = co_await drain(s);
                if (text == "reply to session-" + std::to_string(i) && s.current().text() == text) ++ok;
            }, [&](std::exception_ptr e) {
                if (e) try { std::rethrow_exception(e); } catch (const std::exception& x) { BOOST_TEST_MESSAGE("stream failed: " << x.what()); }
                if (++finished == n) all_done.cancel();
            });
        }
        co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
    }, 120s);
    BOOST_TEST(ok == n);
    BOOST_TEST(server.requests().size() == static_cast<std::size_t>(n));
}

BOOST_AUTO_TEST_CASE(streams_connecting_at_once_to_a_host_name_share_one_lookup) {
    fake_anthropic_server server;
    server.set_handler([](const engram::test::recorded_request&) {
        auto s = scripted_response::sse(engram::test::make_text_stream("by name", 3));
        s.delay_before_header = 50ms;  // every stream holds its connection: 50 connections
        return s;
    });
    auto cfg = config_for(server);
    const std::string by_ip = cfg.base_url;
    cfg.base_url = "http://localhost" + by_ip.substr(by_ip.rfind(':'));  // /etc/hosts, no name server
    asio::io_context ioc;
    claude_client client(ioc.get_executor(), cfg);
    constexpr int n = 50;
    int ok = 0;
    engram::test::run_coro(ioc, [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        int finished = 0;
        asio::steady_timer all_done(ex, std::chrono::steady_clock::time_point::max());
        for (int i = 0; i < n; ++i)
            asio::co_spawn(ex, [&]() -> asio::awaitable<void> {
                auto s = co_await client.stream_message(hello_request());
                if (co_await drain(s) == "by name") ++ok;
            }, [&](std::exception_ptr e) {
                if (e) try { std::rethrow_exception(e); } catch (const std::exception& x) { BOOST_TEST_MESSAGE("stream failed: " << x.what()); }
                if (++finished == n) all_done.cancel();
            });
        co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
    }, 60s);
    BOOST_TEST(ok == n);
    BOOST_TEST(client.stats().connections_opened == static_cast<std::uint64_t>(n));
    BOOST_TEST(client.stats().name_lookups == 1u);
}

BOOST_AUTO_TEST_CASE(one_client_shared_by_sessions_on_a_thread_pool_is_race_free) {
    // Sessions on their own strands of a 4-thread pool share one client and its connection pool;
    // CI runs this under ThreadSanitizer.
    fake_anthropic_server server;
    server.set_handler([](const engram::test::recorded_request& r) {
        auto body = json::parse(r.body);
        std::string who(body.at("messages").at(0).at("content").as_string());
        return scripted_response::sse(engram::test::make_text_stream("reply to " + who, 3), {50});
    });
    asio::thread_pool pool(4);
    auto cfg = config_for(server);
    cfg.max_connections_per_host = 16;  // forces waiting and reuse across threads
    claude_client client(pool.get_executor(), cfg);
    constexpr int n = 200;
    std::atomic<int> ok{0}, finished{0};
    std::promise<void> all_done;
    for (int i = 0; i < n; ++i) {
        asio::co_spawn(asio::make_strand(pool), [&, i]() -> asio::awaitable<void> {
            for (int turn = 0; turn < 2; ++turn) {
                const std::string who = "s" + std::to_string(i) + "t" + std::to_string(turn);
                auto s = co_await client.stream_message(hello_request(who));
                if (co_await drain(s) == "reply to " + who) ++ok;
            }
        }, [&](std::exception_ptr) {
            if (++finished == n) all_done.set_value();
        });
    }
    BOOST_REQUIRE(all_done.get_future().wait_for(120s) == std::future_status::ready);
    pool.join();
    BOOST_TEST(ok.load() == 2 * n);
    BOOST_TEST(server.connections_accepted() <= 16u);
    BOOST_TEST(client.stats().in_use == 0u);
}

namespace {

// Every request is answered with the streamed text "pooled".
void pooled_server(fake_anthropic_server& server) {
    server.set_handler([](const engram::test::recorded_request&) {
        return scripted_response::sse(engram::test::make_text_stream("pooled", 3), {50});
    });
}

// Runs `n` coroutines straight on `pool` (no strands), each streaming `turns` replies, and joins
// the pool. Returns how many replies came back whole.
int pooled_streams_without_strands(asio::thread_pool& pool, claude_client& client, int n, int turns) {
    std::atomic<int> ok{0}, finished{0};
    std::mutex mutex;
    std::string first_failure;  // Boost.Test is not for other threads: reported after the join
    std::promise<void> all_done;
    for (int i = 0; i < n; ++i)
        asio::co_spawn(pool.get_executor(), [&]() -> asio::awaitable<void> {
            for (int turn = 0; turn < turns; ++turn) {
                auto s = co_await client.stream_message(hello_request());
                if (co_await drain(s) == "pooled") ++ok;
            }
        }, [&](std::exception_ptr e) {
            if (e) try { std::rethrow_exception(e); } catch (const std::exception& x) {
                std::lock_guard lock(mutex);
                if (first_failure.empty()) first_failure = x.what();
            }
            if (++finished == n) all_done.set_value();
        });
    const bool done = all_done.get_future().wait_for(60s) == std::future_status::ready;
    if (!done) pool.stop();  // nothing may run on into this frame's state once it is gone
    pool.join();
    BOOST_TEST(first_failure.empty(), "a stream failed: " << first_failure);
    BOOST_REQUIRE(done);
    return ok.load();
}

}  // namespace

BOOST_AUTO_TEST_CASE(streams_on_a_thread_pool_share_one_name_lookup_race_free) {
    // Streams co_spawned straight on a 4-thread pool (no strands) wait for one lookup of
    // `localhost`: its end wakes them from another thread. CI runs this under ThreadSanitizer.
    fake_anthropic_server server;
    pooled_server(server);
    asio::thread_pool pool(4);
    auto cfg = config_for(server);
    const std::string by_ip = cfg.base_url;
    cfg.base_url = "http://localhost" + by_ip.substr(by_ip.rfind(':'));
    claude_client client(pool.get_executor(), cfg);
    BOOST_TEST(pooled_streams_without_strands(pool, client, 100, 1) == 100);
    BOOST_TEST(client.stats().name_lookups == 1u);
}

BOOST_AUTO_TEST_CASE(streams_on_a_thread_pool_without_strands_wait_for_pooled_connections_race_free) {
    // Streams co_spawned straight on a 4-thread pool (no strands) outnumber the connections: a
    // freed connection wakes a waiter from another thread, possibly before that waiter's wait has
    // begun. No wake-up may be lost (a lost one waits until total_timeout) and none may touch a
    // timer while its wait starts. CI runs this under ThreadSanitizer.
    fake_anthropic_server server;
    pooled_server(server);
    asio::thread_pool pool(4);
    auto cfg = config_for(server);
    cfg.max_connections_per_host = 2;
    cfg.total_timeout = 30s;
    claude_client client(pool.get_executor(), cfg);
    BOOST_TEST(pooled_streams_without_strands(pool, client, 150, 2) == 2 * 150);
    BOOST_TEST(server.connections_accepted() <= 2u);
    BOOST_TEST(client.stats().in_use == 0u);
}

BOOST_AUTO_TEST_CASE(idle_timeouts_firing_on_a_thread_pool_hit_only_the_stalled_streams) {
    // The timeout timer closes a socket from its handler; on a thread pool that handler must run
    // on the strand of the coroutine using the connection. Half the streams stall after their
    // first events and time out, the other half complete on connections the pool hands around.
    // CI runs this under ThreadSanitizer.
    fake_anthropic_server server;
    server.set_handler([](const engram::test::recorded_request& r) {
        auto body = json::parse(r.body);
        std::string who(body.at("messages").at(0).at("content").as_string());
        const std::string text = engram::test::make_text_stream("reply to " + who, 3);
        auto s = scripted_response::sse(text, {40});
        if (who.starts_with("stall")) {
            s.stop_after_bytes = text.find("content_block_stop");
            s.stall = true;
        }
        return s;
    });
    asio::thread_pool pool(4);
    auto cfg = config_for(server);
    cfg.max_connections_per_host = 8;
    cfg.stream_idle_timeout = 300ms;
    cfg.retry.max_retries = 0;
    claude_client client(pool.get_executor(), cfg);
    constexpr int n = 40;
    std::atomic<int> completed{0}, timed_out{0}, other{0}, finished{0};
    std::promise<void> all_done;
    for (int i = 0; i < n; ++i) {
        asio::co_spawn(asio::make_strand(pool), [&, i]() -> asio::awaitable<void> {
            const std::string who = (i % 2 ? "stall" : "go") + std::to_string(i);
            try {
                auto s = co_await client.stream_message(hello_request(who));
                if (co_await drain(s) == "reply to " + who) ++completed;
                else ++other;
            } catch (const client_error& e) {
                if (e.code_value() == errc::stream_idle_timeout) ++timed_out;
                else ++other;
            }
        }, [&](std::exception_ptr) {
            if (++finished == n) all_done.set_value();
        });
    }
    BOOST_REQUIRE(all_done.get_future().wait_for(120s) == std::future_status::ready);
    pool.join();
    BOOST_TEST(completed.load() == n / 2);
    BOOST_TEST(timed_out.load() == n / 2);
    BOOST_TEST(other.load() == 0);
    BOOST_TEST(client.stats().in_use == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
