/* edgemoe: command-line front end.
 *
 *   edgemoe run --model PATH --image PATH [--image PATH ...] [--task semseg|depth|all]
 *               [--engine ref|fast|fixed|hw] [--out DIR] [--features FILE] [--logits FILE]
 *               [--routing FILE] [--threads N] [--json]
 *   edgemoe convert MODEL OUT.safetensors
 *   edgemoe sample-image [--scene K] OUT.png
 *
 * Every failure prints one line "edgemoe: ..." on stderr, exits non-zero and
 * removes any output file this run already wrote. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "edgemoe.h"
#include "util.h"
#include "eval/metrics.h"
#include "image/image.h"
#include "video/video.h"
#include "cli.h"
#include "outputs.h"
#include "eval_run.h"

int em_cli_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0) msg = NULL;
    va_end(ap);
    fputs("edgemoe: ", stderr);
    em_cli_put_escaped(stderr, msg ? msg : "out of memory formatting an error message");
    fputc('\n', stderr);
    free(msg);
    em_out_abort();
    return 1;
}

/* One raw output file, staged until the run succeeds (tools/outputs.h). */
static int write_file(const char *path, const void *data, size_t bytes, em_err *err) {
    const char *stage = em_out_stage(path, err);
    if (!stage) return EM_EARG;
    FILE *f = fopen(stage, "wb");  /* the staging file is this run's own */
    if (!f) return em_error(err, EM_EIO, "%s: cannot write (%s)", path, strerror(errno));
    int bad = fwrite(data, 1, bytes, f) != bytes;
    if (fclose(f) != 0) bad = 1;
    return bad ? em_error(err, EM_EIO, "%s: write failed (%s)", path, strerror(errno)) : EM_OK;
}

/* A PNG output, staged likewise. */
typedef int (*png_writer)(const char *path, const void *px, int w, int h, em_err *err);
static int write_png(png_writer wr, const char *path, const void *px, int w, int h, em_err *err) {
    const char *stage = em_out_stage(path, err);
    return stage ? wr(stage, px, w, h, err) : EM_EARG;
}
static int png_rgb8(const char *p, const void *px, int w, int h, em_err *e) { return em_png_write_rgb8(p, px, w, h, e); }
static int png_gray8(const char *p, const void *px, int w, int h, em_err *e) { return em_png_write_gray8(p, px, w, h, e); }
static int png_gray16(const char *p, const void *px, int w, int h, em_err *e) { return em_png_write_gray16(p, px, w, h, e); }

/* ---- option parsing ---- */
typedef struct {
    const char *model, *task, *engine, *out_dir, *features, *logits, *routing, *formats;
    const char **images;
    int n_images, threads, json;
} run_args;

static const char *basename_of(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* image stem: basename without extension(s) such as .png or .float32.bin */
static void stem_of(const char *path, char *out, size_t n) {
    snprintf(out, n, "%s", basename_of(path));
    const char *exts[] = {".float32.bin", ".bin", ".png", ".jpg", ".jpeg", ".PNG", ".JPG", ".JPEG"};
    size_t len = strlen(out);
    for (size_t i = 0; i < sizeof exts / sizeof *exts; i++) {
        size_t el = strlen(exts[i]);
        if (len > el && strcmp(out + len - el, exts[i]) == 0) { out[len - el] = 0; return; }
    }
}

static int is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot || name[0] == '.') return 0;
    return !strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") ||
           !strcasecmp(dot, ".bin");
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Appends a copy of path to list; 0 on success. */
static int list_push(char ***list, int *n, const char *path) {
    char **l = realloc(*list, (size_t)(*n + 1) * sizeof *l);
    if (!l) return -1;
    *list = l;
    if (!(l[*n] = strdup(path))) return -1;
    (*n)++;
    return 0;
}

