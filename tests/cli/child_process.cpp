#include "child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace engram::test {

child_result run_child(const std::string& program, const std::vector<std::string>& args, const child_options& o) {
    // Everything the child needs is built before fork (only async-signal-safe calls after it).
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) {
        const std::string kv = *e;
        if (kv.starts_with("ANTHROPIC_") || kv.starts_with("ENGRAM_") || kv.starts_with("XDG_") || kv.starts_with("HOME=") ||
            kv.starts_with("SSL_CERT_"))
            continue;
        env_strings.push_back(kv);
    }
    if (!o.unset_home) env_strings.push_back("HOME=" + o.cwd.string());
    for (const auto& [k, v] : o.env) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_strings{program};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);
    const std::string cwd = o.cwd.string();

    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC)) throw std::runtime_error("pipe failed");
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        ::dup2(in[0], 0);
        switch (o.stdout_to) {
            case child_stdout::pipe:
            case child_stdout::broken_pipe:
                ::dup2(out[1], 1);
                break;
            case child_stdout::closed:
                ::close(1);
                break;
            case child_stdout::dev_full: {
                const int full = ::open("/dev/full", O_WRONLY);
                if (full < 0) ::_exit(125);
                ::dup2(full, 1);
                ::close(full);
                break;
            }
        }
        ::dup2(err[1], 2);
        // A shell starts programs with SIGPIPE at its default (death); the test process ignores it
        // (below), and an ignored signal would stay ignored across execve.
        ::signal(SIGPIPE, SIG_DFL);
        if (::chdir(cwd.c_str()) != 0) ::_exit(126);
        ::execve(program.c_str(), argv.data(), envp.data());
        ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    ::signal(SIGPIPE, SIG_IGN);

    child_result r;
    std::size_t written = 0;
    int in_fd = in[1];
    ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
    if (o.stdin_text.empty() && o.close_stdin) {
        ::close(in_fd);
        in_fd = -1;
    }
    const auto deadline = std::chrono::steady_clock::now() + o.timeout;
    std::size_t signals_sent = 0;
    auto next_signal_at = std::chrono::steady_clock::time_point::max();
    bool out_open = true, err_open = true;
    if (o.stdout_to != child_stdout::pipe) {
        ::close(out[0]);  // broken_pipe: the reader is gone before the child writes
        out[0] = -1;
        out_open = false;
    }
    while (out_open || err_open) {
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline) {
            ::kill(pid, SIGKILL);
            r.timed_out = true;
            break;
        }
        if (signals_sent < o.signals.size()) {
            if (next_signal_at == std::chrono::steady_clock::time_point::max() &&
                ((!o.signal_when_out_contains.empty() && r.out.find(o.signal_when_out_contains) != std::string::npos) ||
                 (o.signal_when && o.signal_when())))
                next_signal_at = now;
            if (now >= next_signal_at) {
                ::kill(pid, o.signals[signals_sent++]);
                next_signal_at = now + o.signal_gap;
            }
        }
        pollfd fds[3];
        nfds_t n = 0;
        int out_i = -1, err_i = -1, in_i = -1;
        if (out_open) { fds[n] = {out[0], POLLIN, 0}; out_i = static_cast<int>(n++); }
        if (err_open) { fds[n] = {err[0], POLLIN, 0}; err_i = static_cast<int>(n++); }
        if (in_fd >= 0 && written < o.stdin_text.size()) { fds[n] = {in_fd, POLLOUT, 0}; in_i = static_cast<int>(n++); }
        ::poll(fds, n, 50);
        char buf[4096];
        auto drain = [&](int idx, int fd, std::string& into, bool& open) {
            if (idx < 0 || !(fds[idx].revents & (POLLIN | POLLHUP | POLLERR))) return;
            const ssize_t k = ::read(fd, buf, sizeof buf);
            if (k > 0) into.append(buf, static_cast<std::size_t>(k));
            else if (k == 0 || errno != EINTR) open = false;
        };
        drain(out_i, out[0], r.out, out_open);
        drain(err_i, err[0], r.err, err_open);
        if (in_i >= 0 && (fds[in_i].revents & (POLLOUT | POLLERR | POLLHUP))) {
            const ssize_t k = ::write(in_fd, o.stdin_text.data() + written, o.stdin_text.size() - written);
            if (k > 0) written += static_cast<std::size_t>(k);
            else if (errno != EAGAIN && errno != EINTR) written = o.stdin_text.size();
        }
        if (in_fd >= 0 && written >= o.stdin_text.size() && o.close_stdin) {
            ::close(in_fd);
            in_fd = -1;
        }
    }
    if (in_fd >= 0) ::close(in_fd);
    if (out[0] >= 0) ::close(out[0]);
    ::close(err[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    r.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return r;
}

}  // namespace engram::test
