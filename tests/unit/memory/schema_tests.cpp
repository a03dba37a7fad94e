#include <engram/memory/schema.hpp>
#include <engram/memory/utf8.hpp>

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include "memory_test_support.hpp"

namespace mem = engram::memory;

BOOST_AUTO_TEST_SUITE(memory_schema)

BOOST_AUTO_TEST_CASE(tutorial_format_file_loads_with_plain_string_facts) {
    auto r = mem::parse_record(mem::test::tutorial_alice);
    BOOST_TEST_REQUIRE(r.has_value(), (r ? "" : r.error().message));
    const auto& m = r->memory;
    BOOST_TEST(m.user_id == "alice");
    BOOST_TEST(m.session_count == 7);
    BOOST_TEST(m.last_session == "2024-01-15T14:32:00");
    BOOST_TEST(m.preferences.at("timezone") == "UTC+1");
    BOOST_TEST_REQUIRE(m.key_facts.size() == 3u);
    BOOST_TEST(m.key_facts[1].text == "Has a team of 2 engineers");
    BOOST_TEST((m.key_facts[1].confidence == mem::confidence::medium));
    BOOST_TEST(m.key_facts[1].first_seen == "2024-01-15T14:32:00");
    BOOST_TEST(m.recent_decisions.at(0).decision == "usage-based at $0.02/doc");
    BOOST_TEST(m.schema_version == mem::current_schema_version);  // upgraded on the next write
}

BOOST_AUTO_TEST_CASE(tutorial_blank_template_with_null_last_session_loads) {
    auto r = mem::parse_record(R"({"user_id":"bob","last_session":null,"session_count":0,"preferences":{},
        "key_facts":[],"running_summary":"","recent_decisions":[]})");
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(r->memory.last_session.empty());
}

BOOST_AUTO_TEST_CASE(tutorial_preferences_that_are_not_strings_are_kept_as_text) {
    // The tutorial stored whatever the model returned; quarantined, such a file cost the user
    // all of their memory.
    auto r = mem::parse_record(R"({"user_id":"cy","preferences":{"style":"direct","weekly_checkins":true,
        "team_size":2,"languages":["Python","Go"],"limits":{"max_words":200},"unset":null,"mixed":[1,"a"]}})");
    BOOST_TEST_REQUIRE(r.has_value(), (r ? "" : r.error().message));
    const auto& p = r->memory.preferences;
    BOOST_TEST(p.at("style") == "direct");
    BOOST_TEST(p.at("weekly_checkins") == "true");
    BOOST_TEST(p.at("team_size") == "2");
    BOOST_TEST(p.at("languages") == "Python, Go");
    BOOST_TEST(p.at("limits") == R"({"max_words":200})");
    BOOST_TEST(p.at("mixed") == R"([1,"a"])");
    BOOST_TEST(p.count("unset") == 0u);
    // Written back, they are strings, and read again in the current schema.
    auto again = mem::parse_record(mem::serialize(*r));
    BOOST_TEST_REQUIRE(again.has_value(), (again ? "" : again.error().message));
    BOOST_TEST((again->memory.preferences == p));
    // engram's own schema stays strict.
    auto strict = mem::parse_record(R"({"schema_version":1,"user_id":"cy","preferences":{"team_size":2}})");
    BOOST_TEST_REQUIRE(!strict.has_value());
    BOOST_TEST(strict.error().message.find("preferences.team_size") != std::string::npos, strict.error().message);
    // Limits hold for the text too.
    const std::string long_list = R"([1,")" + std::string(2500, 'x') + R"("])";
    auto too_long = mem::parse_record(R"({"user_id":"cy","preferences":{"n":)" + long_list + "}}");
    BOOST_TEST_REQUIRE(!too_long.has_value());
    BOOST_TEST(too_long.error().message.find("preferences.n") != std::string::npos, too_long.error().message);
}

BOOST_AUTO_TEST_CASE(serialized_record_round_trips_in_the_current_schema) {
    auto r = mem::parse_record(mem::test::tutorial_alice);
    BOOST_TEST_REQUIRE(r.has_value());
    r->applied_sessions = {"s1"};
    const auto text = mem::serialize(*r);
    BOOST_TEST(text.find("\"schema_version\": 1") != std::string::npos);
    auto again = mem::parse_record(text);
    BOOST_TEST_REQUIRE(again.has_value());
    BOOST_TEST((*again == *r));
}

BOOST_AUTO_TEST_CASE(plain_string_facts_are_rejected_in_the_current_schema) {
    auto r = mem::parse_record(R"({"schema_version":1,"user_id":"a","key_facts":["x"]})");
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST(r.error().message.find("key_facts[0]") != std::string::npos);
}