/* Expands directories into their image files (sorted). */
static int expand_images(run_args *a, char ***out, int *n_out) {
    char **list = NULL;
    int n = 0;
    *out = NULL; *n_out = 0;
    for (int i = 0; i < a->n_images; i++) {
        struct stat st;
        if (stat(a->images[i], &st) != 0) return em_cli_die("%s: cannot open image (%s)", a->images[i], strerror(errno));
        if (!S_ISDIR(st.st_mode)) {
            if (list_push(&list, &n, a->images[i])) return em_cli_die("out of memory");
            *out = list; *n_out = n;
            continue;
        }
        DIR *d = opendir(a->images[i]);
        if (!d) return em_cli_die("%s: cannot read directory (%s)", a->images[i], strerror(errno));
        struct dirent *de;
        int start = n;
        while ((de = readdir(d))) {
            if (!is_image_name(de->d_name)) continue;
            char *path = em_strfmt("%s/%s", a->images[i], de->d_name);
            int bad = !path || list_push(&list, &n, path);
            free(path);
            if (bad) { closedir(d); return em_cli_die("out of memory"); }
            *out = list; *n_out = n;  /* the caller frees what was listed, also on failure */
        }
        closedir(d);
        if (n == start) return em_cli_die("%s: no .png, .jpg or .bin images in directory", a->images[i]);
        qsort(list + start, (size_t)(n - start), sizeof *list, cmp_str);
    }
    *out = list; *n_out = n;
    return 0;
}

/* FILE as given for one (image, task); otherwise FILE with ".<stem>.<task>"
 * inserted before its extension.  On the heap (NULL: out of memory). */
static char *output_name(const char *file, int unique, const char *stem, const char *task) {
    if (!unique) return strdup(file);
    char *suffix = em_strfmt("%s.%s", stem, task);
    char *name = suffix ? em_cli_suffixed(file, suffix) : NULL;
    free(suffix);
    return name;
}

/* One output named by the run: raw bytes under FILE's name for (image, task). */
static int write_named(const char *file, int unique, const char *stem, const char *task, const void *data,
                       size_t bytes, em_err *err) {
    char *path = output_name(file, unique, stem, task);
    if (!path) return em_error(err, EM_ENOMEM, "out of memory");
    int rc = write_file(path, data, bytes, err);
    free(path);
    return rc;
}

/* A PNG in the --out directory: DIR/<stem>_<suffix>.png */
static int write_out_png(png_writer wr, const char *dir, const char *stem, const char *suffix, const void *px, int w,
                         int h, em_err *err) {
    char *path = em_strfmt("%s/%s_%s.png", dir, stem, suffix);
    if (!path) return em_error(err, EM_ENOMEM, "out of memory");
    int rc = write_png(wr, path, px, w, h, err);
    free(path);
    return rc;
}


/* ---- outputs ---- */

/* The PNGs of one task in the --out directory.  Classes: argmax into cls
 * (kept for the panel), the colour map and the raw ids; a dense map: the
 * colour map over the image's range and 16-bit millimetres. */
static int write_pngs(const em_config *c, int task, const float *logits, const char *dir, const char *stem,
                      uint8_t *rgb, uint8_t *cls, uint16_t *d16, em_err *err) {
    int W = c->img_w, H = c->img_h, C = c->task_channels[task];
    size_t HW = (size_t)W * H;
    const char *tn = c->task_name[task];
    char suffix[EM_NAME_LEN + 16];
    int rc;
    if (C > 1) {
        em_seg_argmax(logits, C, HW, cls);
        em_colormap_classes(cls, (int)HW, rgb);
        if ((rc = write_out_png(png_rgb8, dir, stem, tn, rgb, W, H, err))) return rc;
        snprintf(suffix, sizeof suffix, "%s_classes", tn);
        return write_out_png(png_gray8, dir, stem, suffix, cls, W, H, err);
    }
    float lo = logits[0], hi = logits[0];
    for (size_t i = 1; i < HW; i++) { if (logits[i] < lo) lo = logits[i]; if (logits[i] > hi) hi = logits[i]; }
    em_colormap_depth(logits, (int)HW, lo, hi, rgb);
    if ((rc = write_out_png(png_rgb8, dir, stem, tn, rgb, W, H, err))) return rc;
    for (size_t i = 0; i < HW; i++) {
        double mm = floor(logits[i] * 1000.0 + 0.5);
        d16[i] = (uint16_t)(!(mm > 0) ? 0 : mm > 65535 ? 65535 : mm);  /* NaN-safe clamp before the cast */
    }
    snprintf(suffix, sizeof suffix, "%s16", tn);
    return write_out_png(png_gray16, dir, stem, suffix, d16, W, H, err);
}

