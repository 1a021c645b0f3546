/* tests/test_capi.c — the C API (moss/moss.h), exercised from C.
 *
 * A plain C program, compiled as C11: each test_* function checks one
 * behaviour of the C API and runs under every collector it applies to. It
 * covers every function of moss.h: heaps and options, type registration and
 * the three visit calls, allocation, the write barrier, explicit free,
 * roots, root callbacks and ranges, collection, statistics, find_object,
 * verify, coroutines, and the error codes with their messages.
 *
 * Conservative stack scanning means a stale copy of a pointer in a dead
 * frame can keep garbage alive, so tests that expect an object to be
 * reclaimed create it in a separate non-inlined function and scrub the stack
 * before collecting (see scrub_and_collect).
 *
 * Prints one line per failed check, then exactly one final line
 * "N passed, M failed"; exits non-zero if anything failed.
 */
#define _POSIX_C_SOURCE 200809L

#include <moss/moss.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

/* ------------------------------------------------------------------------
 * Checks
 * ------------------------------------------------------------------------ */

static int passed, failed;
static const char* current_collector = "-";

static void check_at(int ok, const char* what, const char* file, int line) {
  if (ok) {
    ++passed;
  } else {
    ++failed;
    printf("FAIL %s:%d [%s]: %s\n", file, line, current_collector, what);
  }
}
#define CHECK(cond) check_at((cond) ? 1 : 0, #cond, __FILE__, __LINE__)

/* The message is non-empty and contains `part`. */
static int message_has(const char* message, const char* part) {
  return message != NULL && message[0] != '\0' && strstr(message, part) != NULL;
}

/* ------------------------------------------------------------------------
 * Types
 * ------------------------------------------------------------------------ */

/* A list or ring node: one strong reference, a value, a finalizer that
 * counts. */
struct node {
  struct node* next;
  long value;
};

static long nodes_finalized;

static void node_trace(const void* object, moss_visitor* v) {
  const struct node* n = (const struct node*)object;
  moss_visit(v, n->next);
}
static void node_finalize(void* object) {
  (void)object;
  ++nodes_finalized;
}

/* A cell holding one tagged word: an integer (low bit set) or a reference. */
struct cell {
  uintptr_t word;
};
static void cell_trace(const void* object, moss_visitor* v) {
  moss_visit_word(v, ((const struct cell*)object)->word);
}

/* A block whose words are scanned conservatively: interior pointers count. */
struct block {
  void* words[4];
};
static void block_trace(const void* object, moss_visitor* v) {
  const struct block* b = (const struct block*)object;
  moss_visit_conservative(v, &b->words[0], &b->words[4]);
}

/* An array of references: a count, then that many slots, traced with
 * moss_visit_array. */
struct refs {
  size_t count;
  void* slots[];
};
static void refs_trace(const void* object, moss_visitor* v) {
  const struct refs* r = (const struct refs*)object;
  moss_visit_array(v, r->slots, r->count);
}

/* A leaf: no trace function. */
static long leaves_finalized;
static void leaf_finalize(void* object) {
  (void)object;
  ++leaves_finalized;
}

static moss_type node_type, cell_type, block_type, leaf_type, refs_type, compact_type;

static void test_register_types(void) {
  moss_type_info node_info = {"test_node", node_trace, node_finalize, 0};
  moss_type_info cell_info = {"test_cell", cell_trace, NULL, MOSS_TYPE_ACYCLIC};
  moss_type_info block_info = {"test_block", block_trace, NULL, 0};
  moss_type_info leaf_info = {"test_leaf", NULL, leaf_finalize, 0};
  node_type = moss_register_type(&node_info);
  cell_type = moss_register_type(&cell_info);
  block_type = moss_register_type(&block_info);
  leaf_type = moss_register_type(&leaf_info);
  moss_type_info refs_info = {"test_refs", refs_trace, NULL, 0};
  refs_type = moss_register_type(&refs_info);
  CHECK(refs_type != MOSS_TYPE_NONE);
  moss_type_info compact_info = {"test_compact", NULL, NULL, MOSS_TYPE_ALIGN8};
  compact_type = moss_register_type(&compact_info);
  CHECK(compact_type != MOSS_TYPE_NONE);
  CHECK(node_type != MOSS_TYPE_NONE);
  CHECK(cell_type != MOSS_TYPE_NONE && cell_type != node_type);
  CHECK(block_type != MOSS_TYPE_NONE && leaf_type != MOSS_TYPE_NONE);

  moss_type_info bad = {"bad", NULL, NULL, 1u << 7};
  CHECK(moss_register_type(&bad) == MOSS_TYPE_NONE);
  CHECK(message_has(moss_last_error(NULL), "flag"));
  CHECK(moss_register_type(NULL) == MOSS_TYPE_NONE);
  CHECK(message_has(moss_last_error(NULL), "NULL"));
}

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* Zeroes 64 KiB of stack below the caller. Not instrumented by
 * AddressSanitizer, whose redzones around the buffer would stay unzeroed. */
__attribute__((no_sanitize_address)) NOINLINE static void scrub_stack(void) {
  volatile char buffer[64 * 1024];
  memset((char*)buffer, 0, sizeof buffer);
  __asm__ volatile("" : : "r"(buffer) : "memory");
}

NOINLINE static moss_status collect_twice(moss_heap* heap) {
  scrub_stack();
  moss_status s = moss_collect(heap);
  scrub_stack();
  if (s == MOSS_OK) s = moss_collect(heap);
  return s;
}

/* Scrubs from the caller's depth down (so the frames of the functions it
 * called before are covered too), then collects twice. */
#define scrub_and_collect(heap) (scrub_stack(), collect_twice(heap))

static moss_heap* make_heap(moss_collector c) {
  moss_heap_options o;
  moss_heap_options_init(&o);
  o.collector = c;
  return moss_heap_create(&o);
}

