// Lines from stdin, read on the event loop so Ctrl-C and streaming replies are served meanwhile.
#pragma once

#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

namespace engram::cli {

/// Reads stdin line by line. A pipe, terminal or socket is read asynchronously; anything else
/// (a regular file, /dev/null) is read whole at construction, which cannot block. A pipe or
/// terminal is read through a descriptor of its own, reopened from /proc/self/fd/0, because
/// Asio makes what it reads non-blocking and a terminal's stdin shares that flag with stdout
/// and stderr. A socket, which cannot be reopened, is read on descriptor 0 itself (never
/// closed), and its file-status flags are restored on destruction.
class line_reader {
public:
    explicit line_reader(boost::asio::any_io_executor executor);
    ~line_reader();
    line_reader(const line_reader&) = delete;
    line_reader& operator=(const line_reader&) = delete;

    /// The next line without its end-of-line; nullopt at end of input or after cancel().
    boost::asio::awaitable<std::optional<std::string>> read_line();
    /// Makes the pending and every later read_line() return nullopt.
    void cancel();

    /// Restores stdin's file-status flags (also safe to call right before _Exit).
    static void restore_stdin_flags() noexcept;

private:
    std::optional<std::string> take_line();
    std::optional<boost::asio::posix::stream_descriptor> stdin_;
    std::string buffer_;
    bool owned_ = false;  ///< stdin_ is our own reopened descriptor (closed at the end)
    bool eof_ = false;
    bool cancelled_ = false;
};

/// All of stdin, synchronously (for `engram run` without --message).
std::string read_all_stdin();

}  // namespace engram::cli
