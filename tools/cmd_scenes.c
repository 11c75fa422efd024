/* edgemoe scenes: writes generated street scenes in the dataset layout
 * (docs/scenes.md, docs/dataset.md).
 *
 *   edgemoe scenes --out DIR [--count N] [--split train|val] [--seed S]
 *                  [--size WxH] [--start K] [--threads T]
 *
 * For i in K..K+N-1: DIR/<split>/image/<i>.npy (H x W x 3, v/255),
 * label_7/<i>.npy (H x W, class id or -1), depth/<i>.npy (H x W x 1 metres,
 * 0 invalid), preview/<i>.png (image | classes | depth 0..80 m).  Every
 * argument is checked before anything is written, and so is every target:
 * a file that already exists (another dataset, e.g. the real Cityscapes
 * data, or an earlier run) is never overwritten unless --overwrite is given.
 * Every file is written under a temporary name and renamed; on a failure
 * the files and directories this run created are removed.  Scenes are
 * rendered on T threads; each file depends on its index only, so the bytes
 * do not depend on T. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "edgemoe.h"
#include "data/npy.h"
#include "util.h"
#include "image/image.h"
#include "cli.h"
#include "outputs.h"

#define PREVIEW_DEPTH_MAX 80.0f

static void scenes_usage(FILE *f) {
    fputs("usage: edgemoe scenes --out DIR [--count N] [--split train|val] [--seed S] [--size WxH]\n"
          "                      [--start K] [--threads T] [--overwrite]\n"
          "Writes generated street scenes K..K+N-1 in the dataset layout (docs/scenes.md):\n"
          "DIR/<split>/{image,label_7,depth}/<i>.npy and preview/<i>.png.\n"
          "Defaults: --count 100 --split train --seed 1 --size 256x128 --start 0 --threads all cores.\n"
          "Existing files are never overwritten unless --overwrite is given.\n"
          "       edgemoe scenes --sequence N --out FILE.y4m|- [--seed S] [--size WxH] [--fps F] [--labels]\n"
          "A drive down generated streets as YUV4MPEG2 video (docs/video.md).\n", f);
}

static int parse_u64(const char *opt, const char *s, uint64_t max, uint64_t *out) {
    if (!s[0] || s[0] == '-' || s[0] == '+') return em_cli_die("%s: '%s' is not a non-negative integer", opt, s);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno || v > max) return em_cli_die("%s: '%s' is not an integer in 0..%llu", opt, s, (unsigned long long)max);
    *out = v;
    return 0;
}

typedef struct {
    char dir[1024];     /* DIR/<split> */
    uint64_t seed, start, count;
    int split, w, h;
    atomic_ullong next; /* next index offset to render */
    atomic_ullong done;
    atomic_int failed;
    unsigned char *created; /* [count] 1: this run created the index's files */
    char errmsg[EM_ERR_LEN + 64];
    pthread_mutex_t lock;
    int bar;
    double t0;
} job;

static void path_of(const job *J, const char *kind, uint64_t i, const char *ext, char *out, size_t n) {
    snprintf(out, n, "%s/%s/%llu.%s", J->dir, kind, (unsigned long long)i, ext);
}

static int write_scene(job *J, uint64_t i, uint8_t *rgb, int8_t *label, float *depth, float *f, uint8_t *prev, em_err *err) {
    const int W = J->w, H = J->h, n = W * H;
    int rc = em_scene_render(J->seed, J->split, i, W, H, rgb, label, depth, err);
    if (rc) return rc;
    char path[1200];
    struct stat st;
    path_of(J, "image", i, "npy", path, sizeof path);
    if (stat(path, &st) != 0) J->created[i - J->start] = 1;
    for (int k = 0; k < 3 * n; k++) f[k] = (float)rgb[k] / 255.0f;
    int shape[3] = {H, W, 3};
    path_of(J, "image", i, "npy", path, sizeof path);
    if ((rc = em_npy_write_f32(path, f, 3, shape, err))) return rc;
    for (int k = 0; k < n; k++) f[k] = (float)label[k];
    path_of(J, "label_7", i, "npy", path, sizeof path);
    if ((rc = em_npy_write_f32(path, f, 2, shape, err))) return rc;
    int dshape[3] = {H, W, 1};
    path_of(J, "depth", i, "npy", path, sizeof path);
    if ((rc = em_npy_write_f32(path, depth, 3, dshape, err))) return rc;
    /* preview: image | classes | depth, side by side; ignore and invalid black */
    uint8_t *cls = (uint8_t *)f, *crgb = (uint8_t *)(f + n), *drgb = crgb + 3 * n;
    for (int k = 0; k < n; k++) cls[k] = label[k] < 0 ? 0 : (uint8_t)label[k];
    em_colormap_classes(cls, n, crgb);
    em_colormap_depth(depth, n, 0.0f, PREVIEW_DEPTH_MAX, drgb);
    for (int k = 0; k < n; k++) {
        if (label[k] < 0) memset(crgb + 3 * k, 0, 3);
        if (!(depth[k] > 0)) memset(drgb + 3 * k, 0, 3);
    }
    for (int y = 0; y < H; y++) {
        memcpy(prev + ((size_t)y * 3 * W) * 3, rgb + (size_t)y * W * 3, (size_t)W * 3);
        memcpy(prev + ((size_t)y * 3 * W + W) * 3, crgb + (size_t)y * W * 3, (size_t)W * 3);
        memcpy(prev + ((size_t)y * 3 * W + 2 * W) * 3, drgb + (size_t)y * W * 3, (size_t)W * 3);
    }
    path_of(J, "preview", i, "png", path, sizeof path);
    return em_png_write_rgb8(path, prev, 3 * W, H, err);
}