static struct node* new_node(moss_heap* heap, struct node* next, long value) {
  void* p = NULL;
  if (moss_allocate(heap, node_type, sizeof(struct node), &p) != MOSS_OK) return NULL;
  struct node* n = (struct node*)p;
  n->value = value;
  if (moss_write(heap, n, (void**)&n->next, next) != MOSS_OK) return NULL;
  return n;
}

/* A list of n nodes with values n-1 .. 0, its head kept in a new root. */
NOINLINE static moss_root* rooted_list(moss_heap* heap, long n) {
  moss_root* root = moss_root_create(heap, NULL);
  for (long i = 0; i < n; ++i) {
    struct node* head = new_node(heap, (struct node*)moss_root_get(root), i);
    if (head == NULL || moss_root_set(root, head) != MOSS_OK) break;
  }
  return root;
}

static long list_sum(const struct node* n, long* count) {
  long s = 0;
  *count = 0;
  for (; n != NULL; n = n->next) {
    s += n->value;
    ++*count;
  }
  return s;
}

/* The rooted list holds n nodes with the values rooted_list gave them. Reads
 * it in a frame of its own, so no copy of its pointers stays behind in the
 * caller's. */
NOINLINE static int check_rooted_list(const moss_root* root, long n) {
  long count = 0;
  long sum = list_sum((const struct node*)moss_root_get(root), &count);
  return count == n && sum == (n - 1) * n / 2;
}

/* ------------------------------------------------------------------------
 * Tests without a heap
 * ------------------------------------------------------------------------ */

static void test_status_and_options(void) {
  CHECK(strcmp(moss_status_name(MOSS_OK), "MOSS_OK") == 0);
  CHECK(strcmp(moss_status_name(MOSS_ERROR_OUT_OF_MEMORY), "MOSS_ERROR_OUT_OF_MEMORY") == 0);
  CHECK(strcmp(moss_status_name(MOSS_ERROR_STACK_OVERFLOW), "MOSS_ERROR_STACK_OVERFLOW") == 0);
  CHECK(strcmp(moss_status_name(MOSS_ERROR_USAGE), "MOSS_ERROR_USAGE") == 0);
  CHECK(strcmp(moss_status_name(MOSS_ERROR_INTERNAL), "MOSS_ERROR_INTERNAL") == 0);
  CHECK(strcmp(moss_status_name((moss_status)42), "unknown") == 0);

  moss_heap_options o;
  memset(&o, 0xff, sizeof o);
  moss_heap_options_init(&o);
  CHECK(o.collector == MOSS_COLLECTOR_MARK_SWEEP);
  CHECK(o.gc_percent == 100);
  CHECK(o.heap_limit == 0);
  CHECK(o.incremental);
  CHECK(o.min_heap_bytes > 0 && o.mark_slice_bytes > 0);
  CHECK(o.helper_threads == 0 && o.stress_every == 0);
  CHECK(o.retain_peak && !o.generational);

  CHECK(strcmp(moss_collector_name(MOSS_COLLECTOR_MARK_SWEEP), "ms") == 0);
  CHECK(strcmp(moss_collector_name(MOSS_COLLECTOR_REFCOUNT), "rc") == 0);

  moss_coroutine_options co;
  moss_coroutine_options_init(&co);
  CHECK(co.stack_reserve == (size_t)1 << 20);
  CHECK(co.guard == MOSS_STACK_GUARD_PAGE);
}

static void test_collector_from_env(void) {
  char* saved = getenv("MOSS_GC") != NULL ? strdup(getenv("MOSS_GC")) : NULL;
  moss_collector c = MOSS_COLLECTOR_REFCOUNT;

  unsetenv("MOSS_GC");
  CHECK(moss_collector_from_env(MOSS_COLLECTOR_MARK_SWEEP, &c) == MOSS_OK);
  CHECK(c == MOSS_COLLECTOR_MARK_SWEEP);
  setenv("MOSS_GC", "rc", 1);
  CHECK(moss_collector_from_env(MOSS_COLLECTOR_MARK_SWEEP, &c) == MOSS_OK);
  CHECK(c == MOSS_COLLECTOR_REFCOUNT);
  setenv("MOSS_GC", "ms", 1);
  CHECK(moss_collector_from_env(MOSS_COLLECTOR_REFCOUNT, &c) == MOSS_OK);
  CHECK(c == MOSS_COLLECTOR_MARK_SWEEP);
  setenv("MOSS_GC", "bogus", 1);
  CHECK(moss_collector_from_env(MOSS_COLLECTOR_REFCOUNT, &c) == MOSS_ERROR_USAGE);
  CHECK(c == MOSS_COLLECTOR_REFCOUNT);
  CHECK(message_has(moss_last_error(NULL), "bogus"));
  CHECK(moss_collector_from_env(MOSS_COLLECTOR_REFCOUNT, NULL) == MOSS_ERROR_USAGE);

  if (saved != NULL) {
    setenv("MOSS_GC", saved, 1);
    free(saved);
  } else {
    unsetenv("MOSS_GC");
  }
}

static void test_null_arguments(void) {
  void* p = (void*)1;
  uint64_t h = 1;
  struct moss_stats st;
  CHECK(moss_allocate(NULL, node_type, 16, &p) == MOSS_ERROR_USAGE);
  CHECK(p == NULL);
  CHECK(message_has(moss_last_error(NULL), "heap is NULL"));
  CHECK(moss_write(NULL, NULL, NULL, NULL) == MOSS_ERROR_USAGE);
  CHECK(moss_free(NULL, NULL) == MOSS_ERROR_USAGE);
  CHECK(moss_collect(NULL) == MOSS_ERROR_USAGE);
  CHECK(moss_release_memory(NULL) == MOSS_ERROR_USAGE);
  CHECK(moss_verify(NULL) == MOSS_ERROR_USAGE);
  CHECK(moss_stats(NULL, &st) == MOSS_ERROR_USAGE);
  CHECK(moss_add_root_callback(NULL, NULL, NULL, &h) == MOSS_ERROR_USAGE);
  CHECK(moss_add_root_range(NULL, &h, &h + 1, &h) == MOSS_ERROR_USAGE);
  CHECK(moss_root_create(NULL, NULL) == NULL);
  CHECK(moss_root_set(NULL, NULL) == MOSS_ERROR_USAGE);
  CHECK(moss_root_get(NULL) == NULL);
  moss_root_destroy(NULL);
  CHECK(moss_find_object(NULL, &p) == NULL);
  CHECK(moss_coroutine_create(NULL, NULL, NULL, NULL) == NULL);
  CHECK(moss_coroutine_resume(NULL, NULL, &p) == MOSS_ERROR_USAGE);
  moss_coroutine_destroy(NULL);
  moss_heap_destroy(NULL);

  moss_heap_options o;
  moss_heap_options_init(&o);
  o.collector = (moss_collector)7;
  CHECK(moss_heap_create(&o) == NULL);
  CHECK(message_has(moss_last_error(NULL), "collector"));
}

