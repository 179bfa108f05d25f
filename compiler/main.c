/* main.c: netc's driver. The whole pipeline is the list of calls in
 * compile(): parse, elaborate, shapes, checks, report, plan, emit, build. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ast.h"
#include "deploy.h"
#include "net.h"
#include "netc.h"
#include "pool.h"
#include "report.h"
#include "target.h"
#include "util.h"

#ifndef NETC_ISA
#define NETC_ISA "native" /* the Makefile's ISA: build-avx2/bin/netc builds AVX2 trainers */
#endif

typedef struct {
    const char *input;
    const char *out_dir;    /* where <net>.c goes (with --deploy: the deployed net's folder) */
    const char *deploy;     /* --deploy WEIGHTS: the trained net as plain C, not a trainer */
    bool weights_file;      /* --weights-file: ... with its weights in a file of their own */
    const char *quantize;   /* --quantize int8: ... as an int8 net (with --calibrate N, --calibration, --float, --quantize-report) */
    const char *calibrate, *calibration, *float_layers, *report_images;
    bool quantize_report;
    bool out_dir_given;
    const char *output;     /* the trainer; default <out_dir>/<net> */
    const char *cc, *cflags;
    const Target *target; /* --isa */
    ReportFormat report_fmt;
    bool report_only, stop_at_c, quiet, no_winograd;
    bool dump_ast, dump_net, dump_plan, dump_quant;
} Options;

static void usage(FILE *f) {
    fprintf(f, "usage: netc [options] FILE.net\n"
               "\n"
               "Compiles a network description into a trainer: prints the shape report, writes\n"
               "generated/<net>.c and builds generated/<net> with the C compiler.\n"
               "\n"
               "  --report[=table|csv|json]  print the shape report and stop\n"
               "  -S                         stop after writing the C file\n"
               "  -o FILE                    the trainer's path (default generated/<net>)\n"
               "  --out-dir DIR              where the C file goes (default generated)\n"
               "  -q                         do not print the report\n"
               "  -d ast|net|plan|quant      print the state after that pass (repeatable; quant: with --quantize\n"
               "                             int8, every tensor's scale and zero point, every weight scale)\n"
               "  --isa ISA                  the trainer's instruction set: native (this machine's), avx2, avx512\n"
               "                             or aarch64 (cross-compiled); default %s. Its runtime is built by\n"
               "                             `make ISA=...` in netc's source tree\n"
               "  --cc CC                    C compiler (default $CC, else cc; aarch64-linux-gnu-gcc for aarch64)\n"
               "  --cflags FLAGS             replaces the optimisation flags (default -O3 and the ISA's -march)\n"
               "  --no-winograd              3x3 convolutions by im2col and sgemm, not Winograd's F(4x4, 3x3)\n"
               "  --deploy WEIGHTS           the net trained into WEIGHTS (a trainer's weights.safetensors) as\n"
               "                             one dependency-free C file: writes deploy/<net>/ (or --out-dir):\n"
               "                             <net>.h, <net>.c, predict.c and a Makefile\n"
               "  --weights-file             with --deploy: the weights in <net>.weights, loaded by the caller,\n"
               "                             not C arrays (for nets of many megabytes)\n"
               "  --quantize int8            with --deploy: int8 weights and activations, integer arithmetic\n"
               "                             inside the net; each tensor's range calibrated on training images\n"
               "  --calibrate N              ... on N of them (default 500), the same share of each class\n"
               "  --calibration METHOD       how a range is chosen from them: minmax (default), percentile\n"
               "                             (all but the rarest 0.01%%), mse (least squared error)\n"
               "  --float LAYER[,LAYER]      layers that stay float in an int8 net\n"
               "  --quantize-report          each layer's int8 output against float, on the validation images\n"
               "                             (or training images calibration did not use; --report-images N)\n"
               "  --version, --help\n",
            NETC_ISA);
}

/* A count option's value: a whole number from 1 to max, or -1 after saying what is wrong. */
static int count_option(const char *opt, const char *v, int max) {
    char *end;
    long n = v ? strtol(v, &end, 10) : 0;
    if (!v) return 0;
    if (*v && !*end && n >= 1 && n <= max) return (int)n;
    fprintf(stderr, "netc: %s %s: give a whole number of images from 1 to %d\n", opt, v, max);
    return -1;
}

