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
    st = r1c_pread_exact(fd, region + pad, size, 0, path);
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
