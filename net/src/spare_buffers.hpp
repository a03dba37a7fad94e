// Emptied buffers kept per thread for the next stream that needs one (private to net/).
#pragma once

#include <cstddef>
#include <iterator>
#include <vector>

namespace engram::net::detail {

/// A stream lets go of its event queue and payload buffer whenever it waits (thousands of
/// waiting streams must not each hold them) and when it ends; the next stream the same thread
/// serves takes one back instead of asking malloc again. Those blocks are a few KiB, sizes
/// malloc keeps no per-thread list for, and a stream needs one or two per read: as malloc's
/// they cost list searches and merges of cold memory. A few per thread, each bounded: what is
/// kept is bounded per thread, not per stream.
///
/// Buffer is a std::vector or std::basic_string. Each thread has its own; nothing is shared.
template <class Buffer>
class spare_buffers {
public:
    /// Empties `b` and keeps its storage if there is room; `b` is left without storage.
    static void give(Buffer& b) noexcept {
        b.clear();
        const std::size_t bytes = b.capacity() * sizeof(typename Buffer::value_type);
        if (auto* self = mine(); self && bytes >= min_bytes && bytes <= max_bytes && self->kept_.size() < self->kept_.capacity())
            self->kept_.push_back(std::move(b));  // within the room reserved up front: no allocation
        Buffer().swap(b);
    }
    /// Gives the empty `b` a kept buffer with room for `n` elements, if one is kept that is not
    /// far larger (a stream that reads an event at a time would otherwise take a burst's buffer,
    /// find it too large for what it keeps while it waits, and give it back at every read).
    static void take(Buffer& b, std::size_t n) noexcept {
        auto* self = mine();
        if (!self) return;
        auto& kept = self->kept_;
        for (auto it = kept.rbegin(); it != kept.rend(); ++it) {
            if (it->capacity() < n || it->capacity() / 4 > n) continue;
            b.swap(*it);
            kept.erase(std::next(it).base());
            return;
        }
    }

private:
    static constexpr std::size_t max_kept = 8;
    static constexpr std::size_t min_bytes = 256;       // smaller ones malloc serves from its quick lists
    static constexpr std::size_t max_bytes = 32 * 1024;  // a rare large burst's is let go
    spare_buffers() noexcept {
        try {
            kept_.reserve(max_kept);
        } catch (...) {  // then nothing is kept
        }
    }
    ~spare_buffers() { gone() = true; }

    /// This thread's, or null once it has been destroyed (a stream may outlive it at exit).
    static spare_buffers* mine() noexcept {
        if (gone()) return nullptr;
        thread_local spare_buffers self;
        return &self;
    }
    /// Trivially destructible, so it can still be read after the thread's objects are gone.
    static bool& gone() noexcept {
        thread_local bool flag = false;
        return flag;
    }

    std::vector<Buffer> kept_;
};

}  // namespace engram::net::detail
