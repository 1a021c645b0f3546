// examples/scheme/eval.cpp — the evaluator: walking compiled code, applying
// procedures, proper tail calls.
//
// `Interp::eval(node, env)` is one loop over a switch on the node's Op.
// Everything in tail position (the branches of if, the last expression of a
// sequence, a let's body, the body of a called closure) is evaluated by
// replacing `node` and `env` and going round the loop again, so tail calls
// use no C++ stack; everything else recurses. A call to a closure makes the
// callee's Frame, evaluates the arguments straight into it and continues
// with the callee's body. Other procedures (primitives, continuations,
// record procedures ...) go through `apply_procedure`; a primitive that must
// itself tail-call (apply, call-with-values) returns kTailCall after
// `Interp::tail_call` and the loop takes over.
//
// GC safety: `env`, the callee frame and evaluated arguments are C++ locals,
// found by moss's conservative stack scan; every store into a frame goes
// through Interp::store. Recursion depth is bounded by `check_stack` on
// entry, which turns runaway recursion into a Scheme error well before the
// coroutine's stack reservation runs out.
//
// Called by the run loops (interp.cpp) and by primitives that call
// procedures (control.cpp, data.cpp) through Interp::apply.
#include <string>

#include "interp.hpp"
#include "numbers.hpp"
#include "scheme_coroutine.hpp"

namespace scheme {

namespace {

[[noreturn]] __attribute__((noinline)) void unbound(Interp& in, Symbol* s) {
  in.error("unbound variable: " + in.to_string(to_value(s)));
}

[[noreturn]] __attribute__((noinline)) void unassigned(Interp& in, Symbol* s) {
  in.error("variable used before its definition: " + in.to_string(to_value(s)));
}

[[noreturn]] __attribute__((noinline)) void arity_error(Interp& in, Value f, std::size_t got) {
  std::string expected;
  if (has_kind(f, Kind::closure)) {
    const Lambda* code = as_closure(f)->code;
    expected = std::to_string(code->required);
    if (code->rest) expected = "at least " + expected;
  } else if (has_kind(f, Kind::primitive)) {
    const Primitive* p = as_primitive(f);
    if (p->max_args < 0) {
      expected = "at least " + std::to_string(p->min_args);
    } else if (p->min_args == p->max_args) {
      expected = std::to_string(p->min_args);
    } else {
      expected = "between " + std::to_string(p->min_args) + " and " + std::to_string(p->max_args);
    }
  }
  std::string message = "wrong number of arguments to " + in.to_string(f) + ": got " + std::to_string(got);
  if (!expected.empty()) message += ", expected " + expected;
  in.error(message);
}

inline Frame* frame_at(Frame* env, std::uint32_t depth) {
  while (depth-- > 0) env = env->parent.get();
  return env;
}

}  // namespace

Frame* Interp::new_frame(Frame* parent, std::uint32_t size, moss::LocalScope* scope) {
  Frame* f;
  if (size < kSizedFrames) {
    const moss::SizedType& sized = frame_types_[size];
    f = ::new (scope != nullptr ? scope->allocate(sized) : heap_.allocate(sized)) Frame(size);
  } else {
    std::size_t extra = std::size_t(size) * sizeof(Value);
    f = scope != nullptr ? scope->make_trailing<Frame>(extra, size) : moss::make_trailing<Frame>(heap_, extra, size);
  }
  f->parent = parent;
  return f;
}

// ---- Local frames ----
//
// A frame whose Lambda (or Let, or do loop) the compiler proved uncaptured
// (`frame_captured` false: no lambda, named let, delay ... anywhere in the
// body) is referred to only by the activation running the body: the `env`
// of one eval loop, and the parent links of do-loop frames made in that
// loop. It is never a Scheme value, and no closure's environment chain can
// reach it. So it is dead once that activation returns, unwinds, or moves
// on by a tail call. Such frames are made in moss::LocalScopes and
// reclaimed a scope at a time, without a collection.
//
// Activations. Each call of Interp::eval or Interp::apply in the main
// evaluation is an activation, with a FrameScope that remembers how many
// frame scopes were open when it began (`entry`). Scopes opened after that
// hold only frames made during the activation, by it or by activations
// nested in it, so they are all dead when it ends: it may close them.
//
// Where a frame goes: into the innermost open scope while that scope holds
// fewer than kFramesPerScope frames; else into a new scope, opened on
// the spot, while fewer than kMaxDepth are open; else onto the heap (so a
// million-deep recursion costs at most kMaxDepth scopes). Closing a scope
// costs a scan of the stacks that outlive it (moss looks for pointers into
// it on suspended stacks), so scopes are kept for many frames:
//  - an activation that ends with exactly one scope of its own, not full,
//    leaves it open for the activation it returns to, which fills it
//    further (an activation that began with no scope open closes all);
//  - otherwise it closes every scope it opened (innermost first);
//  - a tail call that needs a new frame when the innermost scope is full
//    and the activation has scopes of its own recycles them: the arguments
//    are evaluated into a C++ array while the current frame is alive (they
//    are heap values: frames are the only scope-local objects), the scopes
//    are closed, and a fresh one takes the callee's frame. A loop of tail
//    calls thus runs in a bounded number of bounded scopes.
// Most dead frames do not wait for their scope to close: an activation
// frees the local frames it made (moss::Heap::free, if they are still
// local) when it ends and when it moves on by a tail call, so its scope
// reuses their memory at once, and under refcount no reconciliation traces
// a dead frame. (Frames past the first few an activation makes without a
// tail call in between, nested lets, are left to their scope.) The rest
// wait at most until their scope closes: at most kMaxDepth scopes of
// kFramesPerScope frames.
//
// What makes a frame escape (becoming an ordinary heap object, collected
// as usual): being stored into a heap object by the barrier, e.g. as the
// parent of a guard handler's frame; a pointer to it on the stack of a
// suspended coroutine when its scope closes. Scheme coroutines make only
// heap frames, and their activations never close scopes: a coroutine
// suspended with a scope open would leave the heap's stack of scopes out of
// order.
//
// Return values and arguments are never scope-local (only frames are), so
// nothing needs moss::escape() on the way out. The scope objects live in
// FrameScopeStack, off the C++ stack: they outlive the activation that
// opened them, and eval's own frame keeps dead copies of frame pointers in
// spill slots, which the debug build's contract check would count if the
// scope object sat below them. After a scope closes no frame of it is used.

class Interp::FrameScope {
 public:
  explicit FrameScope(Interp& in)
      : in_(in), entry_(in.options_.local_frames && in.current_coroutine_ == nullptr ? in.frame_scopes_->depth : -1) {}
  ~FrameScope() noexcept(false) {
    if (entry_ < 0) return;
    free_made();
    FrameScopeStack& stack = *in_.frame_scopes_;
    int depth = stack.depth;
    if (depth == entry_) return;
    if (depth == entry_ + 1 && entry_ > 0 && stack.slots[entry_].frames < FrameScopeStack::kFramesPerScope) {
      return;  // left to the activation this one returns to
    }
    close_own();
  }
  FrameScope(const FrameScope&) = delete;
  FrameScope& operator=(const FrameScope&) = delete;

