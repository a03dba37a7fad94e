// The text-delta fast path accepts exactly the events whose full parse it can stand in for and
// declines everything else, so the result never differs from json::parse + apply.
#include <engram/net/message_accumulator.hpp>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "text_delta_scanner.hpp"

#include <iterator>
#include <utility>

using engram::net::detail::scan_text_delta;
using engram::net::detail::scan_text_delta_block;
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

// Equal as JSON and in every detail a caller can see: member order and number types (int64,
// uint64 and double print alike).
bool identical(const boost::json::value& a, const boost::json::value& b) {
    if (a.kind() != b.kind()) return false;
    if (a.is_object()) {
        const auto& x = a.get_object();
        const auto& y = b.get_object();
        if (x.size() != y.size()) return false;
        for (auto i = x.begin(), j = y.begin(); i != x.end(); ++i, ++j)
            if (i->key() != j->key() || !identical(i->value(), j->value())) return false;
        return true;
    }
    if (a.is_array()) {
        const auto& x = a.get_array();
        const auto& y = b.get_array();
        if (x.size() != y.size()) return false;
        for (std::size_t i = 0; i < x.size(); ++i)
            if (!identical(x[i], y[i])) return false;
        return true;
    }
    return a == b;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(text_delta_fast_path)

BOOST_AUTO_TEST_CASE(compact_and_spaced_forms_with_escapes_decode_like_a_json_parser) {
    const char* accepted[] = {
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}})",
        R"({"type": "content_block_delta", "index": 12, "delta": {"type": "text_delta", "text": "a\nb"}})",
        R"( { "delta" : { "text" : "q\"\\\/\b\f\r\t\u0041" , "type" : "text_delta" } , "index" : 0 , "type" : "content_block_delta" } )",
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}})",
        // Raw UTF-8 (two, three and four bytes), in the compact and the spaced form.
        "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}}",
        "{\"type\": \"content_block_delta\", \"index\": 3, \"delta\": {\"type\": \"text_delta\", \"text\": \"\xef\xbf\xbd\xf4\x8f\xbf\xbf\"}}",
        // Escapes between plain runs, in the compact form.
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"say \"hi\"\n\tthen \u0041\\"}})",
    };
    for (const char* json : accepted) {
        BOOST_TEST_CONTEXT(json) {
            std::size_t index = 0;
            std::string_view text;
            std::string scratch;
            BOOST_REQUIRE(scan_text_delta(json, index, text, scratch));
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
            std::string_view text;
            std::string scratch;
            BOOST_TEST(!scan_text_delta(json, index, text, scratch));
            BOOST_TEST(index == 7u);
        }
    }
}

BOOST_AUTO_TEST_CASE(invalid_utf8_is_declined_and_the_full_parser_rejects_it_too) {
    const char* bad[] = {
        "\xc3",              // truncated
        "\x80",              // a lone continuation byte
        "\xc0\xaf",          // overlong '/'
        "\xe0\x80\xaf",      // overlong, three bytes
        "\xed\xa0\x80",      // a UTF-16 surrogate
        "\xf4\x90\x80\x80",  // past U+10FFFF
        "\xf5\x80\x80\x80",  // no such lead byte
        "\xe2\x82",          // truncated before the closing quote
    };
    for (const char* bytes : bad) {
        for (const char* form : {R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a%sb"}})",
                                 R"({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "a%sb"}})"}) {
            std::string json(form);
            json.replace(json.find("%s"), 2, bytes);
            BOOST_TEST_CONTEXT(json) {
                std::size_t index = 7;
                std::string_view text;
                std::string scratch;
                BOOST_TEST(!scan_text_delta(json, index, text, scratch));
                std::error_code ec;
                boost::json::parse(json, ec);
                BOOST_TEST(static_cast<bool>(ec));
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(text_without_escapes_views_the_event_and_decoded_text_is_in_the_scratch) {
    std::size_t index = 0;
    std::string_view text;
    std::string scratch;
    const std::string plain = R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"plain words"}})";
    BOOST_REQUIRE(scan_text_delta(plain, index, text, scratch));
    BOOST_TEST(text == "plain words");
    BOOST_TEST((text.data() >= plain.data() && text.data() + text.size() <= plain.data() + plain.size()));

    const std::string escaped = R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"two\nlines"}})";
    BOOST_REQUIRE(scan_text_delta(escaped, index, text, scratch));
    BOOST_TEST(text == "two\nlines");
    BOOST_TEST(text.data() == scratch.data());
}

