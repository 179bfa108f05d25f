/* test_get_data.c: data/get_15scene.sh making the standard split itself.
 *
 * A fake download of the published set, as it unpacks: one folder holding a
 * folder of JPEGs per category, named as in the original release
 * (bedroom, MITcoast, CALsuburb), plus a stray text file. The script, run on
 * it with SCENE15_DIR (and SCENE15_DEST, so the repository's data/ is left
 * alone), must:
 *   - make train/ and test/ with the categories named in lower case without
 *     the MIT/CAL prefixes, 100 images of each in train/ and the rest in
 *     test/, every image of the download exactly once;
 *   - choose by the images themselves: a copy of the download with every
 *     file renamed gives the same images in train/;
 *   - name the file it leaves out, say "(already)" when run again, and give
 *     a set the trainer's loader reads;
 *   - refuse a category of 100 images or fewer, making nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "report/harness.h"

#include <cmocka.h>

#include <dirent.h>

#include "data.h"

#define root tmp_root /* the harness's fresh folder, made without its data set */
static const char *const folders[] = {"bedroom", "MITcoast", "CALsuburb"};
static const char *const categories[] = {"bedroom", "coast", "suburb"};
static const int counts[] = {101, 103, 102};

/* A 12x12 JPEG whose pixels depend on (k, i): no two images alike. */
static void write_image(const char *p, int k, int i) {
    uint8_t px[12 * 12 * 3];
    for (int j = 0; j < 12 * 12 * 3; j++) px[j] = (uint8_t)((j * (k + 3) + i * 37 + (j / 3) * i) % 251);
    size_t len;
    uint8_t *jpg = jpeg_encode(px, 12, 12, 3, 90, &len);
    write_bytes(p, jpg, len);
    free(jpg);
}

/* <dir>/scene_categories/<folder>/<name>: names image_0001.jpg ..., or
 * renamed ones (x<reversed number>.jpg), the same bytes either way. */
static void make_download(const char *dir_arg, int renamed, int short_class) {
    char dir[512]; /* fmt()'s buffers are reused */
    snprintf(dir, sizeof dir, "%s", dir_arg);
    Error e;
    for (int k = 0; k < 3; k++) {
        const char *d = fmt("%s/scene_categories/%s", dir, folders[k]);
        char dcopy[1024];
        snprintf(dcopy, sizeof dcopy, "%s", d);
        if (make_dirs(dcopy, &e) < 0) fail_msg("%s", e.msg);
        int n = k == short_class ? 100 : counts[k];
        for (int i = n; i >= 1; i--) /* created in reverse: order on disk means nothing */
            write_image(renamed ? fmt("%s/x%04d.jpg", dcopy, 9999 - i) : fmt("%s/image_%04d.jpg", dcopy, i), k, i);
    }
    write_bytes(fmt("%s/scene_categories/MITcoast/notes.txt", dir), "hi\n", 3);
}

static int run_script(const char *download, const char *dest, const char *log) {
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "SCENE15_DIR='%s' SCENE15_DEST='%s' data/get_15scene.sh > '%s/%s.out' 2> '%s/%s.err'", download, dest,
             root, log, root, log);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* The visible files of a folder. */
static int count_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *de; (de = readdir(d));) n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

/* FNV-1a of a file's bytes. */
static uint64_t file_hash(const char *p) {
    Error e;
    size_t len;
    char *s = read_file(p, &len, &e);
    assert_non_null(s);
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    free(s);
    return h;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorted content hashes of the files in dir; returns how many. */
static int hashes(const char *dir, uint64_t *out, int max) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", dir);
    for (struct dirent *de; (de = readdir(d)) && n < max;)
        if (de->d_name[0] != '.') out[n++] = file_hash(fmt("%s/%s", copy, de->d_name));
    closedir(d);
    qsort(out, (size_t)n, sizeof *out, cmp_u64);
    return n;
}

static int setup(void **state) {
    (void)state;
    snprintf(tmp_root, sizeof tmp_root, "/tmp/netc_test_get_data_XXXXXX");
    return mkdtemp(tmp_root) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    harness_cleanup();
    return 0;
}

