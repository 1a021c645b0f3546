/* examples/toyvm/main.c — moss-toyvm, the toy VM's command line.
 *
 *     moss-toyvm [--gc=ms|rc] [--program=NAME] [--heap-limit=BYTES] [--stats]
 *     moss-toyvm [--gc=ms|rc] FILE...      (assembly files; see assembler.c)
 *     moss-toyvm --list
 *
 * Runs each built-in program (or the one named, or the given files) on a
 * fresh moss heap with the collector chosen by --gc, else by the MOSS_GC
 * environment variable, else mark-sweep. For a built-in program it prints
 *
 *     trees: checksum 315241 ok (ms: 7 collections, freed 309930 of 309941 objects)
 *
 * and checks, besides the checksum, that the heap verifies and that a final
 * collection reclaims nearly everything the program allocated (it holds
 * nothing once it has halted). Exits 0 if every program passed, 1 if one
 * failed, 2 for a bad command line.
 */
#include "toyvm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { STACK_SLOTS = 1 << 16, MAX_FRAMES = 1 << 14 };

typedef struct {
  moss_collector collector;
  size_t heap_limit;
  int stats;
} settings;

static void print_result(value v) {
  if (toy_is_int(v)) {
    printf("%ld", (long)toy_int_value(v));
  } else if (v == TOY_NIL) {
    printf("nil");
  } else {
    printf("<object %p>", (void*)v);
  }
}

/* Runs one program on a fresh heap. Returns 0 if it ran, returned
 * `expected` (when has_expected) and left a sound heap. */
static int run(const settings* s, const char* name, const char* source, int has_expected, intptr_t expected) {
  char error[512];
  toy_program program;
  if (toy_assemble(source, &program, error, sizeof error) != 0) {
    printf("%s: assembly failed: %s\n", name, error);
    return 1;
  }
  moss_heap_options options;
  moss_heap_options_init(&options);
  options.collector = s->collector;
  options.heap_limit = s->heap_limit;
  moss_heap* heap = moss_heap_create(&options);
  if (heap == NULL) {
    printf("%s: no heap: %s\n", name, moss_last_error(NULL));
    toy_program_free(&program);
    return 1;
  }
  toy_vm* vm = toy_vm_create(heap, STACK_SLOTS, MAX_FRAMES);
  int failed = 0;
  value result = TOY_NIL;
  if (vm == NULL) {
    printf("%s: could not create the VM\n", name);
    failed = 1;
  } else if (toy_vm_run(vm, &program, &result, error, sizeof error) != 0) {
    printf("%s: error: %s\n", name, error);
    failed = 1;
  } else {
    printf("%s: ", name);
    if (has_expected) {
      printf("checksum ");
      print_result(result);
      if (result == toy_int(expected)) {
        printf(" ok");
      } else {
        printf(" MISMATCH (expected %ld)", (long)expected);
        failed = 1;
      }
    } else {
      printf("result ");
      print_result(result);
    }
    result = TOY_NIL;

    struct moss_stats st;
    moss_status status = moss_collect(heap);
    if (status == MOSS_OK) status = moss_verify(heap);
    if (status == MOSS_OK) status = moss_stats(heap, &st);
    if (status != MOSS_OK) {
      printf("\n%s: heap check failed: %s: %s\n", name, moss_status_name(status), moss_last_error(heap));
      failed = 1;
    } else {
      printf(" (%s: %llu collections, freed %llu of %llu objects)\n", moss_collector_name(s->collector),
             (unsigned long long)st.collections, (unsigned long long)st.freed_objects,
             (unsigned long long)st.allocated_objects);
      /* The program holds nothing now; a few objects may linger behind
       * stale words on the machine stack, which is scanned conservatively. */
      if (has_expected && st.freed_objects * 10 < st.allocated_objects * 9) {
        printf("%s: only %llu of %llu objects were reclaimed\n", name, (unsigned long long)st.freed_objects,
               (unsigned long long)st.allocated_objects);
        failed = 1;
      }
      if (s->stats) {
        printf("  allocated %llu KiB; heap %llu KiB; pauses %llu, p50 %.0f us, p99 %.0f us, max %.0f us\n",
               (unsigned long long)(st.allocated_bytes >> 10), (unsigned long long)(st.heap_bytes >> 10),
               (unsigned long long)st.pauses, st.pause_p50_us, st.pause_p99_us, st.pause_max_us);
        if (s->collector == MOSS_COLLECTOR_REFCOUNT) {
          printf("  rc: %llu increments, %llu decrements, %llu freed promptly, %llu by %llu cycle collections\n",
                 (unsigned long long)st.rc_increments, (unsigned long long)st.rc_decrements,
                 (unsigned long long)st.rc_freed_promptly, (unsigned long long)st.rc_freed_by_cycles,
                 (unsigned long long)st.cycle_collections);
        }
      }
    }
  }
  toy_vm_destroy(vm);
  moss_heap_destroy(heap);
  toy_program_free(&program);
  return failed;
}