/* --quantize and the options that go with it. */
static int check_quantize(const Options *o) {
    const char *lone = o->calibrate ? "--calibrate" : o->calibration ? "--calibration" : o->float_layers ? "--float"
                     : o->quantize_report ? "--quantize-report" : o->report_images ? "--report-images" : o->dump_quant ? "-d quant" : NULL;
    if (o->quantize && !o->deploy) {
        fprintf(stderr, "netc: --quantize goes with --deploy WEIGHTS\n  HINT: netc --deploy runs/NET/weights.safetensors --quantize int8 NET.net\n");
        return -1;
    }
    if (o->quantize && strcmp(o->quantize, "int8") != 0) {
        fprintf(stderr, "netc: --quantize %s: netc quantises to int8 only\n  HINT: --quantize int8\n", o->quantize);
        return -1;
    }
    if (lone && !o->quantize) {
        fprintf(stderr, "netc: %s goes with --quantize int8\n", lone);
        return -1;
    }
    if (o->calibration && strcmp(o->calibration, "minmax") && strcmp(o->calibration, "percentile") && strcmp(o->calibration, "mse")) {
        fprintf(stderr, "netc: --calibration %s: the methods are minmax, percentile and mse\n", o->calibration);
        return -1;
    }
    if (count_option("--calibrate", o->calibrate, 1000000) < 0 || count_option("--report-images", o->report_images, 1000000) < 0) return -1;
    return 0;
}

static int parse_options(int argc, char **argv, Options *o) {
    memset(o, 0, sizeof *o);
    o->out_dir = "generated";
    o->cc = getenv("CC") && getenv("CC")[0] ? getenv("CC") : NULL;
    const char *isa = NETC_ISA;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--version") == 0) {
            printf("netc %s\n", NETC_VERSION);
            exit(0);
        } else if (strcmp(a, "--report") == 0 || strcmp(a, "--report=table") == 0) {
            o->report_only = true, o->report_fmt = REPORT_TABLE;
        } else if (strcmp(a, "--report=csv") == 0) {
            o->report_only = true, o->report_fmt = REPORT_CSV;
        } else if (strcmp(a, "--report=json") == 0) {
            o->report_only = true, o->report_fmt = REPORT_JSON;
        } else if (strcmp(a, "-S") == 0) {
            o->stop_at_c = true;
        } else if (strcmp(a, "-q") == 0) {
            o->quiet = true;
        } else if (strcmp(a, "--no-winograd") == 0) {
            o->no_winograd = true;
        } else if (strcmp(a, "--weights-file") == 0) {
            o->weights_file = true;
        } else if (strcmp(a, "--quantize-report") == 0) {
            o->quantize_report = true;
        } else if ((strcmp(a, "-o") == 0 || strcmp(a, "--out-dir") == 0 || strcmp(a, "-d") == 0 || strcmp(a, "--cc") == 0 ||
                    strcmp(a, "--cflags") == 0 || strcmp(a, "--isa") == 0 || strcmp(a, "--deploy") == 0 || strcmp(a, "--quantize") == 0 ||
                    strcmp(a, "--calibrate") == 0 || strcmp(a, "--calibration") == 0 || strcmp(a, "--float") == 0 ||
                    strcmp(a, "--report-images") == 0)) {
            if (!next) {
                fprintf(stderr, "netc: %s needs a value\n", a);
                return -1;
            }
            i++;
            if (strcmp(a, "-o") == 0) o->output = next;
            else if (strcmp(a, "--out-dir") == 0) o->out_dir = next, o->out_dir_given = true;
            else if (strcmp(a, "--cc") == 0) o->cc = next;
            else if (strcmp(a, "--cflags") == 0) o->cflags = next;
            else if (strcmp(a, "--isa") == 0) isa = next;
            else if (strcmp(a, "--deploy") == 0) o->deploy = next;
            else if (strcmp(a, "--quantize") == 0) o->quantize = next;
            else if (strcmp(a, "--calibrate") == 0) o->calibrate = next;
            else if (strcmp(a, "--calibration") == 0) o->calibration = next;
            else if (strcmp(a, "--float") == 0) o->float_layers = next;
            else if (strcmp(a, "--report-images") == 0) o->report_images = next;
            else if (strcmp(next, "ast") == 0) o->dump_ast = true;
            else if (strcmp(next, "net") == 0) o->dump_net = true;
            else if (strcmp(next, "plan") == 0) o->dump_plan = true;
            else if (strcmp(next, "quant") == 0) o->dump_quant = true;
            else {
                fprintf(stderr, "netc: -d takes ast, net, plan or quant, not '%s'\n", next);
                return -1;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "netc: unknown option '%s'\n  HINT: netc --help lists the options\n", a);
            return -1;
        } else if (o->input) {
            fprintf(stderr, "netc: one .net file at a time ('%s' and '%s')\n", o->input, a);
            return -1;
        } else {
            o->input = a;
        }
    }
    if (!o->input) {
        usage(stderr);
        return -1;
    }
    if (o->weights_file && !o->deploy) {
        fprintf(stderr, "netc: --weights-file goes with --deploy WEIGHTS\n");
        return -1;
    }
    if (check_quantize(o) < 0) return -1;
    o->target = target_find(isa);
    if (!o->target) {
        fprintf(stderr, "netc: unknown ISA '%s'\n  HINT: --isa takes %s\n", isa, target_names());
        return -1;
    }
    if (!o->cc) o->cc = o->target->cc ? o->target->cc : "cc";
    if (!o->cflags) o->cflags = pool_printf("-O3 %s", o->target->march);
    return 0;
}

