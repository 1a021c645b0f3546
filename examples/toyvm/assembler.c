/* examples/toyvm/assembler.c — the toy VM's assembly language to bytecode.
 *
 * A program is a list of functions:
 *
 *     ; comments run from ';' to the end of the line
 *     .func add3 1 0        ; name, parameters, extra locals
 *         local 0
 *         const 3
 *         add
 *         ret
 *     .end
 *     .func main 0 1
 *     loop:                 ; labels are local to their function
 *         closure add3 0    ; a closure of function add3 capturing nothing
 *         const 4
 *         call 1
 *         halt
 *     .end
 *
 * One instruction per line: a mnemonic (toy_op_names) and its operands,
 * integers or, for jumps, a label of the same function, or, for closure, a
 * function's name (defined anywhere in the program). Assembly is two passes
 * over the text: the first finds every function and label and its offset
 * (instructions have fixed sizes), the second emits code.
 */
#include "toyvm.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char* const toy_op_names[OP_COUNT] = {
    "const", "nil",   "pop",   "dup",    "local",  "setlocal", "free",  "self",    "add",
    "sub",   "mul",   "mod",   "lt",     "eq",     "isnil",    "cons",  "car",     "cdr",
    "setcar", "setcdr", "jump", "jumpf", "closure", "call",    "ret",   "halt",
};

const int toy_op_operands[OP_COUNT] = {
    [OP_CONST] = 1, [OP_LOCAL] = 1, [OP_SETLOCAL] = 1, [OP_FREE] = 1, [OP_JUMP] = 1,
    [OP_JUMPF] = 1, [OP_CLOSURE] = 2, [OP_CALL] = 1,
};

#define MAX_TOKENS 4
#define MAX_LABELS 256

typedef struct {
  char name[32];
  int function;
  size_t offset;
} label;

typedef struct {
  toy_program* program;
  label labels[MAX_LABELS];
  int label_count;
  int line;
  char* error;
  size_t error_size;
} assembler;

static int fail(assembler* a, const char* format, ...) {
  va_list args;
  va_start(args, format);
  int n = snprintf(a->error, a->error_size, "line %d: ", a->line);
  if (n >= 0 && (size_t)n < a->error_size) vsnprintf(a->error + n, a->error_size - (size_t)n, format, args);
  va_end(args);
  return -1;
}

/* Splits one line into at most MAX_TOKENS whitespace-separated tokens, each
 * copied into tokens[i]; drops the comment. Returns the count, or -1 if the
 * line has too many tokens or one too long. */
static int tokenize(const char* line, size_t length, char tokens[MAX_TOKENS][32]) {
  int count = 0;
  size_t i = 0;
  while (i < length) {
    while (i < length && isspace((unsigned char)line[i])) ++i;
    if (i >= length || line[i] == ';') break;
    size_t start = i;
    while (i < length && !isspace((unsigned char)line[i]) && line[i] != ';') ++i;
    size_t n = i - start;
    if (count == MAX_TOKENS || n >= 32) return -1;
    memcpy(tokens[count], line + start, n);
    tokens[count][n] = '\0';
    ++count;
  }
  return count;
}

static int find_op(const char* name) {
  for (int op = 0; op < OP_COUNT; ++op) {
    if (strcmp(toy_op_names[op], name) == 0) return op;
  }
  return -1;
}

static int find_function(const toy_program* p, const char* name) {
  for (int i = 0; i < p->count; ++i) {
    if (strcmp(p->functions[i].name, name) == 0) return i;
  }
  return -1;
}

static const label* find_label(const assembler* a, int function, const char* name) {
  for (int i = 0; i < a->label_count; ++i) {
    if (a->labels[i].function == function && strcmp(a->labels[i].name, name) == 0) return &a->labels[i];
  }
  return NULL;
}

static int parse_int(assembler* a, const char* token, long min, long max, long* out) {
  char* end = NULL;
  errno = 0;
  long v = strtol(token, &end, 10);
  if (errno != 0 || end == token || *end != '\0' || v < min || v > max) {
    return fail(a, "'%s' is not an integer in [%ld, %ld]", token, min, max);
  }
  *out = v;
  return 0;
}

/* One pass over the source. Pass 1 (emit == 0) records functions, labels
 * and lengths; pass 2 writes the code into the buffers pass 1 sized. */
