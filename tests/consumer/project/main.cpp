// A separate project using the installed engram package: it must compile against the installed
// headers, link the separately compiled Asio/Beast, and run a real (failing) request.
#include <engram/net/claude_client.hpp>
#include <engram/net/sse_parser.hpp>
#include <engram/runtime/runtime.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <unistd.h>

#include <filesystem>
#include <iostream>

int main() {
    engram::net::sse_parser parser;
    int events = 0;
    (void)parser.feed("data: hi\n\n", [&](const engram::net::sse_event&) { ++events; });
    if (events != 1) return 1;

    boost::asio::io_context ioc;
    engram::net::client_config cfg;
    cfg.base_url = "http://127.0.0.1:1";  // nothing listens on port 1
    cfg.api_key = "unused";
    cfg.retry.max_retries = 0;
    engram::net::claude_client client(ioc.get_executor(), cfg);
    int status = 1;
    client.async_create_message(engram::net::message_request{}, [&](std::exception_ptr e, engram::net::message) {
        try {
            if (e) std::rethrow_exception(e);
        } catch (const engram::net::client_error& err) {
            status = err.kind() == engram::net::error_kind::connection ? 0 : 2;
            std::cout << "consumer: got the expected " << engram::net::to_string(err.kind()) << " error\n";
        }
    });
    ioc.run();
    if (status != 0) return status;

    // The runtime: started on a scratch memory directory, one session opened (no request is
    // made before a message is sent), ended, shut down.
    const auto dir = std::filesystem::temp_directory_path() / ("engram-consumer-" + std::to_string(::getpid()));
    boost::asio::io_context rt_ioc;
    engram::runtime::runtime_config rcfg;
    rcfg.client = cfg;
    rcfg.memory_directory = dir;
    engram::runtime::runtime rt(rt_ioc.get_executor(), rcfg);
    status = 3;
    boost::asio::co_spawn(rt_ioc, [&]() -> boost::asio::awaitable<void> {
        co_await rt.start();
        auto s = co_await rt.open_session("assistant", "consumer");
        if (s.memory_block().find("new user") != std::string::npos && rt.stats().sessions_open == 1) status = 0;
        s.end();
        co_await rt.shutdown();
    }, [&](std::exception_ptr e) {
        try {
            if (e) std::rethrow_exception(e);
        } catch (const std::exception& err) {
            std::cout << "consumer: runtime failed: " << err.what() << "\n";
        }
    });
    rt_ioc.run();
    std::filesystem::remove_all(dir);
    if (status == 0) std::cout << "consumer: a runtime session opened and ended\n";
    return status;
}
