// The engram program driven as a user would: a child process with its own environment, working
// directory (a temp dir, so no developer .env is read) and memory directory, against the
// in-process fake Anthropic server on 127.0.0.1. Nothing dials anything but loopback.
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <thread>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <engram/memory/store.hpp>

#include "child_process.hpp"
#include "support/fake_anthropic_server.hpp"
#include "support/fixtures.hpp"
#include "support/json_same.hpp"
#include "support/model_replies.hpp"
#include "support/temp_dir.hpp"
#include "support/test_pki.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;
using engram::test::child_options;
using engram::test::child_result;
using engram::test::fake_anthropic_server;
using engram::test::recorded_request;
using engram::test::scripted_response;
using engram::test::chat_requests;
using engram::test::echo_reply;
using engram::test::echo_server;
using engram::test::extraction_reply;
using engram::test::is_extraction;
using engram::test::same_json;

namespace {

const std::string test_key = "sk-ant-test-SECRET-0123456789";

const char* fact_update = R"({"running_summary":"Alice builds a contract-review SaaS.",
  "new_facts":[{"text":"Uses Python and FastAPI for the backend","confidence":"high","source":"stated"}]})";

// http://127.0.0.1:PORT where nobody listens: bind a port, read it, close it.
std::string closed_loopback_url() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        throw std::runtime_error("cannot bind a loopback port");
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
}

// One user's scratch world: a working directory (HOME too) and a memory directory.
struct cli_world {
    engram::test::temp_dir dir{"engram-cli-test"};
    fs::path work = dir.path() / "work";
    fs::path memory = dir.path() / "memory";
    std::map<std::string, std::string> env;

    // Even a test that means to fail before any request has a loopback endpoint nobody listens
    // on, so a regression could never send anything to the real API.
    cli_world() {
        fs::create_directories(work);
        env["ANTHROPIC_BASE_URL"] = closed_loopback_url();
    }
    explicit cli_world(const fake_anthropic_server& server) : cli_world() {
        env["ANTHROPIC_BASE_URL"] = server.base_url();
        env["ANTHROPIC_API_KEY"] = test_key;
        env["ENGRAM_MAX_RETRIES"] = "0";
        env["ENGRAM_RETRY_BASE_MS"] = "1";
    }

    /// The memory store of this world's directory, as the CLI opens it.
    std::shared_ptr<engram::memory::store> open_store() const {
        engram::memory::store_options so;
        so.directory = memory;
        auto opened = engram::memory::store::open(so);
        BOOST_REQUIRE(opened);
        return *opened;
    }

    child_result run(std::vector<std::string> args, std::string input = {}, child_options o = {}) const {
        args.push_back("--memory-dir");
        args.push_back(memory.string());
        o.cwd = work;
        for (const auto& kv : env) o.env.insert(kv);
        o.stdin_text = std::move(input);
        auto r = engram::test::run_child(ENGRAM_CLI_PATH, args, o);
        BOOST_TEST_MESSAGE("engram exit " << r.exit_status << "\n--- stdout\n" << r.out << "--- stderr\n" << r.err);
        BOOST_TEST(!r.timed_out);
        return r;
    }
};

