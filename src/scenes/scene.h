/* Procedural street scenes, internal API (docs/scenes.md).
 *
 * The world is separate from the camera: em_world_build draws one street
 * (terrain, primitives, lighting, and the rig of the camera that took the
 * picture) from a per-scene RNG; em_world_render renders it through any
 * em_camera.  A later drive-through can render one world from many cameras.
 *
 * World frame: metres, x to the right of the street, y up, z along the
 * street (the camera looks roughly down +z); the road surface is y = 0. */
#ifndef EM_SCENES_SCENE_H
#define EM_SCENES_SCENE_H
#include <stddef.h>
#include <stdint.h>
#include "edgemoe.h"

#define EM_MAX_PRIMS 1024

enum { EM_PRIM_BOX = 0, EM_PRIM_CYL = 1, EM_PRIM_ELLIPSOID = 2 };

/* Materials: how the shader textures a primitive. */
enum {
    EM_MAT_FACADE = 0, EM_MAT_ROOFWALL, EM_MAT_FENCE, EM_MAT_METAL, EM_MAT_SIGN, EM_MAT_TLIGHT,
    EM_MAT_BARK, EM_MAT_LEAVES, EM_MAT_CLOTH, EM_MAT_SKIN, EM_MAT_PAINT, EM_MAT_CABIN,
    EM_MAT_TYRE, EM_MAT_BUSBODY, EM_MAT_PLAIN,
};

/* One solid.  box: centre c, half extents h (local frame), yaw (cs, sn)
 * about the vertical through c; cylinder: vertical, axis through (c.x, c.z),
 * radius h.x, y in c.y +- h.y; ellipsoid: centre c, axis-aligned radii h. */
typedef struct {
    uint8_t kind, mat;
    int8_t cls;         /* EM_CLASS_* */
    uint8_t pad;
    uint32_t salt;      /* texture seed */
    float c[3], h[3];
    float cs, sn;       /* yaw: world = (cs*lx + sn*lz, ly, -sn*lx + cs*lz) + c */
    float col[3];       /* base albedo (linear) */
    float col2[3];      /* second albedo (window glass, trim, ...) */
    float p[4];         /* material parameters */
    float bmin[3], bmax[3]; /* world AABB */
    float ih[3];        /* 1 / h */
} em_prim;

/* Terrain: road y = 0 for road_l <= x <= road_r, raised by kerb_h outside it
 * (sidewalks, verges, yards), with vertical kerb faces at x = road_l, road_r. */
enum { EM_SURF_ROAD = 0, EM_SURF_TOP = 1, EM_SURF_KERB = 2 };
#define EM_MAX_YARDS 48
typedef struct {
    float road_l, road_r, kerb_h;
    float walk_w[2];        /* sidewalk width, left / right */
    float verge_w[2];       /* grass strip between kerb and sidewalk (0: none) */
    int n_yards[2];         /* beyond the sidewalk: z segments, grass or paved */
    float yard_z0[2][EM_MAX_YARDS];
    uint8_t yard_grass[2][EM_MAX_YARDS];
    int n_lanes;            /* lane markings: n_lanes lanes of lane_w from road_l */
    float lane_w;
    float lane_line_w, dash_len, dash_gap;
    int centre_solid, centre_yellow, edge_lines;
    float zebra_z0, zebra_z1; /* zebra crossing (z0 >= z1: none) */
    float asphalt[3], walk[3], walk2[3], kerb[3], grass[3], paint[3], yellow[3];
    float walk_tile;        /* paving slab size */
    uint32_t salt;
} em_terrain;

/* The rig of the camera that took the scene's picture. */
typedef struct {
    float x, height;        /* lateral position, height above the road */
    float z;
    float yaw, pitch, roll; /* radians; pitch > 0 looks up */
    float hfov;             /* horizontal field of view, radians */
    float cx_off, cy_off;   /* principal point offset, fraction of w / h */
} em_rig;