/* ------------------------------------------------------------------------
 * Tests on a heap, under each collector
 * ------------------------------------------------------------------------ */

static void test_heap_basics(moss_collector c) {
  moss_heap* heap = make_heap(c);
  CHECK(heap != NULL);
  if (heap == NULL) return;
  CHECK(moss_heap_collector(heap) == c);
  CHECK(strcmp(moss_last_error(heap), "") == 0);

  moss_heap* defaults = moss_heap_create(NULL);
  CHECK(defaults != NULL);
  CHECK(moss_heap_collector(defaults) == MOSS_COLLECTOR_MARK_SWEEP);
  moss_heap_destroy(defaults);

  struct moss_stats st;
  CHECK(moss_stats(heap, &st) == MOSS_OK);
  CHECK(st.collector == c);
  CHECK(st.allocated_objects == 0);
  CHECK(moss_stats(heap, NULL) == MOSS_ERROR_USAGE);
  moss_heap_destroy(heap);
}

static void test_allocate(moss_collector c) {
  moss_heap* heap = make_heap(c);
  void* p = NULL;
  CHECK(moss_allocate(heap, leaf_type, 100, &p) == MOSS_OK);
  CHECK(p != NULL);
  CHECK(((uintptr_t)p & 15) == 0);
  int zero = 1;
  for (int i = 0; i < 100; ++i) zero &= ((unsigned char*)p)[i] == 0;
  CHECK(zero);

  size_t size = 0;
  moss_type type = MOSS_TYPE_NONE;
  CHECK(moss_object_size(heap, p, &size) == MOSS_OK);
  CHECK(size >= 100);
  CHECK(moss_object_type(heap, p, &type) == MOSS_OK);
  CHECK(type == leaf_type);
  CHECK(moss_find_object(heap, p) == p);
  CHECK(moss_find_object(heap, (char*)p + 57) == p);
  CHECK(moss_find_object(heap, &size) == NULL);
  CHECK(moss_object_size(heap, &size, &size) == MOSS_ERROR_USAGE);
  CHECK(moss_object_type(heap, (char*)p + 8, &type) == MOSS_ERROR_USAGE);
  CHECK(type == MOSS_TYPE_NONE);

  /* A large object. */
  void* big = NULL;
  CHECK(moss_allocate(heap, leaf_type, 1u << 20, &big) == MOSS_OK);
  CHECK(big != NULL && moss_find_object(heap, (char*)big + 500000) == big);

  /* An unregistered type. */
  void* q = (void*)1;
  CHECK(moss_allocate(heap, 60000, 16, &q) == MOSS_ERROR_USAGE);
  CHECK(q == NULL);
  CHECK(message_has(moss_last_error(heap), "register"));
  CHECK(moss_allocate(heap, leaf_type, 16, NULL) == MOSS_ERROR_USAGE);

  struct moss_stats st;
  CHECK(moss_stats(heap, &st) == MOSS_OK);
  CHECK(st.allocated_objects == 2);
  CHECK(st.allocated_bytes >= 100 + (1u << 20));
  CHECK(st.heap_bytes >= (1u << 20));
  CHECK(moss_verify(heap) == MOSS_OK);
  moss_heap_destroy(heap);
}

static void test_write(moss_collector c) {
  moss_heap* heap = make_heap(c);
  struct node* a = new_node(heap, NULL, 1);
  struct node* b = new_node(heap, NULL, 2);
  CHECK(a != NULL && b != NULL);
  CHECK(moss_write(heap, a, (void**)&a->next, b) == MOSS_OK);
  CHECK(a->next == b);
  CHECK(moss_write(heap, a, (void**)&a->next, NULL) == MOSS_OK);
  CHECK(a->next == NULL);

  struct cell* cell = NULL;
  CHECK(moss_allocate(heap, cell_type, sizeof *cell, (void**)&cell) == MOSS_OK);
  CHECK(moss_write(heap, cell, (void**)&cell->word, (void*)(uintptr_t)((42 << 1) | 1)) == MOSS_OK);
  CHECK(cell->word == (uintptr_t)((42 << 1) | 1));

  /* MOSS_TYPE_ALIGN8: two words and the header in a 24-byte slot, so the
   * objects are 8-byte aligned and not all of them 16-byte aligned. */
  int unaligned16 = 0;
  for (int k = 0; k < 4; ++k) {
    void* pair = NULL;
    size_t size = 0;
    CHECK(moss_allocate(heap, compact_type, 2 * sizeof(void*), &pair) == MOSS_OK);
    CHECK(moss_object_size(heap, pair, &size) == MOSS_OK && size == 2 * sizeof(void*));
    CHECK((uintptr_t)pair % 8 == 0);
    if ((uintptr_t)pair % 16 != 0) unaligned16 = 1;
  }
  CHECK(unaligned16);

  /* The holder must be an object start, the slot an aligned word in it. */
  void* local = NULL;
  CHECK(moss_write(heap, &local, &local, b) == MOSS_ERROR_USAGE);
  CHECK(message_has(moss_last_error(heap), "holder"));
  CHECK(moss_write(heap, (char*)a + 8, (void**)&a->next, b) == MOSS_ERROR_USAGE);
  CHECK(moss_write(heap, a, &local, b) == MOSS_ERROR_USAGE);
  CHECK(message_has(moss_last_error(heap), "slot"));
  CHECK(moss_write(heap, a, (void**)((char*)&a->next + 4), b) == MOSS_ERROR_USAGE);
  CHECK(a->next == NULL);
  CHECK(moss_verify(heap) == MOSS_OK);
  moss_heap_destroy(heap);
}