// The one line starting with "engram: error: " (there must be exactly one).
std::string error_line(const child_result& r) {
    std::string found;
    int count = 0;
    std::istringstream lines(r.err);
    for (std::string line; std::getline(lines, line);)
        if (line.starts_with("engram: error: ")) {
            found = line;
            ++count;
        }
    BOOST_TEST(count == 1, "expected exactly one error line, got " << count << " in: " << r.err);
    BOOST_TEST(r.err.find(test_key) == std::string::npos);
    BOOST_TEST(r.out.find(test_key) == std::string::npos);
    return found;
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

bool any_file_mentions(const fs::path& dir, const std::string& stem) {
    if (!fs::exists(dir)) return false;
    for (auto& e : fs::recursive_directory_iterator(dir))
        if (contains(e.path().filename().string(), stem)) return true;
    return false;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cli_run)

BOOST_AUTO_TEST_CASE(two_runs_for_one_user_carry_the_first_runs_facts_into_the_second_system_prompt) {
    fake_anthropic_server server;
    echo_server(server, fact_update);
    cli_world w(server);
    auto r1 = w.run({"run", "--agent", "assistant", "--user", "alice", "--message", "I use Python and FastAPI"});
    BOOST_TEST(r1.exit_status == 0);
    BOOST_TEST(r1.out == "echo: I use Python and FastAPI\n");
    BOOST_TEST(contains(r1.err, "no memory yet for alice"));
    BOOST_TEST(contains(r1.err, "saving memory"));
    BOOST_TEST(contains(r1.err, "memory saved for alice"));

    // The second message comes on stdin.
    auto r2 = w.run({"run", "--user", "alice"}, "What do I use?\n");
    BOOST_TEST(r2.exit_status == 0);
    BOOST_TEST(r2.out == "echo: What do I use?\n");
    BOOST_TEST(contains(r2.err, "memory loaded for alice"));

    const auto chats = chat_requests(server);
    BOOST_REQUIRE_EQUAL(chats.size(), 2u);
    const auto system1 = json::serialize(json::parse(chats[0].body).at("system"));
    const auto system2 = json::serialize(json::parse(chats[1].body).at("system"));
    BOOST_TEST(!contains(system1, "FastAPI"));
    BOOST_TEST(contains(system2, "Uses Python and FastAPI for the backend"));
    BOOST_TEST(chats[0].headers.at("x-api-key") == test_key);

    auto rec = w.open_store()->load("alice");
    BOOST_REQUIRE(rec);
    BOOST_TEST(rec->memory.session_count == 2);
}

BOOST_AUTO_TEST_CASE(model_flag_overrides_the_agents_model) {
    fake_anthropic_server server;
    echo_server(server, "{}");
    cli_world w(server);
    auto r = w.run({"run", "--user", "bob", "--model", "claude-test-model", "-m", "hi"});
    BOOST_TEST(r.exit_status == 0);
    const auto chats = chat_requests(server);
    BOOST_REQUIRE_EQUAL(chats.size(), 1u);
    BOOST_TEST(json::parse(chats[0].body).at("model") == "claude-test-model");
}

BOOST_AUTO_TEST_CASE(output_json_gives_every_fixture_streams_expected_content_blocks) {
    const auto files = engram::test::fixture_files("anthropic", ".sse");
    BOOST_REQUIRE_GE(files.size(), 12u);
    for (const auto& sse_path : files) {
        const auto stem = sse_path.stem().string();
        BOOST_TEST_CONTEXT("fixture " << stem) {
            const auto expected = engram::test::read_json(sse_path.parent_path() / (stem + ".expected.json")).as_object();
            const std::string stream = engram::test::read_file(sse_path);
            fake_anthropic_server server;
            server.set_handler([stream](const recorded_request& r) {
                if (is_extraction(r)) return extraction_reply("{}");
                return scripted_response::sse(stream, {97});
            });
            cli_world w(server);
            auto r = w.run({"run", "--user", "fixture-user", "--message", "go", "--output", "json"});
            const bool failed_stream = !expected.at("error").is_null() ||
                                       (expected.contains("message_stop_received") && !expected.at("message_stop_received").as_bool());
            if (failed_stream) {
                BOOST_TEST(r.exit_status == 1);
                const auto line = error_line(r);
                if (!expected.at("error").is_null())
                    BOOST_TEST(contains(line, std::string(expected.at("error").at("error").at("type").as_string())), line);
                else
                    BOOST_TEST(contains(line, "incomplete"), line);
                BOOST_TEST(r.out.empty());
                continue;
            }
            BOOST_REQUIRE_EQUAL(r.exit_status, 0);
            BOOST_TEST(r.err.find("error") == std::string::npos);
            const auto got = json::parse(r.out).as_object();
            BOOST_TEST(got.size() == 5u);
            json::array want = expected.at("content_blocks").as_array();
            for (auto& b : want) {
                auto& o = b.as_object();
                if (o.contains("input_incomplete")) {  // what arrived of an unterminated tool input
                    o.erase("input_incomplete");
                    o.erase("input_json_raw");
                    o.erase("input_partial_parse_asserted_by_sdk_ts");
                    o["input"] = got.at("content").as_array().at(&b - want.data()).at("input");
                }
            }
            BOOST_TEST(same_json(got.at("content"), want), json::serialize(got.at("content")) << "\n!=\n" << json::serialize(want));
            BOOST_TEST(same_json(got.at("stop_reason"), expected.at("stop_reason")));
            BOOST_TEST(same_json(got.at("usage"), expected.at("usage")));
            const auto& msg = expected.at("message").as_object();
            BOOST_TEST(same_json(got.at("id"), msg.at("id")));
            BOOST_TEST(same_json(got.at("model"), msg.at("model")));
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(cli_errors)

BOOST_AUTO_TEST_CASE(missing_key_exits_2_saying_how_to_set_it) {
    cli_world w;
    auto r = w.run({"run", "--user", "alice", "--message", "hi"});
    BOOST_TEST(r.exit_status == 2);
    const auto line = error_line(r);
    BOOST_TEST(contains(line, "ANTHROPIC_API_KEY is not set"));
    BOOST_TEST(contains(line, ".env"));
}

BOOST_AUTO_TEST_CASE(refused_connection_exits_1_naming_the_endpoint) {
    cli_world w;  // its endpoint is a loopback port nobody listens on
    const std::string url = w.env.at("ANTHROPIC_BASE_URL");
    w.env["ANTHROPIC_API_KEY"] = test_key;
    w.env["ENGRAM_MAX_RETRIES"] = "0";
    auto r = w.run({"run", "--user", "alice", "--message", "hi"});
    BOOST_TEST(r.exit_status == 1);
    const auto line = error_line(r);
    BOOST_TEST(contains(line, "cannot connect to " + url), line);
    BOOST_TEST(contains(line, "check ANTHROPIC_BASE_URL"), line);
    // The hint names the setting that chose the endpoint.
    w.env.erase("ANTHROPIC_BASE_URL");
    auto flag = w.run({"run", "--user", "alice", "--message", "hi", "--base-url", url});
    BOOST_TEST(flag.exit_status == 1);
    const auto flag_line = error_line(flag);
    BOOST_TEST(contains(flag_line, "check --base-url"), flag_line);
}

BOOST_AUTO_TEST_CASE(untrusted_certificate_exits_1_and_the_ca_file_option_trusts_it) {
    fake_anthropic_server server(fake_anthropic_server::tls_mode::localhost_cert);
    echo_server(server, "{}");
    cli_world w(server);
    // The server's certificate comes from a CA made for this test run, which no system store has.
    auto r = w.run({"run", "--user", "alice", "--message", "hi"});
    BOOST_TEST(r.exit_status == 1);
    const auto line = error_line(r);
    BOOST_TEST(contains(line, "--ca-file"), line);
    BOOST_TEST(chat_requests(server).empty());

    auto trusted = w.run({"run", "--user", "alice", "--message", "hi", "--ca-file", engram::test::pki().ca_file});
    BOOST_TEST(trusted.exit_status == 0);
    BOOST_TEST(trusted.out == "echo: hi\n");
}

BOOST_AUTO_TEST_CASE(unauthorized_exits_1_with_error_type_and_request_id_never_the_key) {
    fake_anthropic_server server;
    const auto fixture = engram::test::read_json(engram::test::fixtures_dir() / "errors" / "401_authentication_error.json");
    auto reply = scripted_response::json(401, std::string(fixture.at("body_raw").as_string()));
    reply.headers.emplace_back("request-id", "req_cli_401");
    server.set_handler([reply](const recorded_request&) { return reply; });
    cli_world w(server);
    auto r = w.run({"run", "--user", "alice", "--message", "hi"});
    BOOST_TEST(r.exit_status == 1);
    const auto line = error_line(r);
    BOOST_TEST(contains(line, "authentication_error"), line);
    BOOST_TEST(contains(line, "HTTP 401"), line);
    BOOST_TEST(contains(line, "req_cli_401"), line);
    BOOST_TEST(contains(line, "ANTHROPIC_API_KEY"), line);
}

BOOST_AUTO_TEST_CASE(a_reply_cut_off_midway_ends_its_line_before_the_error) {
    const std::string full = engram::test::make_text_stream("partial reply", 3);
    const std::string cut = full.substr(0, full.find("event: content_block_stop"));  // then the connection closes
    fake_anthropic_server server;
    server.set_handler([cut](const recorded_request&) { return scripted_response::sse(cut); });
    cli_world w(server);
    auto r = w.run({"run", "--user", "alice", "--message", "hi"});
    BOOST_TEST(r.exit_status == 1);
    BOOST_TEST(r.out == "partial reply\n");  // the error line on stderr starts a line of its own on a terminal
    BOOST_TEST(contains(error_line(r), "incomplete"));
}

BOOST_AUTO_TEST_CASE(a_retried_request_is_announced_with_its_backoff_not_silent) {
    fake_anthropic_server server;
    auto overloaded = scripted_response::json(529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})");
    overloaded.headers.emplace_back("request-id", "req_cli_529");
    server.push(overloaded);
    echo_server(server, "{}");
    cli_world w(server);
    w.env["ENGRAM_MAX_RETRIES"] = "1";
    auto r = w.run({"run", "--user", "alice", "--message", "hi"});
    BOOST_TEST(r.exit_status == 0);
    BOOST_TEST(r.out == "echo: hi\n");
    BOOST_TEST(contains(r.err, "overloaded_error"), r.err);
    BOOST_TEST(contains(r.err, "req_cli_529"), r.err);
    BOOST_TEST(contains(r.err, "retrying in 0.0 s"), r.err);
}

BOOST_AUTO_TEST_CASE(rate_limit_exhausted_after_the_configured_retries_exits_1) {
    fake_anthropic_server server;
    const auto fixture = engram::test::read_json(engram::test::fixtures_dir() / "errors" / "429_rate_limit_error.json");
    auto reply = scripted_response::json(429, std::string(fixture.at("body_raw").as_string()));
    reply.headers.emplace_back("request-id", "req_cli_429");
    server.set_handler([reply](const recorded_request&) { return reply; });
    cli_world w(server);
    w.env["ENGRAM_MAX_RETRIES"] = "2";
    w.env["ENGRAM_RETRY_BASE_MS"] = "5";
    const auto t0 = std::chrono::steady_clock::now();
    auto r = w.run({"run", "--user", "alice", "--message", "hi"});
    BOOST_TEST((std::chrono::steady_clock::now() - t0 < 20s));
    BOOST_TEST(r.exit_status == 1);
    const auto line = error_line(r);
    BOOST_TEST(contains(line, "rate_limit_error"), line);
    BOOST_TEST(contains(line, "req_cli_429"), line);
    BOOST_TEST(contains(line, "retries exhausted"), line);
    BOOST_TEST(server.requests().size() == 3u);  // first attempt + ENGRAM_MAX_RETRIES
}

BOOST_AUTO_TEST_CASE(invalid_user_id_exits_2_before_any_request) {
    fake_anthropic_server server;
    echo_server(server, "{}");
    cli_world w(server);
    const std::vector<std::string> bad_ids{"", "a\x01z", std::string(200, 'x'), "\xff\xfe"};
    for (const auto& bad : bad_ids) {
        auto r = w.run({"run", "--user", bad, "--message", "hi"});
        BOOST_TEST(r.exit_status == 2);
        BOOST_TEST(contains(error_line(r), bad.empty() ? "--user needs a non-empty value" : "invalid user id"), error_line(r));
    }
    BOOST_TEST(server.requests().empty());
}

BOOST_AUTO_TEST_CASE(unknown_agent_and_bad_options_exit_2) {
    cli_world w;
    w.env["ANTHROPIC_API_KEY"] = test_key;
    auto r = w.run({"run", "--user", "alice", "--agent", "nobody", "-m", "hi"});
    BOOST_TEST(r.exit_status == 2);
    BOOST_TEST(contains(error_line(r), "unknown agent 'nobody' (available: assistant, sales, dba"));
    auto r2 = w.run({"run", "--frobnicate"});
    BOOST_TEST(r2.exit_status == 2);
    BOOST_TEST(contains(error_line(r2), "unknown option --frobnicate"));
    auto r3 = w.run({"run", "--user", "alice", "-m", "hi", "--agent-file", "missing.json"});
    BOOST_TEST(r3.exit_status == 2);
    BOOST_TEST(contains(error_line(r3), "missing.json"));
}

BOOST_AUTO_TEST_CASE(retry_notices_and_memory_changes_never_show_the_key_the_server_sent_back) {
    fake_anthropic_server server;
    auto overloaded = scripted_response::json(
        529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded for key )" + test_key + R"("}})");
    server.push(overloaded);
    echo_server(server, R"({"new_facts":[{"text":"Pasted the key )" + test_key +
                            R"( by mistake","confidence":"high","source":"stated"}]})");
    cli_world w(server);
    w.env["ENGRAM_MAX_RETRIES"] = "1";
    auto r = w.run({"run", "--user", "alice", "--message", "hi"});
    BOOST_TEST(r.exit_status == 0);
    BOOST_TEST(contains(r.err, "overloaded_error"), r.err);  // the notice itself is still shown
    BOOST_TEST(contains(r.err, "Overloaded for key ***"), r.err);
    BOOST_TEST(!contains(r.err, test_key), r.err);
    BOOST_TEST(!contains(r.out, test_key));
}

