/* Building and reading the ancillary data of control messages: shared by
 * the native API and the preload shim, which each send and receive with
 * their own calls. */
#include <string.h>
#include <unistd.h>

#include "ctl_proto.h"

void ctl_msghdr_for_request(struct msghdr *mh, struct iovec *iov, union ctl_control *control,
                            const struct ctl_msg *msg, const int *fds, unsigned nfds)
{
    memset(control, 0, sizeof(*control));
    iov->iov_base = (void *)msg;
    iov->iov_len = sizeof(*msg);
    memset(mh, 0, sizeof(*mh));
    mh->msg_iov = iov;
    mh->msg_iovlen = 1;
    if (nfds == 0)
        return;
    if (nfds > CTL_MAX_FDS)
        nfds = CTL_MAX_FDS;
    mh->msg_control = control->buf;
    mh->msg_controllen = CMSG_SPACE(nfds * sizeof(int));
    struct cmsghdr *cm = CMSG_FIRSTHDR(mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
}

int ctl_msghdr_take_fd(struct msghdr *mh)
{
    int taken = -1;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (taken < 0)
                taken = fd;
            else
                close(fd);
        }
    }
    return taken;
}
