#include "request_gate.hpp"

#include <algorithm>
#include <iterator>
#include <tuple>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <engram/net/error.hpp>

#include "history.hpp"

namespace engram::runtime::detail {
namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

std::optional<request_gate::permit> request_gate::try_acquire() {
    std::lock_guard lock(mutex_);
    if (available_ == 0 || steady::now() < paused_until_) return std::nullopt;
    --available_;
    return permit(shared_from_this());
}

asio::awaitable<request_gate::permit> request_gate::acquire(priority p, std::function<void(std::chrono::milliseconds)> on_pause,
                                                           asio::cancellation_slot cancel, std::string owner) {
    auto ex = co_await asio::this_coro::executor;
    // `cancel` ends a wait by cancelling its timer, as the coroutine's own cancellation would.
    struct listen {
        asio::cancellation_slot slot;
        listen(asio::cancellation_slot s, asio::steady_timer& t) : slot(s) {
            if (slot.is_connected()) slot.assign([&t](asio::cancellation_type) { t.cancel(); });
        }
        ~listen() {
            if (slot.is_connected()) slot.clear();
        }
    };
    for (;;) {
        std::shared_ptr<waiter> w;
        steady::time_point pause{};
        {
            std::lock_guard lock(mutex_);
            if (steady::now() < paused_until_) {
                pause = paused_until_;
            } else if (available_ > 0) {
                --available_;
                co_return permit(shared_from_this());
            } else {
                w = std::make_shared<waiter>();
                w->timer = std::make_shared<asio::steady_timer>(ex, steady::time_point::max());
                w->owner = owner;
                const bool interactive = p == priority::interactive || (!owner.empty() && promoted_.contains(owner));
                (interactive ? interactive_ : background_).push_back(w);
            }
        }
        if (!w) {
            if (on_pause) on_pause(std::chrono::ceil<std::chrono::milliseconds>(pause - steady::now()));
            asio::steady_timer t(ex, pause);
            const listen l(cancel, t);
            // Holds the gate: a frame destroyed unresumed (its executor gone) uncounts itself.
            struct counted_while_paused {
                std::shared_ptr<request_gate> g;
                explicit counted_while_paused(std::shared_ptr<request_gate> gate) : g(std::move(gate)) {
                    std::lock_guard lock(g->mutex_);
                    ++g->held_by_pause_;
                }
                ~counted_while_paused() {
                    std::lock_guard lock(g->mutex_);
                    --g->held_by_pause_;
                }
            };
            boost::system::error_code ec;
            {
                const counted_while_paused counted(shared_from_this());
                std::tie(ec) = co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
            }
            if (ec) throw net::client_error(net::errc::cancelled, "turn cancelled while held back by the rate limit");
            continue;
        }
        {
            const listen l(cancel, *w->timer);
            co_await w->timer->async_wait(asio::as_tuple(asio::use_awaitable));  // woken by a grant or cancellation
        }
        std::lock_guard lock(mutex_);
        if (w->granted) co_return permit(shared_from_this());  // the slot was handed to us
        // Woken without a grant: we were cancelled. Leave the queue (either: a promotion may
        // have moved it).
        for (auto* q : {&interactive_, &background_}) q->erase(std::remove(q->begin(), q->end(), w), q->end());
        if (background_.empty()) passed_over_ = 0;
        throw net::client_error(net::errc::cancelled, "cancelled while waiting for a request slot");
    }
}

void request_gate::release() {
    std::shared_ptr<waiter> next;
    {
        std::lock_guard lock(mutex_);
        if (interactive_.empty() && background_.empty()) {
            ++available_;
            return;
        }
        const bool background_now = !background_.empty() && (interactive_.empty() || passed_over_ + 1 >= background_turn);
        auto& q = background_now ? background_ : interactive_;
        if (background_now) passed_over_ = 0;
        else if (!background_.empty()) ++passed_over_;
        next = std::move(q.front());
        q.pop_front();
        next->granted = true;  // hand the slot over directly: no barging past waiters
    }
    auto timer = next->timer;
    asio::post(timer->get_executor(), [timer] { timer->cancel(); });
}

void request_gate::promote(const std::string& owner) {
    std::lock_guard lock(mutex_);
    ++promoted_[owner];
    auto theirs = [&owner](const std::shared_ptr<waiter>& w) { return w->owner == owner; };
    std::copy_if(background_.begin(), background_.end(), std::back_inserter(interactive_), theirs);
    background_.erase(std::remove_if(background_.begin(), background_.end(), theirs), background_.end());
    if (background_.empty()) passed_over_ = 0;
}

void request_gate::unpromote(const std::string& owner) {
    std::lock_guard lock(mutex_);
    if (auto it = promoted_.find(owner); it != promoted_.end() && --it->second == 0) promoted_.erase(it);
}

void request_gate::observe(const net::rate_limits& limits, std::chrono::system_clock::time_point now) {
    long long until = 0;
    for (const auto* w : {&limits.requests, &limits.tokens, &limits.input_tokens, &limits.output_tokens}) {
        if (w->remaining && *w->remaining <= 0 && !w->reset.empty()) until = std::max(until, parse_rfc3339_utc(w->reset));
    }
    if (until == 0) return;
    const auto wait = std::chrono::seconds(until) - std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch());
    if (wait <= std::chrono::seconds(0)) return;
    const auto capped = std::min<std::chrono::steady_clock::duration>(wait, std::chrono::seconds(60));
    std::lock_guard lock(mutex_);
    paused_until_ = std::max(paused_until_, steady::now() + capped);
}

request_gate::load request_gate::current_load() const {
    std::lock_guard lock(mutex_);
    return {limit_ - available_, interactive_.size() + background_.size() + held_by_pause_};
}

std::chrono::milliseconds request_gate::pause_remaining() const {
    std::lock_guard lock(mutex_);
    const auto now = steady::now();
    return paused_until_ > now ? std::chrono::duration_cast<std::chrono::milliseconds>(paused_until_ - now)
                               : std::chrono::milliseconds(0);
}

}  // namespace engram::runtime::detail