static void standard_split_of_a_download(void **state) {
    (void)state;
    make_download(fmt("%s/dl", root), 0, -1);
    const char *dest = fmt("%s/set", root);
    char dest_copy[1024];
    snprintf(dest_copy, sizeof dest_copy, "%s", dest);
    assert_int_equal(run_script(fmt("%s/dl", root), dest_copy, "split"), 0);
    char *out = slurp(fmt("%s/split.out", root), NULL), *err = slurp(fmt("%s/split.err", root), NULL);
    print_message("%s%s", out, err);
    assert_non_null(strstr(out, "the standard split of "));
    assert_non_null(strstr(out, "3 categories, 300 training and 6 test images"));
    assert_non_null(strstr(err, "scene_categories/MITcoast/notes.txt: not a .jpg, .jpeg or .png image; left out"));
    free(out), free(err);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(count_files(fmt("%s/train/%s", dest_copy, categories[k])), 100);
        assert_int_equal(count_files(fmt("%s/test/%s", dest_copy, categories[k])), counts[k] - 100);
        /* every image once: the two parts' names are the download's, none twice */
        for (int i = 1; i <= counts[k]; i++) {
            const char *name = fmt("image_%04d.jpg", i);
            struct stat st;
            int in_train = stat(fmt("%s/train/%s/%s", dest_copy, categories[k], name), &st) == 0;
            int in_test = stat(fmt("%s/test/%s/%s", dest_copy, categories[k], name), &st) == 0;
            assert_int_equal(in_train + in_test, 1);
        }
    }
    /* the trainer reads it */
    Dataset ds;
    Error e;
    if (dataset_load(&ds, dest_copy, "train", 12, 12, 3, NULL, 0, 1, &e) < 0) fail_msg("%s", e.msg);
    assert_int_equal(ds.n, 300);
    assert_int_equal(ds.n_classes, 3);
    assert_string_equal(ds.class_names[1], "coast");
    dataset_free(&ds);
    /* again: nothing to do */
    assert_int_equal(run_script(fmt("%s/dl", root), dest_copy, "again"), 0);
    out = slurp(fmt("%s/again.out", root), NULL);
    assert_non_null(strstr(out, "(already)"));
    free(out);

    /* the same images under other names: the same images train */
    make_download(fmt("%s/dl_renamed", root), 1, -1);
    const char *dest2 = fmt("%s/set_renamed", root);
    char dest2_copy[1024];
    snprintf(dest2_copy, sizeof dest2_copy, "%s", dest2);
    assert_int_equal(run_script(fmt("%s/dl_renamed", root), dest2_copy, "renamed"), 0);
    for (int k = 0; k < 3; k++) {
        uint64_t a[128], b[128];
        assert_int_equal(hashes(fmt("%s/train/%s", dest_copy, categories[k]), a, 128), 100);
        assert_int_equal(hashes(fmt("%s/train/%s", dest2_copy, categories[k]), b, 128), 100);
        assert_memory_equal(a, b, sizeof(uint64_t) * 100);
    }
}

static void too_few_images_refused(void **state) {
    (void)state;
    make_download(fmt("%s/dl_short", root), 0, 2);
    const char *dest = fmt("%s/set_short", root);
    char dest_copy[1024];
    snprintf(dest_copy, sizeof dest_copy, "%s", dest);
    assert_int_equal(run_script(fmt("%s/dl_short", root), dest_copy, "short"), 1);
    char *err = slurp(fmt("%s/short.err", root), NULL);
    print_message("%s", err);
    assert_non_null(strstr(err, "category CALsuburb ("));
    assert_non_null(strstr(err, "has 100 images; the standard split trains on 100 of each and tests on the rest"));
    free(err);
    struct stat st;
    assert_int_not_equal(stat(dest_copy, &st), 0); /* nothing made */
    assert_int_equal(system(fmt("ls -A '%s' | grep -q 15scene.tmp", root)) == 0, 0); /* and nothing left aside */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(standard_split_of_a_download),
        cmocka_unit_test(too_few_images_refused),
    };
    return cmocka_run_group_tests_name("data/get_15scene.sh", tests, setup, teardown);
}
