#include "io_watchdog.hpp"

#include <algorithm>
#include <cerrno>
#include <utility>

#include <sys/socket.h>

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/error.hpp>

namespace engram::net::detail {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;
constexpr auto never = clock::time_point::max();
constexpr std::chrono::milliseconds wake_granularity{20};

// A step's deadline and whether it runs are atomics: the owner stores them at every step
// without a lock, and the wheel's timer reads them. The rest is guarded by the wheel's mutex
// (the owner, their only writer, also reads them without it).
//
// Why no step is missed: begin() stores its deadline (and the time of its look for input, if
// any), then reads when the wheel wakes; the timer's handler marks the wheel unarmed, then reads
// the times (all sequentially consistent). So either the handler sees the new times, or begin()
// sees the wheel unarmed (or armed anew after that handler) and arms it for the earlier of its
// own if that comes first.
struct io_watchdog::state : std::enable_shared_from_this<state> {
    state(std::shared_ptr<watchdog_wheel> w, asio::ip::tcp::socket& s) : wheel(std::move(w)), socket(&s) {}

    const std::shared_ptr<watchdog_wheel> wheel;
    std::atomic<clock::time_point> deadline{never};
    std::atomic<bool> in_step{false};
    std::atomic<bool> fired{false};  // a timeout closed the socket during this step
    // A step of begin_input_wait(): when the wheel looks at the socket (never: not, or done), and
    // whether that look found input and cancelled the wait. Kept apart from `deadline`, so that
    // only a step's own deadline can ever close its socket.
    std::atomic<clock::time_point> probe_at{never};
    std::atomic<bool> probed{false};