/* The picture a person understands at a glance: input | class overlay with
 * its legend (classes: the first class task's argmax, or NULL) | depth on a
 * fixed 0..80 m scale, and a line of facts. */
static int write_panel(const em_config *c, em_session *s, unsigned mask, const float *img, const char *dir,
                       const char *stem, const char *engine, const char *model, uint8_t *frame,
                       const em_frame_layout *L, uint8_t *in_rgb, const uint8_t *classes, em_err *err) {
    const size_t HW = (size_t)c->img_h * c->img_w;
    for (size_t i = 0; i < HW; i++)
        for (int k = 0; k < 3; k++) {
            float v = img[k * HW + i] * 256.0f + 0.5f;  /* the model's v/256 back to v */
            in_rgb[3 * i + k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    const float *depth = NULL;
    double ms = 0;
    for (int t = 0; t < c->n_tasks; t++) {
        if (!(mask >> t & 1)) continue;
        const em_task_output *o = em_session_output(s, t);
        ms += o->total_ms;
        if (c->task_channels[t] == 1 && !depth) depth = o->logits;
    }
    char hud[EM_HUD_LINES][EM_HUD_CHARS] = {{0}};
    const char *mb = strrchr(model, '/');
    snprintf(hud[0], EM_HUD_CHARS, "edgemoe  %.50s", mb ? mb + 1 : model);
    snprintf(hud[1], EM_HUD_CHARS, "%s engine  %.1f ms", engine, ms);
    em_frame_compose(L, in_rgb, classes, depth, (const char (*)[EM_HUD_CHARS])hud, frame);
    return write_out_png(png_rgb8, dir, stem, "panel", frame, L->W, L->H, err);
}

static void print_json(const em_config *c, const char *image, int task, const char *engine, const char *model,
                       const em_task_output *o) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "image", image);
    cJSON_AddStringToObject(j, "task", c->task_name[task]);
    cJSON_AddStringToObject(j, "engine", engine);
    cJSON_AddStringToObject(j, "model", model);
    cJSON *tm = cJSON_AddObjectToObject(j, "timings");
    cJSON_AddNumberToObject(tm, "backbone_ms", o->backbone_ms);
    cJSON_AddNumberToObject(tm, "head_ms", o->head_ms);
    cJSON_AddNumberToObject(tm, "total_ms", o->total_ms);
    cJSON_AddNumberToObject(tm, "shared_prefix_ms", o->shared_ms);
    cJSON *moe = cJSON_AddArrayToObject(j, "moe");
    int Lm = 0;
    for (int L = 0; L < c->depth; L++) {
        if (!em_is_moe(c, L)) continue;
        const int32_t *cnt = o->expert_tokens + (size_t)Lm++ * c->n_experts;
        cJSON *l = cJSON_CreateObject();
        cJSON_AddNumberToObject(l, "layer", L);
        cJSON *ex = cJSON_AddArrayToObject(l, "experts");
        int used = 0;
        for (int e = 0; e < c->n_experts; e++) {
            if (!cnt[e]) continue;
            cJSON *p = cJSON_CreateObject();
            cJSON_AddNumberToObject(p, "id", e);
            cJSON_AddNumberToObject(p, "tokens", cnt[e]);
            cJSON_AddItemToArray(ex, p);
            used++;
        }
        cJSON_AddNumberToObject(l, "experts_used", used);
        cJSON_AddItemToArray(moe, l);
    }
    em_cli_print_json(j);
}