/* The runtime's headers and library for target t: in netc's source tree
 * (bin/netc or build-<isa>/bin/netc; runtime/, build/ or build-<isa>/), or
 * installed (bin/netc; include/netc, lib/netc or lib/netc/<isa>). $NETC_HOME
 * names the tree or prefix instead. */
static int find_runtime(const Target *t, char *inc, char *lib, size_t len) {
    char homes[2][PATH_MAX];
    int n_homes = 0;
    if (getenv("NETC_HOME")) {
        snprintf(homes[n_homes++], PATH_MAX, "%s", getenv("NETC_HOME"));
    } else {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0) return -1;
        exe[n] = 0;
        for (int up = 0; up < 3; up++) { /* .../bin/netc -> .../bin -> ... -> its parent */
            char *slash = strrchr(exe, '/');
            if (!slash) break;
            *slash = 0;
            if (up >= 1) snprintf(homes[n_homes++], PATH_MAX, "%s", exe[0] ? exe : "/");
        }
    }
    bool native = strcmp(t->name, "native") == 0;
    const char *layouts[][2] = {{"runtime", pool_printf("%s/libnetcrt.a", target_build_dir(t))},
                                {"include/netc", native ? "lib/netc/libnetcrt.a" : pool_printf("lib/netc/%s/libnetcrt.a", t->name)}};
    for (int h = 0; h < n_homes; h++)
        for (int i = 0; i < 2; i++) {
            struct stat st;
            if (snprintf(inc, len, "%s/%s", homes[h], layouts[i][0]) >= (int)len) return -1;
            if (snprintf(lib, len, "%s/%s", homes[h], layouts[i][1]) >= (int)len) return -1;
            if (stat(lib, &st) == 0 && stat(inc, &st) == 0) return 0;
        }
    return -1;
}

/* What else a trainer linking the runtime library lib must link, as the
 * Makefile wrote it beside the library (libnetcrt.libs: Open MPI's flags, or
 * nothing in a build without MPI); NULL with path set when it is missing, as
 * after `make build/libnetcrt.a` alone: linking without it would fail later
 * with the linker's undefined MPI symbols. */
static const char *runtime_libs(const char *lib, char *path, size_t len) {
    snprintf(path, len, "%.*s.libs", (int)(strlen(lib) - strlen(".a")), lib);
    Error e;
    char *text = read_file(path, NULL, &e);
    if (!text) return NULL;
    text[strcspn(text, "\n")] = 0;
    const char *libs = pool_strdup(text);
    free(text);
    return libs;
}

