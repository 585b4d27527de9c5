// The system calls `lanekeeper watch` drops its privileges with that Swift cannot call
// directly (prctl and syscall are variadic; capset has no glibc wrapper).
#pragma once
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/// prctl(option, argument, 0, 0, 0).
static inline int lk_prctl(int option, unsigned long argument) {
    return prctl(option, argument, 0UL, 0UL, 0UL);
}

/// prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0).
static inline int lk_clear_ambient(void) {
    return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0UL, 0UL, 0UL);
}

/// Empties the calling thread's effective, permitted and inheritable capability sets.
static inline int lk_clear_capabilities(void) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {{0, 0, 0}};
    return (int)syscall(SYS_capset, &header, data);
}

/// Sets the calling thread's capability sets to the given masks (capabilities 0-63).
static inline int lk_set_capabilities(unsigned long long effective, unsigned long long permitted,
                                      unsigned long long inheritable) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {
        {(unsigned)effective, (unsigned)permitted, (unsigned)inheritable},
        {(unsigned)(effective >> 32), (unsigned)(permitted >> 32), (unsigned)(inheritable >> 32)}};
    return (int)syscall(SYS_capset, &header, data);
}

// glibc's setresuid/setresgid (declared only under _GNU_SOURCE) change every thread's ids.
extern int setresuid(uid_t ruid, uid_t euid, uid_t suid);
extern int setresgid(gid_t rgid, gid_t egid, gid_t sgid);

static inline int lk_setresuid(uid_t uid) { return setresuid(uid, uid, uid); }
static inline int lk_setresgid(gid_t gid) { return setresgid(gid, gid, gid); }
