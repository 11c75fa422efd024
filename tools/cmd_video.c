/* edgemoe video: live segmentation and depth on a YUV4MPEG2 stream
 * (docs/video.md).
 *
 *   edgemoe video [--model M] [--in FILE.y4m|-] [--out FILE.y4m|-] [--task semseg|depth|all]
 *                 [--engine fast|fixed|...] [--threads N] [--layout row|grid] [--log FILE.jsonl]
 *                 [--realtime] [--hud on|off] [--depth-max M]
 *
 * Three threads and a ring of NSLOT frames: the reader parses and converts
 * frame i+2 while the engine runs frame i+1 and the writer composes and
 * writes frame i.  --realtime paces the engine to the input's frame rate
 * and drops a frame (the writer repeats the previous output frame) when a
 * newer one is waiting and this one is a whole period late.
 *
 * Outputs: stdout is a stream (frames written stay written); --out FILE and
 * --log FILE are staged and renamed into place only when the run succeeds
 * (tools/outputs.h).  A broken pipe on the output stops the run cleanly
 * (exit 0, one line); a truncated or malformed input frame stops it with one
 * line naming the frame and exit 1. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "edgemoe.h"
#include "data/npy.h"
#include "util.h"
#include "eval/metrics.h"
#include "image/image.h"
#include "scenes/sequence.h"
#include "video/video.h"
#include "video/y4m.h"
#include "cli.h"
#include "outputs.h"

#define NSLOT 4          /* frames in flight: reader, engine, writer, one spare */
#define FPS_WINDOW 16    /* HUD FPS: over the last 16 frames */

static atomic_int g_stop;         /* any thread: stop now */
static atomic_int g_interrupted;  /* SIGINT / SIGTERM */

static void on_signal(int sig) { (void)sig; atomic_store(&g_interrupted, 1); atomic_store(&g_stop, 1); }

/* The input: a file descriptor read with poll, so a stop request ends a
 * blocked read within 100 ms. */
#define READ_STOPPED (-2)
typedef struct { int fd; const char *name; } fd_source;
static long fd_read(void *user, void *buf, size_t n, em_err *err) {
    fd_source *s = user;
    for (;;) {
        if (atomic_load(&g_stop)) return READ_STOPPED;
        struct pollfd p = {s->fd, POLLIN, 0};
        int k = poll(&p, 1, 100);
        if (k < 0 && errno != EINTR) return em_error(err, EM_EIO, "%s: %s", s->name, strerror(errno));
        if (k <= 0) continue;
        ssize_t r = read(s->fd, buf, n);
        if (r >= 0) return (long)r;
        if (errno != EINTR && errno != EAGAIN) return em_error(err, EM_EIO, "%s: read failed (%s)", s->name, strerror(errno));
    }
}

typedef struct { double *v; size_t n, cap; } stat_vec;

typedef struct {
    uint64_t index;          /* input frame number, from 0 */
    int dropped;
    uint8_t *planes;         /* [frame_bytes] the y4m frame */
    float *img;              /* [3][ph][pw] the model's input */
    uint8_t *rgb;            /* [ph][pw][3] the same, 8-bit */
    uint8_t *cls;            /* [ph*pw] semseg argmax */
    float *depth;            /* [ph*pw] depth head */
    int32_t *tokens;         /* [n_tasks][n_moe][E] tokens per expert */
    double task_ms[EM_MAX_TASKS][3]; /* backbone, head, total */
    double shared_ms, infer_ms, t_read;
    char hud[EM_HUD_LINES][EM_HUD_CHARS];
} vslot;

typedef struct {
    /* configuration */
    const em_config *cfg;
    em_session *s;
    unsigned mask;
    int t_seg, t_dep, n_moe, realtime, hud_on;
    const char *engine;
    int threads;
    em_frame_layout L;
    em_y4m_reader *rd;
    int out_fd, log_fd_ok;
    FILE *log;
    /* pipeline */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t n_read, n_inferred, n_written, n_dropped;
    int read_done, infer_done;
    int read_rc, infer_rc, write_rc, epipe, header_written;
    char read_err[EM_ERR_LEN + 64], infer_err[EM_ERR_LEN + 64], write_err[EM_ERR_LEN + 64];
    vslot slot[NSLOT];
    uint8_t *in_rgb;         /* reader: [h][w][3] at the input size */
    uint8_t *frame_rgb;      /* writer: [H][W][3] */
    uint8_t *frame_yuv;      /* writer: the last frame written, 4:2:0 */
    /* statistics */
    stat_vec infer_ms;       /* engine thread: ms in em_session_run and the argmax */
    stat_vec latency_ms;     /* writer thread: frame read -> frame written */
    double fps_t[FPS_WINDOW];
    uint64_t fps_n;
} vpipe;

static void pipe_signal(vpipe *P) { pthread_cond_broadcast(&P->cv); }