static int build_trainer(const Options *o, const char *c_file, const char *exe) {
    char inc[PATH_MAX], lib[PATH_MAX];
    const Target *t = o->target;
    if (find_runtime(t, inc, lib, sizeof inc) < 0) {
        fprintf(stderr, "netc: cannot find the training runtime for ISA %s (%s/libnetcrt.a)\n"
                        "  HINT: run `make%s` in netc's source tree, or set NETC_HOME to it\n",
                t->name, target_build_dir(t), strcmp(t->name, "native") ? pool_printf(" ISA=%s", t->name) : "");
        return -1;
    }
    char libs_path[PATH_MAX + 8];
    const char *libs = runtime_libs(lib, libs_path, sizeof libs_path);
    if (!libs) {
        fprintf(stderr, "netc: the training runtime for ISA %s is incomplete: %s is missing\n"
                        "  HINT: run `make%s` in netc's source tree (it writes the libraries a trainer links beside libnetcrt.a)\n",
                t->name, libs_path, strcmp(t->name, "native") ? pool_printf(" ISA=%s", t->name) : "");
        return -1;
    }
    const char *blas = pool_printf("/usr/lib/%s/openblas-openmp", t->triplet);
    char *cmd = pool_printf("%s %s -std=gnu11 -fopenmp -Wall -Wextra -I%s -I/usr/include/%s/openblas-openmp %s %s "
                            "-L%s -Wl,-rpath,%s -lopenblas %s -ljpeg -lpng -lm -o %s",
                            o->cc, o->cflags, inc, t->triplet, c_file, lib, blas, blas, libs, exe);
    printf("%s\n", cmd);
    fflush(stdout);
    double t0 = now_seconds();
    int rc = system(cmd);
    if (rc != 0) {
        fprintf(stderr, "netc: the C compiler failed (exit %d)\n"
                        "  HINT: this is a bug in netc if the .net file compiled; please report it with the file\n",
                WIFEXITED(rc) ? WEXITSTATUS(rc) : rc);
        return -1;
    }
    if (!o->quiet) printf("built %s in %.1f s\n", exe, now_seconds() - t0);
    return 0;
}

static int compile(const Options *o) {
    Error err;
    size_t len;
    struct stat st;
    if (stat(o->input, &st) == 0 && S_ISDIR(st.st_mode)) { /* read_file would only say "read error" */
        fprintf(stderr, "netc: %s is a folder, not a .net file\n", o->input);
        return 1;
    }
    char *text = read_file(o->input, &len, &err);
    if (!text) {
        fprintf(stderr, "netc: %s\n", err.msg);
        return 1;
    }
    int rc = 1;
    Ast ast;
    Net net;
    if (parse_net(o->input, text, len, &ast) < 0) goto out;
    if (o->dump_ast) ast_dump(&ast, stdout);
    if (elab_net(&ast, &net) < 0) goto out;
    if (shape_net(&net) < 0) goto out;
    if (o->dump_net) dump_net(&net, stdout); /* after the shape pass, so it shows the sizes */
    if (check_data(&net) < 0) goto out;
    if (check_pretrained(&net) < 0) goto out;
    if (!o->quiet || o->report_only) report_net(&net, o->report_fmt, stdout);
    if (o->report_only) {
        rc = 0;
        goto out;
    }
    net.no_winograd = o->no_winograd;
    net.vector_floats = o->target->vector_floats;
    plan_net(&net);
    if (o->dump_plan) dump_net(&net, stdout);
    if (o->deploy) {
        DeployOptions d = {.weights = o->deploy, .out_dir = o->out_dir_given ? o->out_dir : NULL, .weights_file = o->weights_file,
                           .quiet = o->quiet, .int8 = o->quantize != NULL};
        d.calibrate = count_option("--calibrate", o->calibrate, 1000000);
        d.report_images = count_option("--report-images", o->report_images, 1000000);
        d.calibration = o->calibration, d.float_layers = o->float_layers, d.quantize_report = o->quantize_report;
        d.dump_quant = o->dump_quant;
        d.cc = o->target->cc && o->cc == o->target->cc ? NULL : o->cc; /* the calibration program runs here */
        rc = deploy_net(&net, &d) < 0 ? 1 : 0;
        goto out;
    }

    if (make_dirs(o->out_dir, &err) < 0) {
        fprintf(stderr, "netc: %s\n", err.msg);
        goto out;
    }
    char *c_file = pool_printf("%s/%s.c", o->out_dir, net.name);
    char *tmp = pool_printf("%s.tmp", c_file);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "netc: cannot write %s: %s\n", tmp, strerror(errno));
        goto out;
    }
    int emitted = emit_net(&net, f);
    if (fclose(f) != 0 || emitted < 0 || rename(tmp, c_file) != 0) {
        fprintf(stderr, "netc: cannot write %s: %s\n", c_file, strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (!o->quiet) printf("\nwrote %s\n", c_file);
    if (o->stop_at_c) {
        rc = 0;
        goto out;
    }
    const char *exe = o->output ? o->output : pool_printf("%s/%s", o->out_dir, net.name);
    rc = build_trainer(o, c_file, exe) < 0 ? 1 : 0;
out:
    free(text);
    pool_free_all();
    return rc;
}

int main(int argc, char **argv) {
    Options o;
    if (parse_options(argc, argv, &o) < 0) return 2;
    return compile(&o);
}
