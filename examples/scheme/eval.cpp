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

Frame* Interp::new_frame(Frame* parent, std::uint32_t size, bool captured) {
  // `captured` is false when no closure can ever reference this frame: such
  // a frame dies with its activation and is the candidate for scope-local
  // (escape-aware) allocation.
  (void)captured;
  Frame* f = moss::make_trailing<Frame>(heap_, std::size_t(size) * sizeof(Value), size);
  f->parent = parent;
  return f;
}

namespace {

Value make_closure(Interp& in, const Lambda* code, Frame* env) {
  Closure* c = moss::make<Closure>(in.heap(), code);
  c->env = env;
  return to_value(c);
}

// The frame for calling closure `f` with arguments `argv`.
Frame* bind_array(Interp& in, Value f, int argc, const Value* argv) {
  const Closure* c = as_closure(f);
  const Lambda* code = c->code;
  auto required = static_cast<int>(code->required);
  if (argc < required || (argc > required && !code->rest)) arity_error(in, f, static_cast<std::size_t>(argc));
  Frame* frame = in.new_frame(c->env.get(), code->frame_size, code->frame_captured);
  Value* slots = frame->slots();
  for (int i = 0; i < required; ++i) in.store(frame, slots[i], argv[i]);
  if (code->rest) {
    Value rest = kNil;
    for (int i = argc; i > required; --i) rest = in.cons(argv[i - 1], rest);
    in.store(frame, slots[required], rest);
  }
  return frame;
}

// The same with the arguments in a list.
Frame* bind_list(Interp& in, Value f, Value args) {
  const Closure* c = as_closure(f);
  const Lambda* code = c->code;
  Frame* frame = in.new_frame(c->env.get(), code->frame_size, code->frame_captured);
  Value* slots = frame->slots();
  Value a = args;
  for (std::uint32_t i = 0; i < code->required; ++i) {
    if (!is_pair(a)) arity_error(in, f, static_cast<std::size_t>(list_length(in, args, "apply")));
    in.store(frame, slots[i], car(a));
    a = cdr(a);
  }
  if (code->rest) {
    in.store(frame, slots[code->required], a);
  } else if (a != kNil) {
    arity_error(in, f, static_cast<std::size_t>(list_length(in, args, "apply")));
  }
  return frame;
}

}  // namespace

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
          if (argc == code->required && !code->rest) {
            Frame* frame = new_frame(c->env.get(), code->frame_size, code->frame_captured);
            for (std::size_t i = 0; i < argc; ++i) {
              Value v;
              EVAL_OPERAND(v, args[i], env);
              store(frame, frame->slots()[i], v);
            }
            env = frame;
            node = code->body;
            continue;
          }
          if (argc < code->required || !code->rest) arity_error(*this, f, argc);
          // Rest parameter: the extra arguments become a list.
          Frame* frame = new_frame(c->env.get(), code->frame_size, code->frame_captured);
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
            env = bind_list(*this, fn, args);
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
        Frame* frame = new_frame(env, let->frame_size, let->frame_captured);
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
        Frame* loop_frame = new_frame(env, 1, true);
        Value loop = make_closure(*this, code, loop_frame);
        store(loop_frame, loop_frame->slots()[0], loop);
        Frame* frame = new_frame(loop_frame, code->frame_size, code->frame_captured);
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
        node = do_loop(static_cast<const DoLoop*>(node), env);
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
        Frame* frame = new_frame(env, handler->frame_size, true);
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

const Node* Interp::do_loop(const DoLoop* loop, Frame*& env) {
  Frame* outer = env;
  std::size_t vars = loop->inits.size();
  Frame* current = new_frame(outer, loop->frame_size, loop->frame_captured);
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
      next = new_frame(outer, loop->frame_size, true);
    } else {
      // Nothing can hold on to the frame: reuse the previous one.
      if (spare == nullptr) spare = new_frame(outer, loop->frame_size, false);
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
      throw ContinuationThrow{k->id, push_inflight(v)};
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
  if (has_kind(f, Kind::closure)) {
    Frame* frame = bind_array(*this, f, argc, argv);
    return eval(as_closure(f)->code->body, frame);
  }
  Value result = apply_procedure(f, argc, argv);
  while (result == kTailCall) {
    Value fn = tail_fn_, args = tail_args_;
    tail_fn_ = tail_args_ = 0;
    if (has_kind(fn, Kind::closure)) {
      Frame* frame = bind_list(*this, fn, args);
      return eval(as_closure(fn)->code->body, frame);
    }
    result = apply_list(fn, args);
  }
  return result;
}

}  // namespace scheme
