// gc/marksweep/mark_sweep.hpp — the incremental tri-color mark-sweep collector.
//
// The collection cycle (the story, told once):
//  0. Sweeping of the previous cycle finishes first: proportionally, a few
//     spans per allocation slow path, and whatever is left when a cycle must
//     start.
//  1. Mark start (a pause): barrier on, allocation black, the roots (stacks
//     conservatively, Root handles, callbacks, ranges) shaded grey.
//  2. Marking (slices, each a pause): grey objects are popped from the mark
//     stack and traced, their white targets shaded grey. Slices are paid for
//     by allocation: every byte allocated while marking adds `assist_ratio`
//     bytes of scan debt, and a slice runs when the debt reaches
//     HeapOptions::mark_slice_bytes. Meanwhile the barrier shades the new
//     target of every store (Dijkstra's insertion barrier), so no black
//     object ever refers to a white one; the old target needs no shading,
//     because termination rescans every root with the world stopped.
//  3. Mark termination (a pause): the stacks and handles are scanned again
//     (stacks have no barrier), the mark stack drained, weak slots whose
//     targets stayed white cleared, and sweeping started (every span becomes
//     unswept: its mark bits are its live set).
//  4. Lazy sweeping (runtime/span_cache.hpp): unmarked objects are freed as
//     allocation reaches their spans; dead objects with finalizers are
//     queued and finalized at the next safe point.
//
// Helper threads (HeapOptions::helper_threads, gc/helper_threads.hpp): the
// drain of mark termination and of a full collection runs on the owner and
// every helper at once (parallel marking: atomic mark bits, a grey stack per
// thread, work shared through a pool when a thread runs dry), and after
// each cycle the helpers sweep span bitmaps in the background while the
// owner allocates (runtime/span_cache.hpp, "Background sweeping"). Root
// scanning, incremental slices and the barrier stay on the owner thread.
// The marked set is the same whichever thread marks what.
//
// Tri-color invariant: white = mark bit clear; grey = mark bit set and on
// the mark stack; black = mark bit set and traced (or allocated while
// marking, whose references arrive through the barrier). At termination no
// black object refers to a white one (MOSS_VERIFY=1 checks it).
//
// Generational mode (HeapOptions::generational, off by default): sticky mark
// bits. The sweep after a cycle leaves the survivors marked (old) instead of
// clearing every mark, and the next cycle is minor: marking finds old
// objects already black and traces only young ones, from the roots and
// from the old objects on dirty cards. The barrier marks the 512-byte card
// of every slot it stores into (moss/member.hpp, runtime/barrier.hpp); a
// minor cycle walks the heap's spans, a step at a time whenever its grey
// stack runs dry, clears their dirty cards and pushes the old objects on
// them, so every reference an old object was given since the last cycle is
// traced. (Initialising stores dirty the cards of young objects too; a span
// with no old object only has its cards cleared.) Objects allocated black
// during a minor cycle become old, so a minor cycle starts with a slice of
// marking in its first pause and, if that is all, ends there. A full cycle
// (marks cleared by the sweep before it) comes when the old data has grown
// by half since the last full one or a minor cycle costs half what that
// did, and for every Heap::collect(); it reclaims old garbage. The goal is
// paced from the live bytes the last full cycle found, the trigger from
// the old bytes held now. Invariant (MOSS_VERIFY=1 checks it before every
// minor cycle): a reachable old object that refers to a young one lies on
// a dirty card, or in a span outside the card table's range, whose old
// objects are all pushed. Dead objects kept for their finalizers are left
// young, so the next cycle decides whether a finalizer resurrected them.
//
// Pacing: after a cycle with `live` bytes marked, the goal is
// max(min_heap_bytes, live * (1 + gc_percent / 100)), and with
// HeapOptions::retain_peak at least the high-water mark (the most the pacer
// counted at the end of any cycle since the heap was made or last
// release_memory()): a heap refills what it already holds. An incremental cycle
// starts at live + 7/10 of the runway to the goal and is paced (in units of
// scan work, from the last cycle's) to finish by the goal; past the goal
// every allocation slow path pays a slice, and half a runway past it
// marking finishes at once.
#pragma once

#include <memory>

#include "gc/collector.hpp"

namespace moss::detail {

std::unique_ptr<CollectorBase> make_mark_sweep(HeapImpl& heap);

}  // namespace moss::detail
