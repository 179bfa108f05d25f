/* test_run_index.c: runs/index.html, the page that compares the runs of a folder.
 *
 * tests/report/tiny.net trains in forked children (report/harness.h) into
 * <tmp>/runs/<name>, beside a folder that is not a run, a run.json that is
 * not JSON and one that is JSON but not ours. The index must:
 *   - be well-formed XML with no scripts, one row per run (broken ones saying
 *     why), the foreign folder named, links that reach each report.html
 *     (names escaped for URLs and for HTML);
 *   - show, per run, the settings that differ among runs of the same net and
 *     no others, the best validation top-1 and its epoch (as metrics.csv has
 *     them), the last test top-1;
 *   - plot one validation curve per run that has a validation set, with the
 *     values of its metrics.csv;
 *   - reload itself while a run trains and not once all have ended; a run
 *     whose trainer died shows as stopped, and does not keep the page
 *     reloading;
 *   - hold every run when several trainers write it at once, and never be
 *     seen half-written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "report/harness.h"
#include "report/xml.h"

#include <cmocka.h>

#include "run_index.h"

#define N_TRAIN 6
#define N_TEST 2

static char data[512], runs[512];

static int setup(void **state) {
    (void)state;
    harness_init(N_TRAIN, N_TEST);
    snprintf(data, sizeof data, "%s/data", tmp_root);
    snprintf(runs, sizeof runs, "%s/runs", tmp_root);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    harness_cleanup();
    return 0;
}

/* tiny train into <runs>/<name> with extra options (NULL-terminated). */
static pid_t start(const char *name, const char *const *extra) {
    const char *args[32] = {"train", "--data", data, "--out", NULL, "--threads", "1", "--force"};
    int n = 8;
    char out[700];
    snprintf(out, sizeof out, "%s/%s", runs, name);
    args[4] = out;
    for (int i = 0; extra && extra[i] && n < 31; i++) args[n++] = extra[i];
    return start_trainer(fmt("%s/%s", tmp_root, name), args);
}

static char *index_page(void) { return slurp(fmt("%s/index.html", runs), NULL); }

/* The <tr> of the row whose link text is `name` (escaped), malloc'd. */
static char *row_of(const char *page, const char *name_html) {
    const char *a = strstr(page, fmt("\">%s</a></td>", name_html));
    if (!a) return NULL;
    const char *tr = a;
    while (tr > page && strncmp(tr, "<tr>", 4) != 0) tr--;
    const char *end = strstr(a, "</tr>");
    return end ? strndup(tr, (size_t)(end - tr)) : NULL;
}

static void check_xml(const char *page) {
    Xml x;
    int n = xml_check(&x, page, strlen(page));
    if (n < 0) print_error("index.html is not well-formed: %s\n", x.err);
    assert_true(n > 20);
    assert_null(strstr(page, "<script"));
    assert_null(strstr(page, "http://"));
    assert_null(strstr(page, "https://"));
}

