#include "line_reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <iostream>
#include <iterator>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace asio = boost::asio;

namespace engram::cli {

namespace {
int saved_stdin_flags = -1;
}

line_reader::line_reader(asio::any_io_executor executor) {
    struct stat st {};
    const bool pollable = ::fstat(STDIN_FILENO, &st) == 0 &&
                          (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || (S_ISCHR(st.st_mode) && ::isatty(STDIN_FILENO)));
    if (pollable) {
        // Asio makes the descriptor it reads non-blocking, and O_NONBLOCK belongs to the open file
        // description, not the descriptor. On a terminal stdin, stdout and stderr are one
        // description: a non-blocking stdin made stdout non-blocking too, and the first write to
        // a terminal slower than the reply failed with EAGAIN and stopped std::cout for good.
        // Reopening stdin gives a description of our own (a pipe or terminal can be reopened
        // through /proc), so only it becomes non-blocking.
        // O_NONBLOCK: opening a named FIFO whose writer has gone would otherwise wait for a new
        // one (Asio makes the descriptor non-blocking anyway).
        const auto reopen = [](const char* path) {
            int fd;
            do fd = ::open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
            while (fd < 0 && errno == EINTR);
            return fd;
        };
        int own = reopen("/proc/self/fd/0");
        // A terminal this user may not open by its name (su or sudo -u without a new one):
        // /dev/tty is the controlling terminal whatever its mode, and still a description of our
        // own; the shared one would bring the stopped-output bug back.
        if (own < 0 && ::isatty(STDIN_FILENO)) {
            own = reopen("/dev/tty");
            struct stat tty {};
            // Only if it is the very terminal stdin is (stdin may be another terminal's device).
            if (own >= 0 && (::fstat(own, &tty) != 0 || tty.st_rdev != st.st_rdev)) {
                ::close(own);
                own = -1;
            }
        }
        if (own >= 0) {
            owned_ = true;
            stdin_.emplace(executor, own);
        } else {  // a socket cannot be reopened: the shared description, its flags restored at the end
            saved_stdin_flags = ::fcntl(STDIN_FILENO, F_GETFL);
            stdin_.emplace(executor, STDIN_FILENO);
        }
    } else {
        buffer_.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
        eof_ = true;
    }
}

line_reader::~line_reader() {
    if (stdin_) {
        boost::system::error_code ignored;
        stdin_->cancel(ignored);
        if (owned_) stdin_->close(ignored);
        else (void)stdin_->release();  // stdin is not ours to close
    }
    restore_stdin_flags();
}

void line_reader::restore_stdin_flags() noexcept {
    if (saved_stdin_flags != -1) ::fcntl(STDIN_FILENO, F_SETFL, saved_stdin_flags);
}

std::optional<std::string> line_reader::take_line() {
    const auto nl = buffer_.find('\n');
    if (nl == std::string::npos) {
        if (!eof_ || buffer_.empty()) return std::nullopt;
        std::string last = std::move(buffer_);  // a last line without end-of-line
        buffer_.clear();
        return last;
    }
    std::string line = buffer_.substr(0, nl);
    buffer_.erase(0, nl + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

asio::awaitable<std::optional<std::string>> line_reader::read_line() {
    for (;;) {
        if (cancelled_) co_return std::nullopt;
        if (auto line = take_line()) co_return line;
        if (eof_ || !stdin_) co_return std::nullopt;
        auto [ec, n] = co_await asio::async_read_until(*stdin_, asio::dynamic_buffer(buffer_), '\n',
                                                       asio::as_tuple(asio::use_awaitable));
        (void)n;
        if (ec == asio::error::operation_aborted || cancelled_) co_return std::nullopt;
        if (ec) eof_ = true;  // end of input (or a read error, which ends input just the same)
    }
}

void line_reader::cancel() {
    cancelled_ = true;
    if (stdin_) {
        boost::system::error_code ignored;
        stdin_->cancel(ignored);
    }
}

std::string read_all_stdin() {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

}  // namespace engram::cli
