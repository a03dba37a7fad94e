#include "runtime_threads.hpp"

#include <algorithm>
#include <thread>

namespace engram::runtime::detail {

runtime_threads::runtime_threads(std::unique_ptr<boost::asio::thread_pool> executor_pool, std::size_t io_threads)
    : executor_pool_(std::move(executor_pool)),
      io_(std::make_unique<boost::asio::thread_pool>(std::max<std::size_t>(1, io_threads))) {}

runtime_threads::~runtime_threads() {
    // Stopped and joined (what ~thread_pool does; the I/O pool is idle by now: the actor has
    // finished, or never ran), from another thread when this one is a pool's: joining itself
    // would fail and the pool's scheduler would be freed under the thread still running it.
    const auto is_own = [](const std::unique_ptr<boost::asio::thread_pool>& p) {
        return p && p->get_executor().running_in_this_thread();
    };
    const bool on_own_thread = is_own(io_) || is_own(executor_pool_);
    auto retire = [io = std::move(io_), executor_pool = std::move(executor_pool_), latch = joined_]() mutable {
        io.reset();
        executor_pool.reset();
        latch->set();
    };
    if (on_own_thread) std::thread(std::move(retire)).detach();
    else retire();
}

void runtime_threads::joined_latch::set() {
    {
        std::lock_guard lock(mutex_);
        joined_ = true;
    }
    cv_.notify_all();
}

bool runtime_threads::joined_latch::wait_for(std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, limit, [this] { return joined_; });
}

void runtime_threads::actor_started() {
    std::lock_guard lock(mutex_);
    actor_running_ = true;
}

void runtime_threads::actor_finished() {
    {
        std::lock_guard lock(mutex_);
        actor_running_ = false;
    }
    actor_done_.notify_all();
}

bool runtime_threads::on_executor_pool() const {
    return executor_pool_ && executor_pool_->get_executor().running_in_this_thread();
}

bool runtime_threads::wait_for_actor(std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    return actor_done_.wait_for(lock, limit, [this] { return !actor_running_; });
}

}  // namespace engram::runtime::detail
