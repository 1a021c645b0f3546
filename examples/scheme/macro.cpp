// examples/scheme/macro.cpp — syntax-rules: pattern matching and template
// instantiation.
//
// A transformer is the datum (syntax-rules [ellipsis] (literal ...) (pattern
// template) ...). A use is matched against each pattern in turn (the
// keyword position is ignored); the first match binds pattern variables to
// pieces of the use, as a tree whose depth is the number of ellipses the
// variable sits under. The template is then instantiated with those
// bindings. Patterns support literals, `_`, ellipses followed by more
// patterns, dotted tails and vectors; templates support (... ...) escapes.
//
// Matching only reads the use (no allocation). Instantiation conses; the use
// is held in the interpreter's rooted in-flight list while it runs, and new
// lists are built front to back through locals, so everything is reachable.
// Called by compiler.cpp through macro.hpp.
#include "macro.hpp"

#include <string>
#include <unordered_map>
#include <vector>

namespace scheme {

namespace {

struct Match {
  Value datum = 0;             // depth 0: the matched piece
  std::vector<Match> items;    // under an ellipsis: one Match per repetition
};

using Bindings = std::unordered_map<Symbol*, Match>;

struct Rules {
  Interp& in;
  Value ellipsis;
  Value literals;
  Value form;  // the use, for messages

  [[noreturn]] void fail(const std::string& what) {
    in.error("syntax-rules: " + what + " in " + in.to_string(form));
  }

  bool is_literal(Value s) {
    for (Value l = literals; is_pair(l); l = cdr(l)) {
      if (car(l) == s) return true;
    }
    return false;
  }

  bool followed_by_ellipsis(Value p) { return is_pair(cdr(p)) && car(cdr(p)) == ellipsis; }

  // Adds an empty sequence binding for every variable in `pattern`, for an
  // ellipsis that matched zero times.
  void collect_vars(Value pattern, std::vector<Symbol*>& out) {
    if (is_symbol(pattern)) {
      if (pattern != ellipsis && !is_literal(pattern) && pattern != to_value(in.sym.underscore)) {
        out.push_back(as_symbol(pattern));
      }
    } else if (is_pair(pattern)) {
      collect_vars(car(pattern), out);
      collect_vars(cdr(pattern), out);
    } else if (is_vector(pattern)) {
      Vector* v = as_vector(pattern);
      for (std::uint32_t i = 0; i < v->length; ++i) collect_vars(v->items()[i], out);
    }
  }

  bool match(Value pattern, Value x, Bindings& b) {
    if (is_symbol(pattern)) {
      if (is_literal(pattern)) return x == pattern;
      if (pattern == to_value(in.sym.underscore)) return true;
      b[as_symbol(pattern)].datum = x;
      return true;
    }
    if (is_pair(pattern)) {
      if (followed_by_ellipsis(pattern)) {
        Value rest_pattern = cdr(cdr(pattern));
        std::size_t rest_len = 0;
        for (Value r = rest_pattern; is_pair(r); r = cdr(r)) ++rest_len;
        std::size_t available = 0;
        for (Value r = x; is_pair(r); r = cdr(r)) ++available;
        if (available < rest_len) return false;
        std::size_t repeat = available - rest_len;
        std::vector<Symbol*> vars;
        collect_vars(car(pattern), vars);
        for (Symbol* v : vars) b[v].items.clear();
        for (std::size_t i = 0; i < repeat; ++i, x = cdr(x)) {
          Bindings one;
          if (!match(car(pattern), car(x), one)) return false;
          for (Symbol* v : vars) b[v].items.push_back(std::move(one[v]));
        }
        return match(rest_pattern, x, b);
      }
      if (!is_pair(x)) return false;
      return match(car(pattern), car(x), b) && match(cdr(pattern), cdr(x), b);
    }
    if (pattern == kNil) return x == kNil;
    if (is_vector(pattern)) {
      if (!is_vector(x)) return false;
      return match(vector_to_list(pattern), vector_to_list(x), b);
    }
    return equal(pattern, x);
  }

  // A new list of the vector's items, held in the in-flight list (which
  // expand_macro truncates when it is done) while matching uses it.
  Value vector_to_list(Value v) {
    Vector* vec = as_vector(v);
    Value result = kNil;
    for (std::uint32_t i = vec->length; i > 0; --i) result = in.cons(vec->items()[i - 1], result);
    in.push_inflight(result);
    return result;
  }

