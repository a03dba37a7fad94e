// Accumulation rules beyond the fixtures: ordering errors, replacement semantics, in-band errors.
#include <engram/net/message_accumulator.hpp>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

using engram::net::errc;
using engram::net::message_accumulator;
using engram::net::stream_event_kind;

namespace {
const char* start = R"({"type":"message_start","message":{"id":"m","type":"message","role":"assistant","model":"x","content":[],"stop_reason":null,"usage":{"input_tokens":5,"output_tokens":1,"cache_creation_input_tokens":7,"cache_read_input_tokens":0}}})";
}

BOOST_AUTO_TEST_SUITE(message_accumulator_rules)

BOOST_AUTO_TEST_CASE(delta_before_message_start_is_a_protocol_error) {
    message_accumulator acc;
    auto ec = acc.apply("content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}})");
    BOOST_TEST(ec == errc::unexpected_event);
    BOOST_TEST(!acc.last_error_detail().empty());
}

BOOST_AUTO_TEST_CASE(delta_for_a_block_never_started_is_a_protocol_error) {
    message_accumulator acc;
    BOOST_REQUIRE(!acc.apply("message_start", start));
    BOOST_TEST(acc.apply("content_block_delta", R"({"type":"content_block_delta","index":3,"delta":{"type":"text_delta","text":"x"}})") == errc::unexpected_event);
}

BOOST_AUTO_TEST_CASE(delta_after_block_stop_is_a_protocol_error) {
    message_accumulator acc;
    BOOST_REQUIRE(!acc.apply("message_start", start));
    BOOST_REQUIRE(!acc.apply("content_block_start", R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"));
    BOOST_REQUIRE(!acc.apply("content_block_stop", R"({"type":"content_block_stop","index":0})"));
    BOOST_TEST(acc.apply("content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}})") == errc::unexpected_event);
}

BOOST_AUTO_TEST_CASE(a_streamed_message_owns_its_json_whichever_way_its_start_was_applied) {
    // A message_start is either parsed and moved into the message, or (already parsed, in the
    // caller's storage, perhaps a scratch arena) copied; text deltas held aside are written into
    // the JSON once. Either way the message outlives the accumulator and the caller's storage.
    for (bool parsed_first : {false, true}) {
        BOOST_TEST_CONTEXT("already parsed: " << parsed_first) {
            engram::net::message streamed;
            {
                message_accumulator acc;
                unsigned char buf[4096];
                boost::json::monotonic_resource scratch(buf, sizeof buf);
                if (parsed_first) BOOST_REQUIRE(!acc.apply(boost::json::parse(start, &scratch)));
                else BOOST_REQUIRE(!acc.apply("message_start", start));
                BOOST_REQUIRE(!acc.apply("", R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"));
                std::string_view text;
                std::string decoded;
                std::size_t index = 0;
                for (int i = 0; i < 100; ++i)
                    BOOST_REQUIRE(acc.try_apply_text_delta(R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"0123456789"}})",
                                                           index, text, decoded));
                BOOST_REQUIRE(!acc.apply("", R"({"type":"content_block_stop","index":0})"));
                BOOST_REQUIRE(!acc.apply("", R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":9}})"));
                BOOST_REQUIRE(!acc.apply("", R"({"type":"message_stop"})"));
                streamed = std::move(acc.current());
                BOOST_TEST(!streamed.json().storage().is_shared());
                BOOST_TEST((streamed.json().storage().get() == boost::json::storage_ptr().get()));  // the default allocator
            }
            std::string expected;
            for (int i = 0; i < 100; ++i) expected += "0123456789";
            BOOST_TEST(streamed.text() == expected);
            BOOST_TEST(streamed.stop_reason() == "end_turn");
            BOOST_TEST((streamed.usage().output_tokens == 9));
            BOOST_TEST(streamed.id() == "m");
        }
    }
}

BOOST_AUTO_TEST_CASE(usage_values_replace_and_are_never_added) {
    message_accumulator acc;
    BOOST_REQUIRE(!acc.apply("message_start", start));
    BOOST_REQUIRE(!acc.apply("message_delta", R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":40,"cache_read_input_tokens":9,"input_tokens":null}})"));
    BOOST_REQUIRE(!acc.apply("message_stop", R"({"type":"message_stop"})"));
    const auto u = acc.current().usage();
    BOOST_TEST(*u.input_tokens == 5);                  // null in the delta keeps the old value
    BOOST_TEST(*u.output_tokens == 40);                // replaced, not 41
    BOOST_TEST(*u.cache_creation_input_tokens == 7);
    BOOST_TEST(*u.cache_read_input_tokens == 9);
    BOOST_TEST(acc.current().stop_reason() == "end_turn");
    BOOST_TEST(!acc.finish());
}

BOOST_AUTO_TEST_CASE(empty_tool_input_json_keeps_empty_object_and_signature_replaces) {
    message_accumulator acc;
    BOOST_REQUIRE(!acc.apply("message_start", start));
    BOOST_REQUIRE(!acc.apply("content_block_start", R"({"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"n","input":{}}})"));
    BOOST_REQUIRE(!acc.apply("content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}})"));
    BOOST_REQUIRE(!acc.apply("content_block_stop", R"({"type":"content_block_stop","index":0})"));
    BOOST_REQUIRE(!acc.apply("content_block_start", R"({"type":"content_block_start","index":1,"content_block":{"type":"thinking","thinking":"","signature":""}})"));
    BOOST_REQUIRE(!acc.apply("content_block_delta", R"({"type":"content_block_delta","index":1,"delta":{"type":"signature_delta","signature":"AAA"}})"));
    BOOST_REQUIRE(!acc.apply("content_block_delta", R"({"type":"content_block_delta","index":1,"delta":{"type":"signature_delta","signature":"BBB"}})"));
    const auto& content = acc.current().content();
    BOOST_TEST(content[0].at("input") == boost::json::object());
    BOOST_TEST(content[1].at("signature") == "BBB");
}