BOOST_AUTO_TEST_CASE(a_whole_sse_block_in_the_api_form_is_read_as_its_data_would_be_and_every_other_is_declined) {
    const std::string head = "event: content_block_delta\ndata: ";
    const char* datas[] = {
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}})",
        R"({"type":"content_block_delta","index":12,"delta":{"type":"text_delta","text":"say \"hi\"\n\tthen \u0041\\"}})",
        "{\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":\"text_delta\",\"text\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}}",
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}})",
    };
    for (const char* data : datas) {
        const std::string block = head + data + "\n\n";
        const std::string stream = block + "event: ping\ndata: {}\n\n";  // what follows is not read
        BOOST_TEST_CONTEXT(block) {
            std::size_t index = 7, expected_index = 7;
            std::string_view text, expected_text;
            std::string scratch, expected_scratch;
            BOOST_REQUIRE(scan_text_delta(data, expected_index, expected_text, expected_scratch));
            BOOST_TEST(scan_text_delta_block(stream, index, text, scratch) == block.size());
            BOOST_TEST(index == expected_index);
            BOOST_TEST(text == expected_text);
        }
    }
    // Blocks an SSE parser reads differently, or whose data the compact form does not cover.
    const std::string delta = R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}})";
    const std::string declined[] = {
        head + delta + "\n",                // no blank line yet: the block may go on
        head + delta,                       // cut short
        head + delta + "\r\n\r\n",          // CR line ends
        head + delta + "\nid: 4\n\n",        // another field
        head + delta + " \n\n",              // trailing space: valid JSON, but not this form
        "event: content_block_delta\ndata:" + delta + "\n\n",  // no space after the colon
        "event: message\ndata: " + delta + "\n\n",
        "data: " + delta + "\n\n",
        head + R"({"type":"content_block_delta","index":)" + "\n" + R"(0,"delta":{"type":"text_delta","text":"x"}})" + "\n\n",
        head + R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":)" + "\n" + R"("x"}})" + "\n\n",
        head + R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a)" + "\n" + R"(b"}})" + "\n\n",
        head + R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"x"}})" + "\n\n",
        head + R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"caf\u00e9"}})" + "\n\n",
    };
    for (const auto& block : declined) {
        BOOST_TEST_CONTEXT(block) {
            std::size_t index = 7;
            std::string_view text;
            std::string scratch;
            BOOST_TEST(scan_text_delta_block(block, index, text, scratch) == 0u);
            BOOST_TEST(index == 7u);
        }
    }
}

BOOST_AUTO_TEST_CASE(bare_events_in_order_are_applied_without_a_parse_and_all_others_are_left_to_apply) {
    using engram::net::stream_event_kind;
    auto acc = started();
    stream_event_kind kind{};
    std::size_t index = 9;
    for (const char* ping : {R"({"type":"ping"})", R"({"type": "ping"})"}) {
        BOOST_TEST(acc.try_apply_bare_event("ping", ping, kind, index));
        BOOST_TEST((kind == stream_event_kind::ping));
    }
    // The SSE event name decides the kind when present, so a mismatch is apply()'s to judge.
    BOOST_TEST(!acc.try_apply_bare_event("message_stop", R"({"type":"ping"})", kind, index));
    BOOST_TEST(!acc.try_apply_bare_event("ping", R"({"type":"message_stop"})", kind, index));
    // Not a block that is open, an index the API never writes, a tool block with input
    // fragments (they are parsed at its stop) and another layout are all declined.
    BOOST_REQUIRE(!acc.apply("", R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\""}})"));
    for (const char* stop : {R"({"type":"content_block_stop","index":5})", R"({"type":"content_block_stop","index":00})",
                             R"({"type":"content_block_stop","index":1})", R"({"type":"content_block_stop","index":0,"x":1})",
                             R"({"type": "content_block_stop", "index": 0})", R"({"type":"content_block_stop","index":})"}) {
        BOOST_TEST_CONTEXT(stop) { BOOST_TEST(!acc.try_apply_bare_event("content_block_stop", stop, kind, index)); }
    }
    BOOST_TEST(index == 9u);

    std::string_view text;
    std::string scratch;
    BOOST_REQUIRE(acc.try_apply_text_delta(R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}})", index, text, scratch));
    BOOST_TEST(acc.try_apply_bare_event("content_block_stop", R"({"type":"content_block_stop","index":0})", kind, index));
    BOOST_TEST((kind == stream_event_kind::content_block_stop));
    BOOST_TEST(index == 0u);
    BOOST_TEST(acc.current().content().at(0).at("text") == "Hi");
    // Stopped once: a second stop is apply()'s to report.
    BOOST_TEST(!acc.try_apply_bare_event("content_block_stop", R"({"type":"content_block_stop","index":0})", kind, index));
    BOOST_TEST(acc.apply("content_block_stop", R"({"type":"content_block_stop","index":0})") == engram::net::errc::unexpected_event);

    // message_stop marks the unfinished tool block's input null, as apply() does.
    BOOST_TEST(acc.try_apply_bare_event("", R"({"type":"message_stop"})", kind, index));
    BOOST_TEST((kind == stream_event_kind::message_stop));
    BOOST_TEST(acc.stop_received());
    BOOST_TEST(acc.current().content().at(1).at("input").is_null());
    BOOST_TEST(!acc.try_apply_bare_event("", R"({"type":"message_stop"})", kind, index));

    message_accumulator fresh;  // before message_start only a ping is taken
    BOOST_TEST(!fresh.try_apply_bare_event("", R"({"type":"message_stop"})", kind, index));
    BOOST_TEST(!fresh.try_apply_bare_event("", R"({"type":"content_block_stop","index":0})", kind, index));
    BOOST_TEST(fresh.try_apply_bare_event("", R"({"type":"ping"})", kind, index));
}