static void usage(FILE *f) {
    fputs("usage:\n"
          "  edgemoe run [--model DIR|FILE.safetensors|synthetic] --image PATH [--image PATH ...]\n"
          "              [--task NAME|all] [--engine ref|fast|fixed|hw] [--out DIR]\n"
          "              [--features FILE] [--logits FILE] [--routing FILE] [--threads N] [--json]\n"
          "              [--formats PRESET|FILE.json]   (fixed, hw: the datapath's number formats)\n"
          "  edgemoe compare [--model M] --image I [--task T] [--formats F] [--json]   fixed vs ref, per block\n"
          "  edgemoe sim [--model M] --image I [--task T] [options]     accelerator performance model\n"
          "  edgemoe eval [--model M] --data DIR [--split val] [--engine E] [--compare E] [--task T]\n"
          "               [--formats F] [--limit N] [--threads N] [--json [--per-image]]   metrics over a dataset\n"
          "  edgemoe explore [--model M] --data DIR [--formats A B ... | --presets] [--task T] [--limit N]\n"
          "                  [--json] [--svg FILE]   accuracy and modelled cost per number-format set\n"
          "  edgemoe scenes --out DIR [--count N] [--split train|val] [--seed S] [--size WxH] [--start K]\n"
          "                 generated street scenes in the dataset layout\n"
          "  edgemoe scenes --sequence N --out FILE.y4m|- [--seed S] [--size WxH] [--fps F] [--labels]\n"
          "                 a drive down a generated street, as YUV4MPEG2 video\n"
          "  edgemoe video [--model M] [--in FILE.y4m|-] [--out FILE.y4m|-] [--task T] [--engine E]\n"
          "                [--layout row|grid] [--log FILE.jsonl] [--realtime]   live semseg + depth on video\n"
          "  edgemoe convert MODEL OUT.safetensors\n"
          "  edgemoe sample-image [--scene K] OUT.png|-   a drawn street, or generated val scene K\n"
          "Without --model, the shipped model trained on generated street scenes is used\n"
          "(docs/model.md; $EDGEMOE_MODEL overrides it); --model synthetic is the untrained one.\n", f);
}

static int run_images(int argc, char **argv, const char **image_args) {
    run_args a = {0};
    a.images = image_args;
    a.engine = "fast";
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i];
        int has = i + 1 < argc;
#define VAL(field) do { if (!has) return em_cli_die("%s needs a value", o); a.field = argv[++i]; } while (0)
        if (!strcmp(o, "--model")) VAL(model);
        else if (!strcmp(o, "--image")) { if (!has) return em_cli_die("--image needs a value"); a.images[a.n_images++] = argv[++i]; }
        else if (!strcmp(o, "--task")) VAL(task);
        else if (!strcmp(o, "--engine")) VAL(engine);
        else if (!strcmp(o, "--formats")) VAL(formats);
        else if (!strcmp(o, "--out")) VAL(out_dir);
        else if (!strcmp(o, "--features")) VAL(features);
        else if (!strcmp(o, "--logits")) VAL(logits);
        else if (!strcmp(o, "--routing")) VAL(routing);
        else if (!strcmp(o, "--json")) a.json = 1;
        else if (!strcmp(o, "--threads")) {
            if (!has) return em_cli_die("--threads needs a value");
            if (em_cli_threads(o, argv[++i], &a.threads)) return 1;
        } else if (!strcmp(o, "-h") || !strcmp(o, "--help")) { usage(stdout); return 0; }
        else return em_cli_die("run: unknown option '%s' (see edgemoe --help)", o);
