// The built-in agents: present, valid, round-tripping and with real prompts.
#include <engram/agents/agent.hpp>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

namespace json = boost::json;
using namespace engram;

BOOST_AUTO_TEST_SUITE(builtin_agents)

BOOST_AUTO_TEST_CASE(assistant_sales_and_dba_are_built_in_in_order) {
    const auto& all = agents::builtin_agents();
    BOOST_TEST_REQUIRE(all.size() == 3u);
    BOOST_TEST(all[0].name == "assistant");
    BOOST_TEST(all[1].name == "sales");
    BOOST_TEST(all[2].name == "dba");
    for (const auto& a : all) BOOST_TEST(agents::find_builtin(a.name) == &a);
    BOOST_TEST(agents::find_builtin("nobody") == nullptr);
    BOOST_TEST(agents::find_builtin("") == nullptr);
}

BOOST_AUTO_TEST_CASE(every_builtin_parses_back_from_its_json) {
    for (const auto& a : agents::builtin_agents()) {
        BOOST_TEST_CONTEXT(a.name) {
            auto direct = agents::agent_from_json(agents::to_json(a));
            BOOST_TEST_REQUIRE(direct.has_value(), (direct ? "" : direct.error().message));
            BOOST_TEST((*direct == a));
            auto text = agents::parse_agent(json::serialize(agents::to_json(a)), a.name);
            BOOST_TEST_REQUIRE(text.has_value());
            BOOST_TEST((*text == a));
        }
    }
}

BOOST_AUTO_TEST_CASE(every_builtin_has_its_prompts_and_focus) {
    for (const auto& a : agents::builtin_agents()) {
        BOOST_TEST_CONTEXT(a.name) {
            BOOST_TEST(agents::validate(a).has_value());
            BOOST_TEST(!a.description.empty());
            BOOST_TEST(a.system_prompt.size() > 200u);
            BOOST_TEST(a.system_prompt.find("{{memory}}") != std::string::npos);
            BOOST_TEST(a.system_prompt.find("never invent") != std::string::npos);
            BOOST_TEST(!a.extraction_instructions.empty());
            BOOST_TEST(!a.memory.focus.empty());
            BOOST_TEST(a.extraction_model == "claude-haiku-4-5");
        }
    }
}

BOOST_AUTO_TEST_CASE(assistant_keeps_the_tutorial_caps) {
    const auto* a = agents::find_builtin("assistant");
    BOOST_TEST_REQUIRE(a != nullptr);
    BOOST_TEST(a->memory.max_facts == 10u);
    BOOST_TEST(a->memory.max_decisions == 5u);
    BOOST_TEST(a->memory.max_summary_chars == 500u);
}

BOOST_AUTO_TEST_CASE(sales_and_dba_focus_on_their_domain) {
    const auto joined = [](const agents::agent_definition& a) {
        std::string s = a.extraction_instructions;
        for (const auto& f : a.memory.focus) s += "\n" + f;
        return s;
    };
    const auto sales = joined(*agents::find_builtin("sales"));
    BOOST_TEST(sales.find("stage") != std::string::npos);
    BOOST_TEST(sales.find("commit") != std::string::npos);
    const auto dba = joined(*agents::find_builtin("dba"));
    BOOST_TEST(dba.find("engine") != std::string::npos);
    BOOST_TEST(dba.find("schema") != std::string::npos);
    BOOST_TEST(dba.find("decision") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