BOOST_AUTO_TEST_CASE(a_delta_for_a_block_that_is_not_an_open_text_block_is_declined_and_apply_decides) {
    auto acc = started();
    std::size_t index = 0;
    std::string_view text;
    std::string scratch;
    // Block 1 is a tool_use block and block 5 does not exist: apply() gives the answer.
    BOOST_TEST(!acc.try_apply_text_delta(R"({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"x"}})", index, text, scratch));
    BOOST_TEST(!acc.try_apply_text_delta(R"({"type":"content_block_delta","index":5,"delta":{"type":"text_delta","text":"x"}})", index, text, scratch));
    BOOST_TEST(acc.apply("content_block_delta", R"({"type":"content_block_delta","index":5,"delta":{"type":"text_delta","text":"x"}})") ==
               engram::net::errc::unexpected_event);

    // Block 0 takes it, and the message has the text.
    BOOST_TEST(acc.try_apply_text_delta(R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}})", index, text, scratch));
    BOOST_TEST(index == 0u);
    BOOST_TEST(text == "Hi");
    BOOST_TEST(acc.current().text() == "Hi");

    // Its second half, for a caller that read the event itself, decides alike.
    BOOST_TEST(!acc.try_apply_text(1, "x"));
    BOOST_TEST(!acc.try_apply_text(5, "x"));
    BOOST_TEST(acc.try_apply_text(0, " there"));
    BOOST_TEST(acc.current().text() == "Hi there");

    // Before message_start nothing is taken.
    message_accumulator fresh;
    BOOST_TEST(!fresh.try_apply_text_delta(R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}})", index, text, scratch));
    BOOST_TEST(!fresh.try_apply_text(0, "x"));
}

BOOST_AUTO_TEST_CASE(deltas_after_a_copy_a_new_block_or_a_stop_land_where_a_full_parse_puts_them) {
    // The fast path remembers the block it appended to; a copy, another event or a caller's
    // change of the message must not leave it appending to the wrong text.
    auto delta = [](int index, const char* text) {
        return std::string(R"({"type":"content_block_delta","index":)") + std::to_string(index) +
               R"(,"delta":{"type":"text_delta","text":")" + text + R"("}})";
    };
    std::size_t index = 0;
    std::string_view text;
    std::string scratch;
    auto acc = started();
    BOOST_REQUIRE(acc.try_apply_text_delta(delta(0, "a"), index, text, scratch));
    auto copy = acc;
    BOOST_REQUIRE(copy.try_apply_text_delta(delta(0, "b"), index, text, scratch));
    BOOST_REQUIRE(acc.try_apply_text_delta(delta(0, "c"), index, text, scratch));
    BOOST_TEST(copy.current().content().at(0).at("text") == "ab");
    BOOST_TEST(acc.current().content().at(0).at("text") == "ac");

    auto moved = std::move(copy);
    BOOST_REQUIRE(moved.try_apply_text_delta(delta(0, "d"), index, text, scratch));
    BOOST_TEST(moved.current().content().at(0).at("text") == "abd");

    // A third block (text) starts: the content array may reallocate under the cached block.
    BOOST_REQUIRE(!acc.apply("", R"({"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}})"));
    BOOST_REQUIRE(acc.try_apply_text_delta(delta(2, "x"), index, text, scratch));
    BOOST_REQUIRE(acc.try_apply_text_delta(delta(0, "e"), index, text, scratch));
    BOOST_TEST(acc.current().content().at(0).at("text") == "ace");
    BOOST_TEST(acc.current().content().at(2).at("text") == "x");

    // The caller replaces the message's blocks: later deltas go to the new block 0.
    acc.current().json()["content"] = boost::json::array{boost::json::object{{"type", "text"}, {"text", "new"}}};
    BOOST_REQUIRE(acc.try_apply_text_delta(delta(0, "!"), index, text, scratch));
    BOOST_TEST(acc.current().content().at(0).at("text") == "new!");

    // After block 0 stops, its deltas are declined (apply() reports them).
    BOOST_REQUIRE(!acc.apply("", R"({"type":"content_block_stop","index":0})"));
    BOOST_TEST(!acc.try_apply_text_delta(delta(0, "late"), index, text, scratch));
}

