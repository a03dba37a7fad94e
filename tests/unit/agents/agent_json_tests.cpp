// Agent definitions as JSON: strict parsing, agent files, round trips and the memory policy mapping.
#include <engram/agents/agent.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

namespace json = boost::json;
namespace fs = std::filesystem;
using namespace engram;

namespace {

json::object minimal_agent() {
    return json::object{{"name", "helper"}, {"system_prompt", "You help. {{memory}}"}};
}

// A directory of its own per test, removed afterwards.
struct temp_dir {
    fs::path path;
    temp_dir() {
        static std::atomic<int> counter{0};
        path = fs::temp_directory_path() /
               ("engram-agents-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    fs::path write(const std::string& name, const std::string& text) const {
        const auto p = path / name;
        std::ofstream(p, std::ios::binary) << text;
        return p;
    }
};

bool contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(agent_json)

BOOST_AUTO_TEST_CASE(minimal_agent_gets_the_documented_defaults) {
    auto r = agents::agent_from_json(minimal_agent());
    BOOST_TEST_REQUIRE(r.has_value(), (r ? "" : r.error().message));
    const auto& a = *r;
    BOOST_TEST(a.name == "helper");
    BOOST_TEST(a.description.empty());
    BOOST_TEST(a.model == "claude-sonnet-4-5");
    BOOST_TEST(a.max_tokens == 1024);
    BOOST_TEST(a.extraction_model == "claude-haiku-4-5");
    BOOST_TEST(a.extraction_max_tokens == 1024);
    BOOST_TEST(a.memory.max_facts == 10u);
    BOOST_TEST(a.memory.max_decisions == 5u);
    BOOST_TEST(a.memory.max_summary_chars == 500u);
    BOOST_TEST(a.memory.render_budget_chars == 2000u);
    BOOST_TEST(a.memory.render_max_decisions == 3u);
    BOOST_TEST(a.memory.focus.empty());
}

BOOST_AUTO_TEST_CASE(every_field_is_read_and_round_trips) {
    agents::agent_definition a;
    a.name = "custom-agent_1.0";
    a.description = "Custom";
    a.model = "claude-opus-4-1";
    a.max_tokens = 4096;
    a.system_prompt = "Hello {{user_id}}.\n{{memory}}\nBye.";
    a.memory = {7, 0, 321, 900, 0, {"one", "two"}};
    a.extraction_model = "claude-sonnet-4-5";
    a.extraction_max_tokens = 512;
    a.extraction_instructions = "Be brief.";
    a.remember = false;

    const json::object j = agents::to_json(a);
    auto back = agents::agent_from_json(j);
    BOOST_TEST_REQUIRE(back.has_value(), (back ? "" : back.error().message));
    BOOST_TEST((*back == a));
    // Through text as well: what a user would save to a file.
    auto reparsed = agents::parse_agent(json::serialize(j));
    BOOST_TEST_REQUIRE(reparsed.has_value());
    BOOST_TEST((*reparsed == a));
}

struct bad_case {
    const char* what;
    json::value input;
    const char* expected;  // must appear in the error message
};

BOOST_AUTO_TEST_CASE(bad_definitions_are_rejected_with_the_field_named) {
    const auto with = [](std::string_view key, json::value v) {
        auto o = minimal_agent();
        o[key] = std::move(v);
        return json::value(std::move(o));
    };
    const auto with_memory = [](std::string_view key, json::value v) {
        auto o = minimal_agent();
        o["memory"] = json::object{{key, std::move(v)}};
        return json::value(std::move(o));
    };
    auto no_name = minimal_agent();
    no_name.erase("name");
    auto no_prompt = minimal_agent();
    no_prompt.erase("system_prompt");

    const std::vector<bad_case> cases = {
        {"not an object", json::value(json::array{1, 2}), "agent: expected an object"},
        {"missing name", json::value(no_name), "name: missing"},
        {"missing system_prompt", json::value(no_prompt), "system_prompt: missing"},
        {"empty name", with("name", ""), "name: must not be empty"},
        {"name with a slash", with("name", "../evil"), "name: expected letters"},
        {"model of the wrong type", with("model", 5), "model: expected a string, got a number"},
        {"empty model", with("model", " "), "model: must not be empty"},
        {"negative max_tokens", with("max_tokens", -5), "max_tokens: expected a positive integer, got -5"},
        {"zero max_tokens", with("max_tokens", 0), "max_tokens: expected a positive integer, got 0"},
        {"fractional max_tokens", with("max_tokens", 10.5), "max_tokens: expected a positive integer"},
        {"max_tokens as a string", with("max_tokens", "1024"),
         "max_tokens: expected a positive integer, got a string"},
        {"huge max_tokens", with("max_tokens", 5000000000LL), "max_tokens: too large"},
        {"blank system_prompt", with("system_prompt", "\n  "), "system_prompt: must not be empty"},
        {"misspelt placeholder", with("system_prompt", "Hi {{memroy}}"),
         "system_prompt: unknown placeholder \"{{memroy}}\""},
        {"unclosed placeholder", with("system_prompt", "Hi {{memory"), "system_prompt: unknown placeholder"},
        {"two memory markers", with("system_prompt", "{{memory}} {{memory}}"),
         "system_prompt: {{memory}} may appear at most once"},
        {"unknown top-level key", with("max_token", 100), "max_token: unknown field"},
        {"memory not an object", with("memory", "big"), "memory: expected an object, got a string"},
        {"zero max_facts", with_memory("max_facts", 0), "memory.max_facts: expected a positive integer"},
        {"negative max_decisions", with_memory("max_decisions", -1),
         "memory.max_decisions: expected a non-negative integer"},
        {"tiny render budget", with_memory("render_budget_chars", 50),
         "memory.render_budget_chars: must be at least"},
        {"focus not an array", with_memory("focus", "everything"),
         "memory.focus: expected an array of strings"},
        {"focus with a number", with_memory("focus", json::array{"ok", 3}),
         "memory.focus[1]: expected a string"},
        {"unknown memory key", with_memory("max_fact", 3), "memory.max_fact: unknown field"},
        {"extraction_model empty", with("extraction_model", ""), "extraction_model: must not be empty"},
        {"extraction_max_tokens negative", with("extraction_max_tokens", -1),
         "extraction_max_tokens: expected a positive integer"},
        {"instructions of the wrong type", with("extraction_instructions", json::array{}),
         "extraction_instructions: expected a string"},
        {"remember as a string", with("remember", "no"), "remember: expected true or false"},
        // Caps a memory record cannot hold: the store would refuse every write of the agent.
        {"more facts than a record holds", with_memory("max_facts", 1001), "memory.max_facts: too large (1001, limit 1000)"},
        {"a summary a record cannot hold", with_memory("max_summary_chars", 2001),
         "memory.max_summary_chars: too large (2001, limit 2000)"},
        {"model with a space", with("model", "claude sonnet"), "model: not a model id"},
        {"extraction_model with a line break", with("extraction_model", "claude-haiku-4-5\nX"),
         "extraction_model: not a model id"},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.what) {
            auto r = agents::agent_from_json(c.input);
            BOOST_TEST_REQUIRE(r.has_error());
            BOOST_TEST((r.error().code == agents::errc::invalid_agent));
            BOOST_TEST(contains(r.error().message, c.expected), r.error().message);
        }
    }
}

BOOST_AUTO_TEST_CASE(validate_applies_the_same_rules_to_agents_built_in_code) {
    agents::agent_definition a;
    a.name = "coded";
    a.system_prompt = "Hi.";
    BOOST_TEST(agents::validate(a).has_value());
    a.max_tokens = 0;
    auto r = agents::validate(a);
    BOOST_TEST_REQUIRE(r.has_error());
    BOOST_TEST(contains(r.error().message, "max_tokens"));
}

BOOST_AUTO_TEST_CASE(bad_agent_files_are_rejected_naming_the_file) {
    temp_dir dir;
    struct file_case {
        const char* what;
        fs::path path;
        agents::errc code;
        std::vector<std::string> expected;
    };
    const std::vector<file_case> cases = {
        {"bad JSON syntax",
         dir.write("syntax.json", "{\n  \"name\": \"x\",\n  \"model\": oops\n}\n"),
         agents::errc::agent_file_syntax,
         {"syntax.json", "line 3, column"}},
        {"truncated JSON",
         dir.write("truncated.json", "{\"name\": \"x\""),
         agents::errc::agent_file_syntax,
         {"truncated.json", "invalid JSON"}},
        {"data after the object",
         dir.write("extra.json", "{\"name\": \"x\", \"system_prompt\": \"p\"} {}"),
         agents::errc::agent_file_syntax,
         {"extra.json", "line 1"}},
        {"empty file", dir.write("empty.json", ""), agents::errc::agent_file_syntax, {"empty.json"}},
        {"wrong type",
         dir.write("type.json", "{\"name\": \"x\", \"system_prompt\": \"p\", \"max_tokens\": \"many\"}"),
         agents::errc::invalid_agent,
         {"type.json: max_tokens: expected a positive integer"}},
        {"negative max_tokens",
         dir.write("neg.json", "{\"name\": \"x\", \"system_prompt\": \"p\", \"max_tokens\": -1}"),
         agents::errc::invalid_agent,
         {"neg.json: max_tokens"}},
        {"unknown key",
         dir.write("typo.json", "{\"name\": \"x\", \"system_prompt\": \"p\", \"sytem_prompt\": \"q\"}"),
         agents::errc::invalid_agent,
         {"typo.json: sytem_prompt: unknown field"}},
        {"missing name",
         dir.write("noname.json", "{\"system_prompt\": \"p\"}"),
         agents::errc::invalid_agent,
         {"noname.json: name: missing"}},
        {"missing file",
         dir.path / "does-not-exist.json",
         agents::errc::agent_file_unreadable,
         {"does-not-exist.json", "cannot read"}},
        {"a directory",
         dir.path,
         agents::errc::agent_file_unreadable,
         {dir.path.string(), "not a regular file"}},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.what) {
            auto r = agents::load_agent_file(c.path);
            BOOST_TEST_REQUIRE(r.has_error());
            BOOST_TEST((r.error().code == c.code), r.error().message);
            for (const auto& e : c.expected) BOOST_TEST(contains(r.error().message, e), r.error().message);
        }
    }
}

