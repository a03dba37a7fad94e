#include <engram/memory/user_id.hpp>

#include <set>

#include <boost/test/unit_test.hpp>

namespace mem = engram::memory;

BOOST_AUTO_TEST_SUITE(memory_user_ids)

BOOST_AUTO_TEST_CASE(plain_ids_keep_their_tutorial_file_names) {
    BOOST_TEST(*mem::encode_user_id("alice") == "alice");
    BOOST_TEST(*mem::encode_user_id("default_user") == "default_user");
    BOOST_TEST(*mem::encode_user_id("Bob-42") == "Bob-42");
}

BOOST_AUTO_TEST_CASE(hostile_ids_never_escape_and_never_collide) {
    const std::string hostile[] = {
        "../x",
        "a/b",
        ".",
        "..",
        "../../etc/passwd",
        "/abs",
        "a\\b",
        ".hidden",
        "x.json",
        "x%2Fy",
        "x/y",
        "a@b",
        "%",
        "%25",
        "CON",
        "name with spaces",
        "semi;colon",
        "~root",
        "*",
        "?",
        "x.lock",
        "..json",
        "日本語",
        "émile",
        "a..b",
        "-rf",
        "$(rm -rf /)",
        "`id`",
        "a:b",
        "\xEF\xBB\xBF"
        "bom",
        std::string(53, '/'),
    };
    std::set<std::string> seen;
    int count = 0;
    for (const auto& id : hostile) {
        if (id.empty()) continue;
        auto enc = mem::encode_user_id(id);
        BOOST_TEST_REQUIRE(enc.has_value(), id);
        BOOST_TEST(enc->find('/') == std::string::npos, id);
        BOOST_TEST(enc->find('.') == std::string::npos, id);
        BOOST_TEST(enc->front() != '.', id);
        BOOST_TEST(enc->size() <= mem::max_encoded_user_id);
        BOOST_TEST(seen.insert(*enc).second, "collision for " << id);
        BOOST_TEST((mem::decode_id(*enc) == std::optional<std::string>(id)), id);
        ++count;
    }
    BOOST_TEST(count >= 20);
}

BOOST_AUTO_TEST_CASE(unstorable_ids_are_rejected_with_a_clear_error) {
    const std::pair<std::string, const char*> bad[] = {
        {"", "empty"},
        {std::string("a\0b", 3), "control"},
        {"line\nbreak", "control"},
        {"\x7F", "control"},
        {"\xC3", "UTF-8"},
        {"\xC0\xAF", "UTF-8"},      // overlong '/'
        {"\xED\xA0\x80", "UTF-8"},  // surrogate
        {"\xFF\xFE", "UTF-8"},
        {std::string(mem::max_encoded_user_id + 1, 'a'), "too long"},
        {std::string(60, '/'), "too long"},  // short id, long once escaped
    };
    for (const auto& [id, why] : bad) {
        auto enc = mem::encode_user_id(id);
        BOOST_TEST_REQUIRE(!enc.has_value(), why);
        BOOST_TEST((enc.error().code == mem::errc::invalid_user_id));
        BOOST_TEST(enc.error().message.find(why) != std::string::npos, enc.error().message);
    }
}

BOOST_AUTO_TEST_CASE(ids_differing_in_letter_case_stay_apart_where_the_file_system_ignores_case) {
    const auto insensitive = mem::name_case::insensitive;
    BOOST_TEST(*mem::encode_user_id("Alice", insensitive) == "%41lice");
    BOOST_TEST(*mem::encode_user_id("alice", insensitive) == "alice");
    BOOST_TEST(*mem::encode_session_id("S-1", insensitive) == "%53-1");
    // Compared as such a file system compares names (letters folded), no two stems meet.
    const auto folded = [](std::string s) {
        for (auto& c : s)
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        return s;
    };
    std::set<std::string> seen;
    for (const char* id : {"alice", "Alice", "ALICE", "aLiCe", "%41lice", "%61lice", "A", "a", "%41", "%2541", "Émile",
                           "émile", "x.Y", "x.y"}) {
        auto enc = mem::encode_user_id(id, insensitive);
        BOOST_TEST_REQUIRE(enc.has_value(), id);
        BOOST_TEST(seen.insert(folded(*enc)).second, "collision for " << id << " as " << *enc);
        BOOST_TEST((mem::decode_id(*enc, insensitive) == std::optional<std::string>(id)), id);
    }
    // Names it never gives: a literal capital, a kept letter escaped, lower-case hex.
    for (const char* stem : {"Alice", "%61lice", "%4a", "%2e"})
        BOOST_TEST(!mem::decode_id(stem, insensitive).has_value(), stem);
    // Escaping makes a name longer: the limit is on the name the store really uses.
    auto long_id = mem::encode_user_id(std::string(60, 'A'), insensitive);
    BOOST_TEST_REQUIRE(!long_id.has_value());
    BOOST_TEST(long_id.error().message.find("too long") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(foreign_file_names_do_not_decode) {
    for (const char* stem : {".x", "a.b", "%2f", "%41", "%2", "a/b", "%zz", ""})
        BOOST_TEST(!mem::decode_id(stem).has_value(), stem);
}

BOOST_AUTO_TEST_CASE(session_ids_follow_the_same_rules_with_their_own_error) {
    BOOST_TEST(*mem::encode_session_id("3f2b-session") == "3f2b-session");
    auto e = mem::encode_session_id("../s");
    BOOST_TEST_REQUIRE(e.has_value());
    BOOST_TEST(*e == "%2E%2E%2Fs");
    auto bad = mem::encode_session_id(std::string(49, 'x'));
    BOOST_TEST_REQUIRE(!bad.has_value());
    BOOST_TEST((bad.error().code == mem::errc::invalid_session_id));
}

BOOST_AUTO_TEST_SUITE_END()
