/* run_index.c: <out>/run.json and <folder>/index.html (see run_index.h). */
#define _GNU_SOURCE
#include "run_index.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "html.h"
#include "json.h"
#include "report_html.h"

#define P jbuf_printf
#define MAX_RUNS 1000                /* runs shown; more are counted in a note */
#define MAX_RUN_JSON ((size_t)4 << 20)
#define RUN_COLOURS 10

/* ---- run.json ------------------------------------------------------------------------ */

static const char *run_status(const Run *r) {
    if (r->epoch >= r->cfg.epochs) return "finished";
    if (run_finished(r)) return "stopped early";
    if (r->running) return "training";
    return r->failed ? "failed" : "stopped";
}

static void json_str(JsonBuf *b, const char *key, const char *value) {
    P(b, ",\n \"%s\": ", key);
    jbuf_string(b, value, strlen(value));
}

static void json_num(JsonBuf *b, const char *key, double value) {
    P(b, ",\n \"%s\": ", key);
    jbuf_number(b, value); /* NAN: null */
}

static int write_run_json(const Run *r, Error *e) {
    JsonBuf b = {0};
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    int best = run_best_epoch(r);
    const EpochRow *test = NULL;
    for (int i = r->n_rows - 1; i >= 0 && !test; i--)
        if (r->rows[i].test_top1 >= 0) test = &r->rows[i];
    jbuf_puts(&b, "{\"netc_run\": 1");
    json_str(&b, "net", r->net->name);
    json_str(&b, "source", r->net->source);
    json_str(&b, "status", run_status(r));
    json_str(&b, "host", host);
    json_num(&b, "pid", getpid());
    json_num(&b, "started", (double)r->started);
    json_num(&b, "updated", (double)time(NULL));
    json_num(&b, "seconds", r->wall_before + now_seconds() - r->wall_t0);
    json_num(&b, "epochs", r->cfg.epochs);
    json_num(&b, "epochs_done", r->n_rows);
    json_num(&b, "best_epoch", best);
    json_num(&b, "best_val_top1", r->have_val && best ? r->rows[best - 1].val_top1 : NAN);
    json_num(&b, "test_top1", test ? test->test_top1 : NAN);
    json_num(&b, "test_epoch", test ? test->epoch : 0);
    jbuf_puts(&b, ",\n \"val_top1\": [");
    for (int i = 0; i < r->n_rows; i++) {
        if (i) jbuf_puts(&b, ", ");
        jbuf_number(&b, r->rows[i].val_top1 >= 0 ? r->rows[i].val_top1 : NAN);
    }
    jbuf_puts(&b, "],\n \"settings\": {");
    char val[1100];
    for (int i = 0; i < config_nkeys; i++) {
        config_format(&r->cfg, config_keys[i].key, val, sizeof val);
        P(&b, "%s\n  \"%s\": ", i ? "," : "", config_keys[i].key);
        jbuf_string(&b, val, strlen(val));
    }
    jbuf_puts(&b, "}}\n");
    char path[1200];
    snprintf(path, sizeof path, "%s/run.json", r->out);
    int rc = write_file_atomic(path, b.data, b.len, e);
    jbuf_free(&b);
    return rc;
}

/* ---- reading the folder ------------------------------------------------------------ */

typedef struct {
    char *dir;               /* the run folder's name in the index's folder */
    char *problem;           /* NULL, or why its run.json cannot be used */
    char *net, *source, *status;
    bool live;
    double started, seconds, best_val, test_top1;
    int epochs, done, best_epoch, test_epoch;
    double *val;             /* [done]: validation top-1 per epoch, NAN where none */
    int n_settings;
    char **keys, **values;
} Entry;

static void entry_free(Entry *en) {
    free(en->dir), free(en->problem), free(en->net), free(en->source), free(en->status), free(en->val);
    for (int i = 0; i < en->n_settings; i++) free(en->keys[i]), free(en->values[i]);
    free(en->keys), free(en->values);
}

static const char *jstr(const Json *o, const char *key) {
    const Json *v = json_get(o, key);
    return v && v->type == JSON_STRING ? v->str : NULL;
}

/* A number member; NAN when null or absent. */
static double jnum(const Json *o, const char *key) {
    const Json *v = json_get(o, key);
    return v && v->type == JSON_NUMBER && isfinite(v->number) ? v->number : NAN;
}