  // Variables of `tmpl` bound under at least one ellipsis in `b`.
  void sequence_vars(Value tmpl, const Bindings& b, std::vector<Symbol*>& out) {
    if (is_symbol(tmpl)) {
      auto it = b.find(as_symbol(tmpl));
      if (it != b.end() && it->second.datum == 0) out.push_back(as_symbol(tmpl));
    } else if (is_pair(tmpl)) {
      sequence_vars(car(tmpl), b, out);
      sequence_vars(cdr(tmpl), b, out);
    } else if (is_vector(tmpl)) {
      Vector* v = as_vector(tmpl);
      for (std::uint32_t i = 0; i < v->length; ++i) sequence_vars(v->items()[i], b, out);
    }
  }

  Value instantiate(Value tmpl, const Bindings& b) {
    in.check_stack();
    if (is_symbol(tmpl)) {
      auto it = b.find(as_symbol(tmpl));
      if (it == b.end()) return tmpl;
      if (it->second.datum == 0) fail("pattern variable used without an ellipsis");
      return it->second.datum;
    }
    if (is_vector(tmpl)) {
      Value items = instantiate(vector_to_list(tmpl), b);
      std::int64_t n = list_length(in, items, "syntax-rules");
      Value v = in.make_vector(static_cast<std::size_t>(n), kFalse);
      for (std::int64_t i = 0; i < n; ++i, items = cdr(items)) in.store(as_vector(v), as_vector(v)->items()[i], car(items));
      return v;
    }
    if (!is_pair(tmpl)) return tmpl;
    // (... ...) escapes the ellipsis: (... template) inserts template as is.
    if (car(tmpl) == ellipsis && is_pair(cdr(tmpl))) return car(cdr(tmpl));
    Value head = kNil, tail = 0;
    auto append = [&](Value x) {
      Value cell = in.cons(x, kNil);
      if (tail == 0) {
        head = cell;
      } else {
        in.store(as_pair(tail), as_pair(tail)->cdr, cell);
      }
      tail = cell;
    };
    Value t = tmpl;
    while (is_pair(t)) {
      Value element = car(t);
      int depth = 0;
      Value after = cdr(t);
      while (is_pair(after) && car(after) == ellipsis) {
        ++depth;
        after = cdr(after);
      }
      if (depth == 0) {
        append(instantiate(element, b));
      } else {
        expand_repetition(element, b, depth, append);
      }
      t = after;
    }
    if (t != kNil) {
      Value rest = instantiate(t, b);
      if (tail == 0) return rest;
      in.store(as_pair(tail), as_pair(tail)->cdr, rest);
    }
    return head;
  }

  template <class Append>
  void expand_repetition(Value element, const Bindings& b, int depth, Append& append) {
    std::vector<Symbol*> vars;
    sequence_vars(element, b, vars);
    if (vars.empty()) fail("no pattern variable under an ellipsis in the template");
    std::size_t n = 0;
    bool first = true;
    for (Symbol* v : vars) {
      std::size_t len = b.at(v).items.size();
      if (first) {
        n = len;
        first = false;
      } else if (len != n) {
        fail("pattern variables under one ellipsis matched different lengths");
      }
    }
    for (std::size_t i = 0; i < n; ++i) {
      Bindings one = b;
      for (Symbol* v : vars) one[v] = b.at(v).items[i];
      if (depth > 1) {
        expand_repetition(element, one, depth - 1, append);
      } else {
        append(instantiate(element, one));
      }
    }
  }
};

}  // namespace

void define_macro(Interp& in, Symbol* keyword, Value transformer) {
  if (!is_pair(transformer) || car(transformer) != to_value(in.sym.syntax_rules)) {
    in.error("define-syntax: only syntax-rules transformers are supported", transformer);
  }
  in.store(keyword, keyword->macro, in.keep(transformer));
}

Value expand_macro(Interp& in, Symbol* keyword, Value form) {
  std::size_t slot = in.push_inflight(form);
  Value spec = cdr(keyword->macro);
  Value ellipsis = to_value(in.sym.ellipsis);
  if (is_pair(spec) && is_symbol(car(spec))) {
    ellipsis = car(spec);
    spec = cdr(spec);
  }
  if (!is_pair(spec)) in.error("syntax-rules: missing literals", keyword->macro);
  Rules rules{in, ellipsis, car(spec), form};
  for (Value r = cdr(spec); is_pair(r); r = cdr(r)) {
    Value rule = car(r);
    if (!is_pair(rule) || !is_pair(cdr(rule))) rules.fail("bad rule");
    Value pattern = car(rule);
    Bindings b;
    // The keyword position of the pattern is ignored.
    if (is_pair(pattern) && is_pair(form) && rules.match(cdr(pattern), cdr(form), b)) {
      Value result = rules.instantiate(car(cdr(rule)), b);
      in.take_inflight(slot);
      return result;
    }
  }
  rules.fail("no rule matches");
}

}  // namespace scheme
