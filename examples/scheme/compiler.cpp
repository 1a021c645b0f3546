// examples/scheme/compiler.cpp — from data to code: special forms, scopes
// and variable resolution.
//
// `Interp::compile_toplevel` turns one datum into an ast.hpp tree. Every
// variable is resolved here: locals to (depth, slot) in the chain of
// environment Frames, anything else to its global Symbol. Derived forms
// (cond, case, when, unless, quasiquote, named let, do, let-values,
// define-record-type, guard ...) become a few core nodes, and macro uses
// (syntax-rules, see macro.cpp) are expanded before compilation.
//
// Scopes. A `Scope` describes one run-time Frame: its slots and the
// bindings visible at the current point of compilation. A lambda, and a
// let whose body may create a closure, get a Scope (and a Frame at run time)
// of their own. A let that provably creates no closure (no lambda, named
// let, delay ... anywhere inside it: `creates_closure`) is flattened: its
// variables take fresh slots of the enclosing frame and no Frame is made.
// Internal definitions take slots of the frame of the body they are in
// (letrec* semantics), as do the variables of flattened lets; those slots
// may be unassigned, so references to them are checked.
//
// The compiler never runs Scheme code. The datum being compiled is rooted
// by compile_toplevel; data made here (expansions) are held by locals on the
// stack, and constants that end up in code are registered with Interp::keep.
#include <algorithm>
#include <string>
#include <vector>

#include "interp.hpp"
#include "macro.hpp"

namespace scheme {

struct Binding {
  Symbol* name;
  std::uint32_t slot;
  bool checked;  // may be unassigned when read
};

struct Scope {
  Scope* parent;
  std::vector<Binding> visible;
  std::uint32_t next_slot = 0;
  std::uint32_t size = 0;
  explicit Scope(Scope* p) : parent(p) {}
  std::uint32_t reserve(std::uint32_t n) {
    std::uint32_t first = next_slot;
    next_slot += n;
    size = std::max(size, next_slot);
    return first;
  }
  void bind(Symbol* name, std::uint32_t slot, bool checked) { visible.push_back({name, slot, checked}); }
};

struct Compiler {
  Interp& in;
  Interp::Syms& sym;

  explicit Compiler(Interp& i) : in(i), sym(i.sym) {}

  // ---- Errors and datum helpers ----

  [[noreturn]] void syntax_error(const std::string& what, Value form) {
    in.error("syntax error: " + what + " in " + in.to_string(form));
  }

  std::vector<Value> elements(Value list, Value form) {
    std::vector<Value> out;
    Value x = list;
    while (is_pair(x)) {
      out.push_back(car(x));
      x = cdr(x);
    }
    if (x != kNil) syntax_error("improper list", form);
    return out;
  }

  Value list_from(const std::vector<Value>& items, Value tail = kNil) {
    Value result = tail;
    for (auto it = items.rbegin(); it != items.rend(); ++it) result = in.cons(*it, result);
    return result;
  }

  // Data the compiler makes (expansions) are held in the rooted in-flight
  // list until compile_toplevel finishes: parts of them end up in
  // std::vectors and C++ locals the collector cannot be relied on to see.
  Value hold(Value v) {
    in.push_inflight(v);
    return v;
  }

  Value sym_value(Symbol* s) { return to_value(s); }
  bool is(Value x, Symbol* s) { return x == to_value(s); }

  // An uninterned symbol for temporaries the compiler introduces.
  Value fresh_symbol(const char* base) { return in.make_uninterned(base); }

  // ---- Scopes ----

  bool lookup(Symbol* name, Scope* scope, std::uint32_t& depth, const Binding*& found) {
    depth = 0;
    for (Scope* s = scope; s != nullptr; s = s->parent, ++depth) {
      for (auto it = s->visible.rbegin(); it != s->visible.rend(); ++it) {
        if (it->name == name) {
          found = &*it;
          return true;
        }
      }
    }
    return false;
  }

  bool is_local(Symbol* name, Scope* scope) {
    std::uint32_t depth;
    const Binding* b;
    return lookup(name, scope, depth, b);
  }

  // True if the special form or macro named by `head` applies here (it is
  // not shadowed by a local variable).
  bool keyword(Value head, Symbol* s, Scope* scope) { return head == to_value(s) && !is_local(s, scope); }

  // ---- Capture analysis ----

  // Could evaluating `x` create a closure? Conservative: looks for any form
  // that makes one, and for macro uses (their expansion is unknown here).
  bool creates_closure(Value x) {
    while (is_pair(x)) {
      Value head = car(x);
      if (is_symbol(head)) {
        Symbol* s = as_symbol(head);
        if (s == sym.quote) return false;
        if (s == sym.lambda || s == sym.named_lambda || s == sym.delay || s == sym.delay_force ||
            s == sym.case_lambda || s == sym.define_values || s == sym.let_values ||
            s == sym.let_star_values || s == sym.parameterize || s->macro != 0) {
          return true;
        }
        if ((s == sym.define && is_pair(cdr(x)) && is_pair(car(cdr(x)))) ||
            (s == sym.let && is_pair(cdr(x)) && is_symbol(car(cdr(x))))) {
          return true;
        }
      } else if (creates_closure(head)) {
        return true;
      }
      x = cdr(x);
      // Walk the rest of the list; each element may itself be a form.
      while (is_pair(x)) {
        if (creates_closure(car(x))) return true;
        x = cdr(x);
      }
      return false;
    }
    return false;
  }