static int run_pass(assembler* a, const char* source, int emit) {
  toy_program* p = a->program;
  int current = -1; /* the function being assembled */
  int function_index = 0;
  size_t offset = 0;
  a->line = 0;
  for (const char* line = source; *line != '\0';) {
    const char* end = strchr(line, '\n');
    size_t length = end != NULL ? (size_t)(end - line) : strlen(line);
    ++a->line;
    char tok[MAX_TOKENS][32];
    int n = tokenize(line, length, tok);
    line += length + (end != NULL ? 1 : 0);
    if (n < 0) return fail(a, "too many operands, or a name longer than 31 characters");
    if (n == 0) continue;

    if (strcmp(tok[0], ".func") == 0) {
      if (current >= 0) return fail(a, ".func inside function '%s' (missing .end)", p->functions[current].name);
      if (n != 4) return fail(a, "expected .func NAME PARAMS LOCALS");
      current = function_index++;
      offset = 0;
      if (!emit) {
        if (find_function(p, tok[1]) >= 0) return fail(a, "function '%s' defined twice", tok[1]);
        toy_function* grown = realloc(p->functions, sizeof(toy_function) * (size_t)(p->count + 1));
        if (grown == NULL) return fail(a, "out of memory");
        p->functions = grown;
        toy_function* f = &p->functions[p->count++];
        memset(f, 0, sizeof *f);
        strcpy(f->name, tok[1]);
        long params = 0, locals = 0;
        if (parse_int(a, tok[2], 0, 255, &params) != 0 || parse_int(a, tok[3], 0, 255, &locals) != 0) return -1;
        f->params = (int)params;
        f->locals = (int)locals;
      }
      continue;
    }
    if (strcmp(tok[0], ".end") == 0) {
      if (current < 0) return fail(a, ".end outside a function");
      if (!emit) p->functions[current].length = offset;
      current = -1;
      continue;
    }
    if (current < 0) return fail(a, "'%s' outside a function", tok[0]);

    size_t tl = strlen(tok[0]);
    if (tok[0][tl - 1] == ':') { /* a label */
      if (n != 1) return fail(a, "a label stands alone on its line");
      tok[0][tl - 1] = '\0';
      if (!emit) {
        if (find_label(a, current, tok[0]) != NULL) return fail(a, "label '%s' defined twice", tok[0]);
        if (a->label_count == MAX_LABELS) return fail(a, "more than %d labels", MAX_LABELS);
        label* l = &a->labels[a->label_count++];
        strcpy(l->name, tok[0]);
        l->function = current;
        l->offset = offset;
      }
      continue;
    }

    int op = find_op(tok[0]);
    if (op < 0) return fail(a, "unknown instruction '%s'", tok[0]);
    if (n - 1 != toy_op_operands[op]) {
      return fail(a, "'%s' takes %d operand(s), not %d", tok[0], toy_op_operands[op], n - 1);
    }
    if (emit) {
      int32_t* code = p->functions[current].code + offset;
      code[0] = op;
      for (int i = 1; i < n; ++i) {
        long v = 0;
        if (op == OP_JUMP || op == OP_JUMPF) {
          const label* l = find_label(a, current, tok[i]);
          if (l == NULL) return fail(a, "no label '%s' in function '%s'", tok[i], p->functions[current].name);
          v = (long)l->offset;
        } else if (op == OP_CLOSURE && i == 1) {
          v = find_function(p, tok[i]);
          if (v < 0) return fail(a, "no function '%s'", tok[i]);
        } else if (parse_int(a, tok[i], op == OP_CONST ? (long)INT32_MIN : 0, op == OP_CONST ? (long)INT32_MAX : 255,
                             &v) != 0) {
          return -1;
        }
        code[i] = (int32_t)v;
      }
    }
    offset += 1 + (size_t)toy_op_operands[op];
  }
  if (current >= 0) return fail(a, "function '%s' has no .end", p->functions[current].name);
  return 0;
}

int toy_assemble(const char* source, toy_program* out, char* error, size_t error_size) {
  assembler a;
  memset(&a, 0, sizeof a);
  memset(out, 0, sizeof *out);
  a.program = out;
  a.error = error;
  a.error_size = error_size;
  if (run_pass(&a, source, 0) != 0) goto failed;
  for (int i = 0; i < out->count; ++i) {
    toy_function* f = &out->functions[i];
    f->code = calloc(f->length + 1, sizeof(int32_t));
    if (f->code == NULL) {
      fail(&a, "out of memory");
      goto failed;
    }
  }
  if (run_pass(&a, source, 1) != 0) goto failed;
  out->entry = find_function(out, "main");
  if (out->entry < 0) {
    snprintf(error, error_size, "the program has no function 'main'");
    goto failed;
  }
  if (out->functions[out->entry].params != 0) {
    snprintf(error, error_size, "main must take no parameters");
    goto failed;
  }
  return 0;
failed:
  toy_program_free(out);
  return -1;
}

void toy_program_free(toy_program* program) {
  for (int i = 0; i < program->count; ++i) free(program->functions[i].code);
  free(program->functions);
  memset(program, 0, sizeof *program);
}
