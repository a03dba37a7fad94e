// Every Anthropic stream in ../shared/fixtures/anthropic, fed whole, byte by byte and at random
// splits through the SSE parser into the accumulator, must give its .expected.json message.
#include <engram/net/message_accumulator.hpp>
#include <engram/net/sse_parser.hpp>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "support/fixtures.hpp"
#include "support/json_same.hpp"

namespace json = boost::json;
using engram::net::message_accumulator;
using engram::net::sse_event;
using engram::net::sse_parser;

namespace {

const json::value null_value;

const json::value& field_or_null(const json::object& o, std::string_view key) {
    auto* v = o.if_contains(key);
    return v ? *v : null_value;
}

void check_against_expected(const message_accumulator& acc, bool discarded, const json::object& expected) {
    const auto& msg = acc.current().json();
    BOOST_TEST(acc.current().text() == std::string_view(expected.at("text").as_string()));

    // Content blocks. A block the stream never closed is reported with its raw fragments.
    static const json::array none;
    const auto& want_value = expected.at("content_blocks");  // null when no message ever started
    const auto& want_blocks = want_value.is_null() ? none : want_value.as_array();
    const auto& got_blocks = acc.current().content();
    BOOST_REQUIRE_EQUAL(got_blocks.size(), want_blocks.size());
    for (std::size_t i = 0; i < want_blocks.size(); ++i) {
        json::object want = want_blocks[i].as_object();
        if (auto* incomplete = want.if_contains("input_incomplete"); incomplete && incomplete->as_bool()) {
            BOOST_TEST(acc.partial_json(i) == std::string_view(want.at("input_json_raw").as_string()));
            want.erase("input_incomplete");
            want.erase("input_json_raw");
            want.erase("input_partial_parse_asserted_by_sdk_ts");
        }
        BOOST_TEST(engram::test::same_json(got_blocks[i], want), "block " << i << ": " << json::serialize(got_blocks[i]) << " != " << json::serialize(want));
    }

    BOOST_TEST(engram::test::same_json(field_or_null(msg, "stop_reason"), expected.at("stop_reason")));
    BOOST_TEST(engram::test::same_json(field_or_null(msg, "usage"), expected.at("usage")),
               json::serialize(field_or_null(msg, "usage")) << " != " << json::serialize(expected.at("usage")));
    if (expected.at("message").is_null()) {
        BOOST_TEST(!acc.started());  // the stream failed before any message_start
    } else {
        for (const auto& kv : expected.at("message").as_object())
            BOOST_TEST(engram::test::same_json(field_or_null(msg, kv.key()), kv.value()), "message." << kv.key());
    }

    const auto& want_error = expected.at("error");
    BOOST_TEST(engram::test::same_json(acc.stream_error_json(), want_error));
    if (!want_error.is_null()) {
        BOOST_REQUIRE(acc.stream_error().has_value());
        BOOST_TEST(acc.stream_error()->error_type == std::string_view(want_error.at("error").at("type").as_string()));
        BOOST_TEST(acc.finish() != std::error_code());
    }
    if (auto* stop = expected.if_contains("message_stop_received")) {
        BOOST_TEST(acc.stop_received() == stop->as_bool());
        if (want_error.is_null()) {
            // A stream without message_stop is an incomplete-stream error that keeps its content.
            BOOST_TEST((acc.finish() == engram::net::errc::incomplete_stream) == !stop->as_bool());
        }
    }
    if (auto* d = expected.if_contains("discarded_at_eof")) BOOST_TEST(discarded == !d->is_null());
    if (auto* unclosed = expected.if_contains("unclosed_block_indexes")) {
        json::array got;
        for (auto i : acc.unclosed_blocks()) got.push_back(i);
        BOOST_TEST(engram::test::same_json(got, *unclosed));
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(message_accumulator_fixtures)

BOOST_AUTO_TEST_CASE(every_anthropic_stream_accumulates_to_its_expected_message_at_any_split) {
    const auto files = engram::test::fixture_files("anthropic", ".sse");
    BOOST_REQUIRE_GE(files.size(), 12u);
    for (const auto& sse_path : files) {
        const auto stem = sse_path.stem().string();
        BOOST_TEST_CONTEXT("fixture " << stem) {
            const auto expected = engram::test::read_json(sse_path.parent_path() / (stem + ".expected.json")).as_object();
            const auto bytes = engram::test::read_file(sse_path);
            const auto runs = engram::test::chunkings(bytes);
            for (std::size_t r = 0; r < runs.size(); ++r) {
                BOOST_TEST_CONTEXT("chunking #" << r) {
                    sse_parser parser;
                    message_accumulator acc;
                    for (const auto& piece : runs[r]) {
                        auto ec = parser.feed(piece, [&](const sse_event& ev) {
                            auto aec = acc.apply(ev.type, ev.data);
                            BOOST_REQUIRE_MESSAGE(!aec, aec.message() << ": " << acc.last_error_detail());
                        });
                        BOOST_REQUIRE(!ec);
                    }
                    check_against_expected(acc, parser.finish(), expected);
                }
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(the_fast_paths_give_every_stream_the_same_message_and_texts) {
    std::size_t fast = 0, bare = 0, block_starts = 0, message_deltas = 0;
    for (const auto& sse_path : engram::test::fixture_files("anthropic", ".sse")) {
        const auto stem = sse_path.stem().string();
        BOOST_TEST_CONTEXT("fixture " << stem) {
            const auto expected = engram::test::read_json(sse_path.parent_path() / (stem + ".expected.json")).as_object();
            sse_parser parser;
            message_accumulator acc;
            auto ec = parser.feed(engram::test::read_file(sse_path), [&](const sse_event& ev) {
                std::size_t index = 99;
                std::string_view text;
                std::string scratch;
                if ((ev.type == "content_block_delta" || ev.type.empty()) && acc.try_apply_text_delta(ev.data, index, text, scratch)) {
                    ++fast;
                    // What a full parse of the same event says.
                    const auto full = json::parse(ev.data);
                    BOOST_TEST(index == full.at("index").to_number<std::size_t>());
                    BOOST_TEST(text == std::string_view(full.at("delta").at("text").as_string()));
                    return;
                }
                engram::net::stream_event_kind kind{};
                if (acc.try_apply_bare_event(ev.type, ev.data, kind, index)) {
                    ++bare;
                    const auto full = json::parse(ev.data);
                    using engram::net::stream_event_kind;
                    BOOST_TEST(std::string_view(full.at("type").as_string()) ==
                               (kind == stream_event_kind::ping                  ? "ping"
                                : kind == stream_event_kind::message_stop        ? "message_stop"
                                : kind == stream_event_kind::content_block_start ? "content_block_start"
                                : kind == stream_event_kind::message_delta       ? "message_delta"
                                                                                 : "content_block_stop"));
                    if (kind == stream_event_kind::content_block_stop || kind == stream_event_kind::content_block_start)
                        BOOST_TEST(index == full.at("index").to_number<std::size_t>());
                    if (kind == stream_event_kind::content_block_start) ++block_starts;
                    if (kind == stream_event_kind::message_delta) ++message_deltas;
                    return;
                }
                auto aec = acc.apply(ev.type, ev.data);
                BOOST_REQUIRE_MESSAGE(!aec, aec.message() << ": " << acc.last_error_detail());
            });
            BOOST_REQUIRE(!ec);
            check_against_expected(acc, parser.finish(), expected);
        }
    }
    BOOST_TEST(fast > 50u);  // the fixtures' text deltas do take the fast path
    BOOST_TEST(bare > 10u);  // and so do their stops and pings
    BOOST_TEST(block_starts > 3u);    // text block starts
    BOOST_TEST(message_deltas > 3u);  // and message_deltas of flat members
}

BOOST_AUTO_TEST_CASE(event_objects_without_sse_framing_accumulate_to_the_expected_message) {
    const auto files = engram::test::fixture_files("anthropic", ".events.jsonl");
    BOOST_REQUIRE_GE(files.size(), 1u);
    for (const auto& path : files) {
        const auto name = path.filename().string();
        const auto stem = name.substr(0, name.size() - std::string(".events.jsonl").size());
        BOOST_TEST_CONTEXT("fixture " << stem) {
            const auto expected = engram::test::read_json(path.parent_path() / (stem + ".expected.json")).as_object();
            std::istringstream lines(engram::test::read_file(path));
            message_accumulator acc;
            std::string line;
            std::size_t applied = 0;
            while (std::getline(lines, line)) {
                if (line.empty()) continue;
                auto ec = acc.apply(json::parse(line));
                BOOST_REQUIRE_MESSAGE(!ec, ec.message() << ": " << acc.last_error_detail());
                ++applied;
            }
            BOOST_TEST(applied == expected.at("event_count").to_number<std::size_t>());
            check_against_expected(acc, false, expected);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