  bool any_creates_closure(const std::vector<Value>& xs) {
    for (Value x : xs) {
      if (creates_closure(x)) return true;
    }
    return false;
  }

  // ---- Entry ----

  Node* constant(Value v) { return in.new_node<Constant>(in.keep(v)); }
  Node* unspecified() { return constant(kUnspecified); }

  Node* compile(Value x, Scope* scope) {
    in.check_stack();
    if (is_symbol(x)) return compile_ref(as_symbol(x), scope, x);
    if (!is_pair(x)) {
      if (x == kNil) syntax_error("empty combination", x);
      return constant(x);
    }
    Value head = car(x);
    if (is_symbol(head) && !is_local(as_symbol(head), scope)) {
      Symbol* s = as_symbol(head);
      if (s->macro != 0) return compile(hold(expand_macro(in, s, x)), scope);
      // A program that defines a global of the same name (its own `assert`,
      // say) has replaced the special form.
      if (s->value == kUnassigned) {
        if (Node* n = compile_special(s, x, scope)) return n;
      }
    }
    return compile_call(x, scope);
  }

  Node* compile_ref(Symbol* s, Scope* scope, Value form) {
    std::uint32_t depth;
    const Binding* b;
    if (lookup(s, scope, depth, b)) {
      Op op = b->checked ? Op::local_checked : depth == 0 ? Op::local0 : depth == 1 ? Op::local1 : Op::local;
      return in.new_node<LocalRef>(op, depth, b->slot, s);
    }
    if (s->macro != 0 || is_special_keyword(s)) syntax_error("keyword used as a variable", form);
    return in.new_node<GlobalRef>(s);
  }

  bool is_special_keyword(Symbol* s) {
    Symbol* const keywords[] = {sym.quote, sym.quasiquote, sym.lambda, sym.define, sym.set, sym.if_,
                                sym.begin, sym.let, sym.let_star, sym.letrec, sym.letrec_star, sym.cond,
                                sym.case_, sym.and_, sym.or_, sym.when, sym.unless, sym.do_, sym.delay,
                                sym.delay_force, sym.define_record_type, sym.guard, sym.define_syntax};
    return std::find(std::begin(keywords), std::end(keywords), s) != std::end(keywords);
  }

  Node* compile_call(Value x, Scope* scope) {
    std::vector<Value> parts = elements(x, x);
    auto* call = in.new_node<Call>(compile(parts[0], scope));
    call->args.reserve(parts.size() - 1);
    for (std::size_t i = 1; i < parts.size(); ++i) call->args.push_back(compile(parts[i], scope));
    return call;
  }

  Node* call_constant(Value fn, std::vector<Node*> args) {
    auto* call = in.new_node<Call>(constant(fn));
    call->args = std::move(args);
    return call;
  }

  Node* sequence(const std::vector<Node*>& nodes) {
    if (nodes.empty()) return unspecified();
    if (nodes.size() == 1) return nodes[0];
    auto* seq = in.new_node<Seq>();
    seq->body = nodes;
    return seq;
  }

  // A sequence of expressions (no definitions).
  Node* compile_seq(const std::vector<Value>& forms, std::size_t from, Scope* scope) {
    std::vector<Node*> nodes;
    for (std::size_t i = from; i < forms.size(); ++i) nodes.push_back(compile(forms[i], scope));
    return sequence(nodes);
  }

  // ---- Special forms ----

