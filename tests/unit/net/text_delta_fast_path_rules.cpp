// The text-delta fast path accepts exactly the events whose full parse it can stand in for and
// declines everything else, so the result never differs from json::parse + apply.
#include <engram/net/message_accumulator.hpp>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "text_delta_scanner.hpp"

using engram::net::detail::scan_text_delta;
using engram::net::message_accumulator;

namespace {

// An accumulator with block 0 (text) open and block 1 (tool_use) open.
message_accumulator started() {
    message_accumulator acc;
    const char* events[] = {
        R"({"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[],"model":"x","usage":{"input_tokens":1,"output_tokens":1}}})",
        R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})",
        R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}})",
    };
    for (const char* e : events) BOOST_REQUIRE(!acc.apply("", e));
    return acc;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(text_delta_fast_path)

BOOST_AUTO_TEST_CASE(compact_and_spaced_forms_with_escapes_decode_like_a_json_parser) {
    const char* accepted[] = {
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}})",
        R"({"type": "content_block_delta", "index": 12, "delta": {"type": "text_delta", "text": "a\nb"}})",
        R"( { "delta" : { "text" : "q\"\\\/\b\f\r\t\u0041" , "type" : "text_delta" } , "index" : 0 , "type" : "content_block_delta" } )",
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}})",
    };
    for (const char* json : accepted) {
        BOOST_TEST_CONTEXT(json) {
            std::size_t index = 0;
            std::string text;
            BOOST_REQUIRE(scan_text_delta(json, index, text));
            const auto full = boost::json::parse(json);
            BOOST_TEST(index == full.at("index").to_number<std::size_t>());
            BOOST_TEST(text == std::string_view(full.at("delta").at("text").as_string()));
        }
    }
}

BOOST_AUTO_TEST_CASE(every_other_shape_is_left_to_the_full_parser) {
    const char* declined[] = {
        R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"x"}})",
        R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{"}})",
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x","extra":1}})",
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"},"extra":1})",
        R"({"type":"content_block_delta","type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}})",
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"caf\u00e9"}})",
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"caf\xc3\xa9\"}}",
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\x01\"}}",
        R"({"type":"content_block_delta","index":01,"delta":{"type":"text_delta","text":"x"}})",
        R"({"type":"content_block_delta","index":-1,"delta":{"type":"text_delta","text":"x"}})",
        R"({"type":"content_block_delta","index":1.0,"delta":{"type":"text_delta","text":"x"}})",
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}} trailing)",
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x\q"}})",
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"})",
        R"({"type":"content_block_delta","index":0})",
        R"({"type":"ping"})",
        "",
    };
    for (const char* json : declined) {
        BOOST_TEST_CONTEXT(json) {
            std::size_t index = 7;
            std::string text;
            BOOST_TEST(!scan_text_delta(json, index, text));
            BOOST_TEST(index == 7u);
        }
    }
}

BOOST_AUTO_TEST_CASE(a_delta_for_a_block_that_is_not_an_open_text_block_is_declined_and_apply_decides) {
    auto acc = started();
    std::size_t index = 0;
    std::string text;
    // Block 1 is a tool_use block and block 5 does not exist: apply() gives the answer.
    BOOST_TEST(!acc.try_apply_text_delta(R"({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"x"}})", index, text));
    BOOST_TEST(!acc.try_apply_text_delta(R"({"type":"content_block_delta","index":5,"delta":{"type":"text_delta","text":"x"}})", index, text));
    BOOST_TEST(acc.apply("content_block_delta", R"({"type":"content_block_delta","index":5,"delta":{"type":"text_delta","text":"x"}})") ==
               engram::net::errc::unexpected_event);

    // Block 0 takes it, and the message has the text.
    BOOST_TEST(acc.try_apply_text_delta(R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}})", index, text));
    BOOST_TEST(index == 0u);
    BOOST_TEST(text == "Hi");
    BOOST_TEST(acc.current().text() == "Hi");

    // Before message_start nothing is taken.
    message_accumulator fresh;
    BOOST_TEST(!fresh.try_apply_text_delta(R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}})", index, text));
}

BOOST_AUTO_TEST_CASE(deltas_after_a_copy_a_new_block_or_a_stop_land_where_a_full_parse_puts_them) {
    // The fast path remembers the block it appended to; a copy, another event or a caller's
    // change of the message must not leave it appending to the wrong text.
    auto delta = [](int index, const char* text) {
        return std::string(R"({"type":"content_block_delta","index":)") + std::to_string(index) +
               R"(,"delta":{"type":"text_delta","text":")" + text + R"("}})";
    };
    std::size_t index = 0;
    std::string text;
    auto acc = started();
    BOOST_REQUIRE(acc.try_apply_text_delta(delta(0, "a"), index, text));
    auto copy = acc;
    BOOST_REQUIRE(copy.try_apply_text_delta(delta(0, "b"), index, text));
    BOOST_REQUIRE(acc.try_apply_text_delta(delta(0, "c"), index, text));
    BOOST_TEST(copy.current().content().at(0).at("text") == "ab");
    BOOST_TEST(acc.current().content().at(0).at("text") == "ac");

    auto moved = std::move(copy);
    BOOST_REQUIRE(moved.try_apply_text_delta(delta(0, "d"), index, text));
    BOOST_TEST(moved.current().content().at(0).at("text") == "abd");

    // A third block (text) starts: the content array may reallocate under the cached block.
    BOOST_REQUIRE(!acc.apply("", R"({"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}})"));
    BOOST_REQUIRE(acc.try_apply_text_delta(delta(2, "x"), index, text));
    BOOST_REQUIRE(acc.try_apply_text_delta(delta(0, "e"), index, text));
    BOOST_TEST(acc.current().content().at(0).at("text") == "ace");
    BOOST_TEST(acc.current().content().at(2).at("text") == "x");

    // The caller replaces the message's blocks: later deltas go to the new block 0.
    acc.current().json()["content"] = boost::json::array{boost::json::object{{"type", "text"}, {"text", "new"}}};
    BOOST_REQUIRE(acc.try_apply_text_delta(delta(0, "!"), index, text));
    BOOST_TEST(acc.current().content().at(0).at("text") == "new!");

    // After block 0 stops, its deltas are declined (apply() reports them).
    BOOST_REQUIRE(!acc.apply("", R"({"type":"content_block_stop","index":0})"));
    BOOST_TEST(!acc.try_apply_text_delta(delta(0, "late"), index, text));
}

BOOST_AUTO_TEST_SUITE_END()