BOOST_AUTO_TEST_CASE(a_short_key_of_a_local_server_does_not_garble_messages) {
    fake_anthropic_server server;
    server.set_handler([](const recorded_request&) {
        return scripted_response::json(401, R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}})");
    });
    cli_world w(server);
    w.env["ANTHROPIC_API_KEY"] = "e";
    auto r = w.run({"run", "--user", "alice", "--message", "hi"});
    BOOST_TEST(r.exit_status == 1);
    const auto line = error_line(r);
    BOOST_TEST(contains(line, "the API returned authentication_error"), line);
    BOOST_TEST(!contains(line, "***"), line);
}

BOOST_AUTO_TEST_CASE(words_after_run_or_chat_are_rejected_pointing_at_message) {
    fake_anthropic_server server;
    echo_server(server, "{}");
    cli_world w(server);
    auto r = w.run({"run", "--user", "gus", "hello there"});
    BOOST_TEST(r.exit_status == 2);
    const auto line = error_line(r);
    BOOST_TEST(contains(line, "'hello there'"), line);
    BOOST_TEST(contains(line, "--message"), line);
    auto c = w.run({"chat", "--user", "gus", "extra"}, "hi\n");
    BOOST_TEST(c.exit_status == 2);
    BOOST_TEST(contains(error_line(c), "'extra'"));
    BOOST_TEST(server.requests().empty());
}

BOOST_AUTO_TEST_CASE(a_message_that_is_not_utf8_exits_2_before_any_request) {
    fake_anthropic_server server;
    echo_server(server, "{}");
    cli_world w(server);
    auto r = w.run({"run", "--user", "alice", "-m", "caf\xe9"});
    BOOST_TEST(r.exit_status == 2);
    BOOST_TEST(contains(error_line(r), "not valid UTF-8"));
    auto piped = w.run({"run", "--user", "alice"}, "caf\xe9\n");
    BOOST_TEST(piped.exit_status == 2);
    BOOST_TEST(contains(error_line(piped), "not valid UTF-8"));
    BOOST_TEST(server.requests().empty());
    // In a chat such a line is refused and the chat goes on.
    auto chat = w.run({"chat", "--user", "alice"}, "caf\xe9\nhello\n");
    BOOST_TEST(chat.exit_status == 0);
    BOOST_TEST(contains(error_line(chat), "not valid UTF-8"));
    BOOST_TEST(contains(chat.out, "echo: hello"));
    BOOST_TEST(chat_requests(server).size() == 1u);
}

// "--memory-dir $UNSET" meant the default directory: "memory forget" then erased real memory.
BOOST_AUTO_TEST_CASE(an_empty_option_value_is_refused_and_nothing_is_forgotten) {
    fake_anthropic_server server;
    echo_server(server, fact_update);
    cli_world w(server);
    BOOST_TEST_REQUIRE(w.run({"run", "--user", "alice", "-m", "I use Python"}).exit_status == 0);
    child_options o;
    o.cwd = w.work;
    o.env = w.env;
    o.env["ENGRAM_MEMORY_DIR"] = w.memory.string();  // the default the empty value fell back to
    for (const char* option : {"--memory-dir", "--base-url", "--ca-file"}) {
        const auto forget = engram::test::run_child(ENGRAM_CLI_PATH, {"memory", "forget", "alice", option, ""}, o);
        BOOST_TEST(forget.exit_status == 2, option);
        BOOST_TEST(contains(error_line(forget), std::string(option) + " needs a non-empty value"), forget.err);
    }
    const auto eq = engram::test::run_child(ENGRAM_CLI_PATH, {"memory", "forget", "alice", "--memory-dir="}, o);
    BOOST_TEST(eq.exit_status == 2);
    const auto show = w.run({"memory", "show", "alice"});
    BOOST_TEST(show.exit_status == 0);
    BOOST_TEST(contains(show.out, "Python"), show.out);  // still remembered
}

BOOST_AUTO_TEST_CASE(an_option_taken_for_a_value_or_given_twice_exits_2_before_any_request) {
    fake_anthropic_server server;
    echo_server(server, "{}");
    cli_world w(server);
    // "--user -q": the user's value was forgotten; -q is not a user to create memory for.
    const auto swallowed = w.run({"run", "--user", "-q", "-m", "hi"});
    BOOST_TEST(swallowed.exit_status == 2);
    BOOST_TEST(contains(error_line(swallowed), "'-q' is an option"), swallowed.err);
    const auto message = w.run({"run", "--user", "alice", "-m", "--quiet"});
    BOOST_TEST(message.exit_status == 2);
    BOOST_TEST(contains(error_line(message), "'--quiet' is an option"), message.err);
    const auto twice = w.run({"run", "--user", "alice", "--user", "bob", "-m", "hi"});
    BOOST_TEST(twice.exit_status == 2);
    BOOST_TEST(contains(error_line(twice), "--user is given more than once"), twice.err);
    // The advice for -m names the form that works: only a long option takes "=value".
    const auto short_value = w.run({"run", "--user", "alice", "-m", "-q"});
    BOOST_TEST(short_value.exit_status == 2);
    BOOST_TEST(contains(error_line(short_value), "write --message=-q"), short_value.err);
    // A flag takes no value: --quiet=no must not mean quiet.
    for (const char* flag : {"--quiet=no", "--help=x", "--version=3"}) {
        const auto valued = w.run({"run", "--user", "alice", flag, "-m", "hi"});
        BOOST_TEST(valued.exit_status == 2, flag);
        BOOST_TEST(contains(error_line(valued), "takes no value"), valued.err);
    }
    BOOST_TEST(server.requests().empty());
    BOOST_TEST(!any_file_mentions(w.memory, "-q"));
    // A message that merely starts with a dash is a message.
    const auto dash = w.run({"run", "--user", "alice", "-m", "-5 degrees today"});
    BOOST_TEST(dash.exit_status == 0, dash.err);
    BOOST_TEST(contains(dash.out, "echo: -5 degrees today"), dash.out);
}

BOOST_AUTO_TEST_CASE(chat_refuses_the_options_it_would_ignore_and_a_bad_model_exits_2) {
    fake_anthropic_server server;
    echo_server(server, "{}");
    cli_world w(server);
    const auto m = w.run({"chat", "--user", "fay", "-m", "I am Fay"});
    BOOST_TEST(m.exit_status == 2);
    BOOST_TEST(contains(error_line(m), "engram chat takes no --message"), m.err);
    const auto json_out = w.run({"chat", "--user", "fay", "--output", "json"});
    BOOST_TEST(json_out.exit_status == 2);
    BOOST_TEST(contains(error_line(json_out), "--output json"), json_out.err);
    const auto model = w.run({"run", "--user", "fay", "-m", "hi", "--model", "bad\nmodel"});
    BOOST_TEST(model.exit_status == 2);  // the caller's input, not a failed model call (1)
    BOOST_TEST(server.requests().empty());
}

// A script that pipes messages into a chat reads its exit status: a chat that only met errors
// exited 0 as if every message had been answered.
BOOST_AUTO_TEST_CASE(a_chat_in_which_no_message_got_a_reply_exits_with_the_last_failure) {
    fake_anthropic_server server;
    const auto overloaded =
        scripted_response::json(529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})");
    server.push(overloaded);
    server.push(overloaded);
    server.push(overloaded);
    echo_server(server, "{}");
    cli_world w(server);
    w.env["ENGRAM_MAX_RETRIES"] = "0";
    const auto failed = w.run({"chat", "--user", "olga"}, "first\nsecond\n");
    BOOST_TEST(failed.exit_status == 1, failed.err);
    BOOST_TEST(contains(failed.err, "overloaded_error"), failed.err);
    BOOST_TEST(chat_requests(server).size() == 2u);

    // One answered message is a chat that worked: the failure before it was reported.
    const auto partly = w.run({"chat", "--user", "olga"}, "third\nfourth\n");
    BOOST_TEST(partly.exit_status == 0, partly.err);
    BOOST_TEST(contains(partly.err, "overloaded_error"), partly.err);
    BOOST_TEST(contains(partly.out, "echo: fourth"), partly.out);

    // Only a message that is not UTF-8: a usage error, nothing sent.
    const auto before = chat_requests(server).size();
    const auto bad = w.run({"chat", "--user", "olga"}, "caf\xe9\n");
    BOOST_TEST(bad.exit_status == 2, bad.err);
    BOOST_TEST(chat_requests(server).size() == before);

    // No message at all is not a failure.
    const auto none = w.run({"chat", "--user", "olga"}, "");
    BOOST_TEST(none.exit_status == 0, none.err);
}