  Node* compile_special(Symbol* s, Value x, Scope* scope) {
    if (s == sym.quote) {
      auto parts = elements(x, x);
      if (parts.size() != 2) syntax_error("quote takes one datum", x);
      return constant(parts[1]);
    }
    if (s == sym.if_) {
      auto parts = elements(x, x);
      if (parts.size() != 3 && parts.size() != 4) syntax_error("if takes 2 or 3 expressions", x);
      Node* test = compile(parts[1], scope);
      Node* then = compile(parts[2], scope);
      Node* otherwise = parts.size() == 4 ? compile(parts[3], scope) : unspecified();
      return in.new_node<If>(test, then, otherwise);
    }
    if (s == sym.define) {
      if (scope != nullptr) syntax_error("define is only allowed at the start of a body or at top level", x);
      Value name, value_form;
      Node* value = compile_definition(x, scope, name, value_form);
      // A variable definition replaces a macro of that name.
      if (as_symbol(name)->macro != 0) in.store(as_symbol(name), as_symbol(name)->macro, kUnassigned);
      return in.new_node<SetGlobal>(Op::define_global, as_symbol(name), value);
    }
    if (s == sym.set) {
      auto parts = elements(x, x);
      if (parts.size() != 3 || !is_symbol(parts[1])) syntax_error("set! takes a variable and an expression", x);
      Symbol* var = as_symbol(parts[1]);
      Node* value = compile(parts[2], scope);
      std::uint32_t depth;
      const Binding* b;
      if (lookup(var, scope, depth, b)) return in.new_node<SetLocal>(depth, b->slot, value);
      return in.new_node<SetGlobal>(Op::set_global, var, value);
    }
    if (s == sym.lambda) {
      if (!is_pair(cdr(x))) syntax_error("lambda needs parameters and a body", x);
      return compile_lambda(car(cdr(x)), cdr(cdr(x)), scope, nullptr, x);
    }
    if (s == sym.named_lambda) {
      if (!is_pair(cdr(x)) || !is_pair(car(cdr(x))) || !is_symbol(car(car(cdr(x))))) {
        syntax_error("named-lambda needs (name . parameters)", x);
      }
      Value spec = car(cdr(x));
      return compile_lambda(cdr(spec), cdr(cdr(x)), scope, as_symbol(car(spec)), x);
    }
    if (s == sym.begin) {
      auto parts = elements(x, x);
      if (scope == nullptr) {
        // Top-level begin: its forms are top-level forms (definitions allowed).
        std::vector<Node*> nodes;
        for (std::size_t i = 1; i < parts.size(); ++i) nodes.push_back(compile(parts[i], nullptr));
        return sequence(nodes);
      }
      return compile_seq(parts, 1, scope);
    }
    if (s == sym.let) return compile_let(x, scope);
    if (s == sym.let_star) return compile_let_family(x, scope, /*sequential=*/true, /*recursive=*/false);
    if (s == sym.letrec) return compile_let_family(x, scope, true, true);
    if (s == sym.letrec_star) return compile_let_family(x, scope, true, true);
    if (s == sym.cond) return compile_cond(x, scope);
    if (s == sym.case_) return compile_case(x, scope);
    if (s == sym.and_ || s == sym.or_) {
      auto parts = elements(x, x);
      if (parts.size() == 1) return constant(s == sym.and_ ? kTrue : kFalse);
      if (parts.size() == 2) return compile(parts[1], scope);
      auto* seq = in.new_node<Seq>(s == sym.and_ ? Op::and_ : Op::or_);
      for (std::size_t i = 1; i < parts.size(); ++i) seq->body.push_back(compile(parts[i], scope));
      return seq;
    }
    if (s == sym.when || s == sym.unless) {
      auto parts = elements(x, x);
      if (parts.size() < 2) syntax_error("missing test", x);
      Node* test = compile(parts[1], scope);
      Node* body = compile_seq(parts, 2, scope);
      return s == sym.when ? in.new_node<If>(test, body, unspecified()) : in.new_node<If>(test, unspecified(), body);
    }
    if (s == sym.do_) return compile_do(x, scope);
    if (s == sym.quasiquote) {
      auto parts = elements(x, x);
      if (parts.size() != 2) syntax_error("quasiquote takes one template", x);
      return quasi(parts[1], 1, scope);
    }
    if (s == sym.unquote || s == sym.unquote_splicing) syntax_error("unquote outside quasiquote", x);
    if (s == sym.delay || s == sym.delay_force) {
      auto parts = elements(x, x);
      if (parts.size() != 2) syntax_error("delay takes one expression", x);
      Node* thunk = compile_lambda(kNil, cdr(x), scope, nullptr, x);
      return call_constant(in.prim_make_lazy_promise_, {thunk, constant(make_bool(s == sym.delay_force))});
    }
    if (s == sym.define_record_type) {
      if (scope != nullptr) syntax_error("define-record-type is only allowed in a body or at top level", x);
      return compile(hold(record_definitions(x)), nullptr);
    }
    if (s == sym.define_values) {
      if (scope != nullptr) syntax_error("define-values is only allowed in a body or at top level", x);
      return compile(hold(define_values_expansion(x)), nullptr);
    }
    if (s == sym.let_values || s == sym.let_star_values) return compile(hold(let_values_expansion(x)), scope);
    if (s == sym.guard) return compile_guard(x, scope);
    if (s == sym.import) return unspecified();
    if (s == sym.define_syntax) {
      define_syntax(x);
      return unspecified();
    }
    if (s == sym.let_syntax || s == sym.letrec_syntax) {
      // Treated as global definitions of the macros, then a body.
      auto parts = elements(x, x);
      if (parts.size() < 2) syntax_error("missing bindings", x);
      for (Value binding : elements(parts[1], x)) {
        auto b = elements(binding, x);
        if (b.size() != 2 || !is_symbol(b[0])) syntax_error("bad syntax binding", x);
        define_macro(in, as_symbol(b[0]), b[1]);
      }
      return compile(hold(in.cons(to_value(sym.let), in.cons(kNil, cdr(cdr(x))))), scope);
    }
    if (s == sym.assert) {
      auto parts = elements(x, x);
      if (parts.size() != 2) syntax_error("assert takes one expression", x);
      Node* fail = call_constant(in.prim_raise_, {constant(in.make_error_object(
                                                      in.make_string("assertion failed"),
                                                      in.cons(parts[1], kNil), "assert"))});
      return in.new_node<If>(compile(parts[1], scope), unspecified(), fail);
    }
    if (s == sym.case_lambda) return compile_case_lambda(x, scope);
    if (s == sym.parameterize) return compile(hold(parameterize_expansion(x)), scope);
    return nullptr;
  }

