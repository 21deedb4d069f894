/* Capture: appends every frame to a classic pcap file (tcpdump -r reads it). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "fdreg.h"

/* The classic format (not pcapng): a 24-byte file header, then per frame a
 * 16-byte record header and the bytes. Fields are in our byte order; the
 * magic tells readers which that is. Microsecond timestamps. */
#define PCAP_MAGIC_US 0xa1b2c3d4u
#define PCAP_VERSION_MAJOR 2
#define PCAP_VERSION_MINOR 4
#define PCAP_SNAPLEN 262144u
#define PCAP_FILE_HDR_LEN 24
#define PCAP_REC_HDR_LEN 16
/* Largest frame we store whole (STACK_RX_BUF); longer ones are cut here
 * and keep their true length in orig_len. */
#define CAPTURE_MAX_FRAME 65600u

struct capture {
    int fd;
    int linktype;
    /* Offset just past the last complete record: a failed write is cut
     * back to here so the file stays readable. */
    off_t good_end;
    /* Set when a failed write could not be cut back: later records would
     * land mid-record, so we stop writing. */
    int broken;
    uint64_t frames_written;
    uint64_t frames_failed; /* partial or failed writes, and frames skipped */
    uint64_t bytes_written;
    uint8_t record[PCAP_REC_HDR_LEN + CAPTURE_MAX_FRAME];
};

static void capture_put_u32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, sizeof(v)); /* host order, as the magic declares */
}

static void capture_put_u16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, sizeof(v));
}

/* Writes all of buf, retrying on EINTR and short writes. Returns 0 or
 * -errno (-ENOSPC for a write that made no progress). */
static int capture_write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -ENOSPC;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

struct capture *capture_open(const char *path, int linktype, char *err, size_t errlen)
{
    if (path == NULL || path[0] == '\0') {
        snprintf(err, errlen, "TOYSOCK_PCAP: empty capture file name");
        return NULL;
    }
    if (linktype < 0) {
        snprintf(err, errlen, "TOYSOCK_PCAP: invalid link type %d", linktype);
        return NULL;
    }
    struct capture *cap = malloc(sizeof(*cap));
    if (cap == NULL) {
        snprintf(err, errlen, "TOYSOCK_PCAP: out of memory for the capture of %s", path);
        return NULL;
    }
    /* A stack fd: kept out of the program's way and across a handover. */
    cap->fd = fdreg_take(open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (cap->fd < 0) {
        snprintf(err, errlen, "TOYSOCK_PCAP: cannot open %s: %s", path, strerror(errno));
        free(cap);
        return NULL;
    }
    cap->linktype = linktype;
    cap->broken = 0;
    cap->frames_written = 0;
    cap->frames_failed = 0;
    cap->bytes_written = 0;

    uint8_t hdr[PCAP_FILE_HDR_LEN];
    capture_put_u32(hdr + 0, PCAP_MAGIC_US);
    capture_put_u16(hdr + 4, PCAP_VERSION_MAJOR);
    capture_put_u16(hdr + 6, PCAP_VERSION_MINOR);
    capture_put_u32(hdr + 8, 0);  /* thiszone: timestamps are UTC */
    capture_put_u32(hdr + 12, 0); /* sigfigs */
    capture_put_u32(hdr + 16, PCAP_SNAPLEN);
    capture_put_u32(hdr + 20, (uint32_t)linktype);
    int rc = capture_write_all(cap->fd, hdr, sizeof(hdr));
    if (rc < 0) {
        snprintf(err, errlen, "TOYSOCK_PCAP: cannot write the header of %s: %s", path,
                 strerror(-rc));
        fdreg_close(cap->fd);
        free(cap);
        return NULL;
    }
    /* A pipe or a character device has no offset to cut back to. */
    off_t end = lseek(cap->fd, 0, SEEK_CUR);
    cap->good_end = end < 0 ? -1 : end;
    return cap;
}

/* After a failed record, cuts the file back to the last whole record, or
 * stops the capture when that is impossible. */
static void capture_recover(struct capture *cap)
{
    if (cap->good_end < 0 || ftruncate(cap->fd, cap->good_end) < 0 ||
        lseek(cap->fd, cap->good_end, SEEK_SET) != cap->good_end)
        cap->broken = 1;
}

void capture_write(struct capture *cap, const uint8_t *frame, size_t len)
{
    if (cap == NULL)
        return;
    if (cap->broken) {
        cap->frames_failed++;
        return;
    }
    size_t incl = len < CAPTURE_MAX_FRAME ? len : CAPTURE_MAX_FRAME;
    uint32_t orig = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint8_t *rec = cap->record;
    capture_put_u32(rec + 0, (uint32_t)ts.tv_sec);
    capture_put_u32(rec + 4, (uint32_t)(ts.tv_nsec / 1000));
    capture_put_u32(rec + 8, (uint32_t)incl);
    capture_put_u32(rec + 12, orig);
    if (incl > 0)
        memcpy(rec + PCAP_REC_HDR_LEN, frame, incl);
    /* One write per record, so a reader following the file live never sees
     * a header without its bytes on a regular file. */
    size_t total = PCAP_REC_HDR_LEN + incl;
    if (capture_write_all(cap->fd, rec, total) < 0) {
        cap->frames_failed++;
        capture_recover(cap);
        return;
    }
    cap->frames_written++;
    cap->bytes_written += total;
    if (cap->good_end >= 0)
        cap->good_end += (off_t)total;
}

void capture_close(struct capture *cap)
{
    if (cap == NULL)
        return;
    fdreg_close(cap->fd);
    free(cap);
}