static void *reader_main(void *arg) {
    vpipe *P = arg;
    const em_y4m_info *info = &P->rd->info;
    const int pw = P->cfg->img_w, ph = P->cfg->img_h;
    const size_t HW = (size_t)pw * ph;
    for (;;) {
        pthread_mutex_lock(&P->mu);
        while (P->n_read - P->n_written >= NSLOT && !atomic_load(&g_stop)) pthread_cond_wait(&P->cv, &P->mu);
        uint64_t i = P->n_read;
        pthread_mutex_unlock(&P->mu);
        if (atomic_load(&g_stop)) break;
        vslot *S = &P->slot[i % NSLOT];
        em_err err;
        int rc = em_y4m_read_frame(P->rd, S->planes, &err);
        if (rc == 0) break;
        if (rc < 0) {
            if (!atomic_load(&g_stop)) { P->read_rc = rc; snprintf(P->read_err, sizeof P->read_err, "%s", err.msg); }
            break;
        }
        em_y4m_to_rgb(info, S->planes, P->in_rgb);
        if ((rc = em_image_from_rgb8(P->in_rgb, info->w, info->h, P->cfg, S->img, &err))) {
            P->read_rc = rc;
            snprintf(P->read_err, sizeof P->read_err, "frame %llu: %s", (unsigned long long)i, err.msg);
            break;
        }
        for (size_t k = 0; k < HW; k++)  /* v/256 is exact: back to the 8-bit value */
            for (int c = 0; c < 3; c++) S->rgb[3 * k + c] = (uint8_t)(S->img[c * HW + k] * 256.0f);
        S->index = i;
        S->t_read = em_now_ms();
        pthread_mutex_lock(&P->mu);
        P->n_read++;
        pipe_signal(P);
        pthread_mutex_unlock(&P->mu);
    }
    pthread_mutex_lock(&P->mu);
    P->read_done = 1;
    pipe_signal(P);
    pthread_mutex_unlock(&P->mu);
    return NULL;
}

/* A growing array of per-frame milliseconds, owned by one thread. */
static int push_stat(stat_vec *v, double x) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 1024;
        double *p = realloc(v->v, cap * sizeof *p);
        if (!p) return -1;
        v->v = p; v->cap = cap;
    }
    v->v[v->n++] = x;
    return 0;
}