  // (define name expr), (define (name . params) body ...), and curried
  // (define ((name a) b) ...). Returns the value node; sets `name`.
  Node* compile_definition(Value x, Scope* scope, Value& name, Value& value_form) {
    if (!is_pair(cdr(x))) syntax_error("define needs a name", x);
    Value target = car(cdr(x));
    Value rest = cdr(cdr(x));
    // Curried: (define ((f a) b) body) = (define (f a) (lambda (b) body)).
    while (is_pair(target) && is_pair(car(target))) {
      rest = hold(in.cons(in.cons(to_value(sym.lambda), in.cons(cdr(target), rest)), kNil));
      target = car(target);
    }
    if (is_pair(target)) {
      name = car(target);
      if (!is_symbol(name)) syntax_error("bad procedure name", x);
      value_form = x;
      return compile_lambda(cdr(target), rest, scope, as_symbol(name), x);
    }
    if (!is_symbol(target)) syntax_error("define needs a symbol", x);
    name = target;
    if (rest == kNil) {
      value_form = kUnspecified;
      return unspecified();
    }
    if (!is_pair(rest) || cdr(rest) != kNil) syntax_error("define takes one expression", x);
    value_form = car(rest);
    return compile_named(car(rest), scope, as_symbol(name));
  }

  // Compiles `x`; if it is a lambda, the procedure gets `name`.
  Node* compile_named(Value x, Scope* scope, Symbol* name) {
    if (is_pair(x) && keyword(car(x), sym.lambda, scope) && is_pair(cdr(x))) {
      return compile_lambda(car(cdr(x)), cdr(cdr(x)), scope, name, x);
    }
    return compile(x, scope);
  }

  Lambda* compile_lambda(Value params, Value body, Scope* outer, Symbol* name, Value form) {
    auto* lambda = in.new_node<Lambda>();
    lambda->name = name;
    Scope scope(outer);
    Value p = params;
    while (is_pair(p)) {
      if (!is_symbol(car(p))) syntax_error("parameter is not a symbol", form);
      scope.bind(as_symbol(car(p)), scope.reserve(1), false);
      ++lambda->required;
      p = cdr(p);
    }
    if (p != kNil) {
      if (!is_symbol(p)) syntax_error("rest parameter is not a symbol", form);
      scope.bind(as_symbol(p), scope.reserve(1), false);
      lambda->rest = true;
    }
    lambda->frame_captured = creates_closure(body);
    lambda->body = compile_body(body, &scope, form);
    lambda->frame_size = scope.size;
    return lambda;
  }

  // ---- Bodies and internal definitions ----

  // Expands macro uses and record/values definitions at the head of a body
  // form, and splices begins, so that definitions can be found.
  void flatten_body(Value forms, Scope* scope, std::vector<Value>& out, Value whole) {
    for (Value f : elements(forms, whole)) {
      for (;;) {
        if (!is_pair(f) || !is_symbol(car(f)) || is_local(as_symbol(car(f)), scope)) break;
        Symbol* s = as_symbol(car(f));
        if (s->macro != 0) {
          f = hold(expand_macro(in, s, f));
        } else if (s == sym.define_record_type) {
          f = hold(record_definitions(f));
        } else if (s == sym.define_values) {
          f = hold(define_values_expansion(f));
        } else {
          break;
        }
      }
      if (is_pair(f) && keyword(car(f), sym.begin, scope)) {
        flatten_body(cdr(f), scope, out, whole);
      } else if (is_pair(f) && keyword(car(f), sym.define_syntax, scope)) {
        define_syntax(f);
      } else {
        out.push_back(f);
      }
    }
  }

  // Compiles a body in `scope` (a real or flattened frame scope). Internal
  // definitions get slots of the scope's frame and stay visible to the rest
  // of the body; the caller restores visibility if the body is flattened.
  Node* compile_body(Value forms, Scope* scope, Value whole) {
    std::vector<Value> items;
    flatten_body(forms, scope, items, whole);
    if (items.empty()) syntax_error("empty body", whole);
    std::size_t body_start = scope->visible.size();
    // Declare every definition first: they are mutually visible.
    std::vector<std::int64_t> def_slot(items.size(), -1);
    for (std::size_t i = 0; i < items.size(); ++i) {
      Value f = items[i];
      if (!is_pair(f) || !keyword(car(f), sym.define, scope)) continue;
      if (!is_pair(cdr(f))) syntax_error("define needs a name", f);
      Value target = car(cdr(f));
      while (is_pair(target)) target = car(target);
      if (!is_symbol(target)) syntax_error("define needs a symbol", f);
      Symbol* name = as_symbol(target);
      std::int64_t slot = -1;
      for (std::size_t k = body_start; k < scope->visible.size(); ++k) {
        if (scope->visible[k].name == name) slot = scope->visible[k].slot;
      }
      if (slot < 0) {
        slot = scope->reserve(1);
        scope->bind(name, static_cast<std::uint32_t>(slot), true);
      }
      def_slot[i] = slot;
    }
    std::vector<Node*> nodes;
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (def_slot[i] >= 0) {
        Value name, value_form;
        Node* value = compile_definition(items[i], scope, name, value_form);
        nodes.push_back(in.new_node<SetLocal>(0, static_cast<std::uint32_t>(def_slot[i]), value));
      } else {
        nodes.push_back(compile(items[i], scope));
      }
    }
    // A body ending in a definition returns unspecified.
    if (def_slot.back() >= 0) nodes.push_back(unspecified());
    return sequence(nodes);
  }