/* Is the trainer that wrote a "training" run.json still at it? Its process,
 * when it ran on this machine; elsewhere, a write in the last hour. */
static bool still_running(const Json *root) {
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    const char *h = jstr(root, "host");
    double pid = jnum(root, "pid"), updated = jnum(root, "updated");
    if (h && strcmp(h, host) == 0 && pid > 0 && pid < 1e9)
        return kill((pid_t)pid, 0) == 0 || errno == EPERM;
    return isfinite(updated) && difftime(time(NULL), (time_t)updated) < 3600;
}

static int broken(Entry *en, const char *why) {
    en->problem = xstrdup(why);
    return 0;
}

/* Fills en from <folder>/<name>/run.json. Returns 1 if the folder has none
 * (not a run), else 0 (with en->problem set if it cannot be used). */
static int read_entry(const char *folder, const char *name, Entry *en) {
    *en = (Entry){.dir = xstrdup(name)};
    char path[4200];
    snprintf(path, sizeof path, "%s/%s/run.json", folder, name);
    struct stat st;
    if (stat(path, &st) != 0) return 1;
    if (!S_ISREG(st.st_mode)) return broken(en, "run.json is not a file");
    if ((size_t)st.st_size > MAX_RUN_JSON) return broken(en, "run.json is larger than 4 MB");
    Error e;
    size_t len;
    char *text = read_file(path, &len, &e);
    if (!text) return broken(en, e.msg);
    JsonDoc doc;
    if (json_parse(&doc, text, len, NULL, &e) < 0) {
        free(text);
        char why[2200];
        snprintf(why, sizeof why, "run.json is not valid JSON (%s)", e.msg);
        return broken(en, why);
    }
    const Json *root = doc.root, *val = json_get(root, "val_top1"), *set = json_get(root, "settings");
    const char *net = jstr(root, "net"), *status = jstr(root, "status");
    if (root->type != JSON_OBJECT || jnum(root, "netc_run") != 1 || !net || !status || !val || val->type != JSON_ARRAY || !set ||
        set->type != JSON_OBJECT) {
        json_free(&doc), free(text);
        return broken(en, "run.json was not written by a netc trainer (or by another version)");
    }
    en->net = xstrdup(net);
    en->source = xstrdup(jstr(root, "source") ? jstr(root, "source") : "");
    en->live = strcmp(status, "training") == 0 && still_running(root);
    en->status = xstrdup(strcmp(status, "training") == 0 && !en->live ? "stopped (its trainer is gone)" : status);
    en->started = jnum(root, "started"), en->seconds = jnum(root, "seconds");
    en->best_val = jnum(root, "best_val_top1"), en->test_top1 = jnum(root, "test_top1");
    double x;
    en->epochs = isfinite(x = jnum(root, "epochs")) && x >= 0 && x <= 1e6 ? (int)x : 0;
    en->best_epoch = isfinite(x = jnum(root, "best_epoch")) && x >= 0 && x <= 1e6 ? (int)x : 0;
    en->test_epoch = isfinite(x = jnum(root, "test_epoch")) && x >= 0 && x <= 1e6 ? (int)x : 0;
    en->done = val->n;
    en->val = xmalloc(sizeof(double) * (size_t)(val->n ? val->n : 1));
    for (int i = 0; i < val->n; i++) en->val[i] = val->items[i].type == JSON_NUMBER ? val->items[i].number : NAN;
    en->keys = xmalloc(sizeof(char *) * (size_t)(set->n ? set->n : 1));
    en->values = xmalloc(sizeof(char *) * (size_t)(set->n ? set->n : 1));
    for (int i = 0; i < set->n; i++)
        if (set->items[i].type == JSON_STRING) {
            en->keys[en->n_settings] = xstrdup(set->items[i].key);
            en->values[en->n_settings++] = xstrdup(set->items[i].str);
        }
    json_free(&doc), free(text);
    return 0;
}

static int cmp_entry(const void *a, const void *b) {
    const Entry *x = a, *y = b; /* newest first; broken ones last */
    if (!!x->problem != !!y->problem) return x->problem ? 1 : -1;
    double sx = isfinite(x->started) ? x->started : 0, sy = isfinite(y->started) ? y->started : 0;
    if (sx != sy) return sx < sy ? 1 : -1;
    return strcmp(x->dir, y->dir);
}

static const char *setting(const Entry *en, const char *key) {
    for (int i = 0; i < en->n_settings; i++)
        if (strcmp(en->keys[i], key) == 0) return en->values[i];
    return NULL;
}

