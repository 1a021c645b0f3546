// gc/refcount/refcount.hpp — deferred reference counting with cycle
// collection.
//
// Counting (Deutsch–Bobrow deferred RC). The count in an object's header
// (the low 15 bits of gc_state) is the number of counted references to it:
// strong slots of old managed objects written through the barrier (Member
// assignment, Heap::write) and Root handles. Machine stacks, root callbacks
// and root ranges are not counted, and neither are the slots of young
// objects (below). Every old object whose count drops to zero is logged in
// the zero-count table (ZCT). Words that are not the start of a live object
// of this heap (tagged integers, foreign pointers) are stored without
// counting.
//
// The nursery (young objects are born dead, as in RC Immix and LXR). A new
// heap object is young: its header is born with the young bit, and nothing
// else is recorded per object. Stores into a young object are plain
// stores, whatever they hold: the inline barrier sends a store to the slow
// path only if its slot is marked counted in a process-wide bitmap (a bit
// per 8 bytes, runtime/barrier.hpp), whose bits this collector sets for an
// object's payload when the object becomes old and clears when it frees
// it. The heap's span cache lists the spans allocation took objects from
// since the last pass (SpanCache::track_young_spans), and a span's mark
// bits, unused by this collector otherwise, say which of its objects are
// known to be old: the young ones are among the allocated, unmarked slots
// of the listed spans. Each reconciliation starts with a nursery pass: the
// young objects that a stack or embedder root refers to, or that a counted
// reference holds (an old object's slot, a Root), survive, and so does
// every young object they reach through young objects. A survivor becomes
// old (and marked): its slots are counted at that moment (each child gets
// an increment), and with a zero count (held by stacks only) it joins the
// ZCT. Every other young object is freed then and there, a bitmap word at
// a time, without tracing it or counting anything: most objects die young,
// and those cost no barrier work, no decrement and no ZCT entry. The pass
// reads no dead object's header either (unless weak slots need forgetting):
// its roots come from lists, the external marks (below) and a log of the
// young objects whose count left zero, and every object that stops being
// young (a survivor, or a local object that escapes, whose scope span may
// later become a young span) gets its mark then, so the dead are exactly
// the allocated, unmarked slots of the young spans. An object
// with a finalizer survives its first pass whatever refers to it (and if
// nothing does, the ZCT finds it dead right after), so that the
// resurrection rule below only ever meets counted objects.
//
// Scope-local objects (moss/local_scope.hpp) are born young too, and stay
// so while they are local: no nursery pass looks at them (scope spans are
// never young spans), stores into them count nothing, and their memory
// goes when their scope closes, without a decrement. What they refer to is
// kept alive the way a stack frame's references are: every reconciliation
// traces the open scopes' local objects with the stack scan (step 1
// below). An object that escapes becomes an ordinary heap object: its
// slots are counted then (each child gets an increment), and it joins the
// ZCT if nothing counts it (or if it may close a cycle).
//
// Pauses. Each allocation slow path does at most one bounded piece of work
// in one pause: a reconciliation, a batch of frees left over from one, or a
// bounded run of cycle collection. Automatic stack scans are paced by
// allocation: a scan of W words (counted in HeapStats::rc_stack_words_scanned)
// waits until W/4 objects were allocated since the previous one, so a deep
// stack (a deeply recursive coroutine) costs a bounded amount of scanning per
// allocation, at the price of reconciling less often.
//
// Reconciliation (triggered from the allocation slow path when the ZCT or
// the bytes allocated since the last one pass a threshold, and by collect()):
//  1. The stacks, root callbacks and root ranges are scanned, and the
//     open scopes' local objects traced (collect()
//     scans once for all its phases, so the collector's own registers and
//     locals never pose as references); every object they refer to gets
//     the external bit in its header. The bits stay valid after the pause
//     while dead objects wait for later batches: from then on the mutator
//     can only get a new stack reference to an unmarked object by reading
//     it from a counted heap slot, and every decrement the barrier makes in
//     that time marks its target as external too.
//  2. The nursery pass (above), with these marks; then each ZCT entry whose count is still zero is kept in the ZCT if it is
//     marked external; otherwise it is dead: it is flagged dying, every
//     weak slot pointing at it is cleared, and it goes on the dead list.
//  3. The dead list is drained iteratively (never recursion), at most a
//     batch of objects per pause; what is left continues at the next
//     allocation slow paths without a new scan, and collect() drains
//     everything. For each dead
//     object: its children and weak slots are read by tracing it; its
//     finalizer runs if it has one that has not run (kFinalizedBit is set
//     first). Resurrection rule: if, after the finalizer, the object's count
//     is non-zero (the finalizer stored it somewhere through the barrier),
//     the object is kept and its children stay counted; it is never
//     finalized again. (Children the finalizer cleared from it, as
//     moss/allocation.hpp asks, keep the count of that reference: they
//     are not reclaimed by counting.) Stores into a dying object (its finalizer clearing
//     its own members) are plain stores and count nothing. Otherwise the
//     weak slots it held are forgotten, each child's count is decremented
//     (a child reaching zero is dead too unless it is marked external, in
//     which case it joins the ZCT), and the memory is freed.
//  4. ZCT entries that got a count (objects now referenced from the
//     heap), and the candidates the nursery pass found, are buffered
//     after the batch, so that those that died with it never enter.
//
// Cycle collection (Bacon–Rajan synchronous trial deletion). An object whose
// count is decremented to a non-zero value is a possible cycle root: it is
// coloured purple and buffered once (a flag bit; entries of objects that were
// freed or stopped being candidates are dropped lazily), unless its type is
// acyclic or a leaf. The stacks may also drop the last outside reference to
// a cycle without any decrement, so two more kinds are buffered: a ZCT
// entry found with a non-zero count at a reconciliation (held by stacks
// only, then referenced from the heap), and the target of every edge the
// nursery pass counts that is not an edge of its own spanning forest (an
// edge to an old object, or to a survivor already reached). Any cycle
// through this pass's survivors has such an edge (a forest has no cycle),
// and a cycle of old objects was closed by a barrier increment that the
// ZCT rule or a decrement covers; young garbage cycles never need the
// cycle collector at all. Trial deletion assumes every reference between
// objects is counted, so a run starts with a nursery pass. The buffer is first in, first out, and an entry is examined
// only once it has aged (4 MiB, or the live bytes if more, allocated since
// it was buffered): most young structures are freed by counting before
// then. A run starts when enough aged entries have gathered (or the oldest
// has waited twice as long) and takes the oldest aged entries until it has
// coloured a budget of objects gray (the subgraph of the last root taken is
// always finished, so one root that reaches a large live structure still
// makes a long pause). Trial deletion over any subset of the candidates is
// sound, and nothing else runs during a run, so the counts it sees are the
// mutator's. collect() examines the whole buffer. Each run:
//  - mark gray: from each purple candidate, the reachable subgraph is
//    coloured gray and every internal edge's count is subtracted;
//  - scan: a gray object whose remaining count is non-zero, or which a
//    stack, root callback or root range refers to (stacks are scanned at the
//    start of the run), is externally referenced: it and everything it
//    reaches turn black and get their counts back; the other gray objects
//    turn white. An object kept only by a stack or an embedder's root is
//    buffered again, since that reference can vanish without a decrement;
//  - collect white: the white objects are garbage (those with entries the
//    run did not take too; the entries go stale). Weak slots to them are
//    cleared, then their finalizers run. If a finalizer resurrected any of
//    them (a count became non-zero), the whole set is restored and buffered
//    again; the next run frees it without finalizers. Otherwise each is
//    freed, and a surviving object whose count fell to zero joins the ZCT.
//  All three phases use explicit work lists.
//
// Sticky counts. A count that reaches 0x7FFF stays there: increments and
// decrements no longer change it, so reconciliation never frees it and trial
// deletion always sees it as externally referenced. Such an object is only
// reclaimed by the cycle collector's backup trace, which collect() runs
// whenever some count is stuck: everything reachable from the stacks, Root
// handles, root callbacks and root ranges is marked, unmarked objects are
// freed (weak slots cleared, finalizers run; objects resurrected by a
// finalizer survive a second marking), and then every surviving object's
// count is recomputed from the references found by tracing, which unsticks
// counts that fell back below the maximum.
//
// Weak members. weak_barrier keeps a side table from each target to the weak
// slots that point at it; slots leave it when overwritten or when their
// holder dies (tracing the dying holder reports its weak slots). When an
// object dies every slot in its entry is cleared, before any finalizer runs.
//
// Limits: references kept only in conservatively scanned ranges inside
// managed objects are not counted and do not keep their targets alive.
#pragma once

#include <memory>

#include "gc/collector.hpp"

namespace moss::detail {

std::unique_ptr<CollectorBase> make_refcount(HeapImpl& heap);

}  // namespace moss::detail