  // ---- let and friends ----

  struct LetBinding {
    Symbol* name;
    Value init;  // 0: none (letrec placeholder)
  };

  std::vector<LetBinding> parse_bindings(Value list, Value form) {
    std::vector<LetBinding> out;
    for (Value b : elements(list, form)) {
      if (is_symbol(b)) {
        out.push_back({as_symbol(b), kUnspecified});
        continue;
      }
      auto parts = elements(b, form);
      if (parts.empty() || parts.size() > 2 || !is_symbol(parts[0])) syntax_error("bad binding", form);
      out.push_back({as_symbol(parts[0]), parts.size() == 2 ? parts[1] : kUnspecified});
    }
    return out;
  }

  Node* compile_let(Value x, Scope* scope) {
    if (!is_pair(cdr(x))) syntax_error("let needs bindings", x);
    if (is_symbol(car(cdr(x)))) return compile_named_let(x, scope);
    return compile_let_family(x, scope, false, false);
  }

  Node* compile_let_family(Value x, Scope* scope, bool sequential, bool recursive) {
    if (!is_pair(cdr(x))) syntax_error("missing bindings", x);
    std::vector<LetBinding> bindings = parse_bindings(car(cdr(x)), x);
    Value body = cdr(cdr(x));
    std::vector<Value> inits;
    for (auto& b : bindings) inits.push_back(b.init);
    bool captured = creates_closure(body) || any_creates_closure(inits);
    auto* let = in.new_node<Let>();
    let->sequential = sequential;
    let->frame_captured = captured;
    if (bindings.empty() && scope != nullptr) {
      // (let () body): just a body in the current frame.
      let->flattened = true;
    }
    if (scope != nullptr && !captured) let->flattened = true;
    auto n = static_cast<std::uint32_t>(bindings.size());
    if (let->flattened) {
      std::size_t saved_visible = scope->visible.size();
      std::uint32_t saved_next = scope->next_slot;
      let->first = scope->reserve(n);
      compile_bindings(let, bindings, scope, scope, let->first, sequential, recursive);
      let->body = compile_body(body, scope, x);
      scope->visible.resize(saved_visible);
      scope->next_slot = saved_next;
      return let;
    }
    Scope inner(scope);
    let->first = inner.reserve(n);
    compile_bindings(let, bindings, scope, &inner, let->first, sequential, recursive);
    let->body = compile_body(body, &inner, x);
    let->frame_size = inner.size;
    return let;
  }

  // Binds the variables of a let in `target` (slots first..first+n) and
  // compiles the inits in the right scope for each kind of let.
  void compile_bindings(Let* let, const std::vector<LetBinding>& bindings, Scope* outer, Scope* target,
                        std::uint32_t first, bool sequential, bool recursive) {
    auto n = bindings.size();
    if (recursive) {
      for (std::size_t i = 0; i < n; ++i) target->bind(bindings[i].name, first + static_cast<std::uint32_t>(i), true);
      for (std::size_t i = 0; i < n; ++i) let->inits.push_back(compile_named(bindings[i].init, target, bindings[i].name));
    } else if (sequential) {
      for (std::size_t i = 0; i < n; ++i) {
        let->inits.push_back(compile_named(bindings[i].init, target, bindings[i].name));
        target->bind(bindings[i].name, first + static_cast<std::uint32_t>(i), false);
      }
    } else {
      for (std::size_t i = 0; i < n; ++i) let->inits.push_back(compile_named(bindings[i].init, outer, bindings[i].name));
      for (std::size_t i = 0; i < n; ++i) target->bind(bindings[i].name, first + static_cast<std::uint32_t>(i), false);
    }
  }

  Node* compile_named_let(Value x, Scope* scope) {
    auto parts = elements(x, x);
    if (parts.size() < 4) syntax_error("named let needs a name, bindings and a body", x);
    Symbol* name = as_symbol(parts[1]);
    std::vector<LetBinding> bindings = parse_bindings(parts[2], x);
    auto* node = in.new_node<NamedLet>();
    for (auto& b : bindings) node->inits.push_back(compile(b.init, scope));
    Scope loop_scope(scope);
    loop_scope.bind(name, loop_scope.reserve(1), false);
    std::vector<Value> params;
    for (auto& b : bindings) params.push_back(to_value(b.name));
    node->lambda = compile_lambda(hold(list_from(params)), cdr(cdr(cdr(x))), &loop_scope, name, x);
    return node;
  }