/* Does `key` take more than one value among the runs of en's net? */
static bool varies(const Entry *runs, int n, const Entry *en, const char *key) {
    const char *mine = setting(en, key);
    for (int i = 0; i < n; i++) {
        if (runs[i].problem || strcmp(runs[i].net, en->net) != 0) continue;
        const char *other = setting(&runs[i], key);
        if (!mine != !other || (mine && strcmp(mine, other) != 0)) return true;
    }
    return false;
}

/* Do runs of en's net come from more than one .net file? */
static bool source_varies(const Entry *runs, int n, const Entry *en) {
    for (int i = 0; i < n; i++)
        if (!runs[i].problem && strcmp(runs[i].net, en->net) == 0 && strcmp(runs[i].source, en->source) != 0) return true;
    return false;
}

/* ---- the page ------------------------------------------------------------------------ */

/* A path segment for an href: unreserved bytes kept, the rest %XX. */
static void url_segment(JsonBuf *b, const char *s) {
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || strchr("-_.~", ch)) jbuf_add(b, s, 1);
        else P(b, "%%%02X", ch);
    }
}

static void percent(JsonBuf *b, double v) {
    if (isfinite(v)) P(b, "%.2f%%", v);
    else jbuf_puts(b, "<span class=\"muted\">&#8211;</span>");
}

static void row(JsonBuf *b, const Entry *runs, int n, const Entry *en, int colour) {
    jbuf_puts(b, "<tr>");
    if (colour >= 0) P(b, "<td class=\"swatch run%d\"><span></span></td>", colour);
    else jbuf_puts(b, "<td></td>");
    jbuf_puts(b, "<td class=\"l\"><a href=\"");
    url_segment(b, en->dir);
    jbuf_puts(b, "/report.html\">");
    html_esc(b, en->dir);
    jbuf_puts(b, "</a></td>");
    if (en->problem) {
        jbuf_puts(b, "<td class=\"l\" colspan=\"8\"><span class=\"muted\">not shown: ");
        html_esc(b, en->problem);
        jbuf_puts(b, "</span></td></tr>\n");
        return;
    }
    jbuf_puts(b, "<td class=\"l\">");
    html_esc(b, en->net);
    P(b, "</td><td class=\"l status%s\">", en->live ? " live" : "");
    html_esc(b, en->status);
    jbuf_puts(b, "</td><td class=\"l differs\">");
    int shown = 0;
    if (source_varies(runs, n, en)) { /* another .net file of the same name: its layers may differ too */
        jbuf_puts(b, "<code>");
        html_esc(b, en->source);
        jbuf_puts(b, "</code>");
        shown++;
    }
    for (int i = 0; i < en->n_settings; i++) {
        if (strcmp(en->keys[i], "out") == 0 || !varies(runs, n, en, en->keys[i])) continue;
        jbuf_puts(b, shown++ ? " <code>" : "<code>");
        html_esc(b, en->keys[i]);
        jbuf_puts(b, " ");
        html_esc(b, en->values[i]);
        jbuf_puts(b, "</code>");
    }
    double last = NAN; /* the validation top-1 of the last epoch that has one */
    for (int k = en->done - 1; k >= 0 && !isfinite(last); k--) last = en->val[k];
    P(b, "</td><td>%d / %d</td><td>", en->done, en->epochs);
    percent(b, last);
    jbuf_puts(b, "</td><td class=\"vhi\">");
    percent(b, en->best_val);
    if (isfinite(en->best_val)) P(b, " <span class=\"muted\">(epoch %d)</span>", en->best_epoch);
    jbuf_puts(b, "</td><td class=\"hi\">");
    percent(b, en->test_top1);
    if (isfinite(en->test_top1) && en->test_epoch != en->done) P(b, " <span class=\"muted\">(epoch %d)</span>", en->test_epoch);
    char t[64];
    P(b, "</td><td>%s</td></tr>\n", isfinite(en->seconds) ? html_duration(en->seconds, t, sizeof t) : "");
}