static char* read_file(const char* path) {
  FILE* f = fopen(path, "rb");
  if (f == NULL) return NULL;
  size_t size = 0, capacity = 4096;
  char* text = malloc(capacity);
  size_t n;
  while (text != NULL && (n = fread(text + size, 1, capacity - size - 1, f)) > 0) {
    size += n;
    if (capacity - size - 1 == 0) {
      char* grown = realloc(text, capacity * 2);
      if (grown == NULL) {
        free(text);
        text = NULL;
        break;
      }
      text = grown;
      capacity *= 2;
    }
  }
  fclose(f);
  if (text != NULL) text[size] = '\0';
  return text;
}

static int usage(void) {
  fprintf(stderr,
          "usage: moss-toyvm [--gc=ms|rc] [--program=NAME] [--heap-limit=BYTES] [--stats] [FILE...]\n"
          "       moss-toyvm --list\n");
  return 2;
}

int main(int argc, char** argv) {
  settings s = {MOSS_COLLECTOR_MARK_SWEEP, 0, 0};
  if (moss_collector_from_env(MOSS_COLLECTOR_MARK_SWEEP, &s.collector) != MOSS_OK) {
    fprintf(stderr, "moss-toyvm: %s\n", moss_last_error(NULL));
    return 2;
  }
  const char* only = NULL;
  int files = 0;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (strcmp(a, "--gc=ms") == 0) {
      s.collector = MOSS_COLLECTOR_MARK_SWEEP;
    } else if (strcmp(a, "--gc=rc") == 0) {
      s.collector = MOSS_COLLECTOR_REFCOUNT;
    } else if (strncmp(a, "--program=", 10) == 0) {
      only = a + 10;
    } else if (strncmp(a, "--heap-limit=", 13) == 0) {
      char* end = NULL;
      errno = 0;
      unsigned long long limit = strtoull(a + 13, &end, 10);
      if (errno != 0 || end == a + 13 || *end != '\0') return usage();
      s.heap_limit = (size_t)limit;
    } else if (strcmp(a, "--stats") == 0) {
      s.stats = 1;
    } else if (strcmp(a, "--list") == 0) {
      for (size_t b = 0; b < toy_builtin_count; ++b) {
        printf("%-10s %s\n", toy_builtins[b].name, toy_builtins[b].description);
      }
      return 0;
    } else if (a[0] == '-') {
      return usage();
    } else {
      ++files;
    }
  }
  if (files > 0 && only != NULL) return usage();
  if (toy_register_types() != 0) {
    fprintf(stderr, "moss-toyvm: %s\n", moss_last_error(NULL));
    return 1;
  }

  int failures = 0, ran = 0;
  if (files > 0) {
    for (int i = 1; i < argc; ++i) {
      if (argv[i][0] == '-') continue;
      char* source = read_file(argv[i]);
      if (source == NULL) {
        printf("%s: cannot read: %s\n", argv[i], strerror(errno));
        ++failures;
        continue;
      }
      failures += run(&s, argv[i], source, 0, 0);
      ++ran;
      free(source);
    }
  } else {
    for (size_t b = 0; b < toy_builtin_count; ++b) {
      const toy_builtin* p = &toy_builtins[b];
      if (only != NULL && strcmp(only, p->name) != 0) continue;
      failures += run(&s, p->name, p->source, 1, p->expected);
      ++ran;
    }
    if (ran == 0) {
      fprintf(stderr, "moss-toyvm: no program named '%s' (see --list)\n", only);
      return 2;
    }
  }
  return failures == 0 ? 0 : 1;
}