#undef VAL
    }
    if (!a.n_images) return em_cli_die("run: no --image given");
    if (a.json) em_out_stdout_busy();
    em_session_opts opts = {0};
    if (em_engine_parse(a.engine, &opts.engine)) return em_cli_die("unknown engine '%s' (ref, fast, fixed, hw)", a.engine);
    opts.threads = a.threads;
    em_formats fmt;   /* the fixed-point engines' format set (docs/formats.md) */
    if (a.formats) {
        if (em_cli_formats(a.formats, opts.engine, &fmt)) return 1;
        opts.formats = &fmt;
    }

    em_model *mp = em_cli_load_model(a.model);
    if (!mp) return 1;
    const em_config *c = &mp->cfg;
    unsigned mask = 0;
    if (em_cli_task_mask(c, a.task, &mask)) { em_model_close(mp); return 1; }
    int n_tasks_run = __builtin_popcount(mask);

    char **images = NULL;
    int n_img = 0, rc = 1;
    em_session *s = NULL;
    float *img = NULL;
    uint8_t *rgb = NULL;
    void *scratch = NULL;
    uint8_t *frame = NULL, *in_rgb = NULL, *cls = NULL;
    em_frame_layout layout;
    em_err err;
    if (expand_images(&a, &images, &n_img)) goto done;
    size_t img_floats = (size_t)c->img_c * c->img_h * c->img_w, HW = (size_t)c->img_h * c->img_w;
    img = malloc(img_floats * sizeof(float));
    rgb = malloc(HW * 3);
    scratch = malloc(HW * 2);
    if (!img || !rgb || !scratch) { em_cli_die("out of memory"); goto done; }
    /* Every input is there and readable before any work; each is decoded
     * once, when its turn comes (a bad one then fails the whole run). */
    for (int i = 0; i < n_img; i++) {
        int fd = em_open_input(images[i], "image", NULL, &err);
        if (fd < 0) { em_cli_die("%s", err.msg); goto done; }
        close(fd);
        em_out_protect(images[i]);
    }
    em_out_protect(a.model);
    if (a.out_dir && em_out_mkdir(a.out_dir, &err)) { em_cli_die("%s", err.msg); goto done; }
    if (a.out_dir) {
        if (em_frame_layout_init(&layout, EM_LAYOUT_ROW, c->img_w, c->img_h, c->task_channels[0] > 1 ? c->task_channels[0] : 0,
                                 80.0f, &err)) { em_cli_die("%s", err.msg); goto done; }
        frame = malloc((size_t)layout.W * layout.H * 3);
        in_rgb = malloc(HW * 3);
        cls = malloc(HW);
        if (!frame || !in_rgb || !cls) { em_cli_die("out of memory"); goto done; }
    }
    s = em_session_new(mp, &opts, &err);
    if (!s) { em_cli_die("%s", err.msg); goto done; }

    /* stems made unique by suffixing the index on a clash */
    char (*stems)[256] = calloc((size_t)n_img, sizeof *stems);
    if (!stems) { em_cli_die("out of memory"); goto done; }
    for (int i = 0; i < n_img; i++) {
        stem_of(images[i], stems[i], sizeof stems[i]);
        char base[256];
        memcpy(base, stems[i], sizeof base);
        for (int j = 0, k = 0; j < i; j++)
            if (!strcmp(stems[i], stems[j])) {  /* taken: try base_<i>, base_<i>_<k>, ... anew */
                if (k++) snprintf(stems[i], sizeof stems[i], "%.200s_%d_%d", base, i, k);
                else snprintf(stems[i], sizeof stems[i], "%.200s_%d", base, i);
                j = -1;
            }
    }
    int unique = n_img * n_tasks_run > 1, bar = n_img > 1 && isatty(2);
    double t0 = em_now_ms();
    for (int i = 0; i < n_img; i++) {
        if (em_image_load(images[i], c, img, &err)) { em_cli_die("%s", err.msg); free(stems); goto done; }  /* names the file */
        if (em_session_run(s, img, mask, &err)) { em_cli_die("%s: %s", images[i], err.msg); free(stems); goto done; }
        const uint8_t *classes = NULL;
        for (int t = 0; t < c->n_tasks; t++) {
            if (!(mask >> t & 1)) continue;
            const em_task_output *o = em_session_output(s, t);
            const char *tn = c->task_name[t];
            size_t Lm = em_n_moe_layers(c);
            int bad = 0;
            if (a.features)
                bad = write_named(a.features, unique, stems[i], tn, o->features, (size_t)c->n_tok * c->dim * 4, &err);
            if (a.logits && !bad)
                bad = write_named(a.logits, unique, stems[i], tn, o->logits, (size_t)c->task_channels[t] * HW * 4, &err);
            if (a.routing && !bad)
                bad = write_named(a.routing, unique, stems[i], tn, o->routing, Lm * c->n_tok * c->top_k * 4, &err);
            if (a.out_dir && !bad) {  /* the first class task's argmax is kept for the panel */
                uint8_t *ids = scratch;
                if (c->task_channels[t] > 1 && !classes) classes = ids = cls;
                bad = write_pngs(c, t, o->logits, a.out_dir, stems[i], rgb, ids, scratch, &err);
            }
            if (bad) { em_cli_die("%s", err.msg); free(stems); goto done; }
            if (a.json) print_json(c, images[i], t, a.engine, mp->source, o);
        }
        if (a.out_dir && write_panel(c, s, mask, img, a.out_dir, stems[i], a.engine, mp->source, frame, &layout,
                                     in_rgb, classes, &err)) {
            em_cli_die("%s", err.msg); free(stems); goto done;
        }
        em_out_checkpoint();  /* this image's outputs are complete: kept if a signal ends the run */
        if (bar) em_cli_progress(i + 1, n_img, em_now_ms() - t0);
    }
    double el = em_now_ms() - t0;
    if (n_img > 1)
        fprintf(stderr, "edgemoe: %d images x %d tasks in %.1f s: %.2f images/s\n", n_img, n_tasks_run, el / 1000,
                n_img * 1000.0 / el);
    free(stems);
    if (em_out_commit(&err)) { em_cli_die("%s", err.msg); goto done; }
    rc = 0;