static const char index_css[] =
    ".run0{--c:#2563eb}.run1{--c:#e8590c}.run2{--c:#16a34a}.run3{--c:#9333ea}.run4{--c:#dc2626}"
    ".run5{--c:#0891b2}.run6{--c:#ca8a04}.run7{--c:#db2777}.run8{--c:#4b5563}.run9{--c:#65a30d}\n"
    "g.series polyline{stroke:var(--c,#888)}g.series circle{fill:var(--c,#888)}\n"
    "td.swatch span{display:inline-block;width:22px;height:4px;border-radius:2px;background:var(--c);vertical-align:middle}\n"
    "table.runs{width:100%}table.runs td.differs{font-size:12.5px;max-width:34em}\n"
    "table.runs td.hi{font-weight:650;color:var(--test)}table.runs td.vhi{font-weight:650;color:var(--val)}\n"
    "td.live{color:#0f766e;font-weight:650}\n"
    ".plots.wide{grid-template-columns:minmax(330px,560px)}\n";

static void page(JsonBuf *b, const char *folder, Entry *runs, int n, const char *others, int n_others, int over) {
    bool live = false;
    int with_val = 0, max_done = 0, max_epochs = 1;
    for (int i = 0; i < n; i++) {
        if (runs[i].problem) continue;
        live |= runs[i].live;
        bool v = false;
        for (int k = 0; k < runs[i].done; k++) v |= isfinite(runs[i].val[k]);
        with_val += v;
        if (v && runs[i].done > max_done) max_done = runs[i].done;
        if (v && runs[i].epochs > max_epochs) max_epochs = runs[i].epochs;
    }
    char when[64];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime(&now));
    jbuf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
                 "<meta name=\"generator\" content=\"netc " NETC_VERSION "\"/>\n");
    if (live) P(b, "<meta http-equiv=\"refresh\" content=\"%d\"/>\n", REPORT_RELOAD_SECONDS);
    jbuf_puts(b, "<title>");
    html_esc(b, folder);
    P(b, " &#8212; netc runs</title>\n<style>\n%s%s</style>\n</head>\n<body>\n", html_css, index_css);
    jbuf_puts(b, "<header><div class=\"wrap\">\n<div class=\"brand\">netc runs</div>\n<h1>");
    html_esc(b, folder);
    P(b, "</h1>\n<div class=\"sub\">%d run%s%s &#183; updated %s</div>\n<nav><a href=\"#runs\">runs</a>"
         "<a href=\"#curves\">validation curves</a></nav>\n</div></header>\n<main>\n",
      n, n == 1 ? "" : "s", live ? " &#183; training now: this page reloads itself" : "", when);

    jbuf_puts(b, "<section id=\"runs\"><h2>Runs</h2>\n<p class=\"note\">Newest first. <i>Differs</i>: the settings that are "
                 "not the same in every run of that net (and its .net file, when runs of it come from several). Validation "
                 "top-1 is the last epoch's; the best is the epoch <code>best.ckpt</code> holds; "
                 "test top-1 is the last test pass (the final epoch unless marked). Time is the trainer's wall clock: "
                 "decoding, training and every evaluation.</p>\n");
    if (!n) jbuf_puts(b, "<p class=\"empty\">No runs yet.</p>\n");
    else {
        jbuf_puts(b, "<div class=\"scroll\"><table class=\"runs\">\n<thead><tr><th></th><th class=\"l\">run</th><th class=\"l\">net</th>"
                     "<th class=\"l\">status</th><th class=\"l\">differs</th><th>epochs</th><th>val top-1</th><th>best val top-1</th>"
                     "<th>test top-1</th><th>time</th></tr></thead>\n<tbody>\n");
        for (int i = 0, c = 0; i < n; i++) {
            bool v = false;
            for (int k = 0; !runs[i].problem && k < runs[i].done; k++) v |= isfinite(runs[i].val[k]);
            row(b, runs, n, &runs[i], v ? c++ % RUN_COLOURS : -1);
        }
        jbuf_puts(b, "</tbody></table></div>\n");
    }
    if (over) P(b, "<p class=\"note\">%d more runs are not shown (at most %d).</p>\n", over, MAX_RUNS);
    if (n_others) {
        P(b, "<p class=\"note\">Not runs (no <code>run.json</code>): ");
        html_esc(b, others);
        jbuf_puts(b, ".</p>\n");
    }
    jbuf_puts(b, "</section>\n");

    jbuf_puts(b, "<section id=\"curves\"><h2>Validation curves</h2>\n");
    if (!with_val) {
        jbuf_puts(b, "<p class=\"empty\">No run here has a validation set: train with <code>--val_split 0.2</code> to hold "
                     "out a fifth of each class.</p></section>\n");
    } else {
        jbuf_puts(b, "<p class=\"note\">Validation top-1 per epoch, one line per run in the colour of its row above. Hover a "
                     "point for its run and value.</p>\n<div class=\"plots wide\">\n");
        HtmlSeries *s = xcalloc((size_t)with_val, sizeof *s);
        double *y = xmalloc(sizeof(double) * (size_t)with_val * (size_t)(max_done ? max_done : 1));
        char(*cls)[8] = xmalloc(sizeof *cls * (size_t)with_val);
        int ns = 0;
        for (int i = 0; i < n; i++) {
            bool v = false;
            for (int k = 0; !runs[i].problem && k < runs[i].done; k++) v |= isfinite(runs[i].val[k]);
            if (!v) continue;
            double *yi = y + (size_t)ns * (size_t)max_done;
            for (int k = 0; k < max_done; k++) yi[k] = k < runs[i].done ? runs[i].val[k] : NAN;
            snprintf(cls[ns], sizeof cls[ns], "run%d", ns % RUN_COLOURS);
            s[ns] = (HtmlSeries){runs[i].dir, cls[ns], yi};
            ns++;
        }
        html_plot(b, "val_top1", "Validation top-1", "validation top-1 (%)", "%", max_done, max_epochs, s, ns, 100, 2, false);
        jbuf_puts(b, "</div></section>\n");
        free(s), free(y), free(cls);
    }
    jbuf_puts(b, "</main>\n<footer>Rebuilt by every netc trainer that writes a run into this folder. One self-contained file: "
                 "no scripts, fonts or images from the network.</footer>\n</body>\n</html>\n");
}