BOOST_AUTO_TEST_CASE(oversized_agent_file_is_refused_before_parsing) {
    temp_dir dir;
    const auto p = dir.write("huge.json", std::string(2u << 20, ' '));
    auto r = agents::load_agent_file(p);
    BOOST_TEST_REQUIRE(r.has_error());
    BOOST_TEST(contains(r.error().message, "too large"));
}

BOOST_AUTO_TEST_CASE(agent_files_may_carry_comments) {
    temp_dir dir;
    const auto p =
        dir.write("commented.json",
                  "// my agent\n{\n  \"name\": \"c\", /* inline */\n  \"system_prompt\": \"p\"\n}\n// end\n");
    auto r = agents::load_agent_file(p);
    BOOST_TEST_REQUIRE(r.has_value(), (r ? "" : r.error().message));
    BOOST_TEST(r->name == "c");
}

BOOST_AUTO_TEST_CASE(example_agent_files_load) {
    const fs::path dir = ENGRAM_AGENT_EXAMPLES_DIR;
    std::size_t loaded = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (entry.path().extension() != ".json") continue;
        BOOST_TEST_CONTEXT(entry.path()) {
            auto r = agents::load_agent_file(entry.path());
            BOOST_TEST_REQUIRE(r.has_value(), (r ? "" : r.error().message));
            BOOST_TEST(r->name == entry.path().stem().string());  // file named after its agent
            BOOST_TEST(!r->description.empty());
            BOOST_TEST(!r->memory.focus.empty());
            ++loaded;
        }
    }
    BOOST_TEST(loaded >= 2u);
    auto tutor = agents::load_agent_file(dir / "tutor.json");
    BOOST_TEST_REQUIRE(tutor.has_value());
    BOOST_TEST(tutor->memory.max_facts == 12u);
}