  Node* compile_do(Value x, Scope* scope) {
    auto parts = elements(x, x);
    if (parts.size() < 3) syntax_error("do needs variables and a test clause", x);
    auto* loop = in.new_node<DoLoop>();
    std::vector<Value> specs = elements(parts[1], x);
    std::vector<Value> steps;
    Scope inner(scope);
    std::vector<Symbol*> names;
    for (Value spec : specs) {
      auto v = elements(spec, x);
      if (v.size() < 2 || v.size() > 3 || !is_symbol(v[0])) syntax_error("bad do variable", x);
      names.push_back(as_symbol(v[0]));
      loop->inits.push_back(compile(v[1], scope));
      steps.push_back(v.size() == 3 ? v[2] : 0);
    }
    std::vector<Value> clause = elements(parts[2], x);
    if (clause.empty()) syntax_error("do needs a test", x);
    std::vector<Value> everything(parts.begin() + 2, parts.end());
    for (Value s : steps) {
      if (s != 0) everything.push_back(s);
    }
    loop->frame_captured = any_creates_closure(everything);
    std::uint32_t first = inner.reserve(static_cast<std::uint32_t>(names.size()));
    for (std::size_t i = 0; i < names.size(); ++i) inner.bind(names[i], first + static_cast<std::uint32_t>(i), false);
    loop->test = compile(clause[0], &inner);
    loop->result = clause.size() > 1 ? compile_seq(clause, 1, &inner) : nullptr;
    for (Value s : steps) loop->steps.push_back(s != 0 ? compile(s, &inner) : nullptr);
    loop->body = parts.size() > 3 ? compile_seq(parts, 3, &inner) : nullptr;
    loop->frame_size = inner.size;
    return loop;
  }

  // ---- cond and case ----

  Node* compile_cond(Value x, Scope* scope) {
    auto clauses = elements(cdr(x), x);
    Node* result = unspecified();
    for (auto it = clauses.rbegin(); it != clauses.rend(); ++it) {
      auto parts = elements(*it, x);
      if (parts.empty()) syntax_error("empty cond clause", x);
      if (keyword(parts[0], sym.else_, scope)) {
        if (it != clauses.rbegin()) syntax_error("else clause must be last", x);
        result = compile_seq(parts, 1, scope);
      } else if (parts.size() == 3 && keyword(parts[1], sym.arrow, scope)) {
        result = in.new_node<CondArrow>(compile(parts[0], scope), compile(parts[2], scope), result);
      } else if (parts.size() == 1) {
        auto* seq = in.new_node<Seq>(Op::or_);
        seq->body = {compile(parts[0], scope), result};
        result = seq;
      } else {
        result = in.new_node<If>(compile(parts[0], scope), compile_seq(parts, 1, scope), result);
      }
    }
    return result;
  }

  Node* compile_case(Value x, Scope* scope) {
    auto parts = elements(x, x);
    if (parts.size() < 2) syntax_error("case needs a key", x);
    auto* node = in.new_node<Case>();
    node->key = compile(parts[1], scope);
    for (std::size_t i = 2; i < parts.size(); ++i) {
      auto clause = elements(parts[i], x);
      if (clause.size() < 2) syntax_error("bad case clause", x);
      bool arrow = clause.size() == 3 && keyword(clause[1], sym.arrow, scope);
      Node* body = arrow ? compile(clause[2], scope) : compile_seq(clause, 1, scope);
      if (keyword(clause[0], sym.else_, scope)) {
        node->otherwise = body;
        node->otherwise_arrow = arrow;
        continue;
      }
      Case::Clause c{{}, body, arrow};
      for (Value d : elements(clause[0], x)) c.data.push_back(in.keep(d));
      node->clauses.push_back(std::move(c));
    }
    return node;
  }

  // ---- quasiquote ----

  bool has_unquote(Value x, int depth) {
    if (is_vector(x)) {
      Vector* v = as_vector(x);
      for (std::uint32_t i = 0; i < v->length; ++i) {
        if (has_unquote(v->items()[i], depth)) return true;
      }
      return false;
    }
    while (is_pair(x)) {
      Value head = car(x);
      if (is(head, sym.unquote) || is(head, sym.unquote_splicing)) return true;
      if (is(head, sym.quasiquote)) return has_unquote(cdr(x), depth + 1);
      if (has_unquote(head, depth)) return true;
      x = cdr(x);
    }
    return false;
  }

  Node* quasi(Value x, int depth, Scope* scope) {
    if (!has_unquote(x, depth)) return constant(x);
    if (is_vector(x)) {
      Vector* v = as_vector(x);
      std::vector<Value> items(v->items(), v->items() + v->length);
      return call_constant(in.prim_list_to_vector_, {quasi(hold(list_from(items)), depth, scope)});
    }
    if (!is_pair(x)) return constant(x);
    Value head = car(x);
    if (is(head, sym.unquote)) {
      Value arg = car(cdr(x));
      if (depth == 1) return compile(arg, scope);
      return call_constant(in.prim_list_, {constant(head), quasi(arg, depth - 1, scope)});
    }
    if (is(head, sym.quasiquote)) {
      return call_constant(in.prim_list_, {constant(head), quasi(car(cdr(x)), depth + 1, scope)});
    }
    if (is_pair(head) && is(car(head), sym.unquote_splicing) && depth == 1) {
      Node* spliced = compile(car(cdr(head)), scope);
      if (cdr(x) == kNil) return spliced;
      return call_constant(in.prim_append_, {spliced, quasi(cdr(x), depth, scope)});
    }
    if (is_pair(head) && is(car(head), sym.unquote_splicing)) {
      Node* inner = call_constant(in.prim_list_, {constant(car(head)), quasi(car(cdr(head)), depth - 1, scope)});
      return call_constant(in.prim_cons_, {inner, quasi(cdr(x), depth, scope)});
    }
    return call_constant(in.prim_cons_, {quasi(head, depth, scope), quasi(cdr(x), depth, scope)});
  }