static void test_free(moss_collector c) {
  moss_heap* heap = make_heap(c);
  nodes_finalized = 0;
  struct node* n = new_node(heap, NULL, 7);
  CHECK(moss_free(heap, n) == MOSS_OK);
  CHECK(nodes_finalized == 1);
  CHECK(moss_find_object(heap, n) == NULL);

  /* A double free, an interior pointer, foreign memory, NULL. */
  CHECK(moss_free(heap, n) == MOSS_ERROR_USAGE);
  CHECK(message_has(moss_last_error(heap), "moss"));
  CHECK(nodes_finalized == 1);
  struct node* m = new_node(heap, NULL, 8);
  CHECK(moss_free(heap, (char*)m + 8) == MOSS_ERROR_USAGE);
  CHECK(moss_find_object(heap, m) == m);
  long local = 0;
  CHECK(moss_free(heap, &local) == MOSS_ERROR_USAGE);
  CHECK(message_has(moss_last_error(heap), "moss"));
  CHECK(moss_free(heap, NULL) == MOSS_ERROR_USAGE);

  /* The heap goes on working after each error. */
  struct node* k = new_node(heap, m, 9);
  CHECK(k != NULL && k->next == m);
  CHECK(moss_verify(heap) == MOSS_OK);
  moss_heap_destroy(heap);
}

/* Objects reachable from a root survive; dropping the root frees them. */
static void test_roots(moss_collector c) {
  moss_heap* heap = make_heap(c);
  nodes_finalized = 0;
  moss_root* root = rooted_list(heap, 1000);
  CHECK(root != NULL);
  CHECK(scrub_and_collect(heap) == MOSS_OK);
  CHECK(nodes_finalized == 0);
  CHECK(check_rooted_list(root, 1000));
  CHECK(moss_verify(heap) == MOSS_OK);

  moss_root_destroy(root);
  CHECK(scrub_and_collect(heap) == MOSS_OK);
  CHECK(nodes_finalized == 1000);

  /* moss_root_set to NULL lets go as well. */
  nodes_finalized = 0;
  root = rooted_list(heap, 10);
  CHECK(scrub_and_collect(heap) == MOSS_OK);
  CHECK(nodes_finalized == 0);
  CHECK(moss_root_set(root, NULL) == MOSS_OK);
  CHECK(moss_root_get(root) == NULL);
  CHECK(scrub_and_collect(heap) == MOSS_OK);
  CHECK(nodes_finalized == 10);

  /* A root only takes an object start of its heap. */
  long local = 0;
  CHECK(moss_root_set(root, &local) == MOSS_ERROR_USAGE);
  CHECK(message_has(moss_last_error(heap), "Root"));
  CHECK(moss_root_create(heap, &local) == NULL);
  CHECK(message_has(moss_last_error(heap), "not the start"));
  moss_root_destroy(root);

  struct moss_stats st;
  CHECK(moss_stats(heap, &st) == MOSS_OK);
  CHECK(st.collections >= 4);
  CHECK(st.freed_objects >= 1010);
  CHECK(st.finalizers_run == 1010);
  moss_heap_destroy(heap);
}

/* A ring of nodes: a cycle, which refcount must find by cycle collection. */
NOINLINE static moss_root* rooted_ring(moss_heap* heap, long n) {
  moss_root* root = rooted_list(heap, n);
  struct node* head = (struct node*)moss_root_get(root);
  struct node* last = head;
  while (last->next != NULL) last = last->next;
  moss_write(heap, last, (void**)&last->next, head);
  return root;
}

static void test_cycles(moss_collector c) {
  moss_heap* heap = make_heap(c);
  nodes_finalized = 0;
  moss_root* root = rooted_ring(heap, 500);
  CHECK(scrub_and_collect(heap) == MOSS_OK);
  CHECK(nodes_finalized == 0);
  moss_root_destroy(root);
  CHECK(scrub_and_collect(heap) == MOSS_OK);
  CHECK(nodes_finalized == 500);
  struct moss_stats st;
  CHECK(moss_stats(heap, &st) == MOSS_OK);
  if (c == MOSS_COLLECTOR_REFCOUNT) {
    CHECK(st.rc_freed_by_cycles >= 500);
    CHECK(st.cycle_collections >= 1);
    CHECK(st.rc_increments > 0);
  }
  CHECK(moss_verify(heap) == MOSS_OK);
  moss_heap_destroy(heap);
}

/* An interpreter's value stack: tagged words in malloc'd memory. */
struct value_stack {
  uintptr_t* slots;
  size_t size;
  int calls;
};

static void report_value_stack(moss_visitor* v, void* context) {
  struct value_stack* s = (struct value_stack*)context;
  ++s->calls;
  for (size_t i = 0; i < s->size; ++i) {
    if (s->slots[i] & 1) {
      moss_visit_word(v, s->slots[i]); /* an integer: ignored */
    } else {
      moss_visit(v, (const void*)s->slots[i]);
    }
  }
}

NOINLINE static void fill_value_stack(moss_heap* heap, struct value_stack* s) {
  for (size_t i = 0; i < s->size; ++i) {
    if (i % 3 == 0) {
      s->slots[i] = ((uintptr_t)i << 1) | 1;
    } else {
      s->slots[i] = (uintptr_t)new_node(heap, NULL, (long)i);
    }
  }
}