BOOST_AUTO_TEST_CASE(a_message_of_only_vertical_tabs_or_form_feeds_is_blank_and_a_chat_goes_on) {
    fake_anthropic_server server;
    echo_server(server, "{}");
    cli_world w(server);
    const auto run = w.run({"run", "--user", "hal", "-m", "\v\f "});
    BOOST_TEST(run.exit_status == 2);
    BOOST_TEST(contains(error_line(run), "empty"), run.err);
    const auto chat = w.run({"chat", "--user", "hal"}, "first\n\f\n\v \nsecond\n");
    BOOST_TEST(chat.exit_status == 0, chat.err);
    BOOST_TEST(contains(chat.out, "echo: first"), chat.out);
    BOOST_TEST(contains(chat.out, "echo: second"), chat.out);
    BOOST_TEST(chat_requests(server).size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_key_with_a_line_break_points_at_the_key_not_the_url) {
    fake_anthropic_server server;
    echo_server(server, "{}");
    cli_world w(server);
    w.env["ANTHROPIC_API_KEY"] = "sk-ant-pasted-twice\nsk-ant-pasted-twice";
    const auto r = w.run({"run", "--user", "kit", "-m", "hi"});
    BOOST_TEST(r.exit_status == 2);
    const auto line = error_line(r);
    BOOST_TEST(contains(line, "check ANTHROPIC_API_KEY"), line);
    BOOST_TEST(!contains(line, "--base-url"), line);
    BOOST_TEST(!contains(r.err, "pasted-twice"), r.err);
    BOOST_TEST(server.requests().empty());
}

BOOST_AUTO_TEST_CASE(control_characters_of_a_hostile_user_id_are_not_echoed_to_the_terminal) {
    cli_world w;
    w.env["ANTHROPIC_API_KEY"] = test_key;
    const auto r = w.run({"run", "--user", "\x1b[31mred\x07", "-m", "hi"});
    BOOST_TEST(r.exit_status == 2);
    BOOST_TEST(r.err.find('\x1b') == std::string::npos, r.err);
    BOOST_TEST(r.err.find('\x07') == std::string::npos, r.err);
    BOOST_TEST(contains(error_line(r), "?[31mred?"), r.err);

    // The C1 form of the same (U+009B is CSI), and a lone 0x9B byte, which an 8-bit terminal
    // takes for CSI.
    const auto c1 = w.run({"run", "--user", "\xc2\x9b" "31mred\x9b" "0m", "-m", "hi"});
    BOOST_TEST(c1.exit_status == 2);
    BOOST_TEST(c1.err.find('\x9b') == std::string::npos, c1.err);
    BOOST_TEST(contains(error_line(c1), "?31mred?0m"), c1.err);
}

// An id may hold C1 controls and bidirectional overrides (only C0 is refused): the chat's banner
// shows it cleaned, as every status line does.
BOOST_AUTO_TEST_CASE(the_chat_banner_shows_a_hostile_user_id_cleaned) {
    fake_anthropic_server server;
    echo_server(server, "{}");
    cli_world w(server);
    const std::string id = "eve\xc2\x9b" "31m\xe2\x80\xae" "lin";
    const auto r = w.run({"chat", "--user", id}, "");
    BOOST_TEST(r.exit_status == 0, r.err);
    BOOST_TEST(contains(r.out, "user eve?31m?lin."), r.out);
    for (const auto* raw : {"\xc2\x9b", "\xe2\x80\xae"}) {
        BOOST_TEST(!contains(r.out, raw));
        BOOST_TEST(!contains(r.err, raw));
    }
}

BOOST_AUTO_TEST_CASE(without_home_or_a_memory_dir_exits_2_instead_of_using_the_working_directory) {
    cli_world w;
    child_options o;
    o.cwd = w.work;
    o.unset_home = true;
    o.env = w.env;
    o.env["ANTHROPIC_API_KEY"] = test_key;
    for (const std::vector<std::string>& args : {std::vector<std::string>{"memory", "list"},
                                                 std::vector<std::string>{"run", "--user", "alice", "-m", "hi"}}) {
        auto r = engram::test::run_child(ENGRAM_CLI_PATH, args, o);
        BOOST_TEST_MESSAGE("stderr: " << r.err);
        BOOST_TEST(r.exit_status == 2);
        BOOST_TEST(contains(error_line(r), "--memory-dir"));
    }
    BOOST_TEST(!fs::exists(w.work / ".local"));
}

BOOST_AUTO_TEST_CASE(memory_commands_never_create_a_missing_memory_directory) {
    cli_world w;
    const fs::path typo = w.dir.path() / "typo" / "deeper";
    child_options o;
    o.cwd = w.work;
    o.env = w.env;
    const auto list = engram::test::run_child(ENGRAM_CLI_PATH, {"memory", "list", "--memory-dir", typo.string()}, o);
    BOOST_TEST(list.exit_status == 0);
    BOOST_TEST(contains(list.err, typo.string() + " is not a memory directory"), list.err);
    const auto show = engram::test::run_child(ENGRAM_CLI_PATH, {"memory", "show", "alice", "--memory-dir", typo.string()}, o);
    BOOST_TEST(show.exit_status == 3);
    BOOST_TEST(contains(error_line(show), "no memory directory at " + typo.string()));
    BOOST_TEST(!fs::exists(w.dir.path() / "typo"));  // nothing was created
    // A directory that holds other things (a home given by mistake) is left exactly as it was.
    const fs::path other = w.dir.path() / "other";
    fs::create_directories(other);
    std::ofstream(other / "a.txt") << "mine";
    fs::permissions(other, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                               fs::perms::others_read | fs::perms::others_exec);
    const auto forget = engram::test::run_child(ENGRAM_CLI_PATH, {"memory", "forget", "alice", "--memory-dir", other.string()}, o);
    BOOST_TEST(forget.exit_status == 3);
    BOOST_TEST(!fs::exists(other / ".journal"));
    BOOST_TEST(((fs::status(other).permissions() & fs::perms::others_read) != fs::perms::none));
}

BOOST_AUTO_TEST_CASE(a_non_local_base_url_is_announced_by_host_and_plain_http_is_warned) {
    cli_world w;
    w.env["ANTHROPIC_API_KEY"] = test_key;
    // An empty message fails after the settings are read and before any connection (and any
    // name lookup), so nothing leaves this machine.
    auto r = w.run({"run", "--user", "alice", "-m", " ", "--base-url", "http://localhost.evil.example:8080/v1"});
    BOOST_TEST(r.exit_status == 2);
    BOOST_TEST(!contains(r.err, "local server"), r.err);
    BOOST_TEST(contains(r.err, "localhost.evil.example"), r.err);
    BOOST_TEST(contains(r.err, "warning: the API key would be sent unencrypted"), r.err);
    // A loopback server over http is the normal local set-up: announced, not warned about.
    auto local = w.run({"run", "--user", "alice", "-m", " "});
    BOOST_TEST(contains(local.err, "local server"), local.err);
    BOOST_TEST(!contains(local.err, "warning"), local.err);
    // A ./.env that redirects the key from the environment is named as the origin, even with --quiet.
    { std::ofstream(w.work / ".env") << "ANTHROPIC_BASE_URL=https://api.example.invalid/\n"; }
    w.env.erase("ANTHROPIC_BASE_URL");
    auto dotenv = w.run({"run", "--user", "alice", "-m", " ", "--quiet"});
    BOOST_TEST(contains(dotenv.err, "api.example.invalid (set by ANTHROPIC_BASE_URL in ./.env)"), dotenv.err);
    BOOST_TEST(!contains(dotenv.err, "warning"), dotenv.err);
}

BOOST_AUTO_TEST_CASE(a_reader_that_went_away_gets_exit_1_and_the_session_is_still_saved) {
    fake_anthropic_server server;
    echo_server(server, fact_update);
    cli_world w(server);
    child_options o;
    o.stdout_to = engram::test::child_stdout::broken_pipe;  // as `engram run ... | head -c 10`
    auto r = w.run({"run", "--user", "alice", "-m", "I use Python"}, {}, o);
    BOOST_TEST(r.exit_status == 1);
    BOOST_TEST(contains(error_line(r), "cannot write to stdout"));
    BOOST_TEST(fs::exists(w.memory / "alice.json"));
}

BOOST_AUTO_TEST_CASE(a_closed_stdout_exits_2_before_any_request) {
    fake_anthropic_server server;
    echo_server(server, "{}");
    cli_world w(server);
    child_options o;
    o.stdout_to = engram::test::child_stdout::closed;  // as `engram run ... >&-`
    auto r = w.run({"run", "--user", "alice", "-m", "hi"}, {}, o);
    BOOST_TEST(r.exit_status == 2);
    BOOST_TEST(contains(error_line(r), "stdout is closed"));
    BOOST_TEST(server.requests().empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(cli_config)

BOOST_AUTO_TEST_CASE(dotenv_in_the_working_directory_fills_what_the_environment_does_not_set) {
    fake_anthropic_server server;
    echo_server(server, "{}");
    cli_world w;
    w.env.erase("ANTHROPIC_BASE_URL");  // the file sets it (to the fake server)
    {
        std::ofstream env(w.work / ".env");
        env << "# engram settings\n"
            << "export ANTHROPIC_BASE_URL=\"" << server.base_url() << "\"\n"
            << "ANTHROPIC_API_KEY='" << test_key << "'\n"
            << "ENGRAM_MAX_RETRIES=0  # no retries\n";
    }
    auto r = w.run({"run", "--user", "dot", "-m", "hi"});
    BOOST_TEST(r.exit_status == 0);
    BOOST_TEST(r.out == "echo: hi\n");

    // The real environment wins over the file.
    w.env["ANTHROPIC_API_KEY"] = "sk-from-the-environment";
    auto r2 = w.run({"run", "--user", "dot", "-m", "hi again"});
    BOOST_TEST(r2.exit_status == 0);
    const auto chats = chat_requests(server);
    BOOST_REQUIRE_EQUAL(chats.size(), 2u);
    BOOST_TEST(chats[0].headers.at("x-api-key") == test_key);
    BOOST_TEST(chats[1].headers.at("x-api-key") == "sk-from-the-environment");
}

// A .env sets engram's settings only: SSL_CERT_FILE from it would make engram trust whatever CA
// the file's author chose (OPENSSL_CONF would load their code), unannounced.
BOOST_AUTO_TEST_CASE(a_dotenv_cannot_set_what_is_not_an_engram_setting) {
    fake_anthropic_server server(fake_anthropic_server::tls_mode::localhost_cert);
    echo_server(server, "{}");
    cli_world w(server);
    {
        std::ofstream env(w.work / ".env");
        env << "SSL_CERT_FILE=" << engram::test::pki().ca_file << "\n"
            << "OPENSSL_CONF=/nonexistent/openssl.cnf\n";
    }
    auto r = w.run({"run", "--user", "alice", "--message", "hi"});
    BOOST_TEST(r.exit_status == 1, r.err);  // the test CA is still not trusted
    BOOST_TEST(contains(r.err, "ignored SSL_CERT_FILE, OPENSSL_CONF"), r.err);
    BOOST_TEST(chat_requests(server).empty());

    // The CA file engram's own setting names is trusted, and that is said.
    { std::ofstream(w.work / ".env") << "ENGRAM_CA_FILE=" << engram::test::pki().ca_file << "\n"; }
    auto trusted = w.run({"run", "--user", "alice", "--message", "hi", "--quiet"});
    BOOST_TEST(trusted.exit_status == 0, trusted.err);
    BOOST_TEST(contains(trusted.err, "trusting the certificate authorities in " + engram::test::pki().ca_file +
                                         " (set by ENGRAM_CA_FILE in ./.env)"),
               trusted.err);

    // Where memory lives is said too when the file chose it (what `memory forget` erases).
    { std::ofstream(w.work / ".env") << "ENGRAM_MEMORY_DIR=" << w.memory.string() << "\n"; }
    child_options o;  // without the world's --memory-dir
    o.cwd = w.work;
    o.env = w.env;
    const auto list = engram::test::run_child(ENGRAM_CLI_PATH, {"memory", "list"}, o);
    BOOST_TEST(list.exit_status == 0, list.err);
    BOOST_TEST(contains(list.err, "memory directory " + w.memory.string() + " (set by ENGRAM_MEMORY_DIR in ./.env)"),
               list.err);
}

// Whoever can write the .env can send the key anywhere: one that others may write is not read.
BOOST_AUTO_TEST_CASE(a_dotenv_that_others_may_write_is_ignored) {
    fake_anthropic_server server;
    echo_server(server, "{}");
    cli_world w(server);
    w.env.erase("ANTHROPIC_API_KEY");
    { std::ofstream(w.work / ".env") << "ANTHROPIC_API_KEY=" << test_key << "\n"; }
    fs::permissions(w.work / ".env", fs::perms::group_write, fs::perm_options::add);
    auto r = w.run({"run", "--user", "alice", "--message", "hi"});
    BOOST_TEST(r.exit_status == 2, r.err);  // no key
    BOOST_TEST(contains(r.err, ".env ignored: others may write to it"), r.err);
    BOOST_TEST(chat_requests(server).empty());

    fs::permissions(w.work / ".env", fs::perms::group_write, fs::perm_options::remove);
    auto own = w.run({"run", "--user", "alice", "--message", "hi"});
    BOOST_TEST(own.exit_status == 0, own.err);
    BOOST_TEST(!contains(own.err, "ignored"), own.err);
}

BOOST_AUTO_TEST_CASE(a_dotenv_value_keeps_an_escaped_double_quote) {
    fake_anthropic_server server;
    echo_server(server, "{}");
    cli_world w(server);
    w.env.erase("ANTHROPIC_API_KEY");
    { std::ofstream(w.work / ".env") << R"(ANTHROPIC_API_KEY="sk-test-\"quoted\"-key")" << "\n"; }
    auto r = w.run({"run", "--user", "dot", "-m", "hi"});
    BOOST_TEST(r.exit_status == 0);
    const auto chats = chat_requests(server);
    BOOST_REQUIRE_EQUAL(chats.size(), 1u);
    BOOST_TEST(chats[0].headers.at("x-api-key") == R"(sk-test-"quoted"-key)");
}

BOOST_AUTO_TEST_CASE(help_is_available_on_every_command) {
    cli_world w;
    for (const std::string& cmd : std::vector<std::string>{"run", "chat", "memory", "agents"}) {
        auto r = w.run({cmd, "--help"});
        BOOST_TEST(r.exit_status == 0);
        BOOST_TEST(contains(r.out, "usage: engram " + cmd), cmd);
    }
    for (const std::string& cmd : std::vector<std::string>{"run", "chat", "memory", "agents"}) {
        auto r = w.run({"help", cmd});  // the form the overview names
        BOOST_TEST(r.exit_status == 0);
        BOOST_TEST(contains(r.out, "usage: engram " + cmd), cmd);
    }
    auto r = w.run({"--help"});
    BOOST_TEST(r.exit_status == 0);
    BOOST_TEST(contains(r.out, "exit status"));
    // Every option the parser accepts is in the overview.
    for (const char* option : {"--agent ", "--agent-file", "--user", "--model", "--output", "--memory-dir", "--base-url",
                               "--ca-file", "--message, -m", "--quiet, -q", "--help, -h", "--version", "engram help COMMAND"})
        BOOST_TEST(contains(r.out, option), option);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(cli_memory)

// Sessions whose memory pass kept failing are listed with why, and a retry makes the next start
// replay them (the runtime sets a session aside after 3 such failures).
BOOST_AUTO_TEST_CASE(memory_failed_lists_sessions_whose_passes_failed_and_memory_retry_replays_them) {
    cli_world w;
    const auto store = w.open_store();
    BOOST_REQUIRE(store->journal_add({"carol", "s1", "2024-01-01T00:00:00Z", "USER: hi"}));
    BOOST_REQUIRE(store->journal_add({"carol", "s2", "2024-01-02T00:00:00Z", "USER: hi"}));
    BOOST_REQUIRE(store->journal_add({"carol", "s3", "2024-01-03T00:00:00Z", "USER: hi"}));  // never failed
    for (int i = 0; i < 3; ++i) BOOST_REQUIRE(store->journal_record_failure("carol", "s1", "output was invalid\ntwice"));
    BOOST_REQUIRE(store->journal_record_failure("carol", "s2", "request too large"));

    auto listed = w.run({"memory", "failed"});
    BOOST_TEST(listed.exit_status == 0, listed.err);
    BOOST_TEST(contains(listed.out, "carol  session s1  ended 2024-01-01T00:00:00Z  failed 3 times, set aside (not replayed): output was invalid twice\n"),
               listed.out);
    BOOST_TEST(contains(listed.out, "carol  session s2  ended 2024-01-02T00:00:00Z  failed 1 time: request too large\n"), listed.out);
    BOOST_TEST(!contains(listed.out, "s3"), listed.out);
    auto as_json = w.run({"memory", "failed", "carol", "--output", "json"});
    BOOST_TEST(as_json.exit_status == 0, as_json.err);
    const auto arr = boost::json::parse(as_json.out).as_array();
    BOOST_REQUIRE_EQUAL(arr.size(), 2u);
    BOOST_TEST(arr[0].at("set_aside").as_bool());
    BOOST_TEST(arr[0].at("failed_passes").to_number<int>() == 3);
    BOOST_TEST(!arr[1].at("set_aside").as_bool());
    auto none = w.run({"memory", "failed", "bob"});
    BOOST_TEST(none.exit_status == 0);
    BOOST_TEST(none.out.empty());

    auto one = w.run({"memory", "retry", "carol", "s1"});
    BOOST_TEST(one.exit_status == 0, one.err);
    BOOST_TEST(one.out == "1 session of carol will be replayed at the next start\n", one.out);
    BOOST_TEST(store->journal_read("carol", "s1")->failed_passes == 0u);
    BOOST_TEST(store->journal_read("carol", "s2")->failed_passes == 1u);
    auto rest = w.run({"memory", "retry", "carol"});
    BOOST_TEST(rest.exit_status == 0, rest.err);
    BOOST_TEST(rest.out == "1 session of carol will be replayed at the next start\n", rest.out);
    BOOST_TEST(store->journal_read("carol", "s2")->failed_passes == 0u);
    auto unknown = w.run({"memory", "retry", "carol", "nope"});
    BOOST_TEST(unknown.exit_status == 3);
    BOOST_TEST(contains(unknown.err, "no failed session nope of carol"), unknown.err);

    // With --user the one argument is the session; with no user at all, every user's.
    BOOST_REQUIRE(store->journal_record_failure("carol", "s1", "again"));
    BOOST_REQUIRE(store->journal_add({"dave", "d1", "2024-01-04T00:00:00Z", "USER: hi"}));
    BOOST_REQUIRE(store->journal_record_failure("dave", "d1", "again"));
    auto by_option = w.run({"memory", "retry", "--user", "carol", "s1"});
    BOOST_TEST(by_option.exit_status == 0, by_option.err);
    BOOST_TEST(store->journal_read("carol", "s1")->failed_passes == 0u);
    BOOST_TEST(store->journal_read("dave", "d1")->failed_passes == 1u);
    auto everyone = w.run({"memory", "retry", "--output", "json"});
    BOOST_TEST(everyone.exit_status == 0, everyone.err);
    BOOST_TEST(everyone.out == "{\"user_id\":null,\"sessions\":1}\n", everyone.out);
    BOOST_TEST(store->journal_read("dave", "d1")->failed_passes == 0u);
    BOOST_TEST(w.run({"memory", "retry", "dave", "s1", "--user", "carol"}).exit_status == 2);  // two user ids

    // No memory directory: exit 3, never "nothing failed".
    cli_world elsewhere;  // its memory directory was never made
    BOOST_REQUIRE(!fs::exists(elsewhere.memory));
    auto nowhere = elsewhere.run({"memory", "failed"});
    BOOST_TEST(nowhere.exit_status == 3, nowhere.err);
    BOOST_TEST(contains(nowhere.err, "no memory directory"), nowhere.err);
}

// The runtime reports every set-aside session at start; run and chat tell a user about theirs.
BOOST_AUTO_TEST_CASE(run_says_that_an_earlier_session_of_its_user_is_set_aside) {
    fake_anthropic_server server;
    echo_server(server, "{}");
    cli_world w(server);
    {
        const auto store = w.open_store();
        for (const char* user : {"carol", "dave"}) {
            BOOST_REQUIRE(store->journal_add({user, std::string(user) + "-s1", "2024-01-01T00:00:00Z", "USER: hi"}));
            for (int i = 0; i < 3; ++i) BOOST_REQUIRE(store->journal_record_failure(user, std::string(user) + "-s1", "invalid twice"));
        }
    }
    auto r = w.run({"run", "--user", "carol", "-m", "hi"});
    BOOST_TEST(r.exit_status == 0, r.err);
    BOOST_TEST(contains(r.err, "an earlier session of carol (carol-s1) is not in memory"), r.err);
    BOOST_TEST(contains(r.err, "engram memory retry carol"), r.err);
    BOOST_TEST(!contains(r.err, "dave"), r.err);  // another user's is not this user's business
    auto again = w.run({"run", "--user", "dave", "-m", "hi"});
    BOOST_TEST(contains(again.err, "an earlier session of dave (dave-s1)"), again.err);
}

// A user id, like what memory holds, may contain any character: a C1 control (U+009B is CSI)
// or a bidirectional override would act on the terminal rather than show.
BOOST_AUTO_TEST_CASE(memory_commands_show_controls_and_bidi_overrides_in_ids_and_memory_as_question_marks) {
    cli_world w;
    const std::string id = "eve\xC2\x9B" "31m\xE2\x80\xAE" "lin";
    {
        const auto store = w.open_store();
        engram::memory::update_request r;
        r.session_id = "s1";
        r.update.new_facts.push_back({"Likes \xE2\x81\xA6tea", engram::memory::confidence::high, engram::memory::fact_source::stated});
        BOOST_REQUIRE(store->apply(id, std::span<const engram::memory::update_request>(&r, 1)));
    }
    auto list = w.run({"memory", "list"});
    BOOST_TEST(list.exit_status == 0);
    BOOST_TEST(list.out == "eve?31m?lin\n", list.out);
    auto show = w.run({"memory", "show", id});
    BOOST_TEST(show.exit_status == 0, show.err);
    BOOST_TEST(contains(show.out, "user: eve?31m?lin\n"), show.out);
    BOOST_TEST(contains(show.out, "Likes ?tea"), show.out);
    for (const auto& out : {list.out, show.out}) {
        BOOST_TEST(!contains(out, "\xC2\x9B"));
        BOOST_TEST(!contains(out, "\xE2\x80\xAE"));
        BOOST_TEST(!contains(out, "\xE2\x81\xA6"));
    }
}

BOOST_AUTO_TEST_CASE(memory_commands_show_history_undo_export_and_forget_leaves_no_file) {
    fake_anthropic_server server;
    echo_server(server, fact_update);
    cli_world w(server);
    BOOST_REQUIRE_EQUAL(w.run({"run", "--user", "alice", "-m", "I use Python"}).exit_status, 0);
    BOOST_REQUIRE_EQUAL(w.run({"run", "--user", "carol", "-m", "I use Go"}).exit_status, 0);

    auto list = w.run({"memory", "list"});
    BOOST_TEST(list.exit_status == 0);
    BOOST_TEST(list.out == "alice\ncarol\n");

    auto show = w.run({"memory", "show", "alice"});
    BOOST_TEST(show.exit_status == 0);
    BOOST_TEST(contains(show.out, "Uses Python and FastAPI for the backend"));
    BOOST_TEST(contains(show.out, "sessions: 1"));

    auto history = w.run({"memory", "history", "alice"});
    BOOST_TEST(history.exit_status == 0);
    BOOST_TEST(contains(history.out, "Uses Python and FastAPI"));

    auto exported = w.run({"memory", "export", "alice"});
    BOOST_TEST(exported.exit_status == 0);
    BOOST_TEST(json::parse(exported.out).at("user_id") == "alice");
    auto all = w.run({"memory", "export"});
    BOOST_TEST(json::parse(all.out).at("users").as_array().size() == 2u);

    // One id, not two: forget cannot be undone, so neither one is guessed.
    auto two_ids = w.run({"memory", "forget", "alice", "--user", "carol"});
    BOOST_TEST(two_ids.exit_status == 2);
    BOOST_TEST(contains(error_line(two_ids), "two user ids"), two_ids.err);
    BOOST_TEST(any_file_mentions(w.memory, "alice"));
    BOOST_TEST(any_file_mentions(w.memory, "carol"));

    auto undo = w.run({"memory", "undo", "alice", "--output", "json"});
    BOOST_TEST(undo.exit_status == 0);
    BOOST_TEST(!contains(undo.out, "FastAPI"));
    BOOST_TEST(json::parse(undo.out).at("session_count") == 0);  // the memory now, as show gives it
    auto undo2 = w.run({"memory", "undo", "alice"});
    BOOST_TEST(undo2.exit_status == 3);
    BOOST_TEST(contains(error_line(undo2), "nothing to undo"));

    BOOST_TEST(any_file_mentions(w.memory, "alice"));
    auto forget = w.run({"memory", "forget", "alice"});
    BOOST_TEST(forget.exit_status == 0);
    BOOST_TEST(contains(forget.out, "forgot everything stored about alice"));
    BOOST_TEST(!any_file_mentions(w.memory, "alice"));  // record, lock, journal, quarantine: nothing left
    auto forget_json = w.run({"memory", "forget", "alice", "--output", "json"});
    BOOST_TEST(forget_json.exit_status == 0);
    BOOST_TEST(same_json(json::parse(forget_json.out), json::parse(R"({"user_id":"alice","erased":false})")));
    BOOST_TEST(any_file_mentions(w.memory, "carol"));
    BOOST_TEST(w.run({"memory", "list"}).out == "carol\n");

    auto bad = w.run({"memory", "frob"});
    BOOST_TEST(bad.exit_status == 2);
    error_line(bad);
}

BOOST_AUTO_TEST_CASE(agents_lists_builtins_and_agent_files) {
    cli_world w;
    {
        std::ofstream f(w.work / "tutor.json");
        f << R"({"name": "tutor", "description": "A patient tutor. More.", "system_prompt": "Teach {{user_id}}.\n{{memory}}"})";
    }
    auto r = w.run({"agents", "--agent-file", "tutor.json"});
    BOOST_TEST(r.exit_status == 0);
    for (const char* name : {"assistant", "sales", "dba", "tutor"}) BOOST_TEST(contains(r.out, std::string(name) + "  ("));
    BOOST_TEST(contains(r.out, "A patient tutor."));
    auto j = w.run({"agents", "--output", "json"});
    BOOST_TEST(json::parse(j.out).as_array().size() == 3u);
}

BOOST_AUTO_TEST_CASE(export_to_a_full_disk_exits_1) {
    cli_world w;
    fs::create_directories(w.memory);  // an (empty) memory directory: the memory commands create none
    child_options o;
    o.stdout_to = engram::test::child_stdout::dev_full;
    auto r = w.run({"memory", "export"}, {}, o);
    BOOST_TEST(r.exit_status == 1);
    BOOST_TEST(contains(error_line(r), "cannot write to stdout"));
}

BOOST_AUTO_TEST_CASE(export_of_every_user_exits_3_naming_a_corrupt_record_and_still_prints_the_rest) {
    fake_anthropic_server server;
    echo_server(server, fact_update);
    cli_world w(server);
    BOOST_REQUIRE_EQUAL(w.run({"run", "--user", "alice", "-m", "I use Python"}).exit_status, 0);
    BOOST_REQUIRE_EQUAL(w.run({"run", "--user", "carol", "-m", "I use Go"}).exit_status, 0);
    { std::ofstream(w.memory / "carol.json", std::ios::trunc) << "{not json"; }
    auto all = w.run({"memory", "export"});
    BOOST_TEST(all.exit_status == 3);
    BOOST_TEST(contains(error_line(all), "carol"));
    const auto users = json::parse(all.out).at("users").as_array();
    BOOST_TEST(users.size() == 2u);
    BOOST_TEST(users[0].at("user_id") == "alice");
}

// A damaged record is moved aside by the first read; later ones must not look like a user with
// nothing ever remembered.
BOOST_AUTO_TEST_CASE(show_after_a_damaged_record_was_moved_aside_says_where_it_is) {
    fake_anthropic_server server;
    echo_server(server, fact_update);
    cli_world w(server);
    BOOST_REQUIRE_EQUAL(w.run({"run", "--user", "bob", "-m", "I use Python"}).exit_status, 0);
    { std::ofstream(w.memory / "bob.json", std::ios::trunc) << "{not json"; }
    const auto first = w.run({"memory", "show", "bob"});
    BOOST_TEST(first.exit_status == 3);
    BOOST_TEST(contains(error_line(first), ".quarantine"), first.err);
    const auto again = w.run({"memory", "show", "bob"});
    BOOST_TEST(again.exit_status == 0);
    BOOST_TEST(contains(again.err, "1 damaged copy of bob's memory kept in " + (w.memory / ".quarantine").string()), again.err);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(cli_chat)

BOOST_AUTO_TEST_CASE(chat_through_a_pipe_streams_replies_and_saves_memory_at_end_of_input) {
    fake_anthropic_server server;
    echo_server(server, fact_update);
    cli_world w(server);
    auto r = w.run({"chat", "--user", "alice"}, "I use Python\n\nWhat do I use?\n");
    BOOST_TEST(r.exit_status == 0);
    BOOST_TEST(contains(r.out, "you> agent> echo: I use Python\n"));
    BOOST_TEST(contains(r.out, "you> agent> echo: What do I use?\n"));
    BOOST_TEST(contains(r.err, "no memory yet for alice"));
    BOOST_TEST(contains(r.err, "memory saved for alice"));
    BOOST_TEST(chat_requests(server).size() == 2u);

    // quit ends the next session; the memory from the first is loaded.
    auto r2 = w.run({"chat", "--user", "alice"}, "hello\nquit\nnever sent\n");
    BOOST_TEST(r2.exit_status == 0);
    BOOST_TEST(contains(r2.err, "memory loaded for alice"));
    BOOST_TEST(!contains(r2.out, "never sent"));
    BOOST_TEST(chat_requests(server).size() == 3u);
}

BOOST_AUTO_TEST_CASE(ctrl_c_ends_the_chat_and_saves_memory) {
    fake_anthropic_server server;
    echo_server(server, fact_update);
    cli_world w(server);
    child_options o;
    o.close_stdin = false;  // the user is still "typing" when Ctrl-C comes
    o.signals = {SIGINT};
    o.signal_when_out_contains = "echo: I use Python\n";
    auto r = w.run({"chat", "--user", "alice"}, "I use Python\n", o);
    BOOST_TEST(r.exit_status == 0);
    BOOST_TEST(contains(r.err, "interrupted"));
    BOOST_TEST(contains(r.err, "memory saved for alice"));
    BOOST_TEST(fs::exists(w.memory / "alice.json"));
}

BOOST_AUTO_TEST_CASE(ctrl_c_in_a_chat_with_an_agent_that_remembers_nothing_promises_no_saving) {
    fake_anthropic_server server;
    echo_server(server, fact_update);
    cli_world w(server);
    {
        std::ofstream f(w.work / "quiz.json");
        f << R"({"name": "quiz", "description": "Asks questions.", "system_prompt": "Quiz {{user_id}}.", "remember": false})";
    }
    child_options o;
    o.close_stdin = false;
    o.signals = {SIGINT};
    o.signal_when_out_contains = "echo: I use Python\n";
    auto r = w.run({"chat", "--user", "alice", "--agent-file", "quiz.json", "--agent", "quiz"}, "I use Python\n", o);
    BOOST_TEST(r.exit_status == 0, r.err);
    BOOST_TEST(contains(r.err, "interrupted: ending the session"), r.err);
    BOOST_TEST(!contains(r.err, "saving memory"), r.err);
    BOOST_TEST(!contains(r.err, "memory not saved"), r.err);  // nothing was to be saved
    BOOST_TEST(!contains(r.err, "no memory yet"), r.err);     // nor loaded
    BOOST_TEST(contains(r.err, "remembers nothing"), r.err);
    BOOST_TEST(!contains(r.out, "memory is saved"), r.out);  // the banner promises nothing either
    BOOST_TEST(!fs::exists(w.memory / "alice.json"));
}

BOOST_AUTO_TEST_CASE(sigterm_ends_the_chat_saves_memory_and_exits_143) {
    fake_anthropic_server server;
    echo_server(server, fact_update);
    cli_world w(server);
    child_options o;
    o.close_stdin = false;
    o.signals = {SIGTERM};
    o.signal_when_out_contains = "echo: I use Python\n";
    auto r = w.run({"chat", "--user", "alice"}, "I use Python\n", o);
    BOOST_TEST(r.exit_status == 143);  // 128 + SIGTERM, as a shell reports a terminated program
    BOOST_TEST(contains(r.err, "terminated"), r.err);
    BOOST_TEST(!contains(r.err, "Ctrl-C"), r.err);  // nobody pressed it
    BOOST_TEST(contains(r.err, "memory saved for alice"), r.err);
    BOOST_TEST(fs::exists(w.memory / "alice.json"));
}

BOOST_AUTO_TEST_CASE(second_ctrl_c_quits_at_once_and_the_next_start_saves_the_journaled_session) {
    fake_anthropic_server server;
    std::atomic<bool> slow_memory{true};
    server.set_handler([&slow_memory](const recorded_request& r) {
        if (!is_extraction(r)) return echo_reply(r);
        auto reply = extraction_reply(fact_update);
        // The first process's memory pass hangs so that the second Ctrl-C comes while it waits.
        if (slow_memory) reply.delay_before_header = 30s;
        return reply;
    });
    cli_world w(server);
    child_options o;
    o.close_stdin = false;
    o.signals = {SIGINT, SIGINT};
    o.signal_when_out_contains = "echo: I use Python\n";
    o.signal_gap = 500ms;
    o.timeout = 20s;  // far below the 30 s the memory pass would take: proves the quit did not wait
    auto r = w.run({"chat", "--user", "alice"}, "I use Python\n", o);
    BOOST_TEST(r.exit_status == 130);
    BOOST_TEST(contains(r.err, "quitting at once"));
    BOOST_TEST(!fs::exists(w.memory / "alice.json"));

    {
        auto jobs = w.open_store()->journal_list();
        BOOST_REQUIRE(jobs);
        BOOST_REQUIRE_EQUAL(jobs->size(), 1u);
        BOOST_TEST((*jobs)[0].user_id == "alice");
    }

    // The next start finishes the journaled session before its own.
    slow_memory = false;
    auto r2 = w.run({"run", "--user", "alice", "--message", "hello again"});
    BOOST_TEST(r2.exit_status == 0);
    BOOST_TEST(contains(r2.err, "memory loaded for alice"));  // the replayed session, merged before this one opened
    const auto store = w.open_store();
    auto rec = store->load("alice");
    BOOST_REQUIRE(rec);
    BOOST_TEST(rec->memory.session_count == 2);
    auto jobs = store->journal_list();
    BOOST_REQUIRE(jobs);
    BOOST_TEST(jobs->empty());
}

// Opening a session waits (up to 5 s) for the memory of the user's previous session, which a
// restart may be merging from the journal: a signal then stops the command as it would stop a
// turn, with that signal's status and no error line, and the replayed session is still saved.
BOOST_AUTO_TEST_CASE(a_signal_while_the_session_waits_for_the_last_memory_exits_as_during_a_turn) {
    fake_anthropic_server server;
    std::atomic<bool> memory_fails{true};
    server.set_handler([&memory_fails](const recorded_request& r) {
        if (!is_extraction(r)) return echo_reply(r);
        if (memory_fails)
            return scripted_response::json(500, R"({"type":"error","error":{"type":"api_error","message":"Internal"}})");
        auto reply = extraction_reply(fact_update);
        reply.delay_before_header = 2s;  // the open waits for this pass when the signal comes
        return reply;
    });
    cli_world w(server);
    const auto journaled = [&w] {
        auto jobs = w.open_store()->journal_list();
        BOOST_REQUIRE(jobs);
        return jobs->size();
    };
    struct signal_case {
        std::vector<std::string> args;
        int signal;
        int status;
    };
    const signal_case cases[] = {
        {{"run", "--user", "alice", "--message", "hello"}, SIGINT, 130},
        {{"chat", "--user", "alice"}, SIGINT, 0},  // Ctrl-C is how a chat ends
        {{"chat", "--user", "alice"}, SIGTERM, 143},
    };
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.args[0] << " with signal " << c.signal) {
            // A session whose memory pass failed stays in the journal; the next start replays it.
            memory_fails = true;
            auto first = w.run({"run", "--user", "alice", "--message", "I use Python"});
            BOOST_TEST(first.exit_status == 3);
            BOOST_TEST(journaled() == 1u);
            memory_fails = false;

            const auto passes_before = engram::test::extraction_requests(server).size();
            const auto turns_before = chat_requests(server).size();
            child_options o;
            o.close_stdin = false;
            o.signals = {c.signal};
            // The replayed session's pass has reached the server: the open is waiting for it.
            o.signal_when = [&] { return engram::test::extraction_requests(server).size() > passes_before; };
            auto r = w.run(c.args, "", o);
            BOOST_TEST(r.exit_status == c.status);
            BOOST_TEST(!contains(r.err, "engram: error:"), r.err);
            BOOST_TEST(chat_requests(server).size() == turns_before);  // the session never opened
            BOOST_TEST(journaled() == 0u);                             // the shutdown saved the replayed one
        }
    }
    auto rec = w.open_store()->load("alice");
    BOOST_REQUIRE(rec);
    BOOST_TEST(rec->memory.session_count == 3);
}

// A terminal is one open file description shared by stdin, stdout and stderr: whatever makes the
// chat's stdin non-blocking made its stdout non-blocking too, and a terminal slower than the reply
// made printing fail for good.
BOOST_AUTO_TEST_CASE(chat_on_a_slow_terminal_prints_a_long_reply_whole) {
    std::string big;
    for (int i = 0; big.size() < 600'000; ++i) big += "line-" + std::to_string(i) + " ";
    fake_anthropic_server server;
    server.set_handler([big](const recorded_request& r) {
        if (is_extraction(r)) return extraction_reply("{}");
        return scripted_response::sse(engram::test::make_text_stream(big, 50));
    });
    cli_world w(server);
    int master = -1, slave = -1;
    BOOST_REQUIRE(::openpty(&master, &slave, nullptr, nullptr, nullptr) == 0);
    termios t{};
    ::tcgetattr(slave, &t);
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(slave, TCSANOW, &t);
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) {
        const std::string kv = *e;
        if (!kv.starts_with("ANTHROPIC_") && !kv.starts_with("ENGRAM_") && !kv.starts_with("XDG_") && !kv.starts_with("HOME="))
            env_strings.push_back(kv);
    }
    env_strings.push_back("HOME=" + w.work.string());
    for (const auto& [k, v] : w.env) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<std::string> args{ENGRAM_CLI_PATH, "chat", "--user", "alice", "--memory-dir", w.memory.string()};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string cwd = w.work.string();
    const pid_t pid = ::fork();
    BOOST_REQUIRE(pid >= 0);
    if (pid == 0) {
        ::setsid();
        ::ioctl(slave, TIOCSCTTY, 0);
        ::dup2(slave, 0);
        ::dup2(slave, 1);
        ::dup2(slave, 2);
        ::close(master);
        if (slave > 2) ::close(slave);
        if (::chdir(cwd.c_str()) != 0) ::_exit(126);
        ::signal(SIGPIPE, SIG_DFL);
        ::execve(argv[0], argv.data(), envp.data());
        ::_exit(127);
    }
    ::close(slave);
    const std::string line = "hello\n";
    BOOST_REQUIRE(::write(master, line.data(), line.size()) == static_cast<ssize_t>(line.size()));
    std::this_thread::sleep_for(2s);  // a slow terminal: the reply fills the terminal's buffer meanwhile
    std::string out;
    bool quit_sent = false;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    for (;;) {
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            BOOST_ERROR("the chat did not finish in time");
            break;
        }
        if (!quit_sent && contains(out, "you> ") && out.find("you> ") != out.rfind("you> ")) {
            ::write(master, "quit\n", 5);
            quit_sent = true;
        }
        pollfd p{master, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        char buf[8192];
        const ssize_t k = ::read(master, buf, sizeof buf);
        if (k <= 0) break;  // EIO: the child closed the terminal
        out.append(buf, static_cast<std::size_t>(k));
    }
    ::close(master);
    int status = 0;
    ::waitpid(pid, &status, 0);
    BOOST_TEST(WIFEXITED(status));
    BOOST_TEST(WEXITSTATUS(status) == 0);
    std::string flat;
    for (char c : out)
        if (c != '\r') flat += c;
    BOOST_TEST(contains(flat, "agent> " + big + "\n"), "got " << flat.size() << " bytes of terminal output");
}

BOOST_AUTO_TEST_SUITE_END()
