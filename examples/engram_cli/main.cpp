// engram: the command line. Parses the options, reads ./.env, runs one command; every failure
// becomes one line on stderr and an exit status (errors.hpp).
#include <cstdlib>
#include <iostream>
#include <string>

#include "commands.hpp"
#include "errors.hpp"
#include "output.hpp"

int main(int argc, char** argv) {
    namespace cli = engram::cli;
    cli::error_context ctx;
    try {
        const cli::options o = cli::parse_command_line(argc, argv);
        if (o.version) {
            std::cout << "engram 0.1\n";
            return cli::exit_ok;
        }
        if (o.help || o.command.empty() || o.command == "help") {
            const std::string topic = o.command == "help" && !o.positionals.empty() ? o.positionals[0] : o.command;
            (o.command.empty() && !o.help ? std::cerr : std::cout) << cli::help_text(topic);
            return o.command.empty() && !o.help ? cli::exit_usage : cli::exit_ok;
        }
        cli::load_dotenv(".env");  // the real environment wins over the file
        if (const char* key = std::getenv("ANTHROPIC_API_KEY")) ctx.api_key = key;
        if (o.command == "run") return cli::run_command(o);
        if (o.command == "chat") return cli::chat_command(o);
        if (o.command == "memory") return cli::memory_command(o);
        if (o.command == "agents") return cli::agents_command(o);
        throw cli::usage_error("unknown command '" + o.command + "' (run, chat, memory, agents; see engram --help)");
    } catch (...) {
        return cli::report(cli::describe(std::current_exception(), ctx), ctx);
    }
}