/* Every reference on the value stack still leads to its node. */
NOINLINE static int value_stack_intact(const struct value_stack* s) {
  int intact = 1;
  for (size_t i = 0; i < s->size; ++i) {
    if (i % 3 != 0) intact &= ((const struct node*)s->slots[i])->value == (long)i;
  }
  return intact;
}

static void test_root_callbacks(moss_collector c) {
  moss_heap* heap = make_heap(c);
  nodes_finalized = 0;
  struct value_stack s = {calloc(300, sizeof(uintptr_t)), 300, 0};
  uint64_t handle = 0;
  CHECK(moss_add_root_callback(heap, report_value_stack, &s, &handle) == MOSS_OK);
  CHECK(handle != 0);
  fill_value_stack(heap, &s);
  CHECK(scrub_and_collect(heap) == MOSS_OK);
  CHECK(s.calls > 0);
  CHECK(nodes_finalized == 0);
  CHECK(value_stack_intact(&s));

  CHECK(moss_remove_root_callback(heap, handle) == MOSS_OK);
  int calls = s.calls;
  CHECK(scrub_and_collect(heap) == MOSS_OK);
  CHECK(s.calls == calls);
  CHECK(nodes_finalized == 200);

  CHECK(moss_remove_root_callback(heap, handle) == MOSS_ERROR_USAGE);
  CHECK(message_has(moss_last_error(heap), "handle"));
  CHECK(moss_add_root_callback(heap, NULL, NULL, &handle) == MOSS_ERROR_USAGE);
  CHECK(moss_add_root_callback(heap, report_value_stack, &s, NULL) == MOSS_ERROR_USAGE);
  free(s.slots);
  moss_heap_destroy(heap);
}

NOINLINE static void fill_range(moss_heap* heap, void** words, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    struct node* x = new_node(heap, NULL, (long)i);
    /* Half the words are interior pointers: a range is conservative. */
    words[i] = i % 2 == 0 ? (void*)x : (void*)((char*)x + 8);
  }
}

static void test_root_ranges(moss_collector c) {
  moss_heap* heap = make_heap(c);
  nodes_finalized = 0;
  enum { n = 64 };
  void** words = calloc(n, sizeof(void*));
  uint64_t handle = 0;
  CHECK(moss_add_root_range(heap, words, words + n, &handle) == MOSS_OK);
  CHECK(handle != 0);
  fill_range(heap, words, n);
  CHECK(scrub_and_collect(heap) == MOSS_OK);
  CHECK(nodes_finalized == 0);
  CHECK(moss_remove_root_range(heap, handle) == MOSS_OK);
  CHECK(scrub_and_collect(heap) == MOSS_OK);
  CHECK(nodes_finalized == n);

  CHECK(moss_remove_root_range(heap, handle) == MOSS_ERROR_USAGE);
  CHECK(message_has(moss_last_error(heap), "handle"));
  CHECK(moss_add_root_range(heap, words + n, words, &handle) == MOSS_ERROR_USAGE);
  CHECK(message_has(moss_last_error(heap), "range"));
  CHECK(moss_add_root_range(heap, words, words + n, NULL) == MOSS_ERROR_USAGE);
  free(words);
  moss_heap_destroy(heap);
}

/* moss_visit_word: a tagged word in an object keeps its target alive only
 * when it is a reference. */
NOINLINE static moss_root* rooted_cell(moss_heap* heap) {
  struct cell* cell = NULL;
  moss_allocate(heap, cell_type, sizeof *cell, (void**)&cell);
  moss_write(heap, cell, (void**)&cell->word, new_node(heap, NULL, 5));
  return moss_root_create(heap, cell);
}

/* The value of the node the rooted cell refers to. */
NOINLINE static long cell_target_value(const moss_root* root) {
  const struct cell* cell = (const struct cell*)moss_root_get(root);
  return ((const struct node*)cell->word)->value;
}

/* Stores a tagged integer into the rooted cell. */
NOINLINE static moss_status cell_store_int(moss_heap* heap, moss_root* root, long n) {
  struct cell* cell = (struct cell*)moss_root_get(root);
  return moss_write(heap, cell, (void**)&cell->word, (void*)(((uintptr_t)n << 1) | 1));
}

static void test_visit_word(moss_collector c) {
  moss_heap* heap = make_heap(c);
  nodes_finalized = 0;
  moss_root* root = rooted_cell(heap);
  CHECK(scrub_and_collect(heap) == MOSS_OK);
  CHECK(nodes_finalized == 0);
  CHECK(cell_target_value(root) == 5);
  CHECK(cell_store_int(heap, root, 7) == MOSS_OK);
  CHECK(scrub_and_collect(heap) == MOSS_OK);
  CHECK(nodes_finalized == 1);
  moss_root_destroy(root);
  moss_heap_destroy(heap);
}

/* moss_visit_conservative: interior pointers held in an object count.
 * Mark-sweep only: refcount counts what moss_write stores, and an interior
 * pointer is not a reference it counts. */
NOINLINE static moss_root* rooted_block(moss_heap* heap) {
  struct block* b = NULL;
  moss_allocate(heap, block_type, sizeof *b, (void**)&b);
  for (int i = 0; i < 4; ++i) {
    struct node* x = new_node(heap, NULL, 100 + i);
    moss_write(heap, b, &b->words[i], (char*)x + 8 * (i % 2));
  }
  return moss_root_create(heap, b);
}

static void test_visit_conservative(moss_collector c) {
  if (c != MOSS_COLLECTOR_MARK_SWEEP) return;
  moss_heap* heap = make_heap(c);
  nodes_finalized = 0;
  moss_root* root = rooted_block(heap);
  CHECK(scrub_and_collect(heap) == MOSS_OK);
  CHECK(nodes_finalized == 0);
  struct block* b = (struct block*)moss_root_get(root);
  CHECK(((struct node*)moss_find_object(heap, b->words[1]))->value == 101);
  moss_root_destroy(root);
  b = NULL;
  CHECK(scrub_and_collect(heap) == MOSS_OK);
  CHECK(nodes_finalized == 4);
  moss_heap_destroy(heap);
}

