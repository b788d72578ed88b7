/*
 * The C reference of `vlab bench wakeup --vs-c`'s second table: what a sleep costs the memory a
 * thread touches when it wakes. A ping's hop is a thread that wakes after sleeping since the last
 * ping and runs a few hundred instructions over its own state; on a virtual machine whose idle
 * vCPUs halt, that state may no longer be in the caches (or its pages in the TLB) when it wakes.
 * This program prices it on the machine itself, without V8.
 *
 * LINES cache lines, each on a 4 KiB page of its own (at a different offset on each page, so that
 * they spread over the cache's sets), are linked in a random cycle (a fixed seed): each line holds
 * the index of the next, so walking the cycle is one dependent load after another, as a pointer
 * walk through a thread's objects is. For each sleep, the thread sleeps (`nanosleep`), then times
 * one walk right after waking (cold) and a second walk at once (warm); that many rounds, the first
 * tenth left out.
 *
 * Usage: c_cold LINES SLEEP_US...  (LINES 16 to 65536, each SLEEP_US 1 to 1000000, at most 16)
 * Prints one JSON object: {"lines":N,"points":[{"sleepUs":S,"rounds":R,"coldNs":C,"warmNs":W},
 * ...]} where C and W are the median nanoseconds a line of the walk took. Rounds per sleep: about
 * two seconds' worth, at least 20 and at most 200. Exit status 2 on bad arguments.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define LINE 64
#define MAX_SLEEPS 16
#define MIN_ROUNDS 20
#define MAX_ROUNDS 200
#define BUDGET_US 2000000L

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int parse(const char *s, long min, long max, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || *s == '\0' || *end != '\0' || v < min || v > max) return 0;
  *out = v;
  return 1;
}

static int by_value(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The median of values[from..n) (sorts that part). */
static double median(double *values, long from, long n) {
  qsort(values + from, (size_t)(n - from), sizeof(double), by_value);
  return values[from + (n - from) / 2];
}

static uint8_t *memory;

/* The address of line `i` of the walk: on page i, at a line offset that moves with i. */
static uint64_t *line_of(uint64_t i) {
  return (uint64_t *)(memory + i * PAGE + (i % (PAGE / LINE)) * LINE);
}

/* One walk of the whole cycle from line 0; returns where it ended (so it is not optimized out). */
static uint64_t walk(long lines) {
  uint64_t at = 0;
  for (long i = 0; i < lines; i++) at = *line_of(at);
  return at;
}

int main(int argc, char **argv) {
  long lines;
  long sleeps[MAX_SLEEPS];
  int count = argc - 2;
  int usage = argc < 3 || count > MAX_SLEEPS || !parse(argv[1], 16, 65536, &lines);
  for (int i = 0; !usage && i < count; i++) usage = !parse(argv[i + 2], 1, 1000000, &sleeps[i]);
  if (usage) {
    fprintf(stderr, "usage: c_cold LINES SLEEP_US... (LINES 16 to 65536, 1 to 16 sleeps)\n");
    return 2;
  }
  memory = aligned_alloc(PAGE, (size_t)lines * PAGE);
  uint64_t *order = calloc((size_t)lines, sizeof(uint64_t));
  double *cold = calloc(MAX_ROUNDS, sizeof(double));
  double *warm = calloc(MAX_ROUNDS, sizeof(double));
  if (memory == NULL || order == NULL || cold == NULL || warm == NULL) {
    fprintf(stderr, "c_cold: out of memory\n");
    return 1;
  }
  memset(memory, 0, (size_t)lines * PAGE); /* every page present before anything is timed */
  /* A random cycle through the lines, starting at line 0 (Fisher-Yates, xorshift, fixed seed). */
  for (long i = 0; i < lines; i++) order[i] = (uint64_t)i;
  uint64_t x = 88172645463325252ULL;
  for (long i = lines - 1; i > 1; i--) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    long j = 1 + (long)(x % (uint64_t)i);
    uint64_t t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  for (long i = 0; i < lines; i++) *line_of(order[i]) = order[(i + 1) % lines];

  pid_t parent = getppid();
  uint64_t sink = 0;
  printf("{\"lines\":%ld,\"points\":[", lines);
  for (int s = 0; s < count; s++) {
    long rounds = BUDGET_US / sleeps[s];
    if (rounds < MIN_ROUNDS) rounds = MIN_ROUNDS;
    if (rounds > MAX_ROUNDS) rounds = MAX_ROUNDS;
    sink += walk(lines); /* the first round starts from warm memory, as every later one does */
    for (long r = 0; r < rounds; r++) {
      /* A benchmark that was stopped leaves this process to init: stop rather than run on. */
      if (getppid() != parent) return 1;
      struct timespec t = {.tv_sec = sleeps[s] / 1000000, .tv_nsec = (sleeps[s] % 1000000) * 1000};
      nanosleep(&t, NULL);
      int64_t t0 = now_ns();
      sink += walk(lines);
      int64_t t1 = now_ns();
      sink += walk(lines);
      int64_t t2 = now_ns();
      cold[r] = (double)(t1 - t0) / (double)lines;
      warm[r] = (double)(t2 - t1) / (double)lines;
    }
    long from = rounds / 10;
    printf("%s{\"sleepUs\":%ld,\"rounds\":%ld,\"coldNs\":%.2f,\"warmNs\":%.2f}", s > 0 ? "," : "",
           sleeps[s], rounds - from, median(cold, from, rounds), median(warm, from, rounds));
  }
  printf("]}\n");
  return sink == 1 ? 3 : 0; /* never 1: every walk ends at line 0 */
}
