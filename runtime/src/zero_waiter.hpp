// Waiting for a counter to reach zero (private to runtime/).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>

namespace engram::runtime::detail {

/// Waits (without a thread) until a counter reaches zero or a deadline passes. add() and done()
/// may be called from any thread, and the waiting coroutines may run on a multi-threaded
/// executor.
class zero_waiter {
public:
    void add() {
        std::lock_guard lock(mutex_);
        ++count_;
    }
    void done() {
        std::vector<std::shared_ptr<waiter>> wake;
        {
            std::lock_guard lock(mutex_);
            if (--count_ == 0) wake.swap(waiters_);
        }
        for (auto& w : wake)
            boost::asio::dispatch(w->strand, [w] {
                w->woken = true;
                w->timer.cancel();
            });
    }
    std::size_t count() const {
        std::lock_guard lock(mutex_);
        return count_;
    }
    /// Returns whether the count reached zero before `deadline`.
    boost::asio::awaitable<bool> wait(std::chrono::steady_clock::time_point deadline) {
        const auto ex = co_await boost::asio::this_coro::executor;
        // The locking and every early exit live in plain functions: GCC 12 destroys a
        // coroutine's loop-scoped locals twice on a co_return from a nested block.
        for (;;) {
            auto w = enlist(ex, deadline);
            if (!w) break;
            co_await sleep(w);
            if (!leave(*w)) break;
        }
        co_return count() == 0;
    }

private:
    struct waiter;

    /// A new waiter, queued; null when the count is zero or the deadline has passed.
    std::shared_ptr<waiter> enlist(const boost::asio::any_io_executor& ex, std::chrono::steady_clock::time_point deadline) {
        std::lock_guard lock(mutex_);
        if (count_ == 0 || std::chrono::steady_clock::now() >= deadline) return nullptr;
        auto w = std::make_shared<waiter>(ex, deadline);
        waiters_.push_back(w);
        return w;
    }
    /// Takes a waiter whose sleep ended out of the queue. Returns whether to wait again: it was
    /// woken, but the count rose again before the waiting coroutine looked.
    bool leave(const waiter& w) {
        std::lock_guard lock(mutex_);
        std::erase_if(waiters_, [&](const auto& p) { return p.get() == &w; });
        return count_ != 0 && w.woken;
    }
    /// Until done() wakes `w`, its deadline passes or the wait is cancelled. The wake-up and the
    /// start of the wait both run on the waiter's strand: a wake-up that comes first is seen by
    /// the `woken` check instead of being lost, and the timer is never used by two threads at once.
    static boost::asio::awaitable<std::tuple<boost::system::error_code>> sleep(const std::shared_ptr<waiter>& w) {
        namespace asio = boost::asio;
        auto token = asio::as_tuple(asio::use_awaitable);
        return asio::async_initiate<decltype(token), void(boost::system::error_code)>(
            [w](auto handler) {
                asio::dispatch(w->strand, [w, h = std::move(handler)]() mutable {
                    if (w->woken) w->timer.expires_at(std::chrono::steady_clock::time_point::min());
                    w->timer.async_wait(std::move(h));
                });
            },
            token);
    }

    struct waiter {
        waiter(const boost::asio::any_io_executor& ex, std::chrono::steady_clock::time_point deadline)
            : strand(boost::asio::make_strand(ex)), timer(strand, deadline) {}
        boost::asio::strand<boost::asio::any_io_executor> strand;
        boost::asio::steady_timer timer;  // used on `strand` only
        std::atomic<bool> woken{false};
    };

    mutable std::mutex mutex_;
    std::size_t count_ = 0;
    std::vector<std::shared_ptr<waiter>> waiters_;
};

}  // namespace engram::runtime::detail
