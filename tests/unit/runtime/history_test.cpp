// History budget and transcript rules of runtime/ (pure helpers).
#include "history.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

namespace json = boost::json;
using namespace engram::runtime::detail;

namespace {
json::object msg(const char* role, const std::string& text) { return {{"role", role}, {"content", text}}; }
json::object blocks(const char* role, const std::string& text) {
    return {{"role", role}, {"content", json::array{{{"type", "text"}, {"text", text}}}}};
}
}  // namespace

BOOST_AUTO_TEST_SUITE(runtime_history)

BOOST_AUTO_TEST_CASE(history_within_budget_is_untouched) {
    json::array h{msg("user", "hello"), blocks("assistant", "hi"), msg("user", "again")};
    BOOST_TEST(trim_history(h, 100) == 0u);
    BOOST_TEST(h.size() == 3u);
}

BOOST_AUTO_TEST_CASE(oldest_turns_are_dropped_whole_and_the_history_starts_with_a_user_message) {
    json::array h{msg("user", std::string(40, 'a')), blocks("assistant", std::string(40, 'b')),
                  msg("user", std::string(40, 'c')), blocks("assistant", std::string(40, 'd')),
                  msg("user", "newest")};
    const auto dropped = trim_history(h, 100);
    BOOST_TEST(dropped == 2u);
    BOOST_REQUIRE(h.size() == 3u);
    BOOST_TEST(h[0].at("role") == "user");
    BOOST_TEST(h[0].at("content").as_string() == std::string(40, 'c'));
    BOOST_TEST(history_chars(h) <= 100u);
}

BOOST_AUTO_TEST_CASE(the_newest_message_is_never_dropped) {
    json::array h{msg("user", "old"), blocks("assistant", "reply"), msg("user", std::string(500, 'x'))};
    trim_history(h, 100);
    BOOST_REQUIRE(h.size() == 1u);
    BOOST_TEST(h[0].at("content").as_string().size() == 500u);
}

BOOST_AUTO_TEST_CASE(transcript_lists_roles_and_text_in_order) {
    json::array h{msg("user", "I use Python"), blocks("assistant", "Noted."), msg("user", "bye")};
    BOOST_TEST(transcript_text(h) == "USER: I use Python\nASSISTANT: Noted.\nUSER: bye\n");
}

BOOST_AUTO_TEST_CASE(tool_input_counts_toward_the_budget) {
    json::object tool{{"role", "assistant"},
                      {"content", json::array{{{"type", "tool_use"}, {"id", "t"}, {"name", "n"}, {"input", {{"k", std::string(50, 'z')}}}}}}};
    BOOST_TEST(message_chars(tool) > 50u);
}

BOOST_AUTO_TEST_CASE(rfc3339_reset_times_parse) {
    BOOST_TEST(parse_rfc3339_utc("2025-10-30T16:17:36Z") == 1761841056LL);
    BOOST_TEST(parse_rfc3339_utc("not a time") == 0LL);
}

BOOST_AUTO_TEST_SUITE_END()