  // Whether frames may be local here (local frames on, not in a coroutine).
  bool active() const { return entry_ >= 0; }
  // Whether scopes opened during this activation are open.
  bool has_own() const { return in_.frame_scopes_->depth > entry_; }

  // A local frame this activation made in `scope`: counted against the
  // scope, and freed when the activation ends or moves on by a tail call.
  void made(Frame* frame, moss::LocalScope* scope) {
    FrameScopeStack& stack = *in_.frame_scopes_;
    auto slot = static_cast<std::uint8_t>(reinterpret_cast<FrameScopeStack::Slot*>(scope) - stack.slots);
    ++stack.slots[slot].frames;
    if (made_count_ < kTracked) {
      made_[made_count_] = frame;
      made_in_[made_count_] = slot;
      ++made_count_;
    }
  }
  // A tail call: the callee's `frame` (local if `scope` is not null)
  // replaces every frame the activation made before, which are dead.
  void enter(Frame* frame, moss::LocalScope* scope) {
    free_made();
    if (scope != nullptr) made(frame, scope);
  }
  // Frees the local frames this activation made: dead, since it ended or
  // is about to run a callee's body in a frame that none of them is an
  // ancestor of (nothing else refers to a frame that is still local; one
  // that escaped, to a guard handler's frame say, is left to the
  // collector). Its scope reuses the memory, and takes more frames.
  void free_made() {
    FrameScopeStack& stack = *in_.frame_scopes_;
    for (int k = 0; k < made_count_; ++k) {
      if (moss::is_local(made_[k])) {
        in_.heap_.free(made_[k]);
        --stack.slots[made_in_[k]].frames;
      }
    }
    made_count_ = 0;
  }