static void index_compares_the_runs_of_a_folder(void **state) {
    (void)state;
    Error e;
    /* not runs, or not readable ones */
    assert_int_equal(make_dirs(fmt("%s/notes", runs), &e), 0);
    write_bytes(fmt("%s/notes/todo.txt", runs), "x", 1);
    assert_int_equal(make_dirs(fmt("%s/broken", runs), &e), 0);
    write_bytes(fmt("%s/broken/run.json", runs), "{\"netc_run\": 1,", 15);
    assert_int_equal(make_dirs(fmt("%s/alien", runs), &e), 0);
    write_bytes(fmt("%s/alien/run.json", runs), "{\"hello\": [1, 2]}", 17);
    write_bytes(fmt("%s/stray.txt", runs), "x", 1);

    const char *a[] = {"--epochs", "4", "--lr", "0.05", "--val_split", "0.34", NULL};
    const char *b[] = {"--epochs", "4", "--lr", "0.02", "--val_split", "0.34", NULL};
    const char *c[] = {"--epochs", "2", NULL}; /* no validation set */
    assert_int_equal(wait_trainer(start("lr 0.05 & <more>", a)), 0);
    assert_int_equal(wait_trainer(start("lr0.02", b)), 0);
    assert_int_equal(wait_trainer(start("noval", c)), 0);

    char *page = index_page();
    assert_non_null(page);
    check_xml(page);
    assert_null(strstr(page, "http-equiv=\"refresh\"")); /* every run has ended */
    assert_non_null(strstr(page, "<div class=\"sub\">5 runs &#183;"));
    /* links: the name escaped for a URL, the text for HTML */
    assert_non_null(strstr(page, "<a href=\"lr%200.05%20%26%20%3Cmore%3E/report.html\">lr 0.05 &amp; &lt;more&gt;</a>"));
    assert_non_null(strstr(page, "<a href=\"lr0.02/report.html\">lr0.02</a>"));
    /* the folder that is not a run is named; the broken run.json files say why */
    assert_non_null(strstr(page, "Not runs (no <code>run.json</code>): notes."));
    assert_null(strstr(page, "stray.txt"));
    char *r = row_of(page, "broken");
    assert_non_null(r);
    assert_non_null(strstr(r, "not shown: run.json is not valid JSON"));
    free(r);
    r = row_of(page, "alien");
    assert_non_null(strstr(r, "not shown: run.json was not written by a netc trainer"));
    free(r);

    /* per run: what differs (lr, val_split, epochs; not batch, which is the same in all three) */
    double rows[64][METRIC_COLS];
    int n = read_metrics(fmt("%s/lr0.02/metrics.csv", runs), rows, 64);
    assert_int_equal(n, 4);
    int best = 0;
    for (int i = 1; i < n; i++)
        if (rows[i][COL_VAL_TOP1] > rows[best][COL_VAL_TOP1]) best = i;
    r = row_of(page, "lr0.02");
    assert_non_null(r);
    print_message("%s\n", r);
    assert_non_null(strstr(r, "<td class=\"l status\">finished</td>"));
    assert_non_null(strstr(r, "<code>epochs 4</code> <code>val_split 0.34</code> <code>lr 0.02</code></td>"));
    assert_null(strstr(r, "batch"));
    assert_non_null(strstr(r, fmt("<td>4 / 4</td><td>%.2f%%</td>", rows[n - 1][COL_VAL_TOP1]))); /* the last epoch's */
    assert_non_null(strstr(r, fmt("<td class=\"vhi\">%.2f%% <span class=\"muted\">(epoch %d)</span></td>", rows[best][COL_VAL_TOP1],
                                  best + 1)));
    assert_non_null(strstr(r, fmt("<td class=\"hi\">%.2f%%</td>", rows[n - 1][COL_TEST_TOP1])));
    free(r);
    r = row_of(page, "noval");
    assert_non_null(strstr(r, "<code>epochs 2</code> <code>val_split 0</code> <code>lr 0.05</code>"));
    assert_non_null(strstr(r, "<td class=\"vhi\"><span class=\"muted\">&#8211;</span></td>"));
    assert_non_null(strstr(r, "<td></td><td class=\"l\">")); /* no colour: no curve */
    free(r);

    /* one curve per run with a validation set, its points metrics.csv's values */
    const char *svg = strstr(page, "<svg class=\"plot\" data-metric=\"val_top1\"");
    assert_non_null(svg);
    assert_int_equal(count_of(svg, "<polyline"), 2);
    assert_int_equal(count_of(svg, "</title></circle>"), 8);
    for (int i = 0; i < n; i++)
        assert_non_null(strstr(svg, fmt("<title>lr0.02, epoch %d: %.2f%%</title>", i + 1, rows[i][COL_VAL_TOP1])));
    assert_non_null(strstr(svg, "<title>lr 0.05 &amp; &lt;more&gt;, epoch 4: "));
    free(page);

    /* a run of the same net from another .net file: every row of that net names its file */
    char *json = slurp(fmt("%s/lr0.02/run.json", runs), NULL);
    char *at = strstr(json, "\"source\": \"");
    assert_non_null(at);
    Error e2;
    assert_int_equal(make_dirs(fmt("%s/edited", runs), &e2), 0);
    FILE *f = fopen(fmt("%s/edited/run.json", runs), "w");
    fprintf(f, "%.*s\"source\": \"tests/report/tiny-wide.net\"%s", (int)(at - json), json, strchr(at + 11, '"') + 1);
    fclose(f);
    free(json);
    assert_int_equal(wait_trainer(start("lr0.02", b)), 0); /* rewrites the index */
    page = index_page();
    r = row_of(page, "edited");
    assert_non_null(strstr(r, "<td class=\"l differs\"><code>tests/report/tiny-wide.net</code>"));
    free(r);
    r = row_of(page, "lr0.02");
    assert_non_null(strstr(r, "<td class=\"l differs\"><code>tests/report/tiny.net</code> <code>epochs 4</code>"));
    free(r), free(page);
}

/* While a run trains the page reloads; a run whose trainer is gone neither
 * counts as training nor keeps the page reloading. */