BOOST_AUTO_TEST_CASE(memory_policy_maps_to_merge_and_render_caps) {
    agents::agent_definition a;
    a.memory.max_facts = 17;
    a.memory.max_decisions = 4;
    a.memory.max_summary_chars = 321;
    a.memory.render_budget_chars = 1234;
    a.memory.render_max_decisions = 2;
    const auto m = agents::merge_policy_for(a);
    BOOST_TEST(m.max_facts == 17u);
    BOOST_TEST(m.max_decisions == 4u);
    BOOST_TEST(m.max_summary_chars == 321u);
    const memory::merge_policy defaults;
    BOOST_TEST(m.max_history == defaults.max_history);
    BOOST_TEST(m.max_preferences == defaults.max_preferences);
    const auto r = agents::render_options_for(a);
    BOOST_TEST(r.budget_chars == 1234u);
    BOOST_TEST(r.max_decisions == 2u);
}

BOOST_AUTO_TEST_CASE(error_codes_have_their_own_category) {
    const auto ec = agents::make_error_code(agents::errc::agent_file_syntax);
    BOOST_TEST(std::string(ec.category().name()) == "engram.agents");
    BOOST_TEST(!ec.message().empty());
    BOOST_TEST((ec != memory::make_error_code(memory::errc::invalid_record)));
}

BOOST_AUTO_TEST_SUITE_END()