typedef struct {
    float sun[3];           /* unit vector towards the sun (sun[1] > 0) */
    float sun_col[3];       /* direct light (0 when overcast) */
    float amb_col[3];       /* sky ambient */
    float sky_zen[3], sky_hor[3], haze_col[3];
    float cloud_cover, cloud_col[3];
    float haze_density;     /* per metre */
    float exposure;
    float noise_sd;         /* sensor noise, in 8-bit levels */
    float lit_windows;      /* dusk: fraction of lit windows */
    int shadows;            /* 0: overcast, no cast shadows */
} em_light;

typedef struct {
    em_terrain ter;
    em_rig rig;
    em_light light;
    int bonnet;             /* ego bonnet at the bottom of the frame (ignore) */
    float bonnet_h, bonnet_curve;
    float bonnet_col[3];
    float street_end;       /* z of the row of buildings closing the street */
    int n_prims;
    em_prim prims[EM_MAX_PRIMS];
    uint32_t salt;
} em_world;

typedef struct {
    float pos[3];
    float right[3], up[3], fwd[3]; /* orthonormal; fwd = optical axis */
    float fx, fy, cx, cy;          /* pixels */
    int w, h;
} em_camera;

/* Pixel (i, j)'s centre ray, row j counted from the top:
 * d = fwd + ((i + 0.5 - cx) / fx) right - ((j + 0.5 - cy) / fy) up,
 * so d . fwd = 1 and the depth of the hit at o + t d is t itself. */
static inline void em_camera_ray(const em_camera *c, int i, int j, float d[3]) {
    float a = ((float)i + 0.5f - c->cx) / c->fx, b = ((float)j + 0.5f - c->cy) / c->fy;
    for (int k = 0; k < 3; k++) d[k] = (c->fwd[k] - b * c->up[k]) + a * c->right[k];
}

/* hit ids in the render's id buffer */
#define EM_ID_SKY 0xffffu
#define EM_ID_TERRAIN 0xfff0u /* + EM_SURF_* */
#define EM_ID_BONNET 0xfffeu

/* Builds scene `index` of (seed, split).  Deterministic, no allocation. */
void em_world_build(em_world *w, uint64_t seed, int split, uint64_t index);
/* The camera of a rig for a w x h image. */
void em_camera_from_rig(const em_rig *rig, int w, int h, em_camera *cam);

/* Scratch memory of em_world_render for a w x h image. */
size_t em_render_scratch_bytes(int w, int h);
/* Renders (any output may be NULL): rgb [h][w][3], label [h][w], depth [h][w]
 * (0 = invalid), id [h][w] (prim index or EM_ID_*).  `noise_key` seeds the
 * sensor noise.  scratch: em_render_scratch_bytes(w, h) bytes, 16-aligned. */
void em_world_render(const em_world *w, const em_camera *cam, void *scratch, uint64_t noise_key,
                     uint8_t *rgb, int8_t *label, float *depth, uint16_t *id);

/* Nearest t > tmin where the ray o + t d enters the primitive; 0 if none. */
int em_prim_intersect(const em_prim *p, const float o[3], const float d[3], float tmin, float *t);
/* About the distance of x from the primitive's surface (0 on it). */
float em_prim_surface_dist(const em_prim *p, const float x[3]);
/* Terrain hit along the ray: returns EM_SURF_* or -1 (no hit). */
int em_terrain_intersect(const em_terrain *t, const float o[3], const float d[3], float *tt);
/* Class of the terrain at x (on its surface): flat, or nature on grass. */
int em_terrain_class(const em_terrain *t, const float x[3]);
/* About the distance of x from the terrain surface. */
float em_terrain_surface_dist(const em_terrain *t, const float x[3]);
/* bonnet mask row test: 1 when pixel (i, j) is on the ego bonnet */
int em_bonnet_at(const em_world *w, const em_camera *cam, int i, int j);
#endif