NOINLINE static void make_garbage(moss_heap* heap, long n);

/* moss_visit_array: every slot of a long array keeps its target, through
 * the incremental marker's pieces and under both collectors; dropping the
 * array frees them all. */
NOINLINE static moss_root* rooted_refs(moss_heap* heap, size_t count) {
  struct refs* r = NULL;
  if (moss_allocate(heap, refs_type, sizeof *r + count * sizeof(void*), (void**)&r) != MOSS_OK) return NULL;
  r->count = count;
  for (size_t i = 0; i < count; ++i) {
    struct node* x = i % 8 == 0 ? new_node(heap, NULL, (long)i) : NULL;
    moss_write(heap, r, &r->slots[i], x);
  }
  return moss_root_create(heap, r);
}

NOINLINE static int refs_intact(moss_root* root) {
  const struct refs* r = (const struct refs*)moss_root_get(root);
  int ok = 1;
  for (size_t i = 0; i < r->count; ++i) {
    const struct node* x = (const struct node*)r->slots[i];
    ok &= i % 8 == 0 ? x != NULL && x->value == (long)i : x == NULL;
  }
  return ok;
}

static void test_visit_array(moss_collector c) {
  moss_heap_options o;
  moss_heap_options_init(&o);
  o.collector = c;
  o.mark_slice_bytes = 4096;
  moss_heap* heap = moss_heap_create(&o);
  nodes_finalized = 0;
  const size_t count = 20000;
  moss_root* root = rooted_refs(heap, count);
  CHECK(root != NULL);
  make_garbage(heap, 200000); /* incremental cycles, under mark-sweep */
  CHECK(scrub_and_collect(heap) == MOSS_OK);
  CHECK(nodes_finalized == 0);
  CHECK(refs_intact(root));
  moss_root_destroy(root);
  CHECK(scrub_and_collect(heap) == MOSS_OK);
  CHECK(nodes_finalized == (long)(count / 8));
  CHECK(moss_verify(heap) == MOSS_OK);
  moss_heap_destroy(heap);
}

/* Unreachable objects without any root are reclaimed by collection, and by
 * automatic collection while allocating. */
NOINLINE static void make_garbage(moss_heap* heap, long n) {
  for (long i = 0; i < n; ++i) {
    void* p = NULL;
    moss_allocate(heap, leaf_type, 48, &p);
  }
}

static void test_garbage(moss_collector c) {
  moss_heap* heap = make_heap(c);
  leaves_finalized = 0;
  make_garbage(heap, 200000);
  CHECK(scrub_and_collect(heap) == MOSS_OK);
  CHECK(leaves_finalized == 200000);
  struct moss_stats st;
  CHECK(moss_stats(heap, &st) == MOSS_OK);
  CHECK(st.allocated_objects == 200000);
  CHECK(st.freed_objects == 200000);
  CHECK(st.live_objects == 0);
  CHECK(st.pauses > 0);
  CHECK(st.collections >= 2);
  CHECK(moss_release_memory(heap) == MOSS_OK);
  CHECK(moss_verify(heap) == MOSS_OK);
  moss_heap_destroy(heap);
}

/* Past heap_limit: MOSS_ERROR_OUT_OF_MEMORY with a message, and the heap
 * stays usable once something is let go. */
NOINLINE static moss_status fill_to_limit(moss_heap* heap, moss_root* root, long* made) {
  for (*made = 0;; ++*made) {
    void* p = NULL;
    moss_status s = moss_allocate(heap, node_type, 4000, &p);
    if (s != MOSS_OK) {
      if (p != NULL) return MOSS_ERROR_INTERNAL;
      return s;
    }
    struct node* n = (struct node*)p;
    moss_write(heap, n, (void**)&n->next, moss_root_get(root));
    moss_root_set(root, n);
  }
}

static void test_heap_limit(moss_collector c) {
  moss_heap_options o;
  moss_heap_options_init(&o);
  o.collector = c;
  o.heap_limit = (size_t)8 << 20;
  moss_heap* heap = moss_heap_create(&o);
  nodes_finalized = 0;
  moss_root* root = moss_root_create(heap, NULL);
  long made = 0;
  CHECK(fill_to_limit(heap, root, &made) == MOSS_ERROR_OUT_OF_MEMORY);
  CHECK(message_has(moss_last_error(heap), "heap limit"));
  CHECK(made > 1000);
  struct moss_stats st;
  CHECK(moss_stats(heap, &st) == MOSS_OK);
  CHECK(st.heap_bytes <= o.heap_limit);
  CHECK(moss_verify(heap) == MOSS_OK);

  /* Still usable: small objects fit in what is left or freed. */
  moss_root_set(root, NULL);
  CHECK(scrub_and_collect(heap) == MOSS_OK);
  CHECK(nodes_finalized == made);
  void* p = NULL;
  CHECK(moss_allocate(heap, node_type, 4000, &p) == MOSS_OK);
  CHECK(p != NULL);
  /* One request larger than the limit fails on its own. */
  CHECK(moss_allocate(heap, leaf_type, (size_t)16 << 20, &p) == MOSS_ERROR_OUT_OF_MEMORY);
  CHECK(p == NULL);
  CHECK(moss_allocate(heap, node_type, 4000, &p) == MOSS_OK);
  moss_root_destroy(root);
  CHECK(moss_verify(heap) == MOSS_OK);
  moss_heap_destroy(heap);
}

/* Moving references around through moss_write while collections run
 * (incremental marking under mark-sweep, with small slices) loses nothing:
 * the barrier sees every store. The list is rotated by relinking nodes, so
 * most of them are, at some point, reachable only through a fresh store. */
