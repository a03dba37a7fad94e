// engram: the command line. Parses the options, reads ./.env, runs one command; every failure
// becomes one line on stderr and an exit status (errors.hpp).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>

#include "commands.hpp"
#include "errors.hpp"
#include "output.hpp"

namespace {

// The command `o` names; its exit status.
int run_command_of(const engram::cli::options& o, engram::cli::error_context& ctx) {
    namespace cli = engram::cli;
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
}

// Puts /dev/null on any of descriptors 0-2 that is closed, so that no file or socket engram
// opens later gets that number (the reply would be written into the memory file or the API
// connection). Returns whether stdout was closed.
bool reserve_standard_descriptors() {
    bool stdout_closed = false;
    for (int fd = 0; fd <= 2; ++fd) {
        if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
        if (fd == STDOUT_FILENO) stdout_closed = true;
        const int null = ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);  // the lowest free number: fd
        if (null != fd && null >= 0) ::close(null);
    }
    return stdout_closed;
}

}  // namespace

int main(int argc, char** argv) {
    namespace cli = engram::cli;
    // A reader that goes away (`engram run ... | head -c 10`) must not kill engram mid-session:
    // the session still has to end and save its memory. Writes then fail with EPIPE instead,
    // and stdout is checked (cli::stdout_ok, cli::stdout_failure).
    std::signal(SIGPIPE, SIG_IGN);
    const bool stdout_closed = reserve_standard_descriptors();
    cli::error_context ctx;
    try {
        const cli::options o = cli::parse_command_line(argc, argv);
        if (stdout_closed)
            throw cli::usage_error("stdout is closed, so nothing engram prints could be read; redirect it instead "
                                   "(e.g. >/dev/null)");
        const int code = run_command_of(o, ctx);
        if (const auto failed = cli::stdout_failure()) {
            cli::report({cli::exit_api, *failed}, ctx);
            return code == cli::exit_ok ? cli::exit_api : code;
        }
        return code;
    } catch (...) {
        return cli::report(cli::describe(std::current_exception(), ctx), ctx);
    }
}