done:
    em_session_free(s);
    for (int i = 0; i < n_img; i++) free(images[i]);
    free(images); free(img); free(rgb); free(scratch); free(frame); free(in_rgb); free(cls);
    em_model_close(mp);
    return rc;
}

static int cmd_run(int argc, char **argv) {
    const char **image_args = calloc((size_t)argc + 1, sizeof *image_args);  /* every --image, in order */
    if (!image_args) return em_cli_die("out of memory");
    int rc = run_images(argc, argv, image_args);
    free(image_args);
    return rc;
}

static int cmd_convert(int argc, char **argv) {
    if (argc != 2) return em_cli_die("usage: edgemoe convert MODEL OUT.safetensors");
    em_err err;
    em_model *m = em_cli_load_model(argv[0]);
    if (!m) return 1;
    em_out_protect(argv[0]);
    const char *stage = em_out_stage(argv[1], &err);
    int rc = stage ? em_model_save_safetensors(m, stage, &err) : EM_EARG;
    if (!rc) rc = em_out_commit(&err);
    em_model_close(m);
    if (rc) return em_cli_die("%s", err.msg);
    fputs("edgemoe: wrote ", stderr);
    em_cli_put_escaped(stderr, argv[1]);
    fputc('\n', stderr);
    return 0;
}

/* edgemoe sample-image [--scene K] OUT.png: the built-in drawing, or val
 * scene K of the generator (seed 1), which no model here was trained on. */
static int cmd_sample_image(int argc, char **argv) {
    const char *out = NULL;
    long scene = -1;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--scene") && i + 1 < argc) {
            if (em_cli_int("--scene", argv[++i], 0, 1L << 30, &scene)) return 1;
        } else if (!out && (argv[i][0] != '-' || !strcmp(argv[i], "-"))) {  /* "-": standard output */
            out = argv[i];
        } else {
            return em_cli_die("usage: edgemoe sample-image [--scene K] OUT.png");
        }
    }
    if (!out) return em_cli_die("usage: edgemoe sample-image [--scene K] OUT.png");
    em_config c;
    em_config_default(&c);
    em_rgb8 img = {0};
    em_err err;
    int rc;
    if (scene >= 0) {
        img.w = c.img_w;
        img.h = c.img_h;
        img.rgb = malloc((size_t)img.w * img.h * 3);
        if (!img.rgb) return em_cli_die("out of memory");
        rc = em_scene_render(1, EM_SPLIT_VAL, (uint64_t)scene, img.w, img.h, img.rgb, NULL, NULL, &err);
    } else {
        rc = em_image_sample(c.img_w, c.img_h, &img, &err);
    }
    if (!rc) rc = write_png(png_rgb8, out, img.rgb, img.w, img.h, &err);
    if (!rc) rc = em_out_commit(&err);
    em_rgb8_free(&img);
    if (rc) return em_cli_die("%s", err.msg);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    em_out_signals();
    if (!strcmp(cmd, "run")) return cmd_run(argc - 2, argv + 2);
    if (!strcmp(cmd, "convert")) return cmd_convert(argc - 2, argv + 2);
    if (!strcmp(cmd, "sample-image")) return cmd_sample_image(argc - 2, argv + 2);
    if (!strcmp(cmd, "sim")) return em_cmd_sim(argc - 2, argv + 2);
    if (!strcmp(cmd, "scenes")) return em_cmd_scenes(argc - 2, argv + 2);
    if (!strcmp(cmd, "compare")) return em_cmd_compare(argc - 2, argv + 2);
    if (!strcmp(cmd, "eval")) return em_cmd_eval(argc - 2, argv + 2);
    if (!strcmp(cmd, "explore")) return em_cmd_explore(argc - 2, argv + 2);
    if (!strcmp(cmd, "video")) return em_cmd_video(argc - 2, argv + 2);
    return em_cli_die("unknown command '%s' (run, compare, sim, eval, scenes, video, convert, sample-image)", cmd);
}