static atomic_int g_signal;  /* SIGINT / SIGTERM / SIGHUP received */
static void on_signal(int sig) { atomic_store(&g_signal, sig); }

static void progress(job *J, uint64_t done) {
    double ms = em_now_ms() - J->t0;
    fprintf(stderr, "\rscenes %llu/%llu  %.0f scenes/s", (unsigned long long)done, (unsigned long long)J->count,
            ms > 0 ? (double)done * 1000.0 / ms : 0.0);
    if (done == J->count) fputc('\n', stderr);
    fflush(stderr);
}

static void *worker(void *arg) {
    job *J = arg;
    const size_t n = (size_t)J->w * J->h;
    uint8_t *rgb = malloc(3 * n), *prev = malloc(9 * n);
    int8_t *label = malloc(n);
    float *depth = malloc(4 * n), *f = malloc(4 * 3 * n + 16);  /* f also holds the preview colour maps */
    if (!rgb || !prev || !label || !depth || !f) {
        pthread_mutex_lock(&J->lock);
        if (!atomic_exchange(&J->failed, 1)) snprintf(J->errmsg, sizeof J->errmsg, "scenes: out of memory");
        pthread_mutex_unlock(&J->lock);
    }
    while (!atomic_load(&J->failed) && !atomic_load(&g_signal)) {  /* a signal: finish this scene, take no more */
        uint64_t k = atomic_fetch_add(&J->next, 1);
        if (k >= J->count) break;
        em_err err;
        if (write_scene(J, J->start + k, rgb, label, depth, f, prev, &err)) {
            pthread_mutex_lock(&J->lock);
            if (!atomic_exchange(&J->failed, 1)) snprintf(J->errmsg, sizeof J->errmsg, "%s", err.msg);
            pthread_mutex_unlock(&J->lock);
            break;
        }
        uint64_t d = atomic_fetch_add(&J->done, 1) + 1;
        if (J->bar && (d % 64 == 0 || d == J->count)) {
            pthread_mutex_lock(&J->lock);
            progress(J, d);
            pthread_mutex_unlock(&J->lock);
        }
    }
    free(rgb); free(prev); free(label); free(depth); free(f);
    return NULL;
}

