/* file.c — see file.h. */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "mem.h"

int r1c_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

char *r1c_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a > 0 && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

r1c_status r1c_pread_exact(int fd, void *buf, size_t n, uint64_t off, const char *path) {
    uint8_t *p = buf;
    while (n > 0) {
        size_t chunk = n > (1u << 30) ? (1u << 30) : n;
        ssize_t got = pread(fd, p, chunk, (off_t)off);
        if (got < 0) {
            if (errno == EINTR) continue;
            return r1c_error(R1C_ERR_IO, "%s: read failed: %s", path, strerror(errno));
        }
        if (got == 0) return r1c_error(R1C_ERR_FORMAT, "%s: unexpected end of file", path);
        p += got;
        n -= (size_t)got;
        off += (uint64_t)got;
    }
    return R1C_OK;
}

/* pread of exactly n bytes: 0, -1 at end of file, or an errno */
static int pread_raw(int fd, uint8_t *p, size_t n, uint64_t off) {
    while (n > 0) {
        ssize_t got = pread(fd, p, n > (1u << 30) ? (1u << 30) : n, (off_t)off);
        if (got < 0) {
            if (errno == EINTR) continue;
            return errno ? errno : EIO;
        }
        if (got == 0) return -1;
        p += got;
        n -= (size_t)got;
        off += (uint64_t)got;
    }
    return 0;
}

/* A big file read by all threads, 32 MiB pieces each: the kernel zeroes and fills the fresh
 * pages in the thread that touches them, so the copy into new memory goes wide (on the
 * project's VM first-touch page faults, not the disk, bound a single reader). */
static r1c_status pread_wide(int fd, uint8_t *buf, size_t n, const char *path) {
    const size_t piece = (size_t)32 << 20;
    if (n < 4 * piece) return r1c_pread_exact(fd, buf, n, 0, path);
    const int64_t np = (int64_t)((n + piece - 1) / piece);
    int err = 0;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t i = 0; i < np; i++) {
        const size_t off = (size_t)i * piece, len = n - off < piece ? n - off : piece;
        const int e = pread_raw(fd, buf + off, len, off);
        if (e) {
#pragma omp critical(r1c_pread_wide)
            if (!err) err = e;
        }
    }
    if (err == -1) return r1c_error(R1C_ERR_FORMAT, "%s: unexpected end of file", path);
    if (err) return r1c_error(R1C_ERR_IO, "%s: read failed: %s", path, strerror(err));
    return R1C_OK;
}

static r1c_status open_regular(const char *path, int *fd, size_t *size) {
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0)
        return r1c_error(errno == ENOENT ? R1C_ERR_MISSING : R1C_ERR_IO, "%s: cannot open: %s",
                         path, strerror(errno));
    struct stat st;
    if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(*fd);
        return r1c_error(R1C_ERR_IO, "%s: not a regular file", path);
    }
    *size = (size_t)st.st_size;
    return R1C_OK;
}

r1c_status r1c_blob_load(const char *path, int use_mmap, size_t align_at, r1c_blob *out) {
    memset(out, 0, sizeof *out);
    int fd;
    size_t size;
    r1c_status st = open_regular(path, &fd, &size);
    if (st != R1C_OK) return st;
    out->size = size;
    if (use_mmap) {
        if (size == 0) { /* mmap of 0 bytes fails; an empty file is simply empty */
            close(fd);
            static uint8_t empty[1];
            out->data = empty;
            return R1C_OK;
        }
        void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (p == MAP_FAILED) return r1c_error(R1C_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
        madvise(p, size, MADV_WILLNEED);
        out->data = p;
        out->region = p;
        out->region_size = size;
        out->mapped = 1;
        return R1C_OK;
    }
    /* Anonymous memory: the weights then stay resident (no page cache eviction under a
     * running model) and, with THP, are backed by 2 MiB pages. */
    size_t pad = (R1C_ALIGN - (align_at % R1C_ALIGN)) % R1C_ALIGN;
    size_t region_size = size + pad + R1C_ALIGN;
    uint8_t *region = r1c_big_alloc(region_size);
    if (!region) {
        close(fd);
        return r1c_error(R1C_ERR_NOMEM, "%s: out of memory for %zu bytes", path, size);
    }
    st = pread_wide(fd, region + pad, size, path);
    close(fd);
    if (st != R1C_OK) {
        r1c_big_free(region, region_size);
        return st;
    }
    out->data = region + pad;
    out->region = region;
    out->region_size = region_size;
    return R1C_OK;
}

void r1c_blob_free(r1c_blob *b) {
    if (!b) return;
    if (b->region) {
        if (b->mapped) munmap(b->region, b->region_size);
        else r1c_big_free(b->region, b->region_size);
    }
    memset(b, 0, sizeof *b);
}

r1c_status r1c_read_small_file(const char *path, size_t max, char **out, size_t *len) {
    *out = NULL;
    int fd;
    size_t size;
    r1c_status st = open_regular(path, &fd, &size);
    if (st != R1C_OK) return st;
    if (size > max) {
        close(fd);
        return r1c_error(R1C_ERR_FORMAT, "%s: file is %zu bytes, more than the %zu allowed", path,
                         size, max);
    }
    char *buf = malloc(size + 1);
    if (!buf) {
        close(fd);
        return r1c_error(R1C_ERR_NOMEM, "%s: out of memory", path);
    }
    st = r1c_pread_exact(fd, buf, size, 0, path);
    close(fd);
    if (st != R1C_OK) {
        free(buf);
        return st;
    }
    buf[size] = 0;
    *out = buf;
    if (len) *len = size;
    return R1C_OK;
}
