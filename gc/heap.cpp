// gc/heap.cpp — the public moss::Heap API, the barrier's slow path and Root
// handles. Everything here validates what the embedder hands in and forwards
// to the heap's HeapImpl and collector.
#include <cstdlib>
#include <cstring>
#include <string>

#include "gc/heap_impl.hpp"
#include "moss/moss.hpp"
#include "runtime/type_registry.hpp"

namespace moss {

namespace detail {

namespace {
// The barrier's slow path for either kind of slot (Member values are null or
// object starts): escapes first, then the collector's barrier (which
// performs the store).
MOSS_NOINLINE void barrier_slow(void** slot, void* value, void (CollectorBase::*collector_barrier)(void*, void**, void*)) {
  // Null over null changes nothing for any collector or scope (a common
  // store: constructors clearing fields of zeroed objects).
  if (value == nullptr && *slot == nullptr) return;
  bool collectors = collector_barrier_users.load(std::memory_order_relaxed) != 0;
  // (The address test first: an ordinary object's header is not read.)
  bool local = may_be_scope_local(value) && is_scope_local(value);
  if (!collectors && !local) {
    *slot = value;  // only local scopes want the barrier, and the value is not scope-local
    return;
  }
  if (!local && collector_barrier == &CollectorBase::write_barrier &&
      slot_barrier_users.load(std::memory_order_relaxed) == 0) {
    // Only marking heaps are at work: the value's heap shades it, wherever
    // it is stored (a null store needs nothing).
    if (value != nullptr) {
      Span* s = PageHeap::lookup(value);
      SpanCache* owner = s != nullptr ? s->owner.load(std::memory_order_acquire) : nullptr;
      // A value marked already (one allocated black, above all) needs
      // nothing: the span tells without asking the collector.
      if (owner != nullptr && s->state != SpanState::free && !owner->marked_while_marking(s, value)) {
        static_cast<HeapImpl&>(owner->owner()).collector().value_barrier(s, value);
      }
    }
    *slot = value;
    return;
  }
  Span* span = nullptr;
  HeapImpl* heap = HeapImpl::owning(slot, span);
  if (heap == nullptr) {
    *slot = value;  // not inside a managed object: an ordinary pointer
    return;
  }
  // The holder: escape checks need it, and so does a collector that asks
  // (refcount); either finds it in the span already looked up.
  void* holder = nullptr;
  if (local) {
    if (heap->store_stays_in_scope(span, slot, value)) {
      // Between local objects: nothing to escape, and nothing for a
      // collector that is not marking or that counts no local slot (weak
      // slots aside: refcount clears them when their target is freed).
      if (!collectors ||
          (collector_barrier == &CollectorBase::write_barrier && heap->collector().plain_local_stores())) {
        *slot = value;
        return;
      }
    } else {
      holder = heap->cache().find_object(slot);
      heap->escape_local_on_store(holder, value);
    }
  }
  if (!collectors) {
    *slot = value;  // no heap is marking or counting: nothing else to tell
    return;
  }
  CollectorBase& collector = heap->collector();
  if (holder == nullptr && collector.plain_holder_bits() != 0) {
    // A Member's slot lies inside a live object (a store into a freed one
    // is a use after free, which no barrier repairs): the slot's index
    // names the holder without the allocation bit.
    std::uint32_t i = span->index_of(slot);
    if (i < span->slots) {
      holder = span->payload(i);
      // (A scope span's holder goes to the collector: refcount notes what
      // its objects refer to, Span::refers_out, unless the span says so
      // already.)
      if (collector_barrier == &CollectorBase::write_barrier) {
        std::uint32_t state = header_of(holder)->gc_state;
        if (span->scope_depth == 0 ? (state & collector.plain_holder_bits()) != 0
                                   : span->refers_out && (state & kLocalBit) != 0 && collector.plain_local_stores()) {
          *slot = value;
          return;
        }
      }
    }
  }
  (collector.*collector_barrier)(holder, slot, value);
}
}  // namespace

// The commonest slow store while a mark-sweep heap marks: an ordinary value
// already marked (allocated black, above all) stored while no heap counts
// slots. It needs only the store; this path tells without a call, so it
// saves no registers, and tail-calls barrier_slow for everything else.
void write_barrier_slow(void** slot, void* value) {
  if (value != nullptr && slot_barrier_users.load(std::memory_order_relaxed) == 0 &&
      collector_barrier_users.load(std::memory_order_relaxed) != 0 && !may_be_scope_local(value)) {
    Span* s = PageHeap::lookup(value);
    SpanCache* owner = s != nullptr ? s->owner.load(std::memory_order_acquire) : nullptr;
    if (owner != nullptr && s->state != SpanState::free && owner->marked_while_marking(s, value)) {
      *slot = value;
      return;
    }
  }
  return barrier_slow(slot, value, &CollectorBase::write_barrier);
}

void weak_barrier_slow(void** slot, void* value) { barrier_slow(slot, value, &CollectorBase::weak_barrier); }

void word_barrier_slow(void** slot, void* word) {
  // A reference (the start of a live object of some heap): a Member's store.
  Span* s = word != nullptr ? PageHeap::lookup(word) : nullptr;
  SpanCache* owner = s != nullptr ? s->owner.load(std::memory_order_acquire) : nullptr;
  if (word == nullptr || (owner != nullptr && s->state != SpanState::free && owner->is_object_start(word))) {
    return barrier_slow(slot, word, &CollectorBase::write_barrier);
  }
  // Any other word: nothing to shade or to escape, but a counting heap
  // drops the count of the reference it replaces.
  Span* span = nullptr;
  HeapImpl* heap = slot_barrier_users.load(std::memory_order_relaxed) != 0 ? HeapImpl::owning(slot, span) : nullptr;
  if (heap == nullptr) {
    *slot = word;
    return;
  }
  heap->collector().write_barrier(heap->cache().find_object(slot), slot, word);
}

void RootNode::attach(Heap& heap, void* target) {
  heap.impl().check_object(target, "Root");
  if (heap_ != nullptr) reset();
  heap.impl().escape_if_local(target);
  heap_ = &heap;
  target_ = target;
  heap.impl().roots().push_back(*this);
  heap.impl().collector().root_changed(nullptr, target);
}

void RootNode::set(void* target) {
  if (heap_ == nullptr) {
    throw UsageError("moss: assignment to a Root that has no heap; construct it as Root<T>(heap, ...)");
  }
  heap_->impl().check_object(target, "Root");
  heap_->impl().escape_if_local(target);
  void* old = target_;
  target_ = target;
  heap_->impl().collector().root_changed(old, target);
}

void RootNode::reset() {
  if (heap_ == nullptr) return;
  void* old = target_;
  target_ = nullptr;
  Heap* heap = heap_;
  heap_ = nullptr;
  unlink();
  heap->impl().collector().root_changed(old, nullptr);
}

}  // namespace detail

Collector collector_from_env(Collector fallback) {
  const char* s = std::getenv("MOSS_GC");
  if (s == nullptr || *s == '\0') return fallback;
  if (std::strcmp(s, "ms") == 0 || std::strcmp(s, "mark_sweep") == 0) return Collector::mark_sweep;
  if (std::strcmp(s, "rc") == 0 || std::strcmp(s, "refcount") == 0) return Collector::refcount;
  throw UsageError(std::string("moss: MOSS_GC=") + s + " names no collector; use ms or rc");
}

const char* collector_name(Collector c) { return c == Collector::refcount ? "rc" : "ms"; }

Heap::Heap(const HeapOptions& options) : impl_(new detail::HeapImpl(options)) {}
Heap::~Heap() { delete impl_; }

Collector Heap::collector() const { return impl_->options().collector; }

TypeIndex Heap::register_type(const TypeInfo& info) { return detail::TypeRegistry::add(info); }

const TypeInfo& Heap::type_info(TypeIndex type) {
  if (!detail::TypeRegistry::valid(type)) {
    throw UsageError("moss: type index " + std::to_string(type) + " was never registered");
  }
  return detail::TypeRegistry::get(type);
}

void* Heap::allocate(TypeIndex type, std::size_t bytes) { return impl_->allocate(type, bytes); }
void* Heap::allocate(TypeIndex type, std::size_t bytes, AllocSite& site) {
  return impl_->allocate_at(type, bytes, site);
}

SizedType Heap::sized_type(TypeIndex type, std::size_t bytes) { return detail::HeapImpl::sized_type(type, bytes); }
void* Heap::allocate(const SizedType& sized) { return impl_->allocate(sized); }

std::vector<SiteProfile> Heap::escape_profile() const { return impl_->escape_profile(); }

void Heap::set_alloc_sampler(std::size_t rate_bytes, AllocSampler sampler, void* context) {
  impl_->set_alloc_sampler(rate_bytes, sampler, context);
}

void Heap::write(void* holder, void** slot, void* value) {
  detail::HeapImpl& h = *impl_;
  // One lookup checks both arguments: the slot must be an aligned word
  // inside the live object that starts at holder.
  std::uint32_t i = 0;
  detail::Span* span = holder != nullptr ? h.cache().locate(slot, i) : nullptr;
  if (span == nullptr || span->payload(i) != holder) {
    if (holder == nullptr || h.cache().find_object(holder) != holder) {
      throw UsageError("moss: Heap::write: the holder is not the start of a live object of this heap");
    }
    throw UsageError("moss: Heap::write: the slot is not a word inside the holder");
  }
  if ((reinterpret_cast<std::uintptr_t>(slot) & 7) != 0 ||
      reinterpret_cast<char*>(slot) + sizeof(void*) > static_cast<char*>(holder) + detail::SpanCache::payload_size(span)) {
    throw UsageError("moss: Heap::write: the slot is not an aligned word inside the holder");
  }
  detail::mark_card(slot);
  if (h.scopes_open() && detail::may_be_scope_local(value)) h.escape_on_store(holder, value);
  if (detail::collector_barrier_users.load(std::memory_order_relaxed) != 0) {
    h.collector().write_barrier(holder, slot, value);
    return;
  }
  *slot = value;  // no heap in the process is marking or counting
}

void Heap::free(void* object) { impl_->free(object, true); }
void Heap::free_unconstructed(void* object) { impl_->free(object, false); }

void Heap::collect() {
  check_stack(detail::kCollectorStackReserve);
  if (MOSS_UNLIKELY(impl_->verifying())) impl_->verify_for_collection("before");
  detail::from_mutator([this] { impl_->collector().collect(); });
  impl_->run_finalizers();
  if (MOSS_UNLIKELY(impl_->verifying())) impl_->verify_for_collection("after");
}

void Heap::release_memory() {
  impl_->collector().forget_high_water();
  detail::PageHeap::instance().release_all();
}

HeapStats Heap::stats() const { return impl_->stats(); }

void* Heap::find_object(const void* address) const { return impl_->cache().find_object(address); }

std::size_t Heap::object_size(const void* object) const {
  impl_->check_object(object, "object_size");
  if (object == nullptr) throw UsageError("moss: object_size of a null pointer");
  return detail::SpanCache::payload_size(impl_->cache().span_of(object));
}

TypeIndex Heap::object_type(const void* object) const {
  impl_->check_object(object, "object_type");
  if (object == nullptr) throw UsageError("moss: object_type of a null pointer");
  return detail::header_of(object)->type;
}

std::uint64_t Heap::add_root_callback(RootCallback callback, void* context) {
  return impl_->add_root_callback(callback, context);
}
void Heap::remove_root_callback(std::uint64_t handle) { impl_->remove_root_callback(handle); }
std::uint64_t Heap::add_root_range(const void* begin, const void* end) { return impl_->add_root_range(begin, end); }
void Heap::remove_root_range(std::uint64_t handle) { impl_->remove_root_range(handle); }

void Heap::verify() {
  detail::HeapImpl& h = *impl_;
  h.run_finalizers();
  if (const char* p = detail::PageHeap::instance().verify()) throw UsageError(std::string("moss: verify: ") + p);
  if (const char* p = h.cache().verify()) throw UsageError(std::string("moss: verify: ") + p);
  if (const char* p = h.collector().verify()) throw UsageError(std::string("moss: verify: ") + p);
}

}  // namespace moss
