// examples/scheme/reader.cpp — the Scheme reader: characters to data.
//
// `Interp::read` parses one datum from a CharStream: lists (with dots and
// square brackets), vectors, strings, characters, booleans, numbers (through
// numbers.cpp's parse_number), symbols (case-sensitive, |quoted| allowed),
// the quote abbreviations, and the three comment forms (; #| |# #;). It
// returns kEof at end of input and throws SchemeError on malformed text.
//
// Lists are built front to back through a tail pointer held in a local, so
// every partial result is reachable from this function's stack frame.
// Called by the run loops (interp.cpp), `read` (io.cpp) and string->datum
// helpers.
#include <cctype>
#include <string>

#include "interp.hpp"
#include "numbers.hpp"

namespace scheme {

namespace {

bool is_delimiter(int c) {
  return c == EOF || std::isspace(c) || c == '(' || c == ')' || c == '[' || c == ']' || c == '"' ||
         c == ';' || c == '\'' || c == '`' || c == ',';
}

// Sentinels for closing brackets and dots seen where a datum was expected.
constexpr Value kCloseParen = immediate(100);
constexpr Value kDot = immediate(101);

struct Reader {
  Interp& in;
  CharStream& s;

  [[noreturn]] void fail(const std::string& what) {
    in.error("read: " + what + " (line " + std::to_string(s.line) + ")");
  }

  int get() {
    int c = s.get();
    if (c == '\n') ++s.line;
    return c;
  }

  // Skips whitespace and comments; returns the next character (not consumed).
  int skip_atmosphere() {
    for (;;) {
      int c = s.peek();
      if (c == EOF) return c;
      if (std::isspace(c)) {
        get();
      } else if (c == ';') {
        while (c != EOF && c != '\n') c = get();
      } else if (c == '#') {
        // Only #| and #; are comments; anything else starts a datum. The
        // stream has one character of lookahead, so peek after consuming.
        get();
        int d = s.peek();
        if (d == '|') {
          get();
          skip_block_comment();
        } else if (d == ';') {
          get();
          Value skipped = read_item();
          if (skipped == kEof) fail("end of input after #;");
        } else if (d == '!') {
          // #!fold-case, #!eof and the like: ignored directives.
          std::string word = read_token();
          (void)word;
        } else {
          pending_hash_ = true;
          return '#';
        }
      } else {
        return c;
      }
    }
  }

  void skip_block_comment() {
    int depth = 1;
    int prev = 0;
    while (depth > 0) {
      int c = get();
      if (c == EOF) fail("end of input inside #| comment");
      if (prev == '|' && c == '#') {
        --depth;
        c = 0;
      } else if (prev == '#' && c == '|') {
        ++depth;
        c = 0;
      }
      prev = c;
    }
  }

  std::string read_token() {
    std::string t;
    while (!is_delimiter(s.peek())) t.push_back(static_cast<char>(get()));
    return t;
  }

  // True when a '#' was consumed by skip_atmosphere and is pending.
  bool pending_hash_ = false;

  Value read_item() {
    Interp::check_stack();
    int c = skip_atmosphere();
    if (c == EOF) return kEof;
    if (pending_hash_) {
      pending_hash_ = false;
      return read_hash();
    }
    get();
    switch (c) {
      case '(':
      case '[':
        return read_list(c == '(' ? ')' : ']');
      case ')':
      case ']':
        return kCloseParen;
      case '\'':
        return read_abbreviation(in.sym.quote);
      case '`':
        return read_abbreviation(in.sym.quasiquote);
      case ',':
        if (s.peek() == '@') {
          get();
          return read_abbreviation(in.sym.unquote_splicing);
        }
        return read_abbreviation(in.sym.unquote);
      case '"':
        return read_string();
      case '|': {
        std::string name;
        for (;;) {
          int d = get();
          if (d == EOF) fail("end of input inside |symbol|");
          if (d == '|') break;
          if (d == '\\') d = read_escape();
          name.push_back(static_cast<char>(d));
        }
        return in.intern(name);
      }
      default: {
        std::string t(1, static_cast<char>(c));
        t += read_token();
        if (t == ".") return kDot;
        if (Value n = parse_number(in, t, 10); n != 0) return n;
        return in.intern(t);
      }
    }
  }

  Value read_abbreviation(Symbol* head) {
    Value x = read_item();
    if (x == kEof) fail("end of input after quote");
    if (x == kCloseParen || x == kDot) fail("unexpected token after quote");
    Value tail = in.cons(x, kNil);
    return in.cons(to_value(head), tail);
  }