  // ---- Records ----

  // (define-record-type name (ctor field ...) pred (field accessor [modifier]) ...)
  // becomes (begin (define name 'type) (define ctor 'proc) ...), the type
  // and its procedures being made now, once.
  Value record_definitions(Value x) {
    auto parts = elements(x, x);
    if (parts.size() < 4) syntax_error("define-record-type needs a name, constructor and predicate", x);
    Value type_name = is_pair(parts[1]) ? car(parts[1]) : parts[1];
    if (!is_symbol(type_name)) syntax_error("bad record type name", x);
    std::vector<Value> field_names;
    for (std::size_t i = 4; i < parts.size(); ++i) {
      Value name = is_pair(parts[i]) ? car(parts[i]) : parts[i];
      if (!is_symbol(name)) syntax_error("bad record field", x);
      field_names.push_back(name);
    }
    auto field_index = [&](Value name) -> std::uint32_t {
      for (std::size_t i = 0; i < field_names.size(); ++i) {
        if (field_names[i] == name) return static_cast<std::uint32_t>(i);
      }
      syntax_error("unknown record field " + in.to_string(name), x);
    };

    auto* type = moss::make<RecordType>(in.heap());
    Value type_value = hold(to_value(type));
    // <point> prints as point.
    std::string printed = in.to_string(type_name, true);
    if (printed.size() > 2 && printed.front() == '<' && printed.back() == '>') {
      printed = printed.substr(1, printed.size() - 2);
    }
    in.store(type, type->name, in.intern(printed));
    Value names_vector = in.make_vector(field_names.size(), kFalse);
    for (std::size_t i = 0; i < field_names.size(); ++i) {
      in.store(as_vector(names_vector), as_vector(names_vector)->items()[i], field_names[i]);
    }
    in.store(type, type->field_names, names_vector);

    std::vector<Value> defs;
    auto define = [&](Value name, Value value) {
      Value quoted = in.list({to_value(sym.quote), value});
      defs.push_back(hold(in.list({to_value(sym.define), name, quoted})));
    };
    auto make_proc = [&](RecordProcedure::Op op, std::uint32_t index, Value name) {
      auto* p = moss::make<RecordProcedure>(in.heap(), op, index);
      hold(to_value(p));
      p->type = type;
      in.store(p, p->name, name);
      return p;
    };

    define(type_name, type_value);
    Value ctor = parts[2];
    if (ctor != kFalse) {
      Value ctor_name = is_pair(ctor) ? car(ctor) : ctor;
      if (!is_symbol(ctor_name)) syntax_error("bad record constructor", x);
      std::vector<Value> args = is_pair(ctor) ? elements(cdr(ctor), x) : field_names;
      Value indices = in.make_vector(args.size(), kFalse);
      for (std::size_t i = 0; i < args.size(); ++i) {
        in.store(as_vector(indices), as_vector(indices)->items()[i], make_fixnum(field_index(args[i])));
      }
      auto* p = make_proc(RecordProcedure::construct, 0, ctor_name);
      in.store(p, p->fields, indices);
      define(ctor_name, to_value(p));
    }
    Value pred = parts[3];
    if (pred != kFalse) {
      if (!is_symbol(pred)) syntax_error("bad record predicate", x);
      define(pred, to_value(make_proc(RecordProcedure::predicate, 0, pred)));
    }
    for (std::size_t i = 4; i < parts.size(); ++i) {
      if (!is_pair(parts[i])) continue;
      auto spec = elements(parts[i], x);
      std::uint32_t index = field_index(spec[0]);
      if (spec.size() >= 2) define(spec[1], to_value(make_proc(RecordProcedure::access, index, spec[1])));
      if (spec.size() >= 3) define(spec[2], to_value(make_proc(RecordProcedure::modify, index, spec[2])));
    }
    return in.cons(to_value(sym.begin), list_from(defs));
  }

  // ---- Multiple values ----