NOINLINE static void churn(moss_heap* heap, moss_root* root, long rounds) {
  for (long r = 0; r < rounds; ++r) {
    /* Move the head to the end. */
    struct node* head = (struct node*)moss_root_get(root);
    struct node* second = head->next;
    struct node* last = head;
    while (last->next != NULL) last = last->next;
    moss_root_set(root, second);
    moss_write(heap, head, (void**)&head->next, NULL);
    moss_write(heap, last, (void**)&last->next, head);
    /* Garbage, so that collector work runs between the stores. */
    for (int i = 0; i < 20; ++i) new_node(heap, NULL, -1);
  }
}

static void test_barrier_under_churn(moss_collector c) {
  moss_heap_options o;
  moss_heap_options_init(&o);
  o.collector = c;
  o.min_heap_bytes = (size_t)256 << 10;
  o.mark_slice_bytes = (size_t)4 << 10;
  moss_heap* heap = moss_heap_create(&o);
  moss_root* root = rooted_list(heap, 300);
  churn(heap, root, 30000);
  CHECK(check_rooted_list(root, 300));
  CHECK(moss_verify(heap) == MOSS_OK);
  struct moss_stats st;
  CHECK(moss_stats(heap, &st) == MOSS_OK);
  CHECK(st.collections >= 3);
  CHECK(st.freed_objects >= 500000);
  moss_root_destroy(root);
  moss_heap_destroy(heap);
}

/* Mark-sweep with helper threads: the C trace callbacks run on them, and
 * what survives is the same. */
static void test_helper_threads(void) {
  moss_heap_options o;
  moss_heap_options_init(&o);
  o.collector = MOSS_COLLECTOR_MARK_SWEEP;
  o.helper_threads = 2;
  o.min_heap_bytes = (size_t)256 << 10;
  moss_heap* heap = moss_heap_create(&o);
  CHECK(heap != NULL);
  if (heap == NULL) return;
  moss_root* root = rooted_list(heap, 20000);
  churn(heap, root, 30000);
  CHECK(moss_collect(heap) == MOSS_OK);
  CHECK(check_rooted_list(root, 20000));
  CHECK(moss_verify(heap) == MOSS_OK);
  struct moss_stats st;
  CHECK(moss_stats(heap, &st) == MOSS_OK);
  CHECK(st.collections >= 2);
  CHECK(st.freed_objects >= 500000);
  CHECK(st.helper_marked_objects + st.helper_swept_spans > 0);
  moss_root_destroy(root);
  moss_heap_destroy(heap);

  o.helper_threads = 1000;
  CHECK(moss_heap_create(&o) == NULL);
  CHECK(message_has(moss_last_error(NULL), "helper_threads"));
}

/* A heap destroyed with objects and roots alive: finalizers run, the root
 * becomes inert and can still be freed. */
static void test_destroy_with_live_objects(moss_collector c) {
  moss_heap* heap = make_heap(c);
  nodes_finalized = 0;
  moss_root* root = rooted_list(heap, 20);
  moss_heap_destroy(heap);
  CHECK(nodes_finalized == 20);
  CHECK(moss_root_get(root) == NULL);
  CHECK(moss_root_set(root, NULL) == MOSS_ERROR_USAGE);
  moss_root_destroy(root);
}

/* ------------------------------------------------------------------------
 * Coroutines
 * ------------------------------------------------------------------------ */

/* Yields arg, arg+1, ... as tagged integers, adding what each resume sends
 * (also tagged); returns the total it received. */
static void* counter_body(moss_yield* y, void* arg) {
  intptr_t next = (intptr_t)arg;
  intptr_t total = (intptr_t)moss_yield_received(y) >> 1;
  for (int i = 0; i < 3; ++i) {
    void* in = moss_yield_value(y, (void*)((next++ << 1) | 1));
    total += (intptr_t)in >> 1;
  }
  return (void*)((total << 1) | 1);
}

static void test_coroutine_values(moss_collector c) {
  moss_heap* heap = make_heap(c);
  moss_coroutine* co = moss_coroutine_create(heap, counter_body, (void*)(intptr_t)10, NULL);
  CHECK(co != NULL);
  CHECK(!moss_coroutine_started(co));
  CHECK(!moss_coroutine_done(co));
  void* out = NULL;
  intptr_t got[4];
  for (int i = 0; i < 4; ++i) {
    CHECK(moss_coroutine_resume(co, (void*)(intptr_t)(((i + 1) << 1) | 1), &out) == MOSS_OK);
    got[i] = (intptr_t)out >> 1;
  }
  CHECK(moss_coroutine_started(co));
  CHECK(got[0] == 10 && got[1] == 11 && got[2] == 12);
  CHECK(moss_coroutine_done(co));
  CHECK(got[3] == 1 + 2 + 3 + 4);
  CHECK(moss_coroutine_resume(co, NULL, &out) == MOSS_ERROR_USAGE);
  CHECK(message_has(moss_last_error(heap), "finished"));
  CHECK(out == NULL);
  moss_coroutine_destroy(co);

  CHECK(moss_coroutine_create(heap, NULL, NULL, NULL) == NULL);
  CHECK(message_has(moss_last_error(heap), "body"));
  moss_coroutine_options o;
  moss_coroutine_options_init(&o);
  o.guard = (moss_stack_guard)9;
  CHECK(moss_coroutine_create(heap, counter_body, NULL, &o) == NULL);
  CHECK(message_has(moss_last_error(heap), "guard"));
  moss_heap_destroy(heap);
}

/* A suspended coroutine's locals keep objects alive. */
struct holder_state {
  moss_heap* heap;
  moss_yield* yield;
};

NOINLINE static void* holder_body(moss_yield* y, void* arg) {
  struct holder_state* st = (struct holder_state*)arg;
  st->yield = y;
  struct node* head = NULL;
  for (long i = 0; i < 100; ++i) head = new_node(st->heap, head, i);
  moss_yield_value(y, NULL); /* collected while suspended here */
  long count = 0;
  long sum = list_sum(head, &count);
  head = NULL;
  return (void*)(intptr_t)((sum << 1) | 1);
}

