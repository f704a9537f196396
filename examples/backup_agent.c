/*
 * backup_agent.c: a C host of m365sync.
 *
 * Starts the Graph simulator and an engine mirroring its drives, then changes
 * one file step by step (create, rewrite, rename, share, delete) and waits for
 * each change to come back as an event. After the rewrite it backs the file up:
 * downloaded to a file (hash-verified, through the tenant's throttle gate) and
 * streamed into memory, then asked again (unchanged: same cTag). After the share it
 * asks who can reach the file (its effective permissions, fetched by the engine
 * through the same gate) and which items a principal reaches. Events are
 * counted by kind on the engine's dispatcher thread; a summary is printed at the end.
 *
 * The engine is libm365sync (m365sync.h); the simulator, a test double, is
 * libm365sync_sim (m365sync_sim.h), with its own last error and string free.
 *
 * Build (from the repository root), against an installation
 * (scripts/install-c-lib.sh PREFIX, then PKG_CONFIG_PATH=PREFIX/lib/pkgconfig):
 *   cc -std=c11 -Wall -Wextra -Werror examples/backup_agent.c -o backup_agent \
 *      $(pkg-config --cflags --libs m365sync-sim m365sync) \
 *      -Wl,-rpath,$(pkg-config --variable=libdir m365sync)
 * Run:
 *   ./backup_agent /tmp/backup_agent.db
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "m365sync.h"
#include "m365sync_sim.h"

/* Event kinds are small numbers that only grow; larger ones are not counted. */
#define MAX_KIND 64
/* A hang guard, generous enough for valgrind on a busy machine. */
#define WAIT_SECONDS 300

struct agent {
    atomic_long counts[MAX_KIND];
};

/* Runs on the engine's dispatcher thread; `event` is borrowed for this call. */
static int on_event(void *userdata, const m365sync_event *event) {
    struct agent *agent = userdata;
    if (event->kind < MAX_KIND) {
        atomic_fetch_add(&agent->counts[event->kind], 1);
    }
    if (event->kind <= M365SYNC_EVENT_KIND_PERMISSIONS_CHANGED) {
        const char *kind = m365sync_event_kind_str(event->kind);
        if (event->old_path[0] != '\0') {
            printf("event %lld %s %s (was %s)\n", (long long)event->seq, kind, event->path,
                   event->old_path);
        } else {
            printf("event %lld %s %s\n", (long long)event->seq, kind, event->path);
        }
    }
    return 0; /* acknowledged: never delivered again */
}

/* May run on any m365sync thread. */
static void on_log(void *userdata, m365sync_log_level level, const char *target,
                   const char *message) {
    (void)userdata;
    fprintf(stderr, "[%s] %s: %s\n", level == M365SYNC_LOG_LEVEL_ERROR ? "error" : "warn",
            target, message);
}

/* Reports a failed call with the detail of the library that made it. */
static int check_with(m365sync_result rc, const char *what, const char *(*last_error)(void)) {
    if (rc != M365SYNC_RESULT_OK) {
        fprintf(stderr, "%s failed: %s: %s\n", what, m365sync_result_str(rc), last_error());
        return 0;
    }
    return 1;
}

/* An engine call. */
static int check(m365sync_result rc, const char *what) {
    return check_with(rc, what, m365sync_last_error);
}

/* A simulator call. */
static int check_sim(m365sync_result rc, const char *what) {
    return check_with(rc, what, m365sync_sim_last_error);
}

/* Waits until `kind` was seen at least `count` times. */
static int wait_for(struct agent *agent, m365sync_event_kind kind, long count) {
    const struct timespec tick = {0, 10 * 1000 * 1000};
    time_t deadline = time(NULL) + WAIT_SECONDS;
    while (atomic_load(&agent->counts[kind]) < count) {
        if (time(NULL) > deadline) {
            fprintf(stderr, "timed out waiting for %ld %s events\n", count,
                    m365sync_event_kind_str(kind));
            return 0;
        }
        nanosleep(&tick, NULL);
    }
    return 1;
}

/*
 * Copies the string value of "key" from a flat JSON object into `out`. Enough
 * for the simulator's item ids, which have no escapes; a real host would use a
 * JSON parser.
 */
static int json_string(const char *json, const char *key, char *out, size_t cap) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":\"", key);
    const char *start = strstr(json, pattern);
    if (start == NULL) {
        return 0;
    }
    start += strlen(pattern);
    const char *end = strchr(start, '"');
    if (end == NULL || (size_t)(end - start) >= cap) {
        return 0;
    }
    memcpy(out, start, (size_t)(end - start));
    out[end - start] = '\0';
    return 1;
}

/* Applies a simulator command; copies the resulting item's id into `id` if given. */
static int mutate(m365sync_sim *sim, const char *command, char *id, size_t cap) {
    char *result = NULL;
    if (!check_sim(m365sync_sim_apply(sim, command, &result), command)) {
        return 0;
    }
    int ok = id == NULL || json_string(result, "id", id, cap);
    m365sync_sim_string_free(result);
    return ok;
}