static void sleep_ms(double ms) {
    while (ms > 0 && !atomic_load(&g_stop)) {
        double step = ms > 100 ? 100 : ms;
        struct timespec ts = {(time_t)(step / 1000), (long)(fmod(step, 1000.0) * 1e6)};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

/* Runs the model on one frame and keeps what the writer needs. */
static int infer(vpipe *P, vslot *S, em_err *err) {
    const em_config *c = P->cfg;
    const size_t HW = (size_t)c->img_w * c->img_h;
    double t0 = em_now_ms();
    int rc = em_session_run(P->s, S->img, P->mask, err);
    if (rc) return rc;
    S->shared_ms = 0;
    for (int t = 0; t < c->n_tasks; t++) {
        if (!(P->mask >> t & 1)) continue;
        const em_task_output *o = em_session_output(P->s, t);
        S->task_ms[t][0] = o->backbone_ms; S->task_ms[t][1] = o->head_ms; S->task_ms[t][2] = o->total_ms;
        if (o->shared_ms > S->shared_ms) S->shared_ms = o->shared_ms;
        memcpy(S->tokens + (size_t)t * P->n_moe * c->n_experts, o->expert_tokens, (size_t)P->n_moe * c->n_experts * sizeof(int32_t));
        if (t == P->t_seg) {
            em_seg_argmax(o->logits, c->task_channels[t], HW, S->cls);
        } else if (t == P->t_dep) {
            memcpy(S->depth, o->logits, HW * sizeof(float));
        }
    }
    S->infer_ms = em_now_ms() - t0;
    return EM_OK;
}

/* The HUD: frame, ms, FPS (engine loop, last 16 frames), engine, experts. */
static void make_hud(vpipe *P, vslot *S, double now) {
    const em_config *c = P->cfg;
    P->fps_t[P->fps_n % FPS_WINDOW] = now;
    P->fps_n++;
    double fps;
    if (P->fps_n >= 2) {
        uint64_t k = P->fps_n < FPS_WINDOW ? P->fps_n : FPS_WINDOW;
        double first = P->fps_t[(P->fps_n - k) % FPS_WINDOW];
        fps = now > first ? (double)(k - 1) * 1000.0 / (now - first) : 0;
    } else {
        fps = S->infer_ms > 0 ? 1000.0 / S->infer_ms : 0;
    }
    memset(S->hud, 0, sizeof S->hud);
    if (!P->hud_on) return;
    char drops[32] = "";
    if (P->n_dropped) snprintf(drops, sizeof drops, "  drop %llu", (unsigned long long)P->n_dropped);
    snprintf(S->hud[0], EM_HUD_CHARS, "#%llu %5.1f ms %5.1f fps%s", (unsigned long long)S->index, S->infer_ms, fps, drops);
    snprintf(S->hud[1], EM_HUD_CHARS, "engine %s%s", P->engine, P->realtime ? "  realtime" : "");
    int n = snprintf(S->hud[2], EM_HUD_CHARS, "experts/layer");
    for (int t = 0; t < c->n_tasks && n < EM_HUD_CHARS - 16; t++) {
        if (!(P->mask >> t & 1)) continue;
        const int32_t *tk = S->tokens + (size_t)t * P->n_moe * c->n_experts;
        int used = 0;
        for (int k = 0; k < P->n_moe * c->n_experts; k++) used += tk[k] > 0;
        n += snprintf(S->hud[2] + n, (size_t)(EM_HUD_CHARS - n), " %.3s %.1f", c->task_name[t], P->n_moe ? (double)used / P->n_moe : 0.0);
    }
    if (n < EM_HUD_CHARS - 8) snprintf(S->hud[2] + n, (size_t)(EM_HUD_CHARS - n), " /%d", c->n_experts);
}

static void engine_loop(vpipe *P) {
    const double period = 1000.0 * P->rd->info.fps_den / P->rd->info.fps_num;
    double t0 = 0;
    for (;;) {
        pthread_mutex_lock(&P->mu);
        while (P->n_inferred == P->n_read && !P->read_done && !atomic_load(&g_stop)) pthread_cond_wait(&P->cv, &P->mu);
        int done = atomic_load(&g_stop) || (P->n_inferred == P->n_read && P->read_done);
        uint64_t i = P->n_inferred, avail = P->n_read;
        pthread_mutex_unlock(&P->mu);
        if (done) break;
        vslot *S = &P->slot[i % NSLOT];
        S->dropped = 0;
        if (P->realtime) {
            double now = em_now_ms();
            if (i == 0) t0 = now;
            double due = t0 + (double)i * period;
            if (now < due) sleep_ms(due - now);
            else if (now >= due + period && avail > i + 1) S->dropped = 1;  /* late, and a newer frame waits */
        }
        if (S->dropped) {
            P->n_dropped++;
        } else {
            em_err err;
            int rc = infer(P, S, &err);
            if (rc) {
                P->infer_rc = rc;
                snprintf(P->infer_err, sizeof P->infer_err, "frame %llu: %s", (unsigned long long)i, err.msg);
                atomic_store(&g_stop, 1);
                break;
            }
            if (push_stat(&P->infer_ms, S->infer_ms)) {
                P->infer_rc = EM_ENOMEM;
                snprintf(P->infer_err, sizeof P->infer_err, "out of memory");
                atomic_store(&g_stop, 1);
                break;
            }
            make_hud(P, S, em_now_ms());
        }
        pthread_mutex_lock(&P->mu);
        P->n_inferred++;
        pipe_signal(P);
        pthread_mutex_unlock(&P->mu);
    }
    pthread_mutex_lock(&P->mu);
    P->infer_done = 1;
    pipe_signal(P);
    pthread_mutex_unlock(&P->mu);
}

/* write(2) until done; EPIPE is the reader of a pipe going away. */
static int write_all(vpipe *P, const void *buf, size_t n) {
    const uint8_t *p = buf;
    while (n) {
        ssize_t k = write(P->out_fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            if (errno == EPIPE) P->epipe = 1;
            else snprintf(P->write_err, sizeof P->write_err, "output: write failed (%s)", strerror(errno));
            P->write_rc = EM_EIO;
            return -1;
        }
        p += k; n -= (size_t)k;
    }
    return 0;
}

static int write_header(vpipe *P) {
    char h[256];
    int n = em_y4m_header(h, sizeof h, P->L.W, P->L.H, P->rd->info.fps_num, P->rd->info.fps_den);
    P->header_written = 1;
    return write_all(P, h, (size_t)n);
}

static void log_frame(vpipe *P, const vslot *S, double latency) {
    const em_config *c = P->cfg;
    FILE *f = P->log;
    fprintf(f, "{\"frame\":%llu,\"dropped\":%s", (unsigned long long)S->index, S->dropped ? "true" : "false");
    if (!S->dropped) {
        fprintf(f, ",\"infer_ms\":%.3f,\"latency_ms\":%.3f,\"shared_prefix_ms\":%.3f,\"tasks\":{", S->infer_ms, latency, S->shared_ms);
        int first = 1;
        for (int t = 0; t < c->n_tasks; t++) {
            if (!(P->mask >> t & 1)) continue;
            fprintf(f, "%s\"%s\":{\"backbone_ms\":%.3f,\"head_ms\":%.3f,\"total_ms\":%.3f,\"moe\":[", first ? "" : ",",
                    c->task_name[t], S->task_ms[t][0], S->task_ms[t][1], S->task_ms[t][2]);
            first = 0;
            int Lm = 0;
            for (int L = 0; L < c->depth; L++) {
                if (!em_is_moe(c, L)) continue;
                const int32_t *tk = S->tokens + ((size_t)t * P->n_moe + Lm) * c->n_experts;
                int used = 0;
                for (int e = 0; e < c->n_experts; e++) used += tk[e] > 0;
                fprintf(f, "%s{\"layer\":%d,\"experts_used\":%d,\"tokens\":[", Lm ? "," : "", L, used);
                for (int e = 0; e < c->n_experts; e++) fprintf(f, "%s%d", e ? "," : "", tk[e]);
                fputs("]}", f);
                Lm++;
            }
            fputs("]}", f);
        }
        fputc('}', f);
    }
    fputs("}\n", f);
}

static void *writer_main(void *arg) {
    vpipe *P = arg;
    const em_frame_layout *L = &P->L;
    const size_t yuv_bytes = (size_t)L->W * L->H * 3 / 2;
    for (;;) {
        pthread_mutex_lock(&P->mu);
        while (P->n_written == P->n_inferred && !P->infer_done && !atomic_load(&g_stop)) pthread_cond_wait(&P->cv, &P->mu);
        int done = atomic_load(&g_stop) || (P->n_written == P->n_inferred && P->infer_done);
        uint64_t i = P->n_written;
        pthread_mutex_unlock(&P->mu);
        if (done) break;
        vslot *S = &P->slot[i % NSLOT];
        if (!S->dropped) {
            em_frame_compose(L, S->rgb, P->t_seg >= 0 ? S->cls : NULL, P->t_dep >= 0 ? S->depth : NULL,
                             P->hud_on ? (const char(*)[EM_HUD_CHARS])S->hud : NULL, P->frame_rgb);
            em_rgb_to_y420(P->frame_rgb, L->W, L->H, P->frame_yuv);
        }  /* dropped: the previous output frame again, so the stream keeps its timing */
        if ((!P->header_written && write_header(P)) || write_all(P, "FRAME\n", 6) || write_all(P, P->frame_yuv, yuv_bytes)) {
            atomic_store(&g_stop, 1);
            break;
        }
        double latency = em_now_ms() - S->t_read;
        if (!S->dropped && push_stat(&P->latency_ms, latency)) {
            snprintf(P->write_err, sizeof P->write_err, "out of memory");
            P->write_rc = EM_ENOMEM;
            atomic_store(&g_stop, 1);
            break;
        }
        if (P->log) log_frame(P, S, latency);
        pthread_mutex_lock(&P->mu);
        P->n_written++;
        pipe_signal(P);
        pthread_mutex_unlock(&P->mu);
    }
    pthread_mutex_lock(&P->mu);
    pipe_signal(P);
    pthread_mutex_unlock(&P->mu);
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
/* nearest-rank percentile of a sorted array */
static double pct(const double *v, size_t n, double p) {
    if (!n) return 0;
    size_t k = (size_t)ceil(p / 100.0 * (double)n);
    return v[k ? k - 1 : 0];
}

static void usage_video(FILE *f) {
    fputs("usage: edgemoe video [--model M] [--in FILE.y4m|-] [--out FILE.y4m|-] [--task semseg|depth|all]\n"
          "                     [--engine fast|fixed|ref] [--threads N] [--layout row|grid] [--log FILE.jsonl]\n"
          "                     [--realtime] [--hud on|off] [--depth-max M]\n"
          "YUV4MPEG2 in, YUV4MPEG2 out (input | semseg overlay | depth, legend and HUD); docs/video.md.\n"
          "  ffmpeg -i in.mp4 -f yuv4mpegpipe - | edgemoe video | ffmpeg -f yuv4mpegpipe -i - out.mp4\n", f);
}

typedef struct {
    const char *model, *in, *out, *task, *engine, *layout, *log;
    int threads, realtime, hud_on;
    float depth_max;
} video_args;

int em_cmd_video(int argc, char **argv) {
    video_args a = {.in = "-", .out = "-", .task = "all", .engine = "fast", .layout = "row", .hud_on = 1, .depth_max = 80.0f};
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i];
        int has = i + 1 < argc;
#define VAL(field) do { if (!has) return em_cli_die("%s needs a value", o); a.field = argv[++i]; } while (0)
        if (!strcmp(o, "--model")) VAL(model);
        else if (!strcmp(o, "--in")) VAL(in);
        else if (!strcmp(o, "--out")) VAL(out);
        else if (!strcmp(o, "--task")) VAL(task);
        else if (!strcmp(o, "--engine")) VAL(engine);
        else if (!strcmp(o, "--layout")) VAL(layout);
        else if (!strcmp(o, "--log")) VAL(log);
        else if (!strcmp(o, "--realtime")) a.realtime = 1;
        else if (!strcmp(o, "--hud")) {
            if (!has) return em_cli_die("--hud needs a value");
            const char *v = argv[++i];
            if (strcmp(v, "on") && strcmp(v, "off")) return em_cli_die("--hud: '%s' is neither on nor off", v);
            a.hud_on = !strcmp(v, "on");
        } else if (!strcmp(o, "--threads")) {
            if (!has) return em_cli_die("--threads needs a value");
            if (em_cli_threads(o, argv[++i], &a.threads)) return 1;
        } else if (!strcmp(o, "--depth-max")) {
            if (!has) return em_cli_die("--depth-max needs a value");
            char *end;
            double v = strtod(argv[++i], &end);
            if (!argv[i][0] || *end || !(v > 0) || v > 1e5) return em_cli_die("--depth-max: '%s' is not a depth in metres (0 < M <= 100000)", argv[i]);
            a.depth_max = (float)v;
        } else if (!strcmp(o, "-h") || !strcmp(o, "--help")) { usage_video(stdout); return 0; }
        else return em_cli_die("video: unknown option '%s' (see edgemoe video --help)", o);
#undef VAL
    }
    int layout;
    if (!strcmp(a.layout, "row")) layout = EM_LAYOUT_ROW;
    else if (!strcmp(a.layout, "grid")) layout = EM_LAYOUT_GRID;
    else return em_cli_die("--layout: '%s' is neither row nor grid", a.layout);
    em_session_opts opts = {0};
    if (em_engine_parse(a.engine, &opts.engine)) return em_cli_die("unknown engine '%s' (fast, fixed, ref, hw)", a.engine);
    opts.threads = a.threads;
    const int in_std = !strcmp(a.in, "-"), out_std = !strcmp(a.out, "-");
    if (in_std && isatty(0)) return em_cli_die("video: no input: give --in FILE.y4m or pipe a YUV4MPEG2 stream in");
    if (out_std && isatty(1)) return em_cli_die("video: refusing to write video to a terminal: give --out FILE.y4m or pipe it");
    if (a.log && !strcmp(a.log, "-")) return em_cli_die("--log: give a file name");

    /* everything that can be checked is checked before anything is written */
    em_err err;
    fd_source src = {in_std ? 0 : -1, in_std ? "stdin" : a.in};
    if (!in_std && (src.fd = open(a.in, O_RDONLY)) < 0) return em_cli_die("%s: cannot open (%s)", a.in, strerror(errno));
    em_model *model = NULL;
    vpipe *P = calloc(1, sizeof *P);
    em_y4m_reader *rd = malloc(sizeof *rd);
    int ret = 1, out_fd = -1, started_r = 0, started_w = 0;
    pthread_t tr, tw;
    if (!P || !rd) { em_cli_die("out of memory"); goto done; }
    P->rd = rd;
    P->out_fd = -1;
    if (em_y4m_open(rd, fd_read, &src, &err)) { em_cli_die("%s: %s", src.name, err.msg); goto done; }
    if (!(model = em_cli_load_model(a.model))) goto done;
    const em_config *c = &model->cfg;
    P->cfg = c;
    unsigned want = 0;   /* of the tasks asked for, semseg and depth are shown */
    if (em_cli_task_mask(c, a.task, &want)) goto done;
    const int i_seg = em_task_index(c, "semseg"), i_dep = em_task_index(c, "depth");
    P->t_seg = i_seg >= 0 && (want >> i_seg & 1) ? i_seg : -1;
    P->t_dep = i_dep >= 0 && (want >> i_dep & 1) ? i_dep : -1;
    if (strcmp(a.task, "depth") && P->t_seg < 0) { em_cli_die("the model has no task 'semseg'"); goto done; }
    if (strcmp(a.task, "semseg") && P->t_dep < 0) { em_cli_die("the model has no task 'depth'"); goto done; }
    if (P->t_seg < 0 && P->t_dep < 0) { em_cli_die("video shows semseg and depth, not '%s'", a.task); goto done; }
    if (P->t_seg >= 0 && (c->task_channels[P->t_seg] < 2 || c->task_channels[P->t_seg] > 16)) {
        em_cli_die("semseg task has %d classes (2..16 supported)", c->task_channels[P->t_seg]); goto done;
    }
    if (P->t_dep >= 0 && c->task_channels[P->t_dep] != 1) { em_cli_die("depth task has %d channels, expected 1", c->task_channels[P->t_dep]); goto done; }
    if (c->img_c != 3) { em_cli_die("the model takes %d input channels; video is RGB", c->img_c); goto done; }
    P->mask = (P->t_seg >= 0 ? 1u << P->t_seg : 0) | (P->t_dep >= 0 ? 1u << P->t_dep : 0);
    P->n_moe = em_n_moe_layers(c);
    P->realtime = a.realtime; P->hud_on = a.hud_on; P->engine = a.engine; P->threads = a.threads;
    if (em_frame_layout_init(&P->L, layout, c->img_w, c->img_h, P->t_seg >= 0 ? c->task_channels[P->t_seg] : 0, a.depth_max, &err)) {
        em_cli_die("%s", err.msg); goto done;
    }
    if (!(P->s = em_session_new(model, &opts, &err))) { em_cli_die("%s", err.msg); goto done; }
    const size_t HW = (size_t)c->img_w * c->img_h;
    for (int k = 0; k < NSLOT; k++) {
        vslot *S = &P->slot[k];
        S->planes = malloc(rd->info.frame_bytes);
        S->img = malloc(3 * HW * sizeof(float));
        S->rgb = malloc(3 * HW);
        S->cls = calloc(HW, 1);
        S->depth = calloc(HW, sizeof(float));
        S->tokens = calloc((size_t)c->n_tasks * P->n_moe * c->n_experts, sizeof(int32_t));
        if (!S->planes || !S->img || !S->rgb || !S->cls || !S->depth || !S->tokens) { em_cli_die("out of memory"); goto done; }
    }
    P->in_rgb = malloc((size_t)rd->info.w * rd->info.h * 3);
    P->frame_rgb = malloc((size_t)P->L.W * P->L.H * 3);
    P->frame_yuv = malloc((size_t)P->L.W * P->L.H * 3 / 2);
    if (!P->in_rgb || !P->frame_rgb || !P->frame_yuv) { em_cli_die("out of memory"); goto done; }

    /* from here on Ctrl-C / SIGTERM end the run cleanly (staged outputs kept) */
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;  /* a second Ctrl-C kills */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* outputs: staged files (renamed on success) or stdout */
    if (!in_std) em_out_protect(a.in);
    if (a.model) em_out_protect(a.model);
    /* the stream and the log go out as they are made (a FIFO or stdout in
     * place, a file staged); em_out_commit / em_out_abort close them */
    if ((out_fd = em_out_stream(a.out, &err)) < 0) { em_cli_die("%s", err.msg); goto done; }
    P->out_fd = out_fd;
    if (a.log) {
        int lfd = em_out_stream(a.log, &err), dfd = lfd < 0 ? -1 : dup(lfd);
        if (lfd < 0) { em_cli_die("%s", err.msg); goto done; }
        if (dfd < 0 || !(P->log = fdopen(dfd, "w"))) {
            if (dfd >= 0) close(dfd);
            em_cli_die("%s: cannot open (%s)", a.log, strerror(errno)); goto done;
        }
    }

    pthread_mutex_init(&P->mu, NULL);
    pthread_cond_init(&P->cv, NULL);
    double t0 = em_now_ms();
    if (pthread_create(&tr, NULL, reader_main, P)) { em_cli_die("cannot start the reader thread"); goto done_sync; }
    started_r = 1;
    if (pthread_create(&tw, NULL, writer_main, P)) { atomic_store(&g_stop, 1); em_cli_die("cannot start the writer thread"); goto done_sync; }
    started_w = 1;
    engine_loop(P);
    pthread_join(tw, NULL); started_w = 0;
    atomic_store(&g_stop, 1);  /* the reader may be waiting for a slot or for input */
    pthread_mutex_lock(&P->mu);
    pipe_signal(P);
    pthread_mutex_unlock(&P->mu);
    pthread_join(tr, NULL); started_r = 0;
    double el = em_now_ms() - t0;

    if (P->infer_rc) { em_cli_die("%s", P->infer_err); goto done_sync; }
    if (P->write_rc && !P->epipe) { em_cli_die("%s", P->write_err); goto done_sync; }
    if (P->read_rc) {
        em_cli_die("%s: %s (%llu frames before it were written)", src.name, P->read_err, (unsigned long long)P->n_written);
        goto done_sync;
    }
    if (!P->header_written && !P->epipe && write_header(P)) {  /* an empty stream is still a stream */
        if (!P->epipe) { em_cli_die("%s", P->write_err); goto done_sync; }
    }
    if (P->log && (fflush(P->log) || ferror(P->log))) { em_cli_die("%s: write failed", a.log); goto done_sync; }
    if (P->log) { fclose(P->log); P->log = NULL; }
    if (em_out_commit(&err)) { em_cli_die("%s", err.msg); goto done_sync; }

    qsort(P->infer_ms.v, P->infer_ms.n, sizeof(double), cmp_double);
    qsort(P->latency_ms.v, P->latency_ms.n, sizeof(double), cmp_double);
    if (P->epipe) fprintf(stderr, "edgemoe: video: output closed by its reader (broken pipe) after %llu frames; stopped\n",
                          (unsigned long long)P->n_written);
    else if (atomic_load(&g_interrupted)) fprintf(stderr, "edgemoe: video: interrupted after %llu frames\n", (unsigned long long)P->n_written);
    else
        fprintf(stderr, "edgemoe: video: %llu frames (%llu dropped) in %.2f s: %.2f fps; engine p50 %.1f ms p99 %.1f ms; "
                "latency p50 %.1f ms p99 %.1f ms\n", (unsigned long long)P->n_written, (unsigned long long)P->n_dropped,
                el / 1000, el > 0 ? (double)P->n_written * 1000.0 / el : 0.0, pct(P->infer_ms.v, P->infer_ms.n, 50),
                pct(P->infer_ms.v, P->infer_ms.n, 99), pct(P->latency_ms.v, P->latency_ms.n, 50), pct(P->latency_ms.v, P->latency_ms.n, 99));
    ret = 0;
done_sync:
    if (started_r || started_w) {
        atomic_store(&g_stop, 1);
        pthread_mutex_lock(&P->mu);
        pipe_signal(P);
        pthread_mutex_unlock(&P->mu);
        if (started_w) pthread_join(tw, NULL);
        if (started_r) pthread_join(tr, NULL);
    }
    pthread_cond_destroy(&P->cv);
    pthread_mutex_destroy(&P->mu);
done:
    if (P) {
        if (P->log) fclose(P->log);
        for (int k = 0; k < NSLOT; k++) {
            vslot *S = &P->slot[k];
            free(S->planes); free(S->img); free(S->rgb); free(S->cls); free(S->depth); free(S->tokens);
        }
        free(P->in_rgb); free(P->frame_rgb); free(P->frame_yuv); free(P->infer_ms.v); free(P->latency_ms.v);
        em_session_free(P->s);
        free(P);
    }
    if (src.fd > 0) close(src.fd);
    free(rd);
    em_model_close(model);
    return ret;
}

/* ---- edgemoe scenes --sequence N --out FILE.y4m|- [--seed S] [--size WxH] [--fps F] [--labels] ----
 * A drive down generated streets (src/scenes/sequence.h) as YUV4MPEG2 4:2:0.
 * --labels: FILE's name without .y4m + ".labels/val/{image,label_7,depth}/<frame>.npy",
 * the dataset layout (docs/dataset.md), so `edgemoe eval --data` scores a
 * model on the drive. */
static int seq_write(int fd, const void *buf, size_t n, int *epipe) {
    const uint8_t *p = buf;
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) { if (errno == EPIPE) *epipe = 1; return -1; }
        p += k; n -= (size_t)k;
    }
    return 0;
}