  // (define-values formals expr) => (begin (define v) ... (call-with-values
  //   (lambda () expr) (lambda tmp-formals (set! v tmp) ...)))
  Value define_values_expansion(Value x) {
    auto parts = elements(x, x);
    if (parts.size() != 3) syntax_error("define-values takes formals and an expression", x);
    std::vector<Value> defs, sets;
    std::vector<Value> temps;
    Value tail = kNil;
    Value f = parts[1];
    auto one = [&](Value var) {
      if (!is_symbol(var)) syntax_error("bad define-values formal", x);
      Value t = fresh_symbol("value");
      defs.push_back(hold(in.list({to_value(sym.define), var})));
      sets.push_back(hold(in.list({to_value(sym.set), var, t})));
      return t;
    };
    while (is_pair(f)) {
      temps.push_back(one(car(f)));
      f = cdr(f);
    }
    if (f != kNil) tail = one(f);
    sets.push_back(kUnspecified);
    Value consumer = hold(in.cons(to_value(sym.lambda), in.cons(hold(list_from(temps, tail)), hold(list_from(sets)))));
    Value producer = hold(in.list({to_value(sym.lambda), kNil, parts[2]}));
    defs.push_back(hold(in.list({in.prim_call_with_values_, producer, consumer})));
    return in.cons(to_value(sym.begin), list_from(defs));
  }

  // (let-values (((formals) expr) ...) body) => nested call-with-values.
  Value let_values_expansion(Value x) {
    auto parts = elements(x, x);
    if (parts.size() < 3) syntax_error("let-values needs bindings and a body", x);
    auto bindings = elements(parts[1], x);
    Value body = cdr(cdr(x));
    if (bindings.empty()) return in.cons(to_value(sym.let), in.cons(kNil, body));
    Value result = kUnspecified;
    for (auto it = bindings.rbegin(); it != bindings.rend(); ++it) {
      auto b = elements(*it, x);
      if (b.size() != 2) syntax_error("bad let-values binding", x);
      Value inner = it == bindings.rbegin() ? body : in.cons(result, kNil);
      Value consumer = in.cons(to_value(sym.lambda), in.cons(b[0], inner));
      Value producer = in.list({to_value(sym.lambda), kNil, b[1]});
      result = in.list({in.prim_call_with_values_, producer, consumer});
    }
    return result;
  }

  // (parameterize ((p v) ...) body) => (%parameterize (list p ...) (list v ...) (lambda () body))
  Value parameterize_expansion(Value x) {
    auto parts = elements(x, x);
    if (parts.size() < 3) syntax_error("parameterize needs bindings and a body", x);
    std::vector<Value> params{in.prim_list_}, values{in.prim_list_};
    for (Value b : elements(parts[1], x)) {
      auto pv = elements(b, x);
      if (pv.size() != 2) syntax_error("bad parameterize binding", x);
      params.push_back(pv[0]);
      values.push_back(pv[1]);
    }
    Value thunk = in.cons(to_value(sym.lambda), in.cons(kNil, cdr(cdr(x))));
    Value fn = in.intern("%parameterize");
    return in.list({fn, list_from(params), list_from(values), thunk});
  }

  // (case-lambda (formals body ...) ...) => (%case-lambda (lambda formals body ...) ...)
  Node* compile_case_lambda(Value x, Scope* scope) {
    std::vector<Node*> lambdas;
    for (Value clause : elements(cdr(x), x)) {
      if (!is_pair(clause)) syntax_error("bad case-lambda clause", x);
      lambdas.push_back(compile_lambda(car(clause), cdr(clause), scope, nullptr, x));
    }
    Value fn = as_symbol(in.intern("%case-lambda"))->value;
    return call_constant(fn, lambdas);
  }

  // ---- guard ----

  // (guard (var clause ...) body ...)
  Node* compile_guard(Value x, Scope* scope) {
    if (!is_pair(cdr(x)) || !is_pair(car(cdr(x))) || !is_symbol(car(car(cdr(x))))) {
      syntax_error("guard needs (variable clause ...)", x);
    }
    auto* guard = in.new_node<Guard>();
    guard->body = compile(hold(in.cons(to_value(sym.let), in.cons(kNil, cdr(cdr(x))))), scope);
    Value var = car(car(cdr(x)));
    Value clauses = cdr(car(cdr(x)));
    // Re-raise when no clause applies.
    bool has_else = false;
    for (Value c : elements(clauses, x)) {
      if (is_pair(c) && is(car(c), sym.else_)) has_else = true;
    }
    std::vector<Value> all = elements(clauses, x);
    if (!has_else) {
      all.push_back(hold(in.list({to_value(sym.else_), hold(in.list({in.prim_raise_, var, kTrue}))})));
    }
    Value cond_form = hold(in.cons(to_value(sym.cond), list_from(all)));
    Scope handler(scope);
    handler.bind(as_symbol(var), handler.reserve(1), false);
    Node* body = compile(cond_form, &handler);
    // The handler runs in its own frame: a Let with one slot, evaluated by
    // the guard node after the condition is stored in slot 0.
    auto* let = in.new_node<Let>();
    let->frame_captured = true;
    let->frame_size = handler.size;
    let->body = body;
    guard->handler = let;
    return guard;
  }

  // ---- Macros ----

  void define_syntax(Value x) {
    auto parts = elements(x, x);
    if (parts.size() != 3 || !is_symbol(parts[1])) syntax_error("define-syntax needs a name and a transformer", x);
    define_macro(in, as_symbol(parts[1]), parts[2]);
  }
};

Node* Interp::compile_toplevel(Value form) {
  std::size_t slot = push_inflight(form);
  Compiler c(*this);
  Node* node = c.compile(form, nullptr);
  take_inflight(slot);
  return node;
}


}  // namespace scheme