/* A growing buffer that m365sync_engine_download_to streams into. */
struct buffer {
    char *bytes;
    size_t len;
};

/* Runs on the thread that called m365sync_engine_download_to; `bytes` is borrowed. */
static int on_bytes(void *userdata, const uint8_t *bytes, size_t len) {
    struct buffer *buffer = userdata;
    char *grown = realloc(buffer->bytes, buffer->len + len + 1);
    if (grown == NULL) {
        return 1; /* aborts the download */
    }
    memcpy(grown + buffer->len, bytes, len);
    buffer->bytes = grown;
    buffer->len += len;
    buffer->bytes[buffer->len] = '\0';
    return 0;
}

/* Downloads `item` to `path` (through `path.partial`); it must hold `expected`. */
static int back_up_to_file(m365sync_engine *engine, const char *drive, const char *item,
                           const char *path, const char *expected) {
    char *result = NULL;
    char on_disk[256] = {0};
    int ok = check(m365sync_engine_download(engine, drive, item, path, &result), "download");
    if (ok) {
        printf("download: %s\n", result);
        FILE *f = fopen(path, "rb");
        size_t n = f == NULL ? 0 : fread(on_disk, 1, sizeof on_disk - 1, f);
        if (f != NULL) {
            fclose(f);
        }
        ok = strstr(result, "\"result\":\"downloaded\"") != NULL && n == strlen(expected) &&
             memcmp(on_disk, expected, n) == 0;
    }
    m365sync_string_free(result);
    if (!ok) {
        fprintf(stderr, "%s does not hold \"%s\"\n", path, expected);
    }
    return ok;
}

/* Streams `item` into memory; `*outcome` receives "downloaded", "unchanged" or
 * "skipped" and the buffer the bytes (empty unless downloaded). */
static int back_up_to_memory(m365sync_engine *engine, const char *drive, const char *item,
                             struct buffer *copy, char *outcome, size_t cap) {
    char *result = NULL;
    copy->len = 0;
    int ok = check(m365sync_engine_download_to(engine, drive, item, on_bytes, copy, &result),
                   "download_to") &&
             json_string(result, "result", outcome, cap);
    if (ok) {
        printf("download_to: %s (%zu bytes streamed)\n", result, copy->len);
    }
    m365sync_string_free(result);
    return ok;
}

/* One change to the simulator and the event it must produce. */
/* The shared file's effective permissions hold the organization link; a principal with
 * no grant reaches nothing; an unknown filter is refused. */
static int who_can_reach(m365sync_engine *engine, const char *drive, const char *item) {
    char *json = NULL;
    if (!check(m365sync_engine_effective_permissions_json(engine, drive, item, &json),
               "effective permissions")) {
        return 0;
    }
    int ok = strstr(json, "\"scope\":\"organization\"") != NULL;
    printf("who can reach it: %s\n", json);
    m365sync_string_free(json);
    json = NULL;
    ok = ok && check(m365sync_engine_items_with_grants_json(engine, NULL, "principal:nobody@x.example",
                                                            0, &json),
                     "items with grants");
    ok = ok && json != NULL && strcmp(json, "[]") == 0;
    m365sync_string_free(json);
    json = NULL;
    if (ok && m365sync_engine_items_with_grants_json(engine, drive, "everyone", 0, &json) !=
                  M365SYNC_RESULT_INVALID_ARGUMENT) {
        fprintf(stderr, "an unknown grant filter was not refused\n");
        ok = 0;
    }
    if (!ok) {
        fprintf(stderr, "the permission queries answered wrong\n");
    }
    return ok;
}

static int step(m365sync_sim *sim, struct agent *agent, const char *command, char *id,
                m365sync_event_kind expected) {
    long before = atomic_load(&agent->counts[expected]);
    printf("change: %s\n", command);
    fflush(stdout);
    return mutate(sim, command, id, 128) && wait_for(agent, expected, before + 1);
}

