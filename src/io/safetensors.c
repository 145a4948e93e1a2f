/* safetensors.c — see safetensors.h.
 *
 * Every number in a header is untrusted: offsets, shapes and the header length are checked
 * for range and overflow before anything is computed from them, so a hostile file gets a
 * one-line error naming the file and the tensor, never an out-of-bounds access. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../base/error.h"
#include "json.h"

#define MAX_EXACT_INT 9007199254740992.0 /* 2^53: JSON numbers beyond this lose integers */

/* ------------------------------------------------------------------ parsing */


/* A JSON number that is a non-negative integer below 2^53. */
static int json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!isfinite(d) || d < 0 || d >= MAX_EXACT_INT || d != floor(d)) return 0;
    *out = (uint64_t)d;
    return 1;
}

static int cmp_name(const void *a, const void *b) {
    const r1c_st_entry *x = *(const r1c_st_entry *const *)a, *y = *(const r1c_st_entry *const *)b;
    return strcmp(x->name, y->name);
}

static int cmp_begin(const void *a, const void *b) {
    const r1c_st_entry *x = *(const r1c_st_entry *const *)a, *y = *(const r1c_st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static r1c_status parse_entry(const char *path, const cJSON *item, uint64_t data_size,
                              r1c_st_entry *e) {
    const char *name = item->string;
    if (!cJSON_IsObject(item))
        return r1c_error(R1C_ERR_FORMAT, "%s: tensor '%s': expected an object, got %s", path,
                         name, r1c_json_type_name(item));
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dt))
        return r1c_error(R1C_ERR_FORMAT, "%s: tensor '%s': 'dtype' must be a string, got %s",
                         path, name, r1c_json_type_name(dt));
    int dtype = r1c_dtype_from_name(dt->valuestring);
    if (dtype < 0 || r1c_dtype_is_quant((r1c_dtype)dtype)) /* block formats live in GGUF, not here */
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s: tensor '%s': unknown dtype '%s'", path, name,
                         dt->valuestring);
    e->dtype = (r1c_dtype)dtype;
    if (!cJSON_IsArray(sh))
        return r1c_error(R1C_ERR_FORMAT, "%s: tensor '%s': 'shape' must be an array, got %s",
                         path, name, r1c_json_type_name(sh));
    int nd = cJSON_GetArraySize(sh);
    if (nd > R1C_MAX_DIMS)
        return r1c_error(R1C_ERR_UNSUPPORTED, "%s: tensor '%s': %d dimensions (at most %d)",
                         path, name, nd, R1C_MAX_DIMS);
    e->n_dims = nd;
    uint64_t numel = 1;
    int i = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, sh) {
        uint64_t v;
        if (!json_uint(d, &v))
            return r1c_error(R1C_ERR_FORMAT,
                             "%s: tensor '%s': shape[%d] is not a non-negative integer", path,
                             name, i);
        e->shape[i++] = (int64_t)v;
        if (__builtin_mul_overflow(numel, v, &numel))
            return r1c_error(R1C_ERR_FORMAT, "%s: tensor '%s': shape product overflows", path, name);
    }
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return r1c_error(R1C_ERR_FORMAT,
                         "%s: tensor '%s': 'data_offsets' must be an array of two integers", path,
                         name);
    if (!json_uint(cJSON_GetArrayItem(off, 0), &e->begin) ||
        !json_uint(cJSON_GetArrayItem(off, 1), &e->end))
        return r1c_error(R1C_ERR_FORMAT,
                         "%s: tensor '%s': data_offsets are not non-negative integers", path, name);
    if (e->begin > e->end)
        return r1c_error(R1C_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] run backwards",
                         path, name, (unsigned long long)e->begin, (unsigned long long)e->end);
    if (e->end > data_size)
        return r1c_error(R1C_ERR_FORMAT,
                         "%s: tensor '%s': data_offsets [%llu, %llu] end outside the data area "
                         "(%llu bytes; file truncated?)",
                         path, name, (unsigned long long)e->begin, (unsigned long long)e->end,
                         (unsigned long long)data_size);
    uint64_t want;
    if (__builtin_mul_overflow(numel, (uint64_t)r1c_dtype_size(e->dtype), &want) ||
        want != e->end - e->begin)
        return r1c_error(R1C_ERR_FORMAT,
                         "%s: tensor '%s': %s shape of %llu elements needs %llu bytes, but "
                         "data_offsets give %llu",
                         path, name, r1c_dtype_name(e->dtype), (unsigned long long)numel,
                         (unsigned long long)want, (unsigned long long)(e->end - e->begin));
    return R1C_OK;
}

