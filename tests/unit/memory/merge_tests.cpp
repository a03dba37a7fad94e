#include <engram/memory/merge.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include <engram/memory/utf8.hpp>  // memory/src: private UTF-8 helpers

namespace mem = engram::memory;

namespace {

mem::session_info session(int n) {
    char ts[32];
    std::snprintf(ts, sizeof ts, "2024-03-%02dT10:00:00Z", n);
    return {"s" + std::to_string(n), ts};
}

mem::memory_update facts(std::initializer_list<std::pair<const char*, mem::confidence>> fs) {
    mem::memory_update u;
    for (auto [t, c] : fs) u.new_facts.push_back({t, c, std::nullopt});
    return u;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(memory_merge_policy)

BOOST_AUTO_TEST_CASE(empty_update_counts_the_session_exactly_once) {
    auto m = mem::blank_memory("u", "");
    auto r = mem::merge(m, {}, session(1));
    BOOST_TEST(r.memory.session_count == 1);
    BOOST_TEST(r.memory.last_session == session(1).finished_at);
    BOOST_TEST(r.diff.count(mem::change::kind::session_counted) == 1u);
    BOOST_TEST(r.diff.changes.size() == 1u);
}

// A session merged after a later one (retried, or replayed at a later start) adds what it
// learned but overwrites nothing the later session said, and moves no date back.
BOOST_AUTO_TEST_CASE(a_session_merged_after_a_later_one_adds_but_overwrites_nothing_newer) {
    mem::memory_update newer;
    newer.running_summary = "Newer summary.";
    newer.updated_preferences = {{"tone", "dry"}, {"units", "metric"}};
    newer.new_decision = mem::decision{"database", "Postgres", ""};
    newer.new_facts.push_back({"Plays chess", mem::confidence::high, std::nullopt});
    auto m = mem::merge(mem::blank_memory("u", ""), newer, session(9)).memory;

    mem::memory_update older;
    older.running_summary = "Older summary.";
    older.updated_preferences = {{"tone", "warm"}, {"language", "fr"}};
    older.removed_preferences = {"units"};
    older.new_decision = mem::decision{"Database", "MySQL", ""};
    older.new_facts.push_back({"Plays the cello", mem::confidence::high, std::nullopt});
    older.new_facts.push_back({"Plays chess", mem::confidence::high, std::nullopt});
    const auto r = mem::merge(m, older, session(2));
    BOOST_TEST(r.memory.running_summary == "Newer summary.");
    BOOST_TEST(r.memory.preferences.at("tone") == "dry");
    BOOST_TEST(r.memory.preferences.at("units") == "metric");
    BOOST_TEST(r.memory.preferences.at("language") == "fr");  // new keys are added
    BOOST_REQUIRE_EQUAL(r.memory.recent_decisions.size(), 1u);
    BOOST_TEST(r.memory.recent_decisions[0].decision == "Postgres");
    BOOST_REQUIRE_EQUAL(r.memory.key_facts.size(), 2u);
    BOOST_TEST(r.memory.key_facts[1].text == "Plays the cello");
    BOOST_TEST(r.memory.key_facts[1].first_seen == session(2).finished_at);
    BOOST_TEST(r.memory.key_facts[0].last_confirmed == session(9).finished_at);  // not moved back
    BOOST_TEST(r.memory.last_session == session(9).finished_at);
    BOOST_TEST(r.memory.session_count == 2);
    BOOST_TEST(r.diff.count(mem::change::kind::summary_kept) == 1u);
    BOOST_TEST(r.diff.count(mem::change::kind::preference_kept) == 2u);
    BOOST_TEST(r.diff.count(mem::change::kind::decision_kept) == 1u);
    // In order, the same update overwrites as always.
    const auto in_order = mem::merge(m, older, session(12));
    BOOST_TEST(in_order.memory.running_summary == "Older summary.");
    BOOST_TEST(in_order.memory.preferences.at("tone") == "warm");
    BOOST_TEST(in_order.memory.last_session == session(12).finished_at);
}

// With the record's history the merge knows what the later sessions changed, and a late session's
// changes to anything else apply: its "tone dry, forget my timezone" was lost because an unrelated
// chat had been merged first.
BOOST_AUTO_TEST_CASE(a_late_session_changes_what_no_later_session_touched_and_keeps_what_one_did) {
    mem::user_record r;
    r.memory = mem::blank_memory("u", "");
    mem::memory_update first;
    first.running_summary = "First.";
    first.updated_preferences = {{"tone", "warm"}, {"timezone", "CET"}, {"units", "metric"}};
    first.new_decision = mem::decision{"database", "MySQL", ""};
    first.new_facts.push_back({"Lives in Paris", mem::confidence::high, std::nullopt});
    first.new_facts.push_back({"Plays chess", mem::confidence::medium, std::nullopt});
    BOOST_REQUIRE((mem::apply_to_record(r, first, session(1)).status == mem::apply_status::applied));

    // Session 9 ends after session 2 but is merged first: it changes the units, moves the user to
    // Munich, confirms chess, decides on an editor, and says nothing of the summary.
    mem::memory_update later;
    later.updated_preferences = {{"units", "imperial"}};
    later.superseded_facts.push_back({"Lives in Paris", "Lives in Munich", std::nullopt, std::nullopt});
    later.new_facts.push_back({"Plays chess", mem::confidence::high, std::nullopt});
    later.new_decision = mem::decision{"editor", "vim", ""};
    BOOST_REQUIRE((mem::apply_to_record(r, later, session(9)).status == mem::apply_status::applied));

    mem::memory_update late;
    late.running_summary = "Second.";
    late.updated_preferences = {{"tone", "dry"}, {"units", "metric"}};
    late.removed_preferences = {"timezone"};
    late.new_decision = mem::decision{"Database", "Postgres", ""};
    late.superseded_facts.push_back({"Lives in Paris", "Lives in Berlin", std::nullopt, std::nullopt});
    late.superseded_facts.push_back({"Plays chess", "Plays go", std::nullopt, std::nullopt});
    const auto result = mem::apply_to_record(r, late, session(2));
    BOOST_REQUIRE((result.status == mem::apply_status::applied));
    const auto& m = r.memory;
    BOOST_TEST(m.preferences.at("tone") == "dry");     // untouched since: the late value
    BOOST_TEST(!m.preferences.count("timezone"));       // and the late "forget"
    BOOST_TEST(m.preferences.at("units") == "imperial");  // session 9's stands
    BOOST_TEST(m.running_summary == "Second.");         // session 9 left the summary alone
    BOOST_REQUIRE_EQUAL(m.recent_decisions.size(), 2u);
    BOOST_TEST(m.recent_decisions[0].decision == "Postgres");  // by date: session 2's before session 9's
    BOOST_TEST(m.recent_decisions[1].decision == "vim");
    std::vector<std::string> texts;
    for (const auto& f : m.key_facts) texts.push_back(f.text);
    // Munich stands (no "Lives in Berlin" beside it), and chess, which session 9 confirmed.
    BOOST_TEST(texts == (std::vector<std::string>{"Lives in Munich", "Plays chess"}), boost::test_tools::per_element());
    BOOST_TEST(result.diff.count(mem::change::kind::fact_kept) == 2u);
    BOOST_TEST(result.diff.count(mem::change::kind::preference_kept) == 1u);
    BOOST_TEST(result.diff.count(mem::change::kind::summary_kept) == 0u);
    BOOST_TEST(result.diff.count(mem::change::kind::decision_kept) == 0u);
    BOOST_TEST(m.last_session == session(9).finished_at);

    // When the history no longer reaches back to the late session, everything counts as changed.
    mem::user_record short_history = r;
    short_history.history.erase(short_history.history.begin(), short_history.history.end() - 1);  // only the last
    mem::memory_update later_still;
    later_still.running_summary = "Eleventh.";
    BOOST_REQUIRE((mem::apply_to_record(short_history, later_still, session(11)).status == mem::apply_status::applied));
    short_history.history.erase(short_history.history.begin());  // session 11's merge: its "before" is past session 3
    mem::memory_update late2;
    late2.updated_preferences = {{"tone", "formal"}};
    const auto kept = mem::apply_to_record(short_history, late2, session(3));
    BOOST_TEST(short_history.memory.preferences.at("tone") == "dry");
    BOOST_TEST(kept.diff.count(mem::change::kind::preference_kept) == 1u);
}

// What a later session added or removed is not undone by a late one either: its replacement of
// the fact the later one put in, a "forget" the later one made, a fact the later one replaced.
BOOST_AUTO_TEST_CASE(a_late_session_does_not_undo_what_a_later_one_added_or_removed) {
    mem::user_record r;
    r.memory = mem::blank_memory("u", "");
    mem::memory_update first;
    first.updated_preferences = {{"timezone", "CET"}};
    first.new_facts.push_back({"Lives in Paris", mem::confidence::high, std::nullopt});
    first.new_facts.push_back({"Works at Acme", mem::confidence::high, std::nullopt});
    first.new_facts.push_back({"Works at Globex", mem::confidence::medium, std::nullopt});
    BOOST_REQUIRE((mem::apply_to_record(r, first, session(1)).status == mem::apply_status::applied));
    mem::memory_update later;
    later.removed_preferences = {"timezone"};
    later.superseded_facts.push_back({"Lives in Paris", "Lives in Munich", std::nullopt, std::nullopt});
    later.new_facts.push_back({"Works at Acme", mem::confidence::high, std::nullopt});  // confirmed
    BOOST_REQUIRE((mem::apply_to_record(r, later, session(9)).status == mem::apply_status::applied));

    mem::memory_update late;
    late.updated_preferences = {{"timezone", "PST"}};
    late.superseded_facts.push_back({"Lives in Munich", "Lives in Berlin", std::nullopt, std::nullopt});
    late.superseded_facts.push_back({"Works at Acme", "Works at Globex", std::nullopt, std::nullopt});
    late.new_facts.push_back({"Lives in Paris", mem::confidence::high, std::nullopt});
    const auto result = mem::apply_to_record(r, late, session(2));
    BOOST_TEST(!r.memory.preferences.count("timezone"));
    std::vector<std::string> texts;
    for (const auto& f : r.memory.key_facts) texts.push_back(f.text);
    BOOST_TEST(texts == (std::vector<std::string>{"Lives in Munich", "Works at Acme", "Works at Globex"}),
               boost::test_tools::per_element());
    BOOST_TEST(result.diff.count(mem::change::kind::fact_kept) == 3u);
    BOOST_TEST(result.diff.count(mem::change::kind::preference_kept) == 1u);
}

// A late decision on a new topic is the oldest: at the cap it is the one dropped, not a newer one.
BOOST_AUTO_TEST_CASE(a_late_decision_is_placed_by_date_so_the_cap_drops_the_oldest) {
    mem::user_record r;
    r.memory = mem::blank_memory("u", "");
    for (int day = 5; day <= 9; ++day) {
        mem::memory_update u;
        u.new_decision = mem::decision{"topic " + std::to_string(day), "yes", ""};
        BOOST_REQUIRE((mem::apply_to_record(r, u, session(day)).status == mem::apply_status::applied));
    }
    mem::memory_update late;
    late.new_decision = mem::decision{"old topic", "no", ""};
    const auto result = mem::apply_to_record(r, late, session(2));
    BOOST_REQUIRE_EQUAL(r.memory.recent_decisions.size(), 5u);
    BOOST_TEST(r.memory.recent_decisions.front().topic == "topic 5");
    BOOST_TEST(r.memory.recent_decisions.back().topic == "topic 9");
    BOOST_TEST(result.diff.count(mem::change::kind::decision_evicted) == 1u);
}

// A tutorial file's last_session is local time without a zone: it cannot say a session is late.
BOOST_AUTO_TEST_CASE(a_last_session_without_a_zone_makes_no_session_late) {
    auto m = mem::blank_memory("u", "");
    m.last_session = "2024-03-09T18:00:00.123456";
    m.preferences = {{"tone", "warm"}};
    m.running_summary = "Old.";
    mem::memory_update u;
    u.updated_preferences = {{"tone", "dry"}};
    u.running_summary = "New.";
    const auto r = mem::merge(m, u, session(2));
    BOOST_TEST(r.memory.preferences.at("tone") == "dry");
    BOOST_TEST(r.memory.running_summary == "New.");
    BOOST_TEST(r.memory.last_session == session(2).finished_at);
}

BOOST_AUTO_TEST_CASE(restated_fact_is_deduplicated_and_refreshes_confirmation) {
    auto m = mem::merge(mem::blank_memory("u", ""),
                        facts({{"Uses Python and FastAPI", mem::confidence::medium}}), session(1))
                 .memory;
    auto r = mem::merge(m, facts({{"  uses python, and fastapi!! ", mem::confidence::high}}), session(2));
    BOOST_TEST_REQUIRE(r.memory.key_facts.size() == 1u);
    const auto& f = r.memory.key_facts[0];
    BOOST_TEST(f.text == "Uses Python and FastAPI");
    BOOST_TEST((f.confidence == mem::confidence::high));
    BOOST_TEST(f.first_seen == session(1).finished_at);
    BOOST_TEST(f.last_confirmed == session(2).finished_at);
    BOOST_TEST(r.diff.count(mem::change::kind::fact_confirmed) == 1u);
    BOOST_TEST(r.diff.count(mem::change::kind::fact_added) == 0u);
}

// Sentence punctuation does not make a fact new, but punctuation inside a term does: "C++" and
// "C#" (or "3.5k" and "35k") were once both read as the same fact, and the second was lost.
BOOST_AUTO_TEST_CASE(facts_that_differ_in_meaningful_punctuation_are_different_facts) {
    BOOST_TEST(mem::normalize_for_compare("Likes (green) tea.") == mem::normalize_for_compare("likes green tea"));
    BOOST_TEST(mem::normalize_for_compare("Uses C++") != mem::normalize_for_compare("Uses C#"));
    BOOST_TEST(mem::normalize_for_compare("Budget is 3.5k") != mem::normalize_for_compare("Budget is 35k"));
    BOOST_TEST(mem::normalize_for_compare("Budget is $35k") != mem::normalize_for_compare("Budget is 35k"));

    auto m = mem::merge(mem::blank_memory("u", ""), facts({{"Uses C++", mem::confidence::high}}), session(1)).memory;
    auto added = mem::merge(m, facts({{"Uses C#", mem::confidence::high}}), session(2));
    BOOST_TEST(added.memory.key_facts.size() == 2u);

    mem::memory_update correction;
    correction.superseded_facts.push_back({"Uses C++", "Uses C#", std::nullopt, std::nullopt});
    auto corrected = mem::merge(m, correction, session(3));
    BOOST_TEST_REQUIRE(corrected.memory.key_facts.size() == 1u);
    BOOST_TEST(corrected.memory.key_facts[0].text == "Uses C#");
}

BOOST_AUTO_TEST_CASE(restating_never_lowers_confidence) {
    auto m = mem::merge(mem::blank_memory("u", ""), facts({{"Has a dog", mem::confidence::high}}), session(1))
                 .memory;
    auto r = mem::merge(m, facts({{"has a dog", mem::confidence::low}}), session(2));
    BOOST_TEST((r.memory.key_facts.at(0).confidence == mem::confidence::high));
}

BOOST_AUTO_TEST_CASE(superseded_fact_is_replaced_keeping_confidence_and_source) {
    mem::memory_update first;
    first.new_facts.push_back({"Lives in Berlin", mem::confidence::high, mem::fact_source::stated});
    first.new_facts.push_back({"Has a team of 2 engineers", mem::confidence::medium, std::nullopt});
    auto m = mem::merge(mem::blank_memory("u", ""), first, session(1)).memory;
    mem::memory_update u;
    u.superseded_facts.push_back({"lives in berlin.", "Lives in Paris", std::nullopt, std::nullopt});
    u.new_facts.push_back({"Lives in Berlin", mem::confidence::high, std::nullopt});  // must not come back
    auto r = mem::merge(m, u, session(2));
    BOOST_TEST_REQUIRE(r.memory.key_facts.size() == 2u);
    BOOST_TEST(r.memory.key_facts[0].text == "Lives in Paris");
    BOOST_TEST((r.memory.key_facts[0].confidence == mem::confidence::high));
    BOOST_TEST((r.memory.key_facts[0].source == mem::fact_source::stated));
    for (const auto& f : r.memory.key_facts) BOOST_TEST(f.text != "Lives in Berlin");
    BOOST_TEST(r.diff.count(mem::change::kind::fact_superseded) == 1u);
}

BOOST_AUTO_TEST_CASE(supersession_may_override_confidence) {
    auto m =
        mem::merge(mem::blank_memory("u", ""), facts({{"Uses MySQL", mem::confidence::high}}), session(1))
            .memory;
    mem::memory_update u;
    u.superseded_facts.push_back({"Uses MySQL", "Uses Postgres", mem::confidence::low, std::nullopt});
    auto r = mem::merge(m, u, session(2));
    BOOST_TEST_REQUIRE(r.memory.key_facts.size() == 1u);
    BOOST_TEST((r.memory.key_facts[0].confidence == mem::confidence::low));
}

BOOST_AUTO_TEST_CASE(supersession_onto_an_existing_fact_leaves_one_fact) {
    auto m =
        mem::merge(mem::blank_memory("u", ""),
                   facts({{"Uses MySQL", mem::confidence::high}, {"Uses Postgres", mem::confidence::low}}),
                   session(1))
            .memory;
    mem::memory_update u;
    u.superseded_facts.push_back({"Uses MySQL", "uses postgres", std::nullopt, std::nullopt});
    auto r = mem::merge(m, u, session(2));
    BOOST_TEST_REQUIRE(r.memory.key_facts.size() == 1u);
    BOOST_TEST(r.memory.key_facts[0].text == "Uses Postgres");
    BOOST_TEST((r.memory.key_facts[0].confidence == mem::confidence::high));
}

BOOST_AUTO_TEST_CASE(fact_cap_evicts_lowest_confidence_then_oldest_then_first_added) {
    mem::merge_policy p;
    p.max_facts = 3;
    auto m = mem::blank_memory("u", "");
    m = mem::merge(m, facts({{"old high", mem::confidence::high}, {"old low A", mem::confidence::low}}),
                   session(1), p)
            .memory;
    m = mem::merge(m, facts({{"new low", mem::confidence::low}, {"old low B", mem::confidence::low}}),
                   session(2), p)
            .memory;
    // 4 facts, cap 3: the lowest confidence ones are "old low A" (day 1) and two of day 2.
    BOOST_TEST_REQUIRE(m.key_facts.size() == 3u);
    BOOST_TEST(m.key_facts[0].text == "old high");
    BOOST_TEST(m.key_facts[1].text == "new low");
    m = mem::merge(m, facts({{"fresh medium", mem::confidence::medium}}), session(3), p).memory;
    // Day-2 low facts tie on first_seen: the one added first ("new low") goes.
    BOOST_TEST_REQUIRE(m.key_facts.size() == 3u);
    BOOST_TEST(m.key_facts[0].text == "old high");
    BOOST_TEST(m.key_facts[1].text == "old low B");
    BOOST_TEST(m.key_facts[2].text == "fresh medium");
}

BOOST_AUTO_TEST_CASE(default_caps_are_the_tutorials) {
    mem::merge_policy p;
    BOOST_TEST(p.max_facts == 10u);
    BOOST_TEST(p.max_decisions == 5u);
    BOOST_TEST(p.max_summary_chars == 500u);
    auto m = mem::blank_memory("u", "");
    for (int i = 1; i <= 15; ++i) {
        mem::memory_update u =
            facts({{("fact number " + std::to_string(i)).c_str(), mem::confidence::medium}});
        u.new_decision = mem::decision{"topic " + std::to_string(i), "d", ""};
        m = mem::merge(m, u, session(i)).memory;
    }
    BOOST_TEST(m.key_facts.size() == 10u);
    BOOST_TEST(m.key_facts.front().text == "fact number 6");
    BOOST_TEST(m.recent_decisions.size() == 5u);
    BOOST_TEST(m.recent_decisions.front().topic == "topic 11");
    BOOST_TEST(m.recent_decisions.back().date == "2024-03-15");  // "" -> the session's date
    BOOST_TEST(m.session_count == 15);
}

BOOST_AUTO_TEST_CASE(decision_on_the_same_topic_replaces_the_old_one) {
    mem::memory_update u;
    u.new_decision = mem::decision{"Pricing model", "flat $10", "today"};
    auto m = mem::merge(mem::blank_memory("u", ""), u, session(1)).memory;
    u.new_decision = mem::decision{"pricing model", "usage-based", "2024-03-02"};
    auto r = mem::merge(m, u, session(2));
    BOOST_TEST_REQUIRE(r.memory.recent_decisions.size() == 1u);
    BOOST_TEST(r.memory.recent_decisions[0].decision == "usage-based");
    BOOST_TEST(m.recent_decisions[0].date == "2024-03-01");
    BOOST_TEST(r.diff.count(mem::change::kind::decision_replaced) == 1u);
}

BOOST_AUTO_TEST_CASE(preferences_are_removed_then_updated) {
    auto m = mem::blank_memory("u", "");
    m.preferences = {{"style", "verbose"}, {"tz", "UTC"}};
    mem::memory_update u;
    u.removed_preferences = {"style", "missing"};
    u.updated_preferences = {{"tz", "UTC+1"}, {"lang", "en"}};
    auto r = mem::merge(m, u, session(1));
    BOOST_TEST(r.memory.preferences.size() == 2u);
    BOOST_TEST(r.memory.preferences.at("tz") == "UTC+1");
    BOOST_TEST(r.memory.preferences.count("style") == 0u);
    BOOST_TEST(r.diff.count(mem::change::kind::preference_removed) == 1u);
    BOOST_TEST(r.diff.count(mem::change::kind::preference_set) == 2u);
    BOOST_TEST(r.diff.to_string().find("\"UTC\" -> \"UTC+1\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(summary_cut_counts_code_points_and_never_splits_a_character) {
    // 600 two-byte characters with no sentence or word boundary: a hard cut at 500 code points.
    std::string s;
    for (int i = 0; i < 600; ++i) s += "\xC3\xA9";  // é
    const auto cut = mem::cut_summary(s, 500);
    BOOST_TEST(cut.size() == 1000u);
    BOOST_TEST(engram::memory::is_valid_utf8(cut));
    // Four-byte characters (emoji) too.
    std::string e;
    for (int i = 0; i < 501; ++i) e += "\xF0\x9F\x98\x80";
    const auto ecut = mem::cut_summary(e, 500);
    BOOST_TEST(engram::memory::code_points(ecut) == 500u);
    BOOST_TEST(engram::memory::is_valid_utf8(ecut));
}

BOOST_AUTO_TEST_CASE(summary_cut_prefers_a_sentence_end) {
    std::string s = "Première phrase ici. ";
    while (engram::memory::code_points(s) < 400) s += "Une autre phrase, assez longue pour compter. ";
    const std::string tail(300, 'x');
    s += tail;
    const auto cut = mem::cut_summary(s, 500);
    BOOST_TEST(engram::memory::code_points(cut) <= 500u);
    BOOST_TEST(cut.back() == '.');
    BOOST_TEST(mem::cut_summary("short. text", 500) == "short. text");
    // No sentence end in reach: a word boundary, also when the cut falls exactly on one.
    BOOST_TEST(mem::cut_summary("alpha beta gamma", 10) == "alpha beta");
    BOOST_TEST(mem::cut_summary("alpha beta gamma", 12) == "alpha beta");
    BOOST_TEST(mem::cut_summary("alphabetagamma", 5) == "alpha");
}

BOOST_AUTO_TEST_CASE(merge_applies_the_summary_cap) {
    mem::memory_update u;
    u.running_summary = std::string(800, 'a');
    auto r = mem::merge(mem::blank_memory("u", ""), u, session(1));
    BOOST_TEST(r.memory.running_summary.size() == 500u);
}

BOOST_AUTO_TEST_CASE(history_records_each_update_and_undo_restores_the_previous_memory) {
    mem::user_record rec;
    rec.memory = mem::blank_memory("u", "");
    auto a = mem::apply_to_record(rec, facts({{"Likes tea", mem::confidence::high}}), session(1));
    BOOST_TEST((a.status == mem::apply_status::applied));
    const auto after_first = rec.memory;
    mem::apply_to_record(rec, facts({{"Likes coffee", mem::confidence::high}}), session(2));
    BOOST_TEST_REQUIRE(rec.history.size() == 2u);
    BOOST_TEST(rec.history.back().session == "s2");
    BOOST_TEST(rec.history.back().changes.front().find("Likes coffee") != std::string::npos);
    BOOST_TEST(mem::undo_last(rec));
    BOOST_TEST((rec.memory == after_first));
    BOOST_TEST(rec.history.size() == 1u);
    // The undone session stays applied: replaying it changes nothing.
    auto replay = mem::apply_to_record(rec, facts({{"Likes coffee", mem::confidence::high}}), session(2));
    BOOST_TEST((replay.status == mem::apply_status::duplicate));
    BOOST_TEST(mem::undo_last(rec));
    BOOST_TEST(!mem::undo_last(rec));
    BOOST_TEST(rec.memory.session_count == 0);
}

BOOST_AUTO_TEST_CASE(same_session_is_never_applied_twice) {
    mem::user_record rec;
    rec.memory = mem::blank_memory("u", "");
    mem::apply_to_record(rec, {}, session(1));
    auto again = mem::apply_to_record(rec, {}, session(1));
    BOOST_TEST((again.status == mem::apply_status::duplicate));
    BOOST_TEST(rec.memory.session_count == 1);
}

BOOST_AUTO_TEST_CASE(history_and_applied_sessions_are_bounded) {
    mem::merge_policy p;
    p.max_history = 3;
    p.max_applied_sessions = 5;
    mem::user_record rec;
    rec.memory = mem::blank_memory("u", "");
    for (int i = 1; i <= 9; ++i) mem::apply_to_record(rec, {}, session(i), p);
    BOOST_TEST(rec.history.size() == 3u);
    BOOST_TEST(rec.history.front().session == "s7");
    BOOST_TEST(rec.applied_sessions.size() == 5u);
    BOOST_TEST(rec.applied_sessions.front() == "s5");
}

BOOST_AUTO_TEST_CASE(session_count_saturates_at_int64_max_instead_of_overflowing) {
    constexpr auto top = std::numeric_limits<std::int64_t>::max();
    auto m = mem::blank_memory("u", "");
    m.session_count = top;  // the reader accepts it: a valid record
    auto r = mem::merge(m, {}, session(1));
    BOOST_TEST(r.memory.session_count == top);                    // not INT64_MIN (signed overflow is UB)
    BOOST_TEST(r.memory.last_session == session(1).finished_at);  // the session is still recorded
    BOOST_TEST(r.diff.count(mem::change::kind::session_counted) == 1u);
    m.session_count = top - 1;
    BOOST_TEST(mem::merge(m, {}, session(2)).memory.session_count == top);
}

BOOST_AUTO_TEST_SUITE_END()