// A block start and a message_delta taken without a tree leave the accumulator exactly where
// json::parse + apply() leaves it: the same message, the same answer to the next event.
BOOST_AUTO_TEST_CASE(block_starts_and_message_deltas_in_the_compact_form_give_the_message_a_full_parse_gives) {
    using engram::net::stream_event_kind;
    const char* texts_before[] = {
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}})",
    };
    struct step {
        const char* name;
        const char* data;
        bool fast;  // taken without a parse
    };
    const step steps[] = {
        // A text block after the two open ones (index 2), as the API writes it.
        {"content_block_start", R"({"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}})", true},
        // message_delta: strings, null, integers, an empty usage, a usage null (kept as it was).
        {"message_delta", R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}})", true},
        {"", R"({"type":"message_delta","delta":{"stop_reason":"stop_sequence","stop_sequence":"END","container":null},"usage":{"input_tokens":0,"output_tokens":123456789012345678,"cache_read_input_tokens":null}})", true},
        {"message", R"({"type":"message_delta","delta":{},"usage":{}})", true},
        // A null usage value keeps the one before; "content" in a delta leaves the blocks alone.
        {"message_delta", R"({"type":"message_delta","delta":{"content":null,"stop_reason":"refusal"},"usage":{"output_tokens":null,"input_tokens":7}})", true},
        {"message_delta", R"({"type":"message_delta","delta":{"content":[]},"usage":{}})", false},
        {"content_block_start", R"({"type":"content_block_start","index": 3,"content_block":{"type":"text","text":""}})", true},
        // Shapes left to the full parser, which must still give the same message.
        {"message_delta", R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15,"server_tool_use":{"web_search_requests":1}}})", false},
        {"message_delta", R"({"type":"message_delta","delta":{"stop_reason":"caf\u00e9"},"usage":{"output_tokens":1}})", false},
        {"message_delta", R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":1.5}})", false},
        {"message_delta", R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":-1}})", false},
        {"message_delta", R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":1234567890123456789}})", false},
        {"message_delta", R"({"type":"message_delta","delta":{"stop_reason":"a","stop_reason":"b"},"usage":{}})", false},
        {"message_delta", R"({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}})", false},
        {"message_delta", R"({"type":"message_delta","delta":{"stop_reason":true},"usage":{}})", false},
        {"message_delta", R"({"type":"message_delta","delta":{"stop_reason":"end_turn"}})", false},
        {"message_delta", R"({"type":"message_delta","delta":{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9},"usage":{}})", false},
        {"content_block_start", R"({"type":"content_block_start","index":4,"content_block":{"type":"text","text":"","citations":[]}})", false},
        {"content_block_start", R"({"type":"content_block_start","index":5,"content_block":{"type":"thinking","thinking":""}})", false},
        {"content_block_start", R"({"type":"content_block_start","index":6, "content_block":{"type":"text","text":""}})", false},
        {"content_block_start", R"({"type":"content_block_start","index":7,"content_block":{"type":"text","text":""}}  )", true},
    };
    auto fast_acc = started();
    auto full_acc = started();
    std::size_t index = 0;
    std::string_view text;
    std::string scratch;
    for (const char* t : texts_before) {
        BOOST_REQUIRE(fast_acc.try_apply_text_delta(t, index, text, scratch));
        BOOST_REQUIRE(!full_acc.apply("", t));
    }
    for (const auto& st : steps) {
        BOOST_TEST_CONTEXT(st.data) {
            stream_event_kind kind{};
            index = 99;
            const bool taken = fast_acc.try_apply_bare_event(st.name, st.data, kind, index);
            BOOST_TEST(taken == st.fast);
            if (!taken) BOOST_REQUIRE(!fast_acc.apply(st.name, st.data));
            stream_event_kind full_kind{};
            BOOST_REQUIRE(!full_acc.apply(st.name, st.data, &full_kind));
            if (taken) {
                BOOST_TEST((kind == full_kind));
                if (kind == stream_event_kind::content_block_start)
                    BOOST_TEST(index == boost::json::parse(st.data).at("index").to_number<std::size_t>());
            }
            BOOST_TEST(identical(fast_acc.current().json(), full_acc.current().json()),
                       boost::json::serialize(fast_acc.current().json()) << "\n" << boost::json::serialize(full_acc.current().json()));
        }
    }
    // Deltas still reach the block the fast path started.
    BOOST_REQUIRE(fast_acc.try_apply_text_delta(R"({"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"more"}})", index, text, scratch));
    BOOST_TEST(fast_acc.current().content().at(2).at("text") == "more");
}