/* ---- the update ------------------------------------------------------------------------ */

int run_index_folder(const char *out, char *buf, size_t len) {
    snprintf(buf, len, "%s", out);
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/') buf[--n] = 0;
    char *slash = strrchr(buf, '/');
    if (!slash) return 0;                /* runs in the current folder: no index there */
    if (slash == buf) return 0;          /* /name: none in / either */
    *slash = 0;
    return 1;
}

/* The name of the run folder inside the index's folder. */
static const char *last_part(const char *out) {
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s", out);
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/') buf[--n] = 0;
    char *slash = strrchr(buf, '/');
    return slash ? slash + 1 : buf;
}

static int write_index(const char *folder, const char *me, Error *e) {
    DIR *d = opendir(folder);
    if (!d) return errorf(e, "%s: cannot read folder: %s", folder, strerror(errno));
    Entry *runs = xmalloc(sizeof(Entry) * MAX_RUNS);
    int n = 0, over = 0, n_others = 0;
    JsonBuf others = {0};
    bool found_me = false;
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.') continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", folder, de->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        if (n == MAX_RUNS) {
            over++;
            continue;
        }
        if (read_entry(folder, de->d_name, &runs[n]) == 1) {
            entry_free(&runs[n]);
            if (n_others < 20) jbuf_puts(&others, n_others ? ", " : ""), jbuf_puts(&others, de->d_name);
            else if (n_others == 20) jbuf_puts(&others, ", ...");
            n_others++;
            continue;
        }
        found_me |= strcmp(de->d_name, me) == 0;
        n++;
    }
    closedir(d);
    qsort(runs, (size_t)n, sizeof(Entry), cmp_entry);
    JsonBuf b = {0};
    page(&b, folder, runs, n, others.data ? others.data : "", n_others, over);
    char path[1200];
    snprintf(path, sizeof path, "%s/index.html", folder);
    int rc = found_me || over ? write_file_atomic(path, b.data, b.len, e)
                              : errorf(e, "%s: the run folder %s is not in it", folder, me); /* never: it wrote run.json */
    for (int i = 0; i < n; i++) entry_free(&runs[i]);
    free(runs), jbuf_free(&b), jbuf_free(&others);
    return rc;
}

int run_index_update(const Run *r, Error *e) {
    if (write_run_json(r, e) < 0) return -1;
    char folder[1024];
    if (!run_index_folder(r->out, folder, sizeof folder)) return 0;
    char lock[1200];
    snprintf(lock, sizeof lock, "%s/.netc-index.lock", folder);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) /* one writer at a time: the last page written has read every run.json last */
        while (flock(fd, LOCK_EX) < 0 && errno == EINTR) {
        }
    int rc = write_index(folder, last_part(r->out), e);
    if (fd >= 0) close(fd); /* releases the lock */
    return rc;
}