  // Closes every scope opened during this activation, innermost first,
  // reclaiming their frames.
  void close_own() {
    free_made();
    FrameScopeStack& stack = *in_.frame_scopes_;
    while (stack.depth > entry_) {
      int i = --stack.depth;
      stack.scope(i).~LocalScope();
    }
  }

 private:
  // Frames past the first kTracked an activation made without a tail call
  // in between (nested lets) wait for their scope to close.
  static constexpr int kTracked = 6;
  Interp& in_;
  int entry_;
  int made_count_ = 0;
  Frame* made_[kTracked];
  std::uint8_t made_in_[kTracked];  // the scope's slot in FrameScopeStack
};

[[gnu::always_inline]] inline Interp::FramePlace Interp::place_local_frame(FrameScope& own, bool may_recycle) {
  if (!own.active()) return FramePlace::heap;
  FrameScopeStack& stack = *frame_scopes_;
  int top = stack.depth - 1;
  if (top >= 0 && stack.slots[top].frames < FrameScopeStack::kFramesPerScope) return FramePlace::scope;
  if (may_recycle && own.has_own()) return FramePlace::recycle;
  return stack.depth < FrameScopeStack::kMaxDepth ? FramePlace::scope : FramePlace::heap;
}

namespace {
[[gnu::noinline]] moss::LocalScope& open_frame_scope(FrameScopeStack& stack, moss::Heap& heap) {
  int i = stack.depth;
  ::new (static_cast<void*>(stack.slots[i].bytes)) moss::LocalScope(heap);
  stack.slots[i].frames = 0;
  stack.depth = i + 1;
  return stack.scope(i);
}
}  // namespace

// The scope a frame goes into after place_local_frame said `scope`.
[[gnu::always_inline]] inline moss::LocalScope* Interp::take_frame_scope(FrameScope&) {
  FrameScopeStack& stack = *frame_scopes_;
  int top = stack.depth - 1;
  if (top < 0 || stack.slots[top].frames >= FrameScopeStack::kFramesPerScope) [[unlikely]] {
    open_frame_scope(stack, heap_);
    ++top;
  }
  return &stack.scope(top);
}

// After place_local_frame said `recycle`: closes the activation's scopes
// (their frames are all dead: the caller holds the callee's arguments) and
// opens a fresh one for the callee's frame.
moss::LocalScope* Interp::recycle_frame_scope(FrameScope& own) {
  own.close_own();
  return &open_frame_scope(*frame_scopes_, heap_);
}

// A frame for calling closure `c`: local when it can be, never recycling.
Frame* Interp::frame_for(FrameScope& own, const Closure* c) {
  const Lambda* code = c->code;
  moss::LocalScope* scope = nullptr;
  if (!code->frame_captured && place_local_frame(own, false) == FramePlace::scope) scope = take_frame_scope(own);
  Frame* frame = new_frame(c->env.get(), code->frame_size, scope);
  if (scope != nullptr) own.made(frame, scope);
  return frame;
}

namespace {

Value make_closure(Interp& in, const Lambda* code, Frame* env) {
  Closure* c = moss::make<Closure>(in.heap(), code);
  c->env = env;
  return to_value(c);
}

}  // namespace

// The frame for calling closure `f` with arguments `argv`.
Frame* Interp::bind_array(FrameScope& own, Value f, int argc, const Value* argv) {
  const Closure* c = as_closure(f);
  const Lambda* code = c->code;
  auto required = static_cast<int>(code->required);
  if (argc < required || (argc > required && !code->rest)) arity_error(*this, f, static_cast<std::size_t>(argc));
  Frame* frame = frame_for(own, c);
  Value* slots = frame->slots();
  for (int i = 0; i < required; ++i) store(frame, slots[i], argv[i]);
  if (code->rest) {
    Value rest = kNil;
    for (int i = argc; i > required; --i) rest = cons(argv[i - 1], rest);
    store(frame, slots[required], rest);
  }
  return frame;
}

// The same with the arguments in a list: a tail call from a primitive, so
// the activation's own scope may be recycled (the list is a heap value).
Frame* Interp::bind_list(FrameScope& own, Value f, Value args) {
  const Closure* c = as_closure(f);
  const Lambda* code = c->code;
  moss::LocalScope* scope = nullptr;
  if (!code->frame_captured) {
    switch (place_local_frame(own, true)) {
      case FramePlace::scope:
        scope = take_frame_scope(own);
        break;
      case FramePlace::recycle:
        scope = recycle_frame_scope(own);
        break;
      case FramePlace::heap:
        break;
    }
  }
  Frame* frame = new_frame(c->env.get(), code->frame_size, scope);
  own.enter(frame, scope);  // the arguments are in a heap list
  Value* slots = frame->slots();
  Value a = args;
  for (std::uint32_t i = 0; i < code->required; ++i) {
    if (!is_pair(a)) arity_error(*this, f, static_cast<std::size_t>(list_length(*this, args, "apply")));
    store(frame, slots[i], car(a));
    a = cdr(a);
  }
  if (code->rest) {
    store(frame, slots[code->required], a);
  } else if (a != kNil) {
    arity_error(*this, f, static_cast<std::size_t>(list_length(*this, args, "apply")));
  }
  return frame;
}

// Evaluates the cheap node kinds without a call; the rest recursively.
#define EVAL_OPERAND(result, node, env)                                          \
  do {                                                                           \
    const Node* n_ = (node);                                                     \
    switch (n_->op) {                                                            \
      case Op::constant:                                                         \
        result = static_cast<const Constant*>(n_)->value;                        \
        break;                                                                   \
      case Op::local0:                                                           \
        result = (env)->slots()[static_cast<const LocalRef*>(n_)->index];        \
        break;                                                                   \
      case Op::local1:                                                           \
        result = (env)->parent->slots()[static_cast<const LocalRef*>(n_)->index]; \
        break;                                                                   \
      case Op::global:                                                           \
        result = static_cast<const GlobalRef*>(n_)->symbol->value;               \
        if (result == kUnassigned) unbound(*this, static_cast<const GlobalRef*>(n_)->symbol); \
        break;                                                                   \
      default:                                                                   \
        result = eval(n_, (env));                                                \
    }                                                                            \
  } while (0)

Value Interp::eval(const Node* node, Frame* env) {
  check_stack();
  FrameScope own(*this);  // this activation's frame scope, opened on demand
  for (;;) {
    switch (node->op) {
      case Op::constant:
        return static_cast<const Constant*>(node)->value;
      case Op::local0:
        return env->slots()[static_cast<const LocalRef*>(node)->index];
      case Op::local1:
        return env->parent->slots()[static_cast<const LocalRef*>(node)->index];
      case Op::local: {
        auto* ref = static_cast<const LocalRef*>(node);
        return frame_at(env, ref->depth)->slots()[ref->index];
      }
      case Op::local_checked: {
        auto* ref = static_cast<const LocalRef*>(node);
        Value v = frame_at(env, ref->depth)->slots()[ref->index];
        if (v == kUnassigned) unassigned(*this, ref->name);
        return v;
      }
      case Op::global: {
        Symbol* s = static_cast<const GlobalRef*>(node)->symbol;
        if (s->value == kUnassigned) unbound(*this, s);
        return s->value;
      }
      case Op::set_local: {
        auto* set = static_cast<const SetLocal*>(node);
        Value v;
        EVAL_OPERAND(v, set->value, env);
        Frame* f = frame_at(env, set->depth);
        store(f, f->slots()[set->index], v);
        return kUnspecified;
      }
      case Op::set_global: {
        auto* set = static_cast<const SetGlobal*>(node);
        Value v;
        EVAL_OPERAND(v, set->value, env);
        if (set->symbol->value == kUnassigned) unbound(*this, set->symbol);
        store(set->symbol, set->symbol->value, v);
        return kUnspecified;
      }
      case Op::define_global: {
        auto* set = static_cast<const SetGlobal*>(node);
        Value v = eval(set->value, env);
        store(set->symbol, set->symbol->value, v);
        return kUnspecified;
      }
      case Op::if_: {
        auto* branch = static_cast<const If*>(node);
        Value test;
        EVAL_OPERAND(test, branch->test, env);
        node = truthy(test) ? branch->then : branch->otherwise;
        continue;
      }
      case Op::seq: {
        auto& body = static_cast<const Seq*>(node)->body;
        std::size_t last = body.size() - 1;
        for (std::size_t i = 0; i < last; ++i) eval(body[i], env);
        node = body[last];
        continue;
      }
      case Op::and_: {
        auto& body = static_cast<const Seq*>(node)->body;
        std::size_t last = body.size() - 1;
        std::size_t i = 0;
        for (; i < last; ++i) {
          if (!truthy(eval(body[i], env))) return kFalse;
        }
        node = body[last];
        continue;
      }
      case Op::or_: {
        auto& body = static_cast<const Seq*>(node)->body;
        std::size_t last = body.size() - 1;
        for (std::size_t i = 0; i < last; ++i) {
          Value v = eval(body[i], env);
          if (truthy(v)) return v;
        }
        node = body[last];
        continue;
      }
      case Op::lambda:
        return make_closure(*this, static_cast<const Lambda*>(node), env);
      case Op::call: {
        auto* call = static_cast<const Call*>(node);
        Value f;
        EVAL_OPERAND(f, call->fn, env);
        if (has_kind(f, Kind::closure)) {
          const Closure* c = as_closure(f);
          const Lambda* code = c->code;
          std::size_t argc = call->args.size();
          const Node* const* args = call->args.data();
          FramePlace place = code->frame_captured ? FramePlace::heap : place_local_frame(own, true);
          if (place == FramePlace::recycle) {
            // A tail call that recycles this activation's scope.
            if (Frame* frame = enter_recycled(own, call, f, env)) {
              env = frame;
              node = code->body;
              continue;
            }
            place = FramePlace::heap;  // too many arguments to hold on the side
          }
          moss::LocalScope* scope = place == FramePlace::scope ? take_frame_scope(own) : nullptr;
          if (argc == code->required && !code->rest) {
            Frame* frame = new_frame(c->env.get(), code->frame_size, scope);
            for (std::size_t i = 0; i < argc; ++i) {
              Value v;
              EVAL_OPERAND(v, args[i], env);
              store(frame, frame->slots()[i], v);
            }
            own.enter(frame, scope);
            env = frame;
            node = code->body;
            continue;
          }
          if (argc < code->required || !code->rest) arity_error(*this, f, argc);
          // Rest parameter: the extra arguments become a list.
          Frame* frame = new_frame(c->env.get(), code->frame_size, scope);
          for (std::size_t i = 0; i < code->required; ++i) {
            Value v;
            EVAL_OPERAND(v, args[i], env);
            store(frame, frame->slots()[i], v);
          }
          Value head = kNil, tail = 0;
          for (std::size_t i = code->required; i < argc; ++i) {
            Value v;
            EVAL_OPERAND(v, args[i], env);
            Value cell = cons(v, kNil);
            if (tail == 0) {
              head = cell;
            } else {
              store(as_pair(tail), as_pair(tail)->cdr, cell);
            }
            tail = cell;
          }
          store(frame, frame->slots()[code->required], head);
          own.enter(frame, scope);
          env = frame;
          node = code->body;
          continue;
        }
        Value result;
        std::size_t argc = call->args.size();
        if (has_kind(f, Kind::primitive) && argc <= 4) {
          // Most calls to primitives: arguments evaluated here, so deep
          // recursion through them costs one C++ frame per level.
          Value argv[4];
          for (std::size_t i = 0; i < argc; ++i) EVAL_OPERAND(argv[i], call->args[i], env);
          const Primitive* p = as_primitive(f);
          auto n = static_cast<int>(argc);
          if (n < p->min_args || (p->max_args >= 0 && n > p->max_args)) arity_error(*this, f, argc);
          result = p->fn(*this, argv, n);
        } else {
          result = eval_call_slow(call, f, env);
        }
        // A primitive asked for a tail call: apply tail_fn_ to tail_args_.
        while (result == kTailCall) {
          Value fn = tail_fn_, args = tail_args_;
          tail_fn_ = tail_args_ = 0;
          if (has_kind(fn, Kind::closure)) {
            env = bind_list(own, fn, args);
            node = as_closure(fn)->code->body;
            break;
          }
          result = apply_list(fn, args);
        }
        if (result == kTailCall) continue;
        return result;
      }
      case Op::let: {
        auto* let = static_cast<const Let*>(node);
        std::size_t n = let->inits.size();
        if (let->flattened) {
          for (std::size_t i = 0; i < n; ++i) {
            Value v;
            EVAL_OPERAND(v, let->inits[i], env);
            store(env, env->slots()[let->first + i], v);
          }
          node = let->body;
          continue;
        }
        moss::LocalScope* scope = nullptr;
        if (!let->frame_captured && place_local_frame(own, false) == FramePlace::scope) {
          scope = take_frame_scope(own);
        }
        Frame* frame = new_frame(env, let->frame_size, scope);
        if (scope != nullptr) own.made(frame, scope);
        Frame* init_env = let->sequential ? frame : env;
        for (std::size_t i = 0; i < n; ++i) {
          Value v;
          EVAL_OPERAND(v, let->inits[i], init_env);
          store(frame, frame->slots()[let->first + i], v);
        }
        env = frame;
        node = let->body;
        continue;
      }
      case Op::named_let: {
        auto* let = static_cast<const NamedLet*>(node);
        const Lambda* code = let->lambda;
        Frame* loop_frame = new_frame(env, 1);
        Value loop = make_closure(*this, code, loop_frame);
        store(loop_frame, loop_frame->slots()[0], loop);
        Frame* frame = frame_for(own, as_closure(loop));
        for (std::size_t i = 0; i < let->inits.size(); ++i) {
          Value v;
          EVAL_OPERAND(v, let->inits[i], env);
          store(frame, frame->slots()[i], v);
        }
        env = frame;
        node = code->body;
        continue;
      }
      case Op::do_loop: {
        node = do_loop(static_cast<const DoLoop*>(node), env, own);
        if (node == nullptr) return kUnspecified;
        continue;
      }
      case Op::case_: {
        auto* c = static_cast<const Case*>(node);
        Value key = eval(c->key, env);
        const Node* chosen = c->otherwise;
        bool arrow = c->otherwise_arrow;
        for (const auto& clause : c->clauses) {
          bool hit = false;
          for (Value d : clause.data) {
            if (d == key || eqv(d, key)) {
              hit = true;
              break;
            }
          }
          if (hit) {
            chosen = clause.body;
            arrow = clause.arrow;
            break;
          }
        }
        if (chosen == nullptr) return kUnspecified;
        if (arrow) {
          Value receiver = eval(chosen, env);
          return apply(receiver, 1, &key);
        }
        node = chosen;
        continue;
      }
      case Op::cond_arrow: {
        auto* c = static_cast<const CondArrow*>(node);
        Value v = eval(c->test, env);
        if (truthy(v)) {
          Value receiver = eval(c->receiver, env);
          return apply(receiver, 1, &v);
        }
        node = c->otherwise;
        continue;
      }
      case Op::guard: {
        auto* g = static_cast<const Guard*>(node);
        Value result = 0, condition = 0;
        if (eval_guarded(g->body, env, result, condition)) return result;
        auto* handler = static_cast<const Let*>(g->handler);
        Frame* frame = new_frame(env, handler->frame_size);
        store(frame, frame->slots()[0], condition);
        env = frame;
        node = handler->body;
        continue;
      }
    }
    error("internal error: unknown node");
  }
}

// Runs `body` with a guard marker on the handler stack. Returns true with
// its value, or false with the condition it raised.
bool Interp::eval_guarded(const Node* body, Frame* env, Value& result, Value& condition) {
  Value saved = handlers_;
  handlers_ = cons(kFalse, handlers_);
  try {
    result = eval(body, env);
    handlers_ = saved;
    return true;
  } catch (SchemeRaise& r) {
    handlers_ = saved;
    condition = take_inflight(r.slot);
  } catch (SchemeError& e) {
    handlers_ = saved;
    condition = make_error_object(make_string(e.what()), kNil, nullptr);
  }
  return false;
}

const Node* Interp::do_loop(const DoLoop* loop, Frame*& env, FrameScope& own) {
  Frame* outer = env;
  std::size_t vars = loop->inits.size();
  // An uncaptured loop uses two frames, both local when they can be.
  moss::LocalScope* scope = nullptr;
  if (!loop->frame_captured && place_local_frame(own, false) == FramePlace::scope) scope = take_frame_scope(own);
  Frame* current = new_frame(outer, loop->frame_size, scope);
  if (scope != nullptr) own.made(current, scope);
  for (std::size_t i = 0; i < vars; ++i) {
    Value v = eval(loop->inits[i], outer);
    store(current, current->slots()[i], v);
  }
  Frame* spare = nullptr;
  for (;;) {
    if (truthy(eval(loop->test, current))) {
      env = current;
      return loop->result;
    }
    if (loop->body != nullptr) eval(loop->body, current);
    Frame* next;
    if (loop->frame_captured) {
      next = new_frame(outer, loop->frame_size);
    } else {
      // Nothing can hold on to the frame: reuse the previous one.
      if (spare == nullptr) {
        spare = new_frame(outer, loop->frame_size, scope);
        if (scope != nullptr) own.made(spare, scope);
      }
      next = spare;
    }
    for (std::size_t i = 0; i < vars; ++i) {
      const Node* step = loop->steps[i];
      Value v = step != nullptr ? eval(step, current) : current->slots()[i];
      store(next, next->slots()[i], v);
    }
    spare = loop->frame_captured ? nullptr : current;
    current = next;
  }
}

// Evaluates the arguments of a call to something that is not a closure,
// then applies it.
Value Interp::eval_call_slow(const Call* call, Value f, Frame* env) {
  std::size_t argc = call->args.size();
  if (!is_procedure(f)) error("not a procedure: " + to_string(f) + " in a call");
  Value small[8];
  if (argc <= 8) {
    for (std::size_t i = 0; i < argc; ++i) {
      Value v;
      EVAL_OPERAND(v, call->args[i], env);
      small[i] = v;
    }
    return apply_procedure(f, static_cast<int>(argc), small);
  }
  // Many arguments: collect them in a heap vector (reachable from here).
  Value buffer = make_vector(argc, kFalse);
  Vector* vec = as_vector(buffer);
  for (std::size_t i = 0; i < argc; ++i) {
    Value v;
    EVAL_OPERAND(v, call->args[i], env);
    store(vec, vec->items()[i], v);
  }
  return apply_procedure(f, static_cast<int>(argc), vec->items());
}

// A tail call to closure `f` (whose frame no closure can capture) while
// this activation's own scope is full: evaluates the arguments into a C++
// array while the current frame is still alive, recycles the scope, then
// makes the callee's frame in the fresh one. Null when there are too many
// arguments to hold here (the caller makes a heap frame instead).
Frame* Interp::enter_recycled(FrameScope& own, const Call* call, Value f, Frame* env) {
  constexpr std::size_t kHeld = 8;
  std::size_t argc = call->args.size();
  if (argc > kHeld) return nullptr;
  const Lambda* code = as_closure(f)->code;
  if (argc < code->required || (argc > code->required && !code->rest)) arity_error(*this, f, argc);
  Value held[kHeld];
  for (std::size_t i = 0; i < argc; ++i) EVAL_OPERAND(held[i], call->args[i], env);
  env = nullptr;  // dead from here: the scope holding it closes
  moss::LocalScope* scope = recycle_frame_scope(own);
  Frame* frame = new_frame(as_closure(f)->env.get(), code->frame_size, scope);
  own.enter(frame, scope);
  Value* slots = frame->slots();
  for (std::uint32_t i = 0; i < code->required; ++i) store(frame, slots[i], held[i]);
  if (code->rest) {
    Value rest = kNil;
    for (std::size_t i = argc; i > code->required; --i) rest = cons(held[i - 1], rest);
    store(frame, slots[code->required], rest);
  }
  return frame;
}

#undef EVAL_OPERAND

// Applies a procedure that is not a closure. May return kTailCall.
Value Interp::apply_procedure(Value f, int argc, Value* argv) {
  if (!is_object(f)) error("not a procedure: " + to_string(f));
  switch (as_object(f)->kind) {
    case Kind::primitive: {
      const Primitive* p = as_primitive(f);
      if (argc < p->min_args || (p->max_args >= 0 && argc > p->max_args)) {
        arity_error(*this, f, static_cast<std::size_t>(argc));
      }
      return p->fn(*this, argv, argc);
    }
    case Kind::closure:
      return tail_call(f, list_from_array(argv, argc));
    case Kind::continuation: {
      auto* k = reinterpret_cast<Continuation*>(f);
      if (!k->active) {
        error("continuation called after its extent ended (only escaping continuations are supported)");
      }
      Value v = argc == 1 ? argv[0] : make_values(argv, argc);
      Value inflight = push_inflight(v);
      moss::prepare_deep_unwind();
      throw ContinuationThrow{k->id, inflight};
    }
    case Kind::record_procedure:
      return apply_record_procedure(f, argc, argv);
    case Kind::parameter: {
      auto* p = reinterpret_cast<Parameter*>(f);
      if (argc == 0) return p->value;
      if (argc == 1) {
        store(p, p->value, argv[0]);
        return kUnspecified;
      }
      arity_error(*this, f, static_cast<std::size_t>(argc));
    }
    case Kind::case_lambda: {
      Vector* clauses = as_vector(f);
      for (std::uint32_t i = 0; i < clauses->length; ++i) {
        const Lambda* code = as_closure(clauses->items()[i])->code;
        auto required = static_cast<int>(code->required);
        if (argc == required || (argc > required && code->rest)) {
          return tail_call(clauses->items()[i], list_from_array(argv, argc));
        }
      }
      arity_error(*this, f, static_cast<std::size_t>(argc));
    }
    case Kind::coroutine:
      if (argc > 1) arity_error(*this, f, static_cast<std::size_t>(argc));
      return resume_coroutine(*this, f, argc == 1 ? argv[0] : kUnspecified);
    default:
      error("not a procedure: " + to_string(f));
  }
}

Value Interp::apply_record_procedure(Value f, int argc, Value* argv) {
  auto* p = reinterpret_cast<RecordProcedure*>(f);
  RecordType* type = p->type.get();
  auto check = [&](Value r) {
    if (!has_kind(r, Kind::record) || reinterpret_cast<Record*>(r)->type.get() != type) {
      type_error(as_symbol(p->name)->name->data(),
                 ("a " + to_string(type->name, true) + " record").c_str(), r);
    }
    return reinterpret_cast<Record*>(r);
  };
  switch (p->op) {
    case RecordProcedure::construct: {
      Vector* indices = as_vector(p->fields);
      if (static_cast<std::uint32_t>(argc) != indices->length) arity_error(*this, f, static_cast<std::size_t>(argc));
      std::uint32_t n = as_vector(type->field_names)->length;
      auto* r = moss::make_trailing<Record>(heap_, std::size_t(n) * sizeof(Value), n);
      r->type = type;
      for (std::uint32_t i = 0; i < n; ++i) r->fields()[i] = kFalse;
      for (int i = 0; i < argc; ++i) {
        store(r, r->fields()[fixnum_value(indices->items()[i])], argv[i]);
      }
      return to_value(r);
    }
    case RecordProcedure::predicate:
      if (argc != 1) arity_error(*this, f, static_cast<std::size_t>(argc));
      return make_bool(has_kind(argv[0], Kind::record) && reinterpret_cast<Record*>(argv[0])->type.get() == type);
    case RecordProcedure::access:
      if (argc != 1) arity_error(*this, f, static_cast<std::size_t>(argc));
      return check(argv[0])->fields()[p->index];
    case RecordProcedure::modify: {
      if (argc != 2) arity_error(*this, f, static_cast<std::size_t>(argc));
      Record* r = check(argv[0]);
      store(r, r->fields()[p->index], argv[1]);
      return kUnspecified;
    }
  }
  return kUnspecified;
}

Value Interp::apply_list(Value f, Value args) {
  std::int64_t n = list_length(*this, args, "apply");
  if (n <= 8) {
    Value small[8];
    Value a = args;
    for (std::int64_t i = 0; i < n; ++i, a = cdr(a)) small[i] = car(a);
    return apply_procedure(f, static_cast<int>(n), small);
  }
  Value buffer = make_vector(static_cast<std::size_t>(n), kFalse);
  Vector* vec = as_vector(buffer);
  Value a = args;
  for (std::int64_t i = 0; i < n; ++i, a = cdr(a)) store(vec, vec->items()[i], car(a));
  return apply_procedure(f, static_cast<int>(n), vec->items());
}

Value Interp::list_from_array(const Value* argv, int argc) {
  Value result = kNil;
  for (int i = argc; i > 0; --i) result = cons(argv[i - 1], result);
  return result;
}

Value Interp::apply(Value f, int argc, Value* argv) {
  FrameScope own(*this);  // holds the callee's frame if it is local
  if (has_kind(f, Kind::closure)) {
    Frame* frame = bind_array(own, f, argc, argv);
    return eval(as_closure(f)->code->body, frame);
  }
  Value result = apply_procedure(f, argc, argv);
  while (result == kTailCall) {
    Value fn = tail_fn_, args = tail_args_;
    tail_fn_ = tail_args_ = 0;
    if (has_kind(fn, Kind::closure)) {
      Frame* frame = bind_list(own, fn, args);
      return eval(as_closure(fn)->code->body, frame);
    }
    result = apply_list(fn, args);
  }
  return result;
}

}  // namespace scheme
