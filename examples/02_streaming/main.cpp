// 02_streaming: stream one reply from the Messages API and print it as it arrives.
//
//   engram_example_streaming [--model NAME] [--ca-file FILE] [MESSAGE...]
//
// Endpoint and key come from ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY. Without a key, start the
// bundled stand-in server (build/examples/engram_standin_server prints the 127.0.0.1 URL it
// listens on) and set ANTHROPIC_BASE_URL to it and ANTHROPIC_API_KEY to any value. Errors are one
// line with their kind, never a stack trace and never the key; the exit status is non-zero.

#include <engram/net/claude_client.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/array.hpp>

namespace asio = boost::asio;
namespace net = engram::net;

namespace {

asio::awaitable<void> stream_one(net::claude_client& client, std::string model, std::string text) {
    net::message_request req;
    req.body = {{"model", model},
                {"max_tokens", 512},
                {"messages", boost::json::array{{{"role", "user"}, {"content", text}}}}};
    auto stream = co_await client.stream_message(std::move(req));
    std::cout << "assistant: " << std::flush;
    while (auto ev = co_await stream.next()) std::cout << ev->text() << std::flush;  // deltas as they arrive
    const auto& msg = stream.current();
    const auto usage = msg.usage();
    std::cout << "\n[" << msg.model() << ", stop_reason=" << msg.stop_reason()
              << ", input_tokens=" << usage.input_tokens.value_or(0) << ", output_tokens=" << usage.output_tokens.value_or(0)
              << ", request-id=" << stream.response().request_id << "]\n";
}

}  // namespace

int main(int argc, char** argv) {
    std::string model = std::getenv("ENGRAM_MODEL") ? std::getenv("ENGRAM_MODEL") : "claude-haiku-4-5";
    std::string ca_file;
    std::string text;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::cout << "usage: engram_example_streaming [--model NAME] [--ca-file FILE] [MESSAGE...]\n"
                         "environment: ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL, ENGRAM_MODEL, SSL_CERT_FILE\n";
            return 0;
        }
        if (arg == "--model" && i + 1 < argc) model = argv[++i];
        else if (arg == "--ca-file" && i + 1 < argc) ca_file = argv[++i];
        else text += (text.empty() ? "" : " ") + arg;
    }
    if (text.empty()) text = "Hello! Please introduce yourself in one sentence.";

    auto cfg = net::client_config::from_env();
    if (!ca_file.empty()) cfg.ca_file = ca_file;
    if (cfg.api_key.empty()) {
        std::cerr << "error: ANTHROPIC_API_KEY is not set (put your key in the environment, or start "
                     "build/examples/engram_standin_server and point ANTHROPIC_BASE_URL at it, with any key)\n";
        return 2;
    }
    try {
        asio::io_context ioc;
        net::claude_client client(ioc.get_executor(), cfg);
        std::cout << "you: " << text << "\n";
        std::exception_ptr failure;
        asio::co_spawn(ioc, stream_one(client, model, text), [&](std::exception_ptr e) { failure = e; });
        ioc.run();
        if (failure) std::rethrow_exception(failure);
    } catch (const net::client_error& e) {
        std::cerr << "\nerror (" << net::to_string(e.kind()) << "): " << e.what() << "\n";
        return 1;
    }
    return 0;
}