int main(int argc, char **argv) {
    const char *database = argc > 1 ? argv[1] : "backup_agent.db";
    static struct agent agent; /* zero-initialised counters */
    m365sync_sim *sim = NULL;
    m365sync_engine *engine = NULL;
    char *drive = NULL;
    char *config = NULL;
    char command[1024];
    char folder[128], file[128];
    struct buffer copy = {NULL, 0};
    int ok = 0;

    printf("m365sync %s (header %s)\n", m365sync_version(), M365SYNC_VERSION);
    if (!check(m365sync_set_log_callback(M365SYNC_LOG_LEVEL_WARN, on_log, NULL), "log") ||
        !check_sim(m365sync_sim_start("{\"items\": 40, \"seed\": 7}", &sim), "sim_start") ||
        !check_sim(m365sync_sim_drive_id(sim, 0, &drive), "sim_drive_id")) {
        goto done;
    }
    size_t drives = 1;
    for (char *id = NULL; m365sync_sim_drive_id(sim, drives, &id) == M365SYNC_RESULT_OK;
         drives++) {
        m365sync_sim_string_free(id);
        id = NULL;
    }
    printf("simulator at %s with %zu drives\n", m365sync_sim_url(sim), drives);

    /* The database path goes into JSON as is: keep it free of quotes and backslashes. */
    snprintf(command, sizeof command,
             "{\"database\": \"%s\", \"poll_interval_secs\": 1, "
             "\"permissions\": {\"fetch\": true}}",
             database);
    if (!check_sim(m365sync_sim_engine_config_json(sim, command, &config), "engine config") ||
        !check(m365sync_engine_new(config, &engine), "engine_new") ||
        !check(m365sync_engine_set_event_callback(engine, on_event, &agent), "callback") ||
        !check(m365sync_engine_start(engine), "engine_start") ||
        !wait_for(&agent, M365SYNC_EVENT_KIND_CRAWL_COMPLETED, (long)drives)) {
        goto done;
    }
    printf("first crawl of %zu drives done\n", drives);

    snprintf(command, sizeof command,
             "{\"op\":\"create\",\"drive\":\"%s\",\"parent_id\":\"root\",\"name\":\"Backups\","
             "\"folder\":true}",
             drive);
    if (!step(sim, &agent, command, folder, M365SYNC_EVENT_KIND_CREATED)) {
        goto done;
    }
    snprintf(command, sizeof command,
             "{\"op\":\"create\",\"drive\":\"%s\",\"parent_id\":\"%s\",\"name\":\"report.txt\","
             "\"content\":\"first draft\"}",
             drive, folder);
    if (!step(sim, &agent, command, file, M365SYNC_EVENT_KIND_CREATED)) {
        goto done;
    }
    snprintf(command, sizeof command,
             "{\"op\":\"update\",\"drive\":\"%s\",\"item\":\"%s\",\"content\":\"final text\"}",
             drive, file);
    if (!step(sim, &agent, command, NULL, M365SYNC_EVENT_KIND_CONTENT_CHANGED)) {
        goto done;
    }
    snprintf(command, sizeof command, "%s.report.txt", database);
    if (!back_up_to_file(engine, drive, file, command, "final text")) {
        goto done;
    }
    snprintf(command, sizeof command,
             "{\"op\":\"update\",\"drive\":\"%s\",\"item\":\"%s\",\"content\":\"final text, v2\"}",
             drive, file);
    if (!step(sim, &agent, command, NULL, M365SYNC_EVENT_KIND_CONTENT_CHANGED)) {
        goto done;
    }
    char outcome[32];
    if (!back_up_to_memory(engine, drive, file, &copy, outcome, sizeof outcome) ||
        strcmp(outcome, "downloaded") != 0 || copy.len != strlen("final text, v2") ||
        memcmp(copy.bytes, "final text, v2", copy.len) != 0) {
        fprintf(stderr, "the streamed backup is wrong (%s)\n", outcome);
        goto done;
    }
    /* The same cTag again: nothing is transferred. */
    if (!back_up_to_memory(engine, drive, file, &copy, outcome, sizeof outcome) ||
        strcmp(outcome, "unchanged") != 0 || copy.len != 0) {
        fprintf(stderr, "a second backup of the same cTag was not 'unchanged' (%s)\n", outcome);
        goto done;
    }
    snprintf(command, sizeof command,
             "{\"op\":\"update\",\"drive\":\"%s\",\"item\":\"%s\",\"name\":\"report-final.txt\"}",
             drive, file);
    if (!step(sim, &agent, command, NULL, M365SYNC_EVENT_KIND_RENAMED)) {
        goto done;
    }
    snprintf(command, sizeof command, "{\"op\":\"share\",\"drive\":\"%s\",\"item\":\"%s\"}",
             drive, file);
    if (!step(sim, &agent, command, NULL, M365SYNC_EVENT_KIND_PERMISSIONS_CHANGED) ||
        !who_can_reach(engine, drive, file)) {
        goto done;
    }
    snprintf(command, sizeof command, "{\"op\":\"delete\",\"drive\":\"%s\",\"item\":\"%s\"}",
             drive, file);
    if (!step(sim, &agent, command, NULL, M365SYNC_EVENT_KIND_DELETED)) {
        goto done;
    }
    ok = check(m365sync_engine_stop(engine), "engine_stop");

    printf("summary:");
    for (uint32_t kind = 1; kind < MAX_KIND; kind++) {
        long n = atomic_load(&agent.counts[kind]);
        if (n > 0) {
            printf(" %s=%ld", m365sync_event_kind_str(kind), n);
        }
    }
    printf("\n");

done:
    m365sync_engine_free(engine); /* stops and joins the engine's threads */
    m365sync_sim_string_free(config);
    m365sync_sim_string_free(drive);
    m365sync_sim_free(sim);
    free(copy.bytes);
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
