// The process-wide limit on in-flight model requests (private to runtime/).
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>

#include <engram/net/rate_limits.hpp>

namespace engram::runtime::detail {

/// A counting semaphore with two priorities: a freed slot goes to the oldest interactive waiter
/// before any background (extraction) waiter, except that while background requests wait, every
/// background_turn-th freed slot goes to the oldest of them: under sustained interactive load
/// memory would otherwise never be saved. A background request made for an owner (a user) whom
/// someone waits for (promote()) counts as interactive: a user opening a session waits for that
/// user's last memory pass, not for every other user's. It also pauses new requests while the
/// server's rate-limit headers say a window is exhausted, so the process slows down before a 429.
/// Thread-safe; its mutex is never held across a suspension.
class request_gate : public std::enable_shared_from_this<request_gate> {
public:
    enum class priority { interactive, background };

    /// Returns its slot when destroyed.
    class permit {
    public:
        permit() = default;
        explicit permit(std::shared_ptr<request_gate> g) : gate_(std::move(g)) {}
        permit(permit&&) noexcept = default;
        /// Returns the slot it held, if any, before it takes the other's.
        permit& operator=(permit&& other) noexcept {
            if (this != &other) {
                if (gate_) gate_->release();
                gate_ = std::move(other.gate_);
            }
            return *this;
        }
        ~permit() {
            if (gate_) gate_->release();
        }

    private:
        std::shared_ptr<request_gate> gate_;
    };

    /// While background requests wait, one freed slot in this many goes to them.
    static constexpr unsigned background_turn = 8;

    explicit request_gate(std::size_t limit) : limit_(limit == 0 ? 1 : limit), available_(limit_) {}

    /// A slot if one is free and no rate-limit pause is on, without waiting (and without the
    /// coroutine frame acquire() costs).
    std::optional<permit> try_acquire();
    /// Waits for a slot. `on_pause` (optional) hears how long the request is held back when a
    /// rate-limit window is exhausted, so a long wait can be shown. Emitting `cancel`'s signal
    /// (on the executor running the wait) cancels a wait, as the awaiting coroutine's own
    /// cancellation does; a cancelled wait throws net::client_error(errc::cancelled), the error
    /// a turn cancelled at any other step ends with.
    /// `owner`: whose request it is (a user id; empty: no one's), for promote().
    boost::asio::awaitable<permit> acquire(priority p, std::function<void(std::chrono::milliseconds)> on_pause = {},
                                           boost::asio::cancellation_slot cancel = {}, std::string owner = {});
    /// From now until the matching unpromote(), `owner`'s background requests count as
    /// interactive: those waiting move behind the interactive waiters (in the order they came),
    /// and those made meanwhile join them there. Calls nest.
    void promote(const std::string& owner);
    void unpromote(const std::string& owner);
    /// Feeds one response's rate-limit headers.
    void observe(const net::rate_limits& limits, std::chrono::system_clock::time_point now = std::chrono::system_clock::now());
    /// How long new requests are held back from now (zero when not paused).
    std::chrono::milliseconds pause_remaining() const;

    /// Slots taken (a slot handed to a waiter that has not resumed yet counts as taken) and
    /// requests waiting, for one or for a rate-limit pause, read under one lock.
    struct load {
        std::size_t in_use = 0;
        std::size_t waiting = 0;
    };
    load current_load() const;

private:
    struct waiter {
        std::shared_ptr<boost::asio::steady_timer> timer;
        std::string owner;
        bool granted = false;
    };
    void release();

    mutable std::mutex mutex_;
    const std::size_t limit_;
    std::size_t available_;
    std::size_t held_by_pause_ = 0;  ///< requests sleeping out a rate-limit pause (in no queue)
    std::deque<std::shared_ptr<waiter>> interactive_, background_;
    unsigned passed_over_ = 0;  ///< slots given to interactive waiters while background ones waited
    std::map<std::string, unsigned, std::less<>> promoted_;  ///< owner -> promote() calls not yet undone
    std::chrono::steady_clock::time_point paused_until_{};
};

}  // namespace engram::runtime::detail
