// An LD_PRELOAD library that makes a directory behave like a full disk on
// demand, for tests of the real daemon binary: while the file named by
// PRODOPS_FAIL_WRITES_FLAG exists, statvfs() of a path under
// PRODOPS_FAIL_WRITES_UNDER reports no free space, and every write or sync
// to a file under it fails with ENOSPC. Everything else passes through to
// libc.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

// Whether the disk is "full" and `path` is on it.
static int FullAt(const char* path) {
  const char* flag = getenv("PRODOPS_FAIL_WRITES_FLAG");
  const char* under = getenv("PRODOPS_FAIL_WRITES_UNDER");
  if (flag == NULL || under == NULL) return 0;
  struct stat st;
  if (stat(flag, &st) != 0) return 0;
  return strncmp(path, under, strlen(under)) == 0;
}

static int Failing(int fd) {
  if (fd <= 2) return 0;
  char link[64];
  char path[PATH_MAX];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, path, sizeof(path) - 1);
  if (n <= 0) return 0;
  path[n] = '\0';
  return FullAt(path);
}

#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

ssize_t write(int fd, const void* buf, size_t count) {
  if (Failing(fd)) {
    errno = ENOSPC;
    return -1;
  }
  return NEXT(write)(fd, buf, count);
}

ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  if (Failing(fd)) {
    errno = ENOSPC;
    return -1;
  }
  return NEXT(pwrite)(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void* buf, size_t count, off64_t offset) {
  if (Failing(fd)) {
    errno = ENOSPC;
    return -1;
  }
  return NEXT(pwrite64)(fd, buf, count, offset);
}

ssize_t writev(int fd, const struct iovec* iov, int iovcnt) {
  if (Failing(fd)) {
    errno = ENOSPC;
    return -1;
  }
  return NEXT(writev)(fd, iov, iovcnt);
}

int fsync(int fd) {
  if (Failing(fd)) {
    errno = ENOSPC;
    return -1;
  }
  return NEXT(fsync)(fd);
}

int fdatasync(int fd) {
  if (Failing(fd)) {
    errno = ENOSPC;
    return -1;
  }
  return NEXT(fdatasync)(fd);
}

int statvfs(const char* path, struct statvfs* buf) {
  const int result = NEXT(statvfs)(path, buf);
  if (result == 0 && FullAt(path)) buf->f_bavail = buf->f_bfree = 0;
  return result;
}