static r1c_status check_metadata(const char *path, const cJSON *meta) {
    if (!cJSON_IsObject(meta))
        return r1c_error(R1C_ERR_FORMAT, "%s: '__metadata__' must be an object, got %s", path,
                         r1c_json_type_name(meta));
    const cJSON *kv;
    cJSON_ArrayForEach(kv, meta) {
        if (!cJSON_IsString(kv))
            return r1c_error(R1C_ERR_FORMAT, "%s: __metadata__ '%s' must be a string, got %s",
                             path, kv->string, r1c_json_type_name(kv));
    }
    return R1C_OK;
}

r1c_status r1c_st_parse(const char *path, const uint8_t *head, size_t head_len,
                        uint64_t file_size, r1c_st_header *out) {
    memset(out, 0, sizeof *out);
    if (file_size < 8 || head_len < 8)
        return r1c_error(R1C_ERR_FORMAT, "%s: %llu bytes is too short for a safetensors file",
                         path, (unsigned long long)file_size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | head[i];
    if (n > R1C_ST_MAX_HEADER)
        return r1c_error(R1C_ERR_FORMAT, "%s: header length %llu is over the %u byte limit", path,
                         (unsigned long long)n, R1C_ST_MAX_HEADER);
    if (n > file_size - 8)
        return r1c_error(R1C_ERR_FORMAT,
                         "%s: header length %llu runs past the end of the file (%llu bytes)",
                         path, (unsigned long long)n, (unsigned long long)file_size);
    if (head_len < 8 + n)
        return r1c_error(R1C_ERR_INVALID_ARG, "%s: header not fully read", path);
    const char *json = (const char *)head + 8;
    if (n < 2 || json[0] != '{')
        return r1c_error(R1C_ERR_FORMAT, "%s: header does not start with a JSON object", path);
    out->data_start = 8 + n;
    out->data_size = file_size - out->data_start;

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, (size_t)n, &end, 0);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long pos = (at && at >= json && at <= json + n) ? (long)(at - json) : -1;
        return r1c_error(R1C_ERR_FORMAT, "%s: header is not valid JSON (near byte %ld)", path, pos);
    }
    /* trailing bytes may only be the spaces writers pad with */
    for (const char *p = end; p && p < json + n; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != 0) {
            cJSON_Delete(root);
            return r1c_error(R1C_ERR_FORMAT, "%s: trailing bytes after the JSON header", path);
        }
    }
    r1c_status st = R1C_OK;
    if (!cJSON_IsObject(root)) {
        st = r1c_error(R1C_ERR_FORMAT, "%s: header must be a JSON object", path);
        goto done;
    }
    int count = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root) count++;
    out->entries = calloc((size_t)count + 1, sizeof *out->entries);
    if (!out->entries) {
        st = r1c_error(R1C_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    int n_meta = 0;
    cJSON_ArrayForEach(item, root) {
        if (strcmp(item->string, "__metadata__") == 0) {
            if (++n_meta > 1) {
                st = r1c_error(R1C_ERR_FORMAT, "%s: duplicate '__metadata__'", path);
                goto done;
            }
            if ((st = check_metadata(path, item)) != R1C_OK) goto done;
            continue;
        }
        r1c_st_entry *e = &out->entries[out->n];
        e->name = strdup(item->string);
        if (!e->name) {
            st = r1c_error(R1C_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
        out->n++;
        if ((st = parse_entry(path, item, out->data_size, e)) != R1C_OK) goto done;
    }
    /* duplicate names and overlapping byte ranges, on sorted views */
    if (out->n > 1) {
        r1c_st_entry **v = malloc(sizeof *v * (size_t)out->n);
        if (!v) {
            st = r1c_error(R1C_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
        for (int i = 0; i < out->n; i++) v[i] = &out->entries[i];
        qsort(v, (size_t)out->n, sizeof *v, cmp_name);
        for (int i = 1; i < out->n && st == R1C_OK; i++)
            if (strcmp(v[i - 1]->name, v[i]->name) == 0)
                st = r1c_error(R1C_ERR_FORMAT, "%s: tensor '%s' appears twice", path, v[i]->name);
        if (st == R1C_OK) {
            qsort(v, (size_t)out->n, sizeof *v, cmp_begin);
            const r1c_st_entry *prev = NULL;
            for (int i = 0; i < out->n && st == R1C_OK; i++) {
                if (v[i]->begin == v[i]->end) continue; /* empty tensors occupy nothing */
                if (prev && prev->end > v[i]->begin)
                    st = r1c_error(R1C_ERR_FORMAT,
                                   "%s: tensor '%s' [%llu, %llu] overlaps tensor '%s' [%llu, %llu]",
                                   path, v[i]->name, (unsigned long long)v[i]->begin,
                                   (unsigned long long)v[i]->end, prev->name,
                                   (unsigned long long)prev->begin, (unsigned long long)prev->end);
                prev = v[i];
            }
        }
        free(v);
    }
done:
    cJSON_Delete(root);
    if (st != R1C_OK) r1c_st_header_free(out);
    return st;
}

void r1c_st_header_free(r1c_st_header *h) {
    if (!h) return;
    for (int i = 0; i < h->n; i++) free(h->entries[i].name);
    free(h->entries);
    memset(h, 0, sizeof *h);
}

/* -------------------------------------------------------------- file sets */

static r1c_status load_file(const char *path, int use_mmap, r1c_st_file *f) {
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    if (!f->path) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return r1c_error(errno == ENOENT ? R1C_ERR_MISSING : R1C_ERR_IO, "%s: cannot open: %s",
                         path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return r1c_error(R1C_ERR_IO, "%s: not a regular file", path);
    }
    uint64_t size = (uint64_t)sb.st_size;
    uint8_t len8[8];
    r1c_status st = size < 8 ? r1c_error(R1C_ERR_FORMAT,
                                         "%s: %llu bytes is too short for a safetensors file",
                                         path, (unsigned long long)size)
                             : r1c_pread_exact(fd, len8, 8, 0, path);
    if (st != R1C_OK) {
        close(fd);
        return st;
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | len8[i];
    /* read the header alone first: a bad header is rejected before loading gigabytes */
    size_t want = (n <= R1C_ST_MAX_HEADER && n <= size - 8) ? (size_t)(8 + n) : 8;
    uint8_t *head = malloc(want);
    if (!head) {
        close(fd);
        return r1c_error(R1C_ERR_NOMEM, "%s: out of memory", path);
    }
    st = r1c_pread_exact(fd, head, want, 0, path);
    close(fd);
    if (st == R1C_OK) st = r1c_st_parse(path, head, want, size, &f->hdr);
    free(head);
    if (st != R1C_OK) return st;
    if ((st = r1c_blob_load(path, use_mmap, (size_t)f->hdr.data_start, &f->blob)) != R1C_OK) return st;
    /* the header was checked against the size seen first: a file changed since is refused */
    if (f->blob.size != size)
        return r1c_error(R1C_ERR_IO, "%s: file changed size while loading (%llu, then %zu bytes)", path,
                         (unsigned long long)size, f->blob.size);
    return R1C_OK;
}

static void close_file(r1c_st_file *f) {
    free(f->path);
    r1c_blob_free(&f->blob);
    r1c_st_header_free(&f->hdr);
}

static uint32_t hash_name(const char *s) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static int lookup(const r1c_st_set *s, const char *name, int *fi, int *ei) {
    if (!s->n_slots) return 0;
    for (uint32_t h = hash_name(name) & (s->n_slots - 1);; h = (h + 1) & (s->n_slots - 1)) {
        if (s->slot_file[h] < 0) return 0;
        const r1c_st_entry *e = &s->files[s->slot_file[h]].hdr.entries[s->slot_entry[h]];
        if (strcmp(e->name, name) == 0) {
            *fi = s->slot_file[h];
            *ei = s->slot_entry[h];
            return 1;
        }
    }
}

static r1c_status build_index(r1c_st_set *s) {
    uint64_t total = 0;
    for (int f = 0; f < s->n_files; f++) total += (uint64_t)s->files[f].hdr.n;
    uint32_t slots = 16;
    while (slots < 2 * total + 1) slots <<= 1;
    s->slot_file = malloc(sizeof(int32_t) * slots);
    s->slot_entry = malloc(sizeof(int32_t) * slots);
    if (!s->slot_file || !s->slot_entry) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    s->n_slots = slots;
    for (uint32_t i = 0; i < slots; i++) s->slot_file[i] = -1;
    for (int f = 0; f < s->n_files; f++) {
        s->total_bytes += s->files[f].blob.size;
        for (int e = 0; e < s->files[f].hdr.n; e++) {
            const char *name = s->files[f].hdr.entries[e].name;
            int of, oe;
            if (lookup(s, name, &of, &oe))
                return r1c_error(R1C_ERR_FORMAT, "tensor '%s' is in both %s and %s", name,
                                 s->files[of].path, s->files[f].path);
            uint32_t h = hash_name(name) & (slots - 1);
            while (s->slot_file[h] >= 0) h = (h + 1) & (slots - 1);
            s->slot_file[h] = f;
            s->slot_entry[h] = e;
        }
    }
    return R1C_OK;
}

r1c_status r1c_st_open_file(const char *path, int use_mmap, r1c_st_set *out) {
    memset(out, 0, sizeof *out);
    out->files = calloc(1, sizeof *out->files);
    if (!out->files) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    out->n_files = 1;
    r1c_status st = load_file(path, use_mmap, &out->files[0]);
    if (st == R1C_OK) st = build_index(out);
    if (st != R1C_OK) r1c_st_close(out);
    return st;
}

/* Shard names come from a JSON file: only plain names inside DIR are accepted. */
static int safe_shard_name(const char *s) {
    if (!*s || strchr(s, '/') || strchr(s, '\\') || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    return 1;
}

static r1c_status open_sharded(const char *dir, const char *index_path, int use_mmap,
                               r1c_st_set *out) {
    char *text = NULL;
    size_t len = 0;
    r1c_status st = r1c_read_small_file(index_path, 64u << 20, &text, &len);
    if (st != R1C_OK) return st;
    cJSON *root = r1c_json_parse(text, len);
    free(text);
    if (!root) return r1c_error(R1C_ERR_FORMAT, "%s: not valid JSON", index_path);
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(map)) {
        cJSON_Delete(root);
        return r1c_error(R1C_ERR_FORMAT, "%s: 'weight_map' must be an object", index_path);
    }
    /* distinct shard names, in order of first appearance */
    int cap = cJSON_GetArraySize(map) + 1, n = 0;
    const char **names = calloc((size_t)cap, sizeof *names);
    if (!names) {
        cJSON_Delete(root);
        return r1c_error(R1C_ERR_NOMEM, "out of memory");
    }
    const cJSON *kv;
    cJSON_ArrayForEach(kv, map) {
        if (!cJSON_IsString(kv) || !safe_shard_name(kv->valuestring)) {
            st = r1c_error(R1C_ERR_FORMAT, "%s: weight_map '%s' must name a file in the directory",
                           index_path, kv->string);
            goto done;
        }
        int seen = 0;
        for (int i = 0; i < n && !seen; i++) seen = strcmp(names[i], kv->valuestring) == 0;
        if (!seen) names[n++] = kv->valuestring;
    }
    if (n == 0) {
        st = r1c_error(R1C_ERR_FORMAT, "%s: weight_map is empty", index_path);
        goto done;
    }
    out->files = calloc((size_t)n, sizeof *out->files);
    if (!out->files) {
        st = r1c_error(R1C_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < n && st == R1C_OK; i++) {
        char *p = r1c_path_join(dir, names[i]);
        out->n_files++;
        st = p ? load_file(p, use_mmap, &out->files[i]) : r1c_error(R1C_ERR_NOMEM, "out of memory");
        free(p);
    }
    if (st == R1C_OK) st = build_index(out);
    /* every tensor the index promises must be in the shard it names */
    cJSON_ArrayForEach(kv, map) {
        if (st != R1C_OK) break;
        int fi, ei;
        if (!lookup(out, kv->string, &fi, &ei)) {
            st = r1c_error(R1C_ERR_MISSING, "%s: tensor '%s' is listed for %s but not in it",
                           index_path, kv->string, kv->valuestring);
        } else {
            const char *base = strrchr(out->files[fi].path, '/');
            base = base ? base + 1 : out->files[fi].path;
            if (strcmp(base, kv->valuestring) != 0)
                st = r1c_error(R1C_ERR_FORMAT, "%s: tensor '%s' is listed for %s but found in %s",
                               index_path, kv->string, kv->valuestring, base);
        }
    }
done:
    free(names);
    cJSON_Delete(root);
    return st;
}

r1c_status r1c_st_open_dir(const char *dir, int use_mmap, r1c_st_set *out) {
    memset(out, 0, sizeof *out);
    char *index = r1c_path_join(dir, "model.safetensors.index.json");
    char *single = r1c_path_join(dir, "model.safetensors");
    r1c_status st;
    if (!index || !single) st = r1c_error(R1C_ERR_NOMEM, "out of memory");
    else if (r1c_file_exists(index)) st = open_sharded(dir, index, use_mmap, out);
    else if (r1c_file_exists(single)) st = r1c_st_open_file(single, use_mmap, out);
    else
        st = r1c_error(R1C_ERR_MISSING, "%s: no model.safetensors or model.safetensors.index.json",
                       dir);
    if (st != R1C_OK) r1c_st_close(out);
    free(index);
    free(single);
    return st;
}

void r1c_st_close(r1c_st_set *s) {
    if (!s) return;
    for (int i = 0; i < s->n_files; i++) close_file(&s->files[i]);
    free(s->files);
    free(s->slot_file);
    free(s->slot_entry);
    memset(s, 0, sizeof *s);
}

int r1c_st_find(const r1c_st_set *s, const char *name, r1c_tensor *view, const char **file) {
    int fi, ei;
    if (!lookup(s, name, &fi, &ei)) return 0;
    const r1c_st_file *f = &s->files[fi];
    const r1c_st_entry *e = &f->hdr.entries[ei];
    if (view) {
        memset(view, 0, sizeof *view);
        view->name = e->name;
        view->dtype = e->dtype;
        view->n_dims = e->n_dims;
        memcpy(view->shape, e->shape, sizeof view->shape);
        view->data = f->blob.data + f->hdr.data_start + e->begin;
        view->nbytes = e->end - e->begin;
    }
    if (file) *file = f->path;
    return 1;
}

/* ------------------------------------------------------------------ writing */

static int write_all(FILE *fp, const void *p, size_t n) { return fwrite(p, 1, n, fp) == n; }

r1c_status r1c_st_write(const char *path, const r1c_st_wtensor *t, int n,
                        const char *const *metadata) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    if (metadata && metadata[0]) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; m && metadata[i] && metadata[i + 1]; i += 2)
            cJSON_AddStringToObject(m, metadata[i], metadata[i + 1]);
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        uint64_t numel = 1;
        cJSON *o = cJSON_AddObjectToObject(root, t[i].name);
        cJSON *sh = cJSON_AddArrayToObject(o, "shape");
        for (int d = 0; d < t[i].n_dims; d++) {
            numel *= (uint64_t)t[i].shape[d];
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t[i].shape[d]));
        }
        uint64_t bytes = numel * (uint64_t)r1c_dtype_size(t[i].dtype);
        cJSON_AddStringToObject(o, "dtype", r1c_dtype_name(t[i].dtype));
        cJSON *of = cJSON_AddArrayToObject(o, "data_offsets");
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)(off + bytes)));
        off += bytes;
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json) return r1c_error(R1C_ERR_NOMEM, "out of memory");
    size_t jl = strlen(json), padded = (jl + 7) / 8 * 8;
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        free(json);
        return r1c_error(R1C_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    int ok = write_all(fp, len8, 8) && write_all(fp, json, jl);
    for (size_t i = jl; ok && i < padded; i++) ok = fputc(' ', fp) != EOF;
    free(json);
    size_t chunk_cap = 8u << 20;
    uint8_t *chunk = NULL;
    for (int i = 0; ok && i < n; i++) {
        uint64_t numel = 1;
        for (int d = 0; d < t[i].n_dims; d++) numel *= (uint64_t)t[i].shape[d];
        uint64_t bytes = numel * (uint64_t)r1c_dtype_size(t[i].dtype);
        if (t[i].data) {
            ok = write_all(fp, t[i].data, (size_t)bytes);
            continue;
        }
        if (!chunk && !(chunk = malloc(chunk_cap))) {
            ok = 0;
            break;
        }
        for (uint64_t o = 0; ok && o < bytes; o += chunk_cap) {
            size_t m = (size_t)(bytes - o < chunk_cap ? bytes - o : chunk_cap);
            t[i].fill(t[i].user, i, o, chunk, m);
            ok = write_all(fp, chunk, m);
        }
    }
    free(chunk);
    if (fclose(fp) != 0) ok = 0;
    if (!ok) return r1c_error(R1C_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return R1C_OK;
}