struct bad_case {
    const char* json;
    const char* field;
};

BOOST_AUTO_TEST_CASE(wrong_types_and_oversized_fields_are_rejected_naming_the_field) {
    const std::string big(9000, 'x');
    const bad_case cases[] = {
        {R"({"user_id":5})", "user_id"},
        {R"({"key_facts":[]})", "user_id"},
        {R"({"user_id":"a","session_count":"7"})", "session_count"},
        {R"({"user_id":"a","session_count":-1})", "session_count"},
        {R"({"user_id":"a","schema_version":1,"preferences":{"tz":3}})", "preferences.tz"},
        {R"({"user_id":"a","preferences":[]})", "preferences"},
        {R"({"user_id":"a","schema_version":1,"key_facts":[{"text":"t","confidence":"sure"}]})",
         "key_facts[0].confidence"},
        {R"({"user_id":"a","schema_version":1,"key_facts":[{"text":"t","source":"guess"}]})",
         "key_facts[0].source"},
        {R"({"user_id":"a","recent_decisions":[{"topic":"t"}]})", "recent_decisions[0].decision"},
        {R"({"user_id":"a","last_session":"yesterday"})", "last_session"},
        {R"({"user_id":"a","schema_version":-1})", "schema_version"},
        {R"({"user_id":"a","schema_version":"2"})", "schema_version"},
        {R"({"user_id":"a","history":[{"at":"2024-01-01T00:00:00Z"}]})", "history[0]"},
    };
    for (const auto& c : cases) {
        auto r = mem::parse_record(c.json);
        BOOST_TEST_REQUIRE(!r.has_value(), c.json);
        BOOST_TEST((r.error().code == mem::errc::invalid_record));
        BOOST_TEST(r.error().message.find(c.field) == 0u, c.json << " -> " << r.error().message);
    }
    auto r = mem::parse_record(R"({"user_id":"a","running_summary":")" + big + "\"}");
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST(r.error().message.find("running_summary: too long") == 0u);
}

BOOST_AUTO_TEST_CASE(malformed_json_is_rejected_without_throwing) {
    for (const char* text : {"", "{", "nul", "[1,2]", "{\"user_id\":\"a\",}"}) {
        auto r = mem::parse_record(text);
        BOOST_TEST(!r.has_value(), text);
    }
}

BOOST_AUTO_TEST_CASE(timestamps_are_iso8601_utc) {
    const auto t = std::chrono::system_clock::time_point(std::chrono::seconds(1705329120));
    BOOST_TEST(mem::utc_timestamp(t) == "2024-01-15T14:32:00Z");
}