static void test_coroutine_stack_is_a_root(moss_collector c) {
  moss_heap* heap = make_heap(c);
  struct holder_state st = {heap, NULL};
  nodes_finalized = 0;
  moss_coroutine* co = moss_coroutine_create(heap, holder_body, &st, NULL);
  void* out = NULL;
  CHECK(moss_coroutine_resume(co, NULL, &out) == MOSS_OK);
  CHECK(scrub_and_collect(heap) == MOSS_OK);
  CHECK(nodes_finalized == 0);

  /* Yielding from outside the coroutine is refused. */
  CHECK(moss_yield_value(st.yield, NULL) == NULL);
  CHECK(message_has(moss_last_error(heap), "yield"));

  CHECK(moss_coroutine_resume(co, NULL, &out) == MOSS_OK);
  CHECK(moss_coroutine_done(co));
  CHECK((intptr_t)out >> 1 == 99 * 100 / 2);
  moss_coroutine_destroy(co);
  CHECK(scrub_and_collect(heap) == MOSS_OK);
  CHECK(nodes_finalized == 100);
  moss_heap_destroy(heap);
}

/* Destroying a suspended coroutine unwinds it; the code after its pending
 * yield never runs. */
static int after_yield_ran;
static void* forever_body(moss_yield* y, void* arg) {
  (void)arg;
  for (;;) {
    moss_yield_value(y, NULL);
    ++after_yield_ran;
    if (after_yield_ran > 1) break;
  }
  after_yield_ran = 100;
  return NULL;
}

static void test_coroutine_destroy_suspended(moss_collector c) {
  moss_heap* heap = make_heap(c);
  after_yield_ran = 0;
  moss_coroutine* co = moss_coroutine_create(heap, forever_body, NULL, NULL);
  CHECK(moss_coroutine_resume(co, NULL, NULL) == MOSS_OK);
  CHECK(moss_coroutine_resume(co, NULL, NULL) == MOSS_OK);
  CHECK(after_yield_ran == 1);
  CHECK(!moss_coroutine_done(co));
  moss_coroutine_destroy(co);
  CHECK(after_yield_ran == 1);

  /* A coroutine that never started is destroyed without running. */
  co = moss_coroutine_create(heap, forever_body, NULL, NULL);
  moss_coroutine_destroy(co);
  CHECK(after_yield_ran == 1);
  CHECK(moss_verify(heap) == MOSS_OK);
  moss_heap_destroy(heap);
}

/* Recursion past the stack reservation: MOSS_ERROR_STACK_OVERFLOW, the
 * coroutine is done, everything else goes on. */
NOINLINE static long recurse(long depth) {
  volatile char pad[512];
  pad[0] = (char)depth;
  pad[511] = (char)(depth >> 8);
  return depth == 0 ? pad[0] : recurse(depth - 1) + pad[511];
}

static void* deep_body(moss_yield* y, void* arg) {
  (void)y;
  return (void*)(intptr_t)recurse((long)(intptr_t)arg);
}

static void test_coroutine_overflow(moss_collector c) {
  moss_heap* heap = make_heap(c);
  moss_coroutine_options o;
  moss_coroutine_options_init(&o);
  o.stack_reserve = 128 << 10;

  moss_coroutine* shallow = moss_coroutine_create(heap, deep_body, (void*)(intptr_t)50, &o);
  CHECK(moss_coroutine_resume(shallow, NULL, NULL) == MOSS_OK);
  CHECK(moss_coroutine_done(shallow));
  moss_coroutine_destroy(shallow);

  moss_coroutine* deep = moss_coroutine_create(heap, deep_body, (void*)(intptr_t)1000000, &o);
  CHECK(deep != NULL);
  CHECK(moss_coroutine_resume(deep, NULL, NULL) == MOSS_ERROR_STACK_OVERFLOW);
  CHECK(message_has(moss_last_error(heap), "overflow"));
  CHECK(moss_coroutine_done(deep));
  moss_coroutine_destroy(deep);

  CHECK(moss_stack_remaining() > 4096);
  struct node* n = new_node(heap, NULL, 1);
  CHECK(n != NULL);
  CHECK(moss_verify(heap) == MOSS_OK);
  moss_heap_destroy(heap);
}

/* ------------------------------------------------------------------------
 * Driver
 * ------------------------------------------------------------------------ */

typedef void (*heap_test)(moss_collector);

static const heap_test heap_tests[] = {
    test_heap_basics,
    test_allocate,
    test_write,
    test_free,
    test_roots,
    test_cycles,
    test_root_callbacks,
    test_root_ranges,
    test_visit_word,
    test_visit_conservative,
    test_visit_array,
    test_garbage,
    test_heap_limit,
    test_barrier_under_churn,
    test_destroy_with_live_objects,
    test_coroutine_values,
    test_coroutine_stack_is_a_root,
    test_coroutine_destroy_suspended,
    test_coroutine_overflow,
};

int main(void) {
  test_register_types();
  test_status_and_options();
  test_collector_from_env();
  test_null_arguments();

  const moss_collector collectors[] = {MOSS_COLLECTOR_MARK_SWEEP, MOSS_COLLECTOR_REFCOUNT};
  for (size_t i = 0; i < sizeof collectors / sizeof collectors[0]; ++i) {
    moss_collector c = collectors[i];
    current_collector = moss_collector_name(c);
    moss_heap* probe = make_heap(c);
    if (probe == NULL) {
      /* A collector this build does not offer yet is reported, not failed. */
      printf("note: collector %s unavailable: %s\n", current_collector, moss_last_error(NULL));
      continue;
    }
    moss_heap_destroy(probe);
    for (size_t t = 0; t < sizeof heap_tests / sizeof heap_tests[0]; ++t) {
      /* Heaps reuse addresses: a stale word a finished test left in the
       * region the next test's frame takes could name a new object. */
      scrub_stack();
      heap_tests[t](c);
    }
  }
  current_collector = "ms";
  scrub_stack();
  test_helper_threads();
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