// The same events applied one after another with nothing reading the message in between (reading
// it writes the held-aside text into the JSON), so a fast path that forgot the block its deltas
// go to would show here.
BOOST_AUTO_TEST_CASE(a_whole_reply_through_the_fast_paths_matches_the_full_parse_without_reading_in_between) {
    using engram::net::stream_event_kind;
    const char* events[] = {
        R"({"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[],"model":"x","stop_reason":null,"usage":5}})",
        R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})",
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"one "}})",
        R"({"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}})",
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"two"}})",
        R"({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"three"}})",
        R"({"type":"content_block_stop","index":0})",
        R"({"type":"content_block_stop","index":1})",
        R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":3}})",
        R"({"type":"message_stop"})",
    };
    message_accumulator fast, full;
    std::size_t taken = 0;
    for (const char* e : events) {
        BOOST_TEST_CONTEXT(e) {
            BOOST_REQUIRE(!full.apply("", e));
            std::size_t index = 0;
            std::string_view text;
            std::string scratch;
            stream_event_kind kind{};
            if (fast.try_apply_text_delta(e, index, text, scratch) || fast.try_apply_bare_event("", e, kind, index)) ++taken;
            else BOOST_REQUIRE(!fast.apply("", e));
        }
    }
    BOOST_TEST(taken == std::size(events) - 1);  // all but message_start
    const auto& msg = std::as_const(fast).current().json();
    BOOST_TEST(identical(msg, std::as_const(full).current().json()), boost::json::serialize(msg));
    BOOST_TEST(msg.at("content").at(0).at("text") == "one two");
    BOOST_TEST(msg.at("content").at(1).at("text") == "three");
    BOOST_TEST(msg.at("usage").at("output_tokens").is_int64());  // a usage that was not an object became one
}

BOOST_AUTO_TEST_CASE(a_block_start_or_message_delta_out_of_order_is_declined_and_apply_reports_it) {
    using engram::net::stream_event_kind;
    const char* start0 = R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})";
    const char* delta = R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":1}})";
    stream_event_kind kind{};
    std::size_t index = 7;
    message_accumulator fresh;  // before message_start
    BOOST_TEST(!fresh.try_apply_bare_event("", start0, kind, index));
    BOOST_TEST(!fresh.try_apply_bare_event("", delta, kind, index));
    BOOST_TEST(fresh.apply("", delta) == engram::net::errc::unexpected_event);

    auto acc = started();  // blocks 0 and 1 exist: a start for index 0 (or 5) is out of order
    BOOST_TEST(!acc.try_apply_bare_event("content_block_start", start0, kind, index));
    BOOST_TEST(acc.apply("content_block_start", start0) == engram::net::errc::unexpected_event);
    // A name that says otherwise is apply()'s to judge.
    BOOST_TEST(!acc.try_apply_bare_event("message_stop", delta, kind, index));
    BOOST_TEST(!acc.try_apply_bare_event("ping", R"({"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}})", kind, index));
    BOOST_TEST(index == 7u);

    BOOST_REQUIRE(acc.try_apply_bare_event("", R"({"type":"message_stop"})", kind, index));
    BOOST_TEST(!acc.try_apply_bare_event("message_delta", delta, kind, index));  // after message_stop
    BOOST_TEST(acc.apply("message_delta", delta) == engram::net::errc::unexpected_event);
}

BOOST_AUTO_TEST_SUITE_END()
