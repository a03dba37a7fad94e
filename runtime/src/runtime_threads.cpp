#include "runtime_threads.hpp"

#include <algorithm>
#include <thread>

namespace engram::runtime::detail {

namespace {

/// Stops and joins `pool` (what ~thread_pool does), from another thread when this one is the
/// pool's: joining itself would fail and the pool's scheduler would be freed under the thread
/// that is still running it.
void retire(std::unique_ptr<boost::asio::thread_pool> pool) {
    if (!pool) return;
    if (pool->get_executor().running_in_this_thread()) {
        std::thread([p = std::move(pool)]() mutable { p.reset(); }).detach();
        return;
    }
    pool.reset();
}

}  // namespace

runtime_threads::runtime_threads(std::unique_ptr<boost::asio::thread_pool> executor_pool, std::size_t io_threads)
    : executor_pool_(std::move(executor_pool)),
      io_(std::make_unique<boost::asio::thread_pool>(std::max<std::size_t>(1, io_threads))) {}

runtime_threads::~runtime_threads() {
    retire(std::move(io_));  // idle by now: the actor has finished, or never ran
    retire(std::move(executor_pool_));
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