BOOST_AUTO_TEST_CASE(invalid_tool_input_json_at_block_stop_is_an_error) {
    message_accumulator acc;
    BOOST_REQUIRE(!acc.apply("message_start", start));
    BOOST_REQUIRE(!acc.apply("content_block_start", R"({"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"n","input":{}}})"));
    BOOST_REQUIRE(!acc.apply("content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}})"));
    BOOST_TEST(acc.apply("content_block_stop", R"({"type":"content_block_stop","index":0})") == errc::invalid_json);
}

BOOST_AUTO_TEST_CASE(citations_delta_appends_to_the_block_citations) {
    message_accumulator acc;
    BOOST_REQUIRE(!acc.apply("message_start", start));
    BOOST_REQUIRE(!acc.apply("content_block_start", R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"));
    BOOST_REQUIRE(!acc.apply("content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{"cited_text":"a"}}})"));
    BOOST_REQUIRE(!acc.apply("content_block_delta", R"({"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{"cited_text":"b"}}})"));
    BOOST_TEST(acc.current().content()[0].at("citations").as_array().size() == 2u);
}

BOOST_AUTO_TEST_CASE(in_band_overloaded_error_is_recognised_as_overloaded) {
    message_accumulator acc;
    stream_event_kind kind{};
    BOOST_REQUIRE(!acc.apply("error", R"({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})", &kind));
    BOOST_TEST((kind == stream_event_kind::error));
    BOOST_TEST(acc.finish() == errc::overloaded);
    BOOST_TEST(acc.stream_error()->message == "Overloaded");
    // A copy carries the failure (held apart from the accumulator, allocated when it happens).
    const message_accumulator copy = acc;
    BOOST_TEST(copy.finish() == errc::overloaded);
    BOOST_TEST(copy.stream_error()->message == "Overloaded");
    BOOST_TEST(copy.stream_error_json().at("error").at("type") == "overloaded_error");
    BOOST_TEST(!message_accumulator().stream_error().has_value());
    BOOST_TEST(message_accumulator().last_error_detail().empty());
}

BOOST_AUTO_TEST_CASE(ping_and_unknown_events_are_ignored_anywhere) {
    message_accumulator acc;
    BOOST_TEST(!acc.apply("ping", R"({"type":"ping"})"));
    BOOST_TEST(!acc.apply("completion", R"({"completion":" Hello"})"));
    BOOST_TEST(!acc.started());
}

BOOST_AUTO_TEST_CASE(an_event_named_message_is_read_by_its_data_type_like_an_unnamed_one) {
    // `event: message` is SSE's default type spelled out; a proxy may write it on every event.
    message_accumulator acc;
    stream_event_kind kind{};
    BOOST_REQUIRE(!acc.apply("message", start, &kind));
    BOOST_TEST((kind == stream_event_kind::message_start));
    BOOST_REQUIRE(!acc.apply("message", R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"));
    std::size_t index = 9;
    BOOST_REQUIRE(!acc.apply("message", R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}})", &kind));
    BOOST_TEST((kind == stream_event_kind::content_block_delta));
    BOOST_TEST(acc.try_apply_bare_event("message", R"({"type":"content_block_stop","index":0})", kind, index));
    BOOST_TEST((kind == stream_event_kind::content_block_stop));
    BOOST_TEST(index == 0u);
    BOOST_REQUIRE(!acc.apply("message", R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}})"));
    BOOST_TEST(acc.try_apply_bare_event("message", R"({"type":"message_stop"})", kind, index));
    BOOST_TEST(!acc.finish());
    BOOST_TEST(acc.current().text() == "Hi");
    BOOST_TEST(acc.current().stop_reason() == "end_turn");
}

BOOST_AUTO_TEST_CASE(non_json_data_is_an_invalid_json_error) {
    message_accumulator acc;
    BOOST_TEST(acc.apply("message_start", "{not json") == errc::invalid_json);
}

BOOST_AUTO_TEST_SUITE_END()