int em_cmd_scenes(int argc, char **argv) {
    const char *out = NULL, *split_name = "train";
    uint64_t count = 100, seed = 1, start = 0;
    int threads = 0;
    int w = 256, h = 128, overwrite = 0;
    for (int i = 0; i < argc; i++)  /* a drive as video: tools/cmd_video.c */
        if (!strcmp(argv[i], "--sequence")) return em_cmd_scenes_sequence(argc, argv);
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) { scenes_usage(stdout); return 0; }
        if (strncmp(o, "--", 2) || !strcmp(o, "--")) return em_cli_die("scenes: unexpected argument '%s' (see edgemoe scenes --help)", o);
        if (!strcmp(o, "--overwrite")) { overwrite = 1; continue; }
        int known = !strcmp(o, "--out") || !strcmp(o, "--count") || !strcmp(o, "--split") || !strcmp(o, "--seed") ||
                    !strcmp(o, "--size") || !strcmp(o, "--start") || !strcmp(o, "--threads");
        if (!known) return em_cli_die("scenes: unknown option '%s' (see edgemoe scenes --help)", o);
        if (i + 1 >= argc) return em_cli_die("%s needs a value", o);
        const char *v = argv[++i];
        if (!strcmp(o, "--out")) { if (!v[0]) return em_cli_die("--out: empty directory name"); out = v; }
        else if (!strcmp(o, "--split")) {
            if (strcmp(v, "train") && strcmp(v, "val")) return em_cli_die("--split: '%s' is neither train nor val", v);
            split_name = v;
        } else if (!strcmp(o, "--count")) {
            long n;
            if (em_cli_int(o, v, 0, 10000000L, &n)) return 1;
            count = (uint64_t)n;
            if (count == 0) return em_cli_die("--count: must be at least 1");
        } else if (!strcmp(o, "--seed")) { if (parse_u64(o, v, UINT64_MAX, &seed)) return 1; }
        else if (!strcmp(o, "--start")) { long k; if (em_cli_int(o, v, 0, 1000000000000L, &k)) return 1; start = (uint64_t)k; }
        else if (!strcmp(o, "--threads")) { if (em_cli_threads(o, v, &threads)) return 1; }
        else {
            char *e1, *e2;
            long a = strtol(v, &e1, 10), b = *e1 == 'x' ? strtol(e1 + 1, &e2, 10) : 0;
            if (*e1 != 'x' || e1 == v || *e2 || e2 == e1 + 1 || a < 16 || b < 16 || a > 4096 || b > 4096)
                return em_cli_die("--size: '%s' is not WxH with 16 <= W, H <= 4096", v);
            w = (int)a; h = (int)b;
        }
    }
    if (!out) return em_cli_die("scenes: --out DIR is required");
    if (strlen(out) > 900) return em_cli_die("--out: path too long");
    struct stat st;
    if (stat(out, &st) == 0 && !S_ISDIR(st.st_mode)) return em_cli_die("--out: '%s' exists and is not a directory", out);

    job *J = calloc(1, sizeof *J);
    if (!J) return em_cli_die("scenes: out of memory");
    snprintf(J->dir, sizeof J->dir, "%s/%s", out, split_name);
    J->seed = seed; J->start = start; J->count = count;
    J->split = strcmp(split_name, "val") ? EM_SPLIT_TRAIN : EM_SPLIT_VAL;
    J->w = w; J->h = h;
    J->created = calloc(count, 1);
    if (!J->created) { free(J); return em_cli_die("scenes: out of memory"); }
    const char *kinds[4] = {"image", "label_7", "depth", "preview"};
    for (uint64_t k = 0; !overwrite && k < count; k++)
        for (int q = 0; q < 4; q++) {
            char path[1200];
            path_of(J, kinds[q], start + k, q == 3 ? "png" : "npy", path, sizeof path);
            if (lstat(path, &st) == 0) {
                free(J->created); free(J);
                return em_cli_die("%s exists: scenes never overwrites files (another --out or --start, or --overwrite)", path);
            }
        }
    pthread_mutex_init(&J->lock, NULL);
    for (int k = 0; k < 4; k++) {
        char d[1200];
        em_err err;
        snprintf(d, sizeof d, "%s/%s", J->dir, kinds[k]);
        if (em_out_mkdir(d, &err)) { free(J->created); free(J); return em_cli_die("%s", err.msg); }
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int nt = threads ? (int)threads : (ncpu > 0 ? (int)ncpu : 1);
    if ((uint64_t)nt > count) nt = (int)count;
    J->bar = isatty(2);
    J->t0 = em_now_ms();
    /* a signal lets every worker finish the scene it is writing, so that no
     * scene is left with some of its files (docs/safety.md) */
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;  /* a write in progress completes instead of failing with EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    pthread_t tid[1024];
    int started = 0;
    for (int t = 1; t < nt; t++) {
        if (pthread_create(&tid[t], NULL, worker, J)) break;
        started = t;
    }
    worker(J);
    for (int t = 1; t <= started; t++) pthread_join(tid[t], NULL);
    if (atomic_load(&J->failed)) {
        /* remove the files this run created (indices taken by a worker, new) */
        uint64_t taken = atomic_load(&J->next);
        for (uint64_t k = 0; k < count && k < taken; k++) {
            char path[1200];
            if (!J->created[k]) continue;
            for (int q = 0; q < 4; q++) {
                path_of(J, kinds[q], start + k, q == 3 ? "png" : "npy", path, sizeof path);
                unlink(path);
            }
        }
        char msg[sizeof J->errmsg];
        memcpy(msg, J->errmsg, sizeof msg);
        pthread_mutex_destroy(&J->lock);
        free(J->created);
        free(J);
        return em_cli_die("%s", msg);  /* also removes the directories this run made */
    }
    uint64_t done = atomic_load(&J->done);
    pthread_mutex_destroy(&J->lock);
    free(J->created);
    free(J);
    em_err err;
    if (em_out_commit(&err)) return em_cli_die("%s", err.msg);
    int sig = atomic_load(&g_signal);
    if (sig) {
        fprintf(stderr, "\nedgemoe: scenes: interrupted after %llu whole scenes of %llu; none is partly written\n",
                (unsigned long long)done, (unsigned long long)count);
        return 128 + sig;
    }
    return 0;
}