static void usage_sequence(FILE *f) {
    fputs("usage: edgemoe scenes --sequence N --out FILE.y4m|- [--seed S] [--size WxH] [--fps F] [--labels]\n"
          "A drive down generated streets, N frames of YUV4MPEG2 4:2:0 (docs/video.md).\n"
          "Defaults: --seed 1 --size 256x128 --fps 25.  --labels also writes FILE.labels/val/{image,label_7,depth}/<i>.npy.\n", f);
}

int em_cmd_scenes_sequence(int argc, char **argv) {
    const char *out = NULL;
    uint64_t n = 0, seed = 1;
    long fps = 25;
    int w = 256, h = 128, labels = 0, have_n = 0;
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) { usage_sequence(stdout); return 0; }
        if (!strcmp(o, "--labels")) { labels = 1; continue; }
        int known = !strcmp(o, "--sequence") || !strcmp(o, "--out") || !strcmp(o, "--seed") || !strcmp(o, "--size") || !strcmp(o, "--fps");
        if (!known) return em_cli_die("scenes --sequence: unknown option '%s' (see edgemoe scenes --sequence 1 --help)", o);
        if (i + 1 >= argc) return em_cli_die("%s needs a value", o);
        const char *v = argv[++i];
        char *end;
        errno = 0;
        if (!strcmp(o, "--out")) { if (!v[0]) return em_cli_die("--out: empty file name"); out = v; }
        else if (!strcmp(o, "--sequence") || !strcmp(o, "--seed")) {
            unsigned long long x = strtoull(v, &end, 10);
            int isn = !strcmp(o, "--sequence");
            if (!v[0] || v[0] == '-' || v[0] == '+' || *end || errno || (isn && (x < 1 || x > 10000000ull)))
                return em_cli_die(isn ? "--sequence: '%s' is not a frame count (1..10000000)" : "--seed: '%s' is not a non-negative integer", v);
            if (isn) { n = x; have_n = 1; } else seed = x;
        } else if (!strcmp(o, "--fps")) {
            fps = strtol(v, &end, 10);
            if (!v[0] || *end || errno || fps < 1 || fps > 240) return em_cli_die("--fps: '%s' is not a frame rate (1..240)", v);
        } else {
            char *e2 = NULL;
            long a = strtol(v, &end, 10), b = *end == 'x' ? strtol(end + 1, &e2, 10) : 0;
            if (*end != 'x' || end == v || !e2 || *e2 || e2 == end + 1 || a < 16 || b < 16 || a > 4096 || b > 4096 || (a | b) & 1)
                return em_cli_die("--size: '%s' is not WxH with even 16 <= W, H <= 4096", v);
            w = (int)a; h = (int)b;
        }
    }
    if (!have_n) return em_cli_die("scenes: --sequence N is required");
    if (!out) return em_cli_die("scenes --sequence: --out FILE.y4m (or - for stdout) is required");
    const int to_std = !strcmp(out, "-");
    if (to_std && labels) return em_cli_die("--labels needs --out FILE.y4m (the labels go next to it)");
    if (to_std && isatty(1)) return em_cli_die("scenes --sequence: refusing to write video to a terminal: give --out FILE.y4m or pipe it");
    if (strlen(out) > 900) return em_cli_die("--out: path too long");

    em_err err;
    const size_t HW = (size_t)w * h, sb = (em_render_scratch_bytes(w, h) + 63) & ~(size_t)63;
    em_drive_shot *shot = calloc(1, sizeof *shot);
    void *scratch = aligned_alloc(64, sb);
    uint8_t *rgb = malloc(3 * HW), *yuv = malloc(3 * HW / 2);
    int8_t *label = labels ? malloc(HW) : NULL;
    float *depth = labels ? malloc(HW * sizeof(float)) : NULL, *f = labels ? malloc(3 * HW * sizeof(float)) : NULL;
    int fd = -1, rc = 1, epipe = 0;
    char ldir[1024] = "";
    if (!shot || !scratch || !rgb || !yuv || (labels && (!label || !depth || !f))) { em_cli_die("out of memory"); goto done; }
    if ((fd = em_out_stream(out, &err)) < 0) { em_cli_die("%s", err.msg); goto done; }
    if (labels) {
        size_t len = strlen(out);
        int cut = len > 4 && !strcmp(out + len - 4, ".y4m") ? (int)len - 4 : (int)len;
        snprintf(ldir, sizeof ldir, "%.*s.labels/val", cut, out);
        const char *kinds[3] = {"image", "label_7", "depth"};
        for (int k = 0; k < 3; k++) {
            char d[1200];
            snprintf(d, sizeof d, "%s/%s", ldir, kinds[k]);
            if (em_out_mkdir(d, &err)) { em_cli_die("%s", err.msg); goto done; }
        }
    }
    signal(SIGPIPE, SIG_IGN);
    char hdr[256];
    int hn = em_y4m_header(hdr, sizeof hdr, w, h, (int)fps, 1);
    if (seq_write(fd, hdr, (size_t)hn, &epipe)) goto write_failed;
    for (uint64_t i = 0; i < n; i++) {
        em_drive_render(shot, seed, (double)fps, i, w, h, scratch, rgb, label, depth);
        em_rgb_to_y420(rgb, w, h, yuv);
        if (seq_write(fd, "FRAME\n", 6, &epipe) || seq_write(fd, yuv, 3 * HW / 2, &epipe)) goto write_failed;
        if (labels) {
            char path[1300];
            const char *stage;
            int shape[3] = {h, w, 3}, dshape[3] = {h, w, 1};
            for (size_t k = 0; k < 3 * HW; k++) f[k] = (float)rgb[k] / 255.0f;
            snprintf(path, sizeof path, "%s/image/%llu.npy", ldir, (unsigned long long)i);
            if (!(stage = em_out_stage(path, &err)) || em_npy_write_f32(stage, f, 3, shape, &err)) { em_cli_die("%s", err.msg); goto done; }
            for (size_t k = 0; k < HW; k++) f[k] = (float)label[k];
            snprintf(path, sizeof path, "%s/label_7/%llu.npy", ldir, (unsigned long long)i);
            if (!(stage = em_out_stage(path, &err)) || em_npy_write_f32(stage, f, 2, shape, &err)) { em_cli_die("%s", err.msg); goto done; }
            snprintf(path, sizeof path, "%s/depth/%llu.npy", ldir, (unsigned long long)i);
            if (!(stage = em_out_stage(path, &err)) || em_npy_write_f32(stage, depth, 3, dshape, &err)) { em_cli_die("%s", err.msg); goto done; }
            em_out_checkpoint();
        }
    }
    if (em_out_commit(&err)) { em_cli_die("%s", err.msg); goto done; }
    rc = 0;
    goto done;
write_failed:
    if (epipe) {  /* the reader of the pipe has gone: what it read stays read, with its labels */
        fprintf(stderr, "edgemoe: scenes: output closed by its reader (broken pipe); stopped\n");
        rc = em_out_commit(&err) ? em_cli_die("%s", err.msg) : 0;
    } else {
        em_cli_die("%s: write failed (%s)", out, strerror(errno));
    }
done:
    free(shot); free(scratch); free(rgb); free(yuv); free(label); free(depth); free(f);
    return rc;
}
