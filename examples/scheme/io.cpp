// examples/scheme/io.cpp — textual ports and the I/O primitives: write,
// display, newline, write-char, write-string, read, read-char, peek-char,
// read-line, read-string, string ports, flush-output-port.
//
// Ports are heap objects (value.hpp Port). The console ports forward to the
// interpreter's Sink `out` / `err` and Source `in`; reading the console
// first flushes `out` so prompts appear. A string output port accumulates
// text in a String it replaces with a larger one when full (`position` is
// the bytes used); a string input port reads its String from `position`.
// An optional port argument defaults to the current port.
//
// Installed by Interp's constructor.
#include <cstring>
#include <string>

#include "interp.hpp"

namespace scheme {

namespace {

Port* as_port(Value v) { return reinterpret_cast<Port*>(v); }

Port* output_port(Interp& in, Value* a, int n, int index, const char* who) {
  Value p = n > index ? a[index] : in.current_output_;
  if (!has_kind(p, Kind::port)) in.type_error(who, "an output port", p);
  Port* port = as_port(p);
  if (port->mode != Port::console_out && port->mode != Port::console_err && port->mode != Port::string_out) {
    in.type_error(who, "an output port", p);
  }
  if (!port->open) in.error(std::string(who) + ": port is closed");
  return port;
}

Port* input_port(Interp& in, Value* a, int n, int index, const char* who) {
  Value p = n > index ? a[index] : in.current_input_;
  if (!has_kind(p, Kind::port)) in.type_error(who, "an input port", p);
  Port* port = as_port(p);
  if (port->mode != Port::console_in && port->mode != Port::string_in) in.type_error(who, "an input port", p);
  if (!port->open) in.error(std::string(who) + ": port is closed");
  return port;
}

void port_write(Interp& in, Port* port, std::string_view text) {
  switch (port->mode) {
    case Port::console_out:
      in.out.put(text);
      return;
    case Port::console_err:
      in.out.flush();
      in.err.put(text);
      in.err.flush();
      return;
    case Port::string_out: {
      String* buffer = port->text.get();
      std::size_t used = port->position;
      if (buffer == nullptr || used + text.size() > buffer->length) {
        std::size_t capacity = std::max<std::size_t>(64, (used + text.size()) * 2);
        Value bigger = in.make_string(capacity, ' ');
        if (buffer != nullptr) std::memcpy(as_string(bigger)->data(), buffer->data(), used);
        port->text = as_string(bigger);
        buffer = port->text.get();
      }
      std::memcpy(buffer->data() + used, text.data(), text.size());
      port->position = static_cast<std::uint32_t>(used + text.size());
      return;
    }
    default:
      return;
  }
}

// Characters from an input port, for the reader and read-char.
class PortStream : public CharStream {
 public:
  PortStream(Interp& in, Port* port) : in_(in), port_(port) {
    if (port_->mode == Port::console_in) in_.out.flush();
  }
  int peek() override {
    if (port_->mode == Port::console_in) return in_.in.peek();
    const String* text = port_->text.get();
    return port_->position < text->length ? static_cast<unsigned char>(text->data()[port_->position]) : EOF;
  }
  int get() override {
    if (port_->mode == Port::console_in) return in_.in.get();
    const String* text = port_->text.get();
    return port_->position < text->length ? static_cast<unsigned char>(text->data()[port_->position++]) : EOF;
  }