static void index_reloads_while_a_run_trains(void **state) {
    (void)state;
    const char *live[] = {"--epochs", "1000", "--val_split", "0.34", NULL};
    pid_t pid = start("live", live);
    while (metrics_rows(fmt("%s/live/metrics.csv", runs)) < 2 && waitpid(pid, NULL, WNOHANG) == 0) nap(1);
    char *page = index_page();
    assert_non_null(page);
    check_xml(page);
    assert_non_null(strstr(page, "<meta http-equiv=\"refresh\" content=\"10\"/>"));
    char *r = row_of(page, "live");
    assert_non_null(strstr(r, "<td class=\"l status live\">training</td>"));
    free(r), free(page);
    /* killed: its run.json still says training, but its process is gone */
    kill(pid, SIGKILL);
    assert_int_equal(wait_trainer(pid), 128 + SIGKILL);
    char *json = slurp(fmt("%s/live/run.json", runs), NULL);
    assert_non_null(strstr(json, "\"status\": \"training\""));
    free(json);
    const char *other[] = {"--epochs", "1", NULL};
    assert_int_equal(wait_trainer(start("after", other)), 0);
    page = index_page();
    assert_null(strstr(page, "http-equiv=\"refresh\""));
    r = row_of(page, "live");
    assert_non_null(strstr(r, "<td class=\"l status\">stopped (its trainer is gone)</td>"));
    free(r), free(page);
}

/* Four trainers writing the same index: no page is ever half-written (a
 * reader polling it all along always parses it), and the last one holds
 * every run in its final state. */
static void index_survives_several_writers(void **state) {
    (void)state;
    char folder[512], index[600];
    snprintf(folder, sizeof folder, "%s/many", tmp_root);
    snprintf(index, sizeof index, "%s/index.html", folder);
    pid_t pids[4];
    for (int k = 0; k < 4; k++) {
        const char *args[] = {"train", "--data", data, "--out", fmt("%s/w%d", folder, k), "--epochs", fmt("%d", 3 + k),
                              "--val_split", "0.34", "--threads", "1", NULL};
        pids[k] = start_trainer(fmt("%s/w%d", tmp_root, k), args);
    }
    int reads = 0, running = 4, status[4] = {-1, -1, -1, -1};
    while (running) {
        running = 0;
        for (int k = 0; k < 4; k++) {
            int st;
            if (status[k] < 0 && waitpid(pids[k], &st, WNOHANG) == pids[k]) status[k] = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
            running += status[k] < 0;
        }
        char *page = access(index, F_OK) == 0 ? slurp(index, NULL) : NULL;
        if (page) {
            Xml x;
            if (xml_check(&x, page, strlen(page)) < 0) fail_msg("a half-written index.html: %s", x.err);
            reads++;
            free(page);
        }
        nap(2);
    }
    print_message("read the index %d times while 4 trainers wrote it\n", reads);
    for (int k = 0; k < 4; k++) assert_int_equal(status[k], 0);
    char *page = slurp(index, NULL);
    assert_non_null(page);
    check_xml(page);
    assert_non_null(strstr(page, "<div class=\"sub\">4 runs &#183;"));
    for (int k = 0; k < 4; k++) {
        char *r = row_of(page, fmt("w%d", k));
        assert_non_null(r);
        assert_non_null(strstr(r, fmt("<td class=\"l status\">finished</td>")));
        assert_non_null(strstr(r, fmt("<td>%d / %d</td>", 3 + k, 3 + k)));
        free(r);
    }
    assert_null(strstr(page, "http-equiv=\"refresh\""));
    free(page);
    /* nothing left behind but the pages, the lock and the runs */
    char *ls = NULL;
    size_t len = 0;
    FILE *p = popen(fmt("ls -A '%s'", folder), "r");
    char line[256];
    FILE *m = open_memstream(&ls, &len);
    while (fgets(line, sizeof line, p)) fputs(line, m);
    pclose(p), fclose(m);
    assert_string_equal(ls, ".netc-index.lock\nindex.html\nw0\nw1\nw2\nw3\n");
    free(ls);
}

static void index_folder_of_a_run(void **state) {
    (void)state;
    char buf[256];
    assert_int_equal(run_index_folder("runs/deepernet", buf, sizeof buf), 1);
    assert_string_equal(buf, "runs");
    assert_int_equal(run_index_folder("runs/deepernet/", buf, sizeof buf), 1);
    assert_string_equal(buf, "runs");
    assert_int_equal(run_index_folder("/tmp/x/y/run-3", buf, sizeof buf), 1);
    assert_string_equal(buf, "/tmp/x/y");
    assert_int_equal(run_index_folder("myrun", buf, sizeof buf), 0); /* the current folder gets no index */
    assert_int_equal(run_index_folder("/myrun", buf, sizeof buf), 0); /* nor does / */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(index_folder_of_a_run),
        cmocka_unit_test(index_compares_the_runs_of_a_folder),
        cmocka_unit_test(index_reloads_while_a_run_trains),
        cmocka_unit_test(index_survives_several_writers),
    };
    alarm(300); /* a hung trainer fails the test instead of stalling CI */
    return cmocka_run_group_tests_name("runs/index.html", tests, setup, teardown);
}