BOOST_AUTO_TEST_CASE(integers_above_int64_are_a_validation_error_not_an_exception) {
    // Boost.JSON stores these as uint64; converting them to int64 must not throw.
    for (const char* field : {"session_count", "schema_version"}) {
        const std::string text = std::string(R"({"user_id": "u", ")") + field + R"(": 18446744073709551615})";
        mem::result<mem::user_record> r = mem::make_error(mem::errc::io_error, "not parsed");
        BOOST_CHECK_NO_THROW(r = mem::parse_record(text));
        BOOST_TEST_REQUIRE(!r.has_value(), field);
        // A schema_version above this build's is a newer version, however large: unsupported.
        BOOST_TEST(
            (r.error().code == (std::string_view(field) == "schema_version" ? mem::errc::unsupported_record
                                                                            : mem::errc::invalid_record)));
        BOOST_TEST(r.error().message.find(field) == 0u, r.error().message);
    }
    // The same inside a history entry's "before" memory.
    const std::string nested =
        R"({"user_id": "u", "history": [{"at": "2024-01-01T00:00:00Z", "session": "s", "changes": [],)"
        R"( "before": {"user_id": "u", "session_count": 9223372036854775808}}]})";
    mem::result<mem::user_record> r = mem::make_error(mem::errc::io_error, "not parsed");
    BOOST_CHECK_NO_THROW(r = mem::parse_record(nested));
    BOOST_TEST_REQUIRE(!r.has_value());
    BOOST_TEST(r.error().message.find("history[0].before.session_count") == 0u, r.error().message);
}

BOOST_AUTO_TEST_CASE(a_newer_schema_version_or_a_record_beyond_the_limits_is_unsupported_not_invalid) {
    // A newer version is recognised before anything else: a newer schema may change any field.
    for (const char* text : {R"({"user_id": "a", "schema_version": 2})",
                             R"({"schema_version": 7, "user_id": 5, "key_facts": "a new shape"})"}) {
        auto r = mem::parse_record(text);
        BOOST_TEST_REQUIRE(!r.has_value(), text);
        BOOST_TEST((r.error().code == mem::errc::unsupported_record), r.error().what());
        BOOST_TEST(r.error().message.find("schema_version") == 0u, r.error().message);
        BOOST_TEST(r.error().message.find("this build reads up to 1") != std::string::npos,
                   r.error().message);
    }
    BOOST_TEST(
        mem::parse_record(R"({"user_id": "a", "schema_version": 2})").error().message.find("version 2") !=
        std::string::npos);

    // Well-formed but larger than this build's record_limits: what a build with larger caps writes.
    mem::record_limits small;
    small.max_items = 2;
    small.max_text = 10;
    small.max_summary = 10;
    small.max_key = 8;
    small.max_applied = 1;
    struct over_case {
        const char* json;
        const char* field;
    } const cases[] = {
        {R"({"user_id":"a","key_facts":[{"text":"x"},{"text":"y"},{"text":"z"}]})", "key_facts: too many"},
        {R"({"user_id":"a","key_facts":[{"text":"longer than ten"}]})", "key_facts[0].text: too long"},
        {R"({"user_id":"a","running_summary":"longer than ten"})", "running_summary: too long"},
        {R"({"user_id":"a","preferences":{"a":"1","b":"2","c":"3"}})", "preferences: too many"},
        {R"({"user_id":"a","preferences":{"timezone_x":"1"}})", "preferences.timezone_x"},
        {R"({"user_id":"a","recent_decisions":[{"topic":"t","decision":"longer than ten"}]})",
         "recent_decisions[0].decision: too long"},
        {R"({"user_id":"a","applied_sessions":["s1","s2"]})", "applied_sessions: too many"},
        {R"({"user_id":"a","history":[{"at":"2024-01-01T00:00:00Z","session":"s","changes":[],)"
         R"("before":{"user_id":"a","running_summary":"longer than ten"}}]})",
         "history[0].before.running_summary: too long"},
    };
    for (const auto& c : cases) {
        auto r = mem::parse_record(c.json, small);
        BOOST_TEST_REQUIRE(!r.has_value(), c.json);
        BOOST_TEST((r.error().code == mem::errc::unsupported_record), c.json << " -> " << r.error().what());
        BOOST_TEST(r.error().message.find(c.field) == 0u, c.json << " -> " << r.error().message);
        BOOST_TEST(mem::parse_record(c.json).has_value(), c.json);  // the default limits read it
    }
    // Malformed stays invalid (corrupt), even with a limit also exceeded later in the file.
    auto bad = mem::parse_record(
        R"({"user_id":"a","key_facts":[{"text":""}],"running_summary":"longer than ten"})", small);
    BOOST_TEST_REQUIRE(!bad.has_value());
    BOOST_TEST((bad.error().code == mem::errc::invalid_record), bad.error().what());
}

BOOST_AUTO_TEST_CASE(utf8_sequence_lengths_follow_rfc_3629_and_validation_agrees) {
    struct sample {
        std::string bytes;
        std::size_t length;
    };
    const sample samples[] = {
        {"a", 1},
        {"\xc2\x80", 2},          // U+0080, the first C1 control: well-formed
        {"\xc3\xa9", 2},          // é
        {"\xe2\x82\xac", 3},      // €
        {"\xf0\x9f\x98\x80", 4},  // 😀
        {"\xf4\x8f\xbf\xbf", 4},  // U+10FFFF
        {"\x80", 0},              // a stray continuation byte
        {"\xc0\xaf", 0},          // overlong '/'
        {"\xe0\x80\xaf", 0},      // overlong, three bytes
        {"\xed\xa0\x80", 0},      // a surrogate
        {"\xf4\x90\x80\x80", 0},  // past U+10FFFF
        {"\xf5\x80\x80\x80", 0},
        {"\xe2\x82", 0},          // cut short
        {"\xff", 0},
    };
    for (const auto& s : samples) {
        BOOST_TEST_CONTEXT("bytes of length " << s.bytes.size() << ", expected " << s.length) {
            BOOST_TEST(mem::utf8_sequence_length(s.bytes, 0) == s.length);
            BOOST_TEST(mem::is_valid_utf8(s.bytes) == (s.length == s.bytes.size()));
            // At an offset, and past the end.
            BOOST_TEST(mem::utf8_sequence_length("x" + s.bytes, 1) == s.length);
            BOOST_TEST(mem::utf8_sequence_length(s.bytes, s.bytes.size()) == 0u);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