  Value read_list(char close) {
    Value head = kNil;
    Value tail = 0;
    for (;;) {
      Value x = read_item();
      if (x == kEof) fail("end of input inside a list");
      if (x == kCloseParen) return head;
      if (x == kDot) {
        if (tail == 0) fail("'.' at the start of a list");
        Value last = read_item();
        if (last == kEof || last == kCloseParen || last == kDot) fail("bad dotted list");
        in.store(as_pair(tail), as_pair(tail)->cdr, last);
        if (read_item() != kCloseParen) fail("more than one datum after '.'");
        return head;
      }
      Value cell = in.cons(x, kNil);
      if (tail == 0) {
        head = cell;
      } else {
        in.store(as_pair(tail), as_pair(tail)->cdr, cell);
      }
      tail = cell;
    }
    (void)close;
  }

  int read_escape() {
    int c = get();
    switch (c) {
      case 'n': return '\n';
      case 't': return '\t';
      case 'r': return '\r';
      case 'a': return 7;
      case 'b': return 8;
      case '0': return 0;
      case '\\': return '\\';
      case '"': return '"';
      case '|': return '|';
      case 'x':
      case 'X': {
        std::string hex;
        for (;;) {
          int d = get();
          if (d == ';') break;
          if (d == EOF || !std::isxdigit(d)) fail("bad \\x escape");
          hex.push_back(static_cast<char>(d));
        }
        return static_cast<int>(std::stoul(hex, nullptr, 16));
      }
      case EOF:
        fail("end of input in an escape");
      default:
        return c;
    }
  }

  Value read_string() {
    std::string text;
    for (;;) {
      int c = get();
      if (c == EOF) fail("end of input inside a string");
      if (c == '"') break;
      if (c == '\\') {
        int d = s.peek();
        if (d == '\n' || d == ' ' || d == '\t') {
          // Line continuation: \ then optional blanks, a newline, blanks.
          while (s.peek() == ' ' || s.peek() == '\t') get();
          if (s.peek() == '\n') get();
          while (s.peek() == ' ' || s.peek() == '\t') get();
          continue;
        }
        c = read_escape();
      }
      text.push_back(static_cast<char>(c));
    }
    return in.make_string(text);
  }

  Value read_hash() {
    int c = s.peek();
    if (c == '(') {
      get();
      Value items = read_list(')');
      std::int64_t n = list_length(in, items, "read");
      Value v = in.make_vector(static_cast<std::size_t>(n), kUnspecified);
      Vector* vec = as_vector(v);
      for (std::int64_t i = 0; i < n; ++i, items = cdr(items)) in.store(vec, vec->items()[i], car(items));
      return v;
    }
    if (c == '\\') {
      get();
      std::string t(1, static_cast<char>(get()));
      t += read_token();
      if (t.size() == 1) return make_char(static_cast<unsigned char>(t[0]));
      static const struct {
        const char* name;
        unsigned code;
      } names[] = {{"space", ' '},   {"newline", '\n'}, {"tab", '\t'},    {"nul", 0},
                   {"null", 0},      {"return", '\r'},  {"linefeed", '\n'}, {"altmode", 27},
                   {"escape", 27},   {"backspace", 8},  {"delete", 127},  {"rubout", 127},
                   {"alarm", 7},     {"page", 12}};
      for (const auto& n : names) {
        if (t == n.name) return make_char(n.code);
      }
      if ((t[0] == 'x' || t[0] == 'U' || t[0] == 'u') && t.size() > 1) {
        char* end = nullptr;
        unsigned long code = std::strtoul(t.c_str() + 1, &end, 16);
        if (*end == '\0') return make_char(static_cast<std::uint32_t>(code));
      }
      // A multi-byte UTF-8 character.
      if (static_cast<unsigned char>(t[0]) >= 0x80) return make_char(static_cast<unsigned char>(t[0]));
      fail("unknown character name #\\" + t);
    }
    std::string t = "#";
    t += read_token();
    if (t == "#t" || t == "#true") return kTrue;
    if (t == "#f" || t == "#false") return kFalse;
    if (t == "#u8") fail("bytevectors are not supported");
    if (Value n = parse_number(in, t, 10); n != 0) return n;
    fail("bad syntax " + t);
  }
};

}  // namespace

Value Interp::read(CharStream& s) {
  Reader r{*this, s};
  Value x = r.read_item();
  if (x == kCloseParen) r.fail("unexpected ')'");
  if (x == kDot) r.fail("unexpected '.'");
  return x;
}

}  // namespace scheme
