// examples/scheme/printer.cpp — external representations: `write` and
// `display`.
//
// `Interp::print` appends the text of one value to a std::string. `write`
// form quotes strings, characters and odd symbols; `display` form shows them
// raw. Lists print iteratively along their cdrs and recursively into their
// cars (deep car nesting is bounded by the evaluator's stack check). Cyclic
// structure is not detected. Called by io.cpp (write, display), the error
// path (messages embed printed irritants) and the REPL.
#include <string>

#include "interp.hpp"
#include "numbers.hpp"

namespace scheme {

namespace {

void append_utf8(std::string& out, std::uint32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xc0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xe0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
  } else {
    out.push_back(static_cast<char>(0xf0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3f)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3f)));
  }
}

void write_char_literal(std::string& out, std::uint32_t c) {
  out += "#\\";
  switch (c) {
    case ' ': out += "space"; return;
    case '\n': out += "newline"; return;
    case '\t': out += "tab"; return;
    case '\r': out += "return"; return;
    case 0: out += "null"; return;
    case 7: out += "alarm"; return;
    case 8: out += "backspace"; return;
    case 27: out += "escape"; return;
    case 127: out += "delete"; return;
    default: break;
  }
  if (c < 32) {
    static const char hex[] = "0123456789abcdef";
    out += 'x';
    out += hex[c >> 4];
    out += hex[c & 15];
    return;
  }
  append_utf8(out, c);
}

void write_string_literal(std::string& out, const String* s) {
  out.push_back('"');
  for (std::uint32_t i = 0; i < s->length; ++i) {
    char c = s->data()[i];
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default: out.push_back(c);
    }
  }
  out.push_back('"');
}

bool symbol_needs_bars(const String* name) {
  if (name->length == 0) return true;
  for (std::uint32_t i = 0; i < name->length; ++i) {
    char c = name->data()[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '(' || c == ')' || c == '"' || c == ';' || c == '\'' ||
        c == '|') {
      return true;
    }
  }
  return false;
}

}  // namespace

void Interp::print(std::string& out, Value v, bool display) {
  if (is_fixnum(v)) {
    out += std::to_string(fixnum_value(v));
    return;
  }
  if (is_char(v)) {
    if (display) {
      append_utf8(out, char_value(v));
    } else {
      write_char_literal(out, char_value(v));
    }
    return;
  }
  if (!is_object(v)) {
    switch (v) {
      case kFalse: out += "#f"; return;
      case kTrue: out += "#t"; return;
      case kNil: out += "()"; return;
      case kUnspecified: out += "#<unspecified>"; return;
      case kEof: out += "#<eof>"; return;
      case kDefault: out += "#<default>"; return;
      case kUnassigned: out += "#<unassigned>"; return;
      default: out += "#<immediate>"; return;
    }
  }
  check_stack();
  Object* o = as_object(v);
  switch (o->kind) {
    case Kind::flonum:
    case Kind::integer:
      out += number_to_string(v);
      return;
    case Kind::string:
      if (display) {
        out.append(as_string(v)->data(), as_string(v)->length);
      } else {
        write_string_literal(out, as_string(v));
      }
      return;
    case Kind::symbol: {
      const String* name = as_symbol(v)->name.get();
      if (!display && symbol_needs_bars(name)) {
        out.push_back('|');
        out.append(name->data(), name->length);
        out.push_back('|');
      } else {
        out.append(name->data(), name->length);
      }
      return;
    }
    case Kind::pair: {
      out.push_back('(');
      print(out, car(v), display);
      Value rest = cdr(v);
      while (is_pair(rest)) {
        out.push_back(' ');
        print(out, car(rest), display);
        rest = cdr(rest);
      }
      if (rest != kNil) {
        out += " . ";
        print(out, rest, display);
      }
      out.push_back(')');
      return;
    }
    case Kind::vector: {
      const Vector* vec = as_vector(v);
      out += "#(";
      for (std::uint32_t i = 0; i < vec->length; ++i) {
        if (i > 0) out.push_back(' ');
        print(out, vec->items()[i], display);
      }
      out.push_back(')');
      return;
    }
    case Kind::values: {
      const Vector* vec = as_vector(v);
      for (std::uint32_t i = 0; i < vec->length; ++i) {
        if (i > 0) out.push_back(' ');
        print(out, vec->items()[i], display);
      }
      return;
    }
    case Kind::closure: {
      const Lambda* code = as_closure(v)->code;
      out += "#<procedure";
      if (code->name != nullptr) {
        out.push_back(' ');
        print(out, to_value(code->name), true);
      }
      out.push_back('>');
      return;
    }
    case Kind::primitive:
      out += "#<procedure ";
      out += as_primitive(v)->name;
      out.push_back('>');
      return;
    case Kind::record_procedure: {
      auto* p = reinterpret_cast<RecordProcedure*>(v);
      out += "#<procedure ";
      print(out, p->name, true);
      out.push_back('>');
      return;
    }
    case Kind::continuation:
      out += "#<continuation>";
      return;
    case Kind::parameter:
      out += "#<parameter>";
      return;
    case Kind::case_lambda:
      out += "#<procedure>";
      return;
    case Kind::coroutine:
      out += "#<coroutine>";
      return;
    case Kind::record_type:
      out += "#<record-type ";
      print(out, reinterpret_cast<RecordType*>(v)->name, true);
      out.push_back('>');
      return;
    case Kind::record: {
      auto* r = reinterpret_cast<Record*>(v);
      out += "#<";
      print(out, r->type->name, true);
      for (std::uint32_t i = 0; i < r->length; ++i) {
        out.push_back(' ');
        print(out, r->fields()[i], display);
      }
      out.push_back('>');
      return;
    }
    case Kind::promise:
      out += "#<promise>";
      return;
    case Kind::port:
      out += "#<port>";
      return;
    case Kind::error_object: {
      auto* e = reinterpret_cast<ErrorObject*>(v);
      out += "#<error ";
      print(out, e->message, false);
      for (Value x = e->irritants; is_pair(x); x = cdr(x)) {
        out.push_back(' ');
        print(out, car(x), false);
      }
      out.push_back('>');
      return;
    }
    case Kind::frame:
      out += "#<frame>";
      return;
  }
  out += "#<object>";
}

}  // namespace scheme