 private:
  Interp& in_;
  Port* port_;
};

Value p_write(Interp& in, Value* a, int n) {
  Port* port = output_port(in, a, n, 1, "write");
  std::string text;
  in.print(text, a[0], false);
  port_write(in, port, text);
  return kUnspecified;
}

Value p_display(Interp& in, Value* a, int n) {
  Port* port = output_port(in, a, n, 1, "display");
  std::string text;
  in.print(text, a[0], true);
  port_write(in, port, text);
  return kUnspecified;
}

Value p_newline(Interp& in, Value* a, int n) {
  port_write(in, output_port(in, a, n, 0, "newline"), "\n");
  return kUnspecified;
}

Value p_write_char(Interp& in, Value* a, int n) {
  if (!is_char(a[0])) in.type_error("write-char", "a character", a[0]);
  Port* port = output_port(in, a, n, 1, "write-char");
  std::string text;
  in.print(text, a[0], true);
  port_write(in, port, text);
  return kUnspecified;
}

Value p_write_string(Interp& in, Value* a, int n) {
  String* s = expect_string(in, a[0], "write-string");
  Port* port = output_port(in, a, n, 1, "write-string");
  std::int64_t start = n > 2 ? expect_index(in, a[2], "write-string") : 0;
  std::int64_t end = n > 3 ? expect_index(in, a[3], "write-string") : s->length;
  if (end > s->length || start > end) in.error("write-string: range out of bounds");
  port_write(in, port, std::string_view(s->data() + start, static_cast<std::size_t>(end - start)));
  return kUnspecified;
}

Value p_flush(Interp& in, Value* a, int n) {
  Port* port = output_port(in, a, n, 0, "flush-output-port");
  if (port->mode == Port::console_out) in.out.flush();
  if (port->mode == Port::console_err) in.err.flush();
  return kUnspecified;
}

Value p_read(Interp& in, Value* a, int n) {
  Port* port = input_port(in, a, n, 0, "read");
  PortStream stream(in, port);
  return in.read(stream);
}

Value p_read_char(Interp& in, Value* a, int n) {
  PortStream stream(in, input_port(in, a, n, 0, "read-char"));
  int c = stream.get();
  return c == EOF ? kEof : make_char(static_cast<std::uint32_t>(c));
}

Value p_peek_char(Interp& in, Value* a, int n) {
  PortStream stream(in, input_port(in, a, n, 0, "peek-char"));
  int c = stream.peek();
  return c == EOF ? kEof : make_char(static_cast<std::uint32_t>(c));
}

Value p_read_line(Interp& in, Value* a, int n) {
  PortStream stream(in, input_port(in, a, n, 0, "read-line"));
  std::string line;
  int c = stream.get();
  if (c == EOF) return kEof;
  while (c != EOF && c != '\n') {
    line.push_back(static_cast<char>(c));
    c = stream.get();
  }
  return in.make_string(line);
}

Value p_read_string(Interp& in, Value* a, int n) {
  std::int64_t k = expect_index(in, a[0], "read-string");
  PortStream stream(in, input_port(in, a, n, 1, "read-string"));
  std::string text;
  for (std::int64_t i = 0; i < k; ++i) {
    int c = stream.get();
    if (c == EOF) break;
    text.push_back(static_cast<char>(c));
  }
  if (text.empty() && k > 0) return kEof;
  return in.make_string(text);
}

Value p_char_ready(Interp&, Value*, int) { return kTrue; }
Value p_eof_object(Interp&, Value*, int) { return kEof; }
Value p_eof_object_p(Interp&, Value* a, int) { return make_bool(a[0] == kEof); }
Value p_current_output_port(Interp& in, Value*, int) { return in.current_output_; }
Value p_current_input_port(Interp& in, Value*, int) { return in.current_input_; }
Value p_current_error_port(Interp& in, Value*, int) { return in.stderr_port_; }

Value p_open_input_string(Interp& in, Value* a, int) {
  String* s = expect_string(in, a[0], "open-input-string");
  Value copy = in.make_string(std::string_view(s->data(), s->length));
  auto* port = moss::make<Port>(in.heap(), Port::string_in);
  port->text = as_string(copy);
  return to_value(port);
}

Value p_open_output_string(Interp& in, Value*, int) {
  return to_value(moss::make<Port>(in.heap(), Port::string_out));
}

Value p_get_output_string(Interp& in, Value* a, int) {
  if (!has_kind(a[0], Kind::port) || as_port(a[0])->mode != Port::string_out) {
    in.type_error("get-output-string", "a string output port", a[0]);
  }
  Port* port = as_port(a[0]);
  if (port->text.get() == nullptr) return in.make_string("");
  return in.make_string(std::string_view(port->text->data(), port->position));
}

Value p_close_port(Interp& in, Value* a, int) {
  if (!has_kind(a[0], Kind::port)) in.type_error("close-port", "a port", a[0]);
  Port* port = as_port(a[0]);
  if (port->mode == Port::string_in || port->mode == Port::string_out) port->open = false;
  return kUnspecified;
}

Value p_port_p(Interp&, Value* a, int) { return make_bool(has_kind(a[0], Kind::port)); }
Value p_input_port_p(Interp&, Value* a, int) {
  return make_bool(has_kind(a[0], Kind::port) &&
                   (as_port(a[0])->mode == Port::console_in || as_port(a[0])->mode == Port::string_in));
}
Value p_output_port_p(Interp& in, Value* a, int n) {
  return make_bool(has_kind(a[0], Kind::port) && !truthy(p_input_port_p(in, a, n)));
}

// (with-output-to-string thunk): runs thunk with the current output port
// bound to a fresh string port; returns the text written.
Value p_with_output_to_string(Interp& in, Value* a, int) {
  Value port = to_value(moss::make<Port>(in.heap(), Port::string_out));
  Value saved = in.current_output_;
  in.current_output_ = port;
  try {
    in.apply(a[0], 0, nullptr);
  } catch (...) {
    in.current_output_ = saved;
    throw;
  }
  in.current_output_ = saved;
  Value args[1] = {port};
  return p_get_output_string(in, args, 1);
}

}  // namespace

void install_io_primitives(Interp& in) {
  in.stdin_port_ = to_value(moss::make<Port>(in.heap(), Port::console_in));
  in.stdout_port_ = to_value(moss::make<Port>(in.heap(), Port::console_out));
  in.stderr_port_ = to_value(moss::make<Port>(in.heap(), Port::console_err));
  in.current_input_ = in.stdin_port_;
  in.current_output_ = in.stdout_port_;
  struct {
    const char* name;
    PrimitiveFn fn;
    int min, max;
  } const table[] = {
      {"write", p_write, 1, 2},
      {"write-shared", p_write, 1, 2},
      {"write-simple", p_write, 1, 2},
      {"display", p_display, 1, 2},
      {"newline", p_newline, 0, 1},
      {"write-char", p_write_char, 1, 2},
      {"write-string", p_write_string, 1, 4},
      {"flush-output-port", p_flush, 0, 1},
      {"read", p_read, 0, 1},
      {"read-char", p_read_char, 0, 1},
      {"peek-char", p_peek_char, 0, 1},
      {"read-line", p_read_line, 0, 1},
      {"read-string", p_read_string, 1, 2},
      {"char-ready?", p_char_ready, 0, 1},
      {"eof-object", p_eof_object, 0, 0},
      {"eof-object?", p_eof_object_p, 1, 1},
      {"current-output-port", p_current_output_port, 0, 0},
      {"current-input-port", p_current_input_port, 0, 0},
      {"current-error-port", p_current_error_port, 0, 0},
      {"open-input-string", p_open_input_string, 1, 1},
      {"open-output-string", p_open_output_string, 0, 0},
      {"get-output-string", p_get_output_string, 1, 1},
      {"close-port", p_close_port, 1, 1},
      {"close-input-port", p_close_port, 1, 1},
      {"close-output-port", p_close_port, 1, 1},
      {"port?", p_port_p, 1, 1},
      {"textual-port?", p_port_p, 1, 1},
      {"input-port?", p_input_port_p, 1, 1},
      {"output-port?", p_output_port_p, 1, 1},
      {"input-port-open?", p_port_p, 1, 1},
      {"output-port-open?", p_port_p, 1, 1},
      {"with-output-to-string", p_with_output_to_string, 1, 1},
  };
  for (const auto& p : table) in.define_primitive(p.name, p.fn, p.min, p.max);
}

}  // namespace scheme