    bool listed = false;
    asio::any_io_executor step_executor;  // where a timeout runs: the coroutine of the step
    asio::ip::tcp::socket* socket;        // null once the connection is gone
    state* prev = nullptr;                // the wheel's list
    state* next = nullptr;
};

io_watchdog::io_watchdog(std::shared_ptr<watchdog_wheel> wheel, asio::ip::tcp::socket& socket)
    : state_(std::make_shared<state>(std::move(wheel), socket)) {}

io_watchdog::~io_watchdog() {
    auto& w = *state_->wheel;
    std::lock_guard lock(w.mutex_);
    state_->socket = nullptr;  // a timeout on its way finds nothing to close
    if (state_->listed) w.unlink_locked(*state_);
}

void io_watchdog::begin(clock::time_point deadline, const asio::any_io_executor& ex) { start(deadline, never, ex); }

void io_watchdog::begin_input_wait(clock::time_point probe_at, clock::time_point deadline, const asio::any_io_executor& ex) {
    start(deadline, probe_at < deadline ? probe_at : never, ex);
}

void io_watchdog::start(clock::time_point deadline, clock::time_point probe_at, const asio::any_io_executor& ex) {
    auto& s = *state_;
    auto& w = *s.wheel;
    s.fired.store(false);
    s.probed.store(false);
    s.deadline.store(deadline);
    s.probe_at.store(probe_at);
    s.in_step.store(true);
    const auto first = std::min(deadline, probe_at);  // what the wheel must wake up for
    if (!s.listed || s.step_executor != ex) {
        std::lock_guard lock(w.mutex_);
        if (s.step_executor != ex) s.step_executor = ex;
        if (!s.listed) w.link_locked(s);
        if (first != never) w.wake_by_locked(first);
        return;
    }
    if (first != never && first < w.wake_at_.load()) {
        std::lock_guard lock(w.mutex_);
        w.wake_by_locked(first);
    }
}

boost::system::error_code io_watchdog::finish(boost::system::error_code ec) {
    state_->in_step.store(false);
    if (state_->fired.exchange(false)) return boost::beast::error::timeout;
    if (state_->probed.load() && state_->probed.exchange(false) && ec == asio::error::operation_aborted) return {};
    return ec;
}

bool input_waiting(asio::ip::tcp::socket& s) noexcept {
    char byte;
    const ssize_t n = ::recv(s.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
}

void io_watchdog::idle() {
    auto& s = *state_;
    s.in_step.store(false);
    s.fired.store(false);
    if (!s.listed) return;
    std::lock_guard lock(s.wheel->mutex_);
    s.wheel->unlink_locked(s);
}

watchdog_wheel::watchdog_wheel(asio::any_io_executor ex) : timer_(std::move(ex)) {}

std::size_t watchdog_wheel::watched() const {
    std::lock_guard lock(mutex_);
    return watched_;
}

std::uint64_t watchdog_wheel::hidden_input_found() const {
    std::lock_guard lock(mutex_);
    return hidden_input_found_;
}

void watchdog_wheel::link_locked(io_watchdog::state& s) noexcept {
    s.prev = nullptr;
    s.next = head_;
    if (head_) head_->prev = &s;
    head_ = &s;
    s.listed = true;
    ++watched_;
}

void watchdog_wheel::unlink_locked(io_watchdog::state& s) noexcept {
    if (s.prev) s.prev->next = s.next;
    else head_ = s.next;
    if (s.next) s.next->prev = s.prev;
    s.prev = s.next = nullptr;
    s.listed = false;
    if (--watched_ == 0 && wake_at_.load() != never) {
        // Nothing left to bound: an armed timer would hold the io_context's run() until it fires.
        wake_at_.store(never);
        ++generation_;
        timer_.cancel();
    }
}

void watchdog_wheel::wake_by_locked(clock::time_point t) {
    if (t >= wake_at_.load()) return;
    wake_at_.store(t);
    const auto generation = ++generation_;
    timer_.expires_at(t);  // cancels a later wait, whose handler then finds itself superseded
    timer_.async_wait([self = shared_from_this(), generation](boost::system::error_code ec) {
        self->on_timer(generation, ec);
    });
}

void watchdog_wheel::on_timer(std::uint64_t generation, boost::system::error_code ec) {
    std::lock_guard lock(mutex_);
    if (generation != generation_) return;
    wake_at_.store(never);
    if (ec) return;
    const auto now = clock::now();
    auto next = never;
    for (auto* s = head_; s; s = s->next) {
        if (!s->in_step.load()) continue;  // between steps: the next one stores its own deadline
        const auto deadline = s->deadline.load();
        const auto d = std::min(deadline, s->probe_at.load());
        if (d > now) {
            next = std::min(next, d);
            continue;
        }
        if (deadline > now) next = std::min(next, deadline);  // a look for input: the deadline is still to come
        asio::post(s->step_executor, [st = s->shared_from_this(), ex = s->step_executor] { st->wheel->expire(*st, ex); });
    }
    // Not sooner than a little while from now: thousands of streams falling silent one after
    // another have probe times a moment apart, and a wake-up for each (each a walk of the list)
    // would cost far more than the little lateness of a probe or timeout.
    if (next != never) wake_by_locked(std::max(next, now + wake_granularity));
}

void watchdog_wheel::expire(io_watchdog::state& s, const asio::any_io_executor& ex) {
    std::lock_guard lock(mutex_);
    // The step may have ended, or a later one begun, while this was on its way. One begun by a
    // coroutine on another executor is not this one's to touch: its begin() armed the timer for
    // its own deadline, which sends it a timeout of its own.
    if (!s.socket || s.step_executor != ex || !s.in_step.load()) return;
    const auto now = clock::now();
    if (s.deadline.load() > now) {
        // Not a timeout; the step's look for input without an edge, if that is due. Taken by
        // exchange, so that a later step's own look (another time) is never taken for it.
        auto probe = s.probe_at.load();
        if (probe > now || !s.probe_at.compare_exchange_strong(probe, never)) return;
        if (input_waiting(*s.socket)) {
            ++hidden_input_found_;
            s.probed.store(true);
            boost::system::error_code ignored;
            s.socket->cancel(ignored);  // the wait ends; the step reads what is there
        }
        // Else nothing is hidden: whatever comes from now on raises an edge of its own, and the
        // step is left to its deadline, for which on_timer() armed the wheel when it sent this.
        return;
    }
    s.fired.store(true);
    boost::system::error_code ignored;
    s.socket->close(ignored);  // the pending operation fails; finish() reports the timeout
}

}  // namespace engram::net::detail
