// LD_PRELOAD shim: hides AVX-512 and VNNI from the process's CPUID, so that ONNX Runtime (MLAS),
// which picks its kernels from CPUID at run time and has no switch for it, runs its AVX2 kernels on
// an AVX-512 machine. Lets one x86 machine measure what an AVX2-only CPU (no VNNI) computes and,
// roughly, how fast. Linux only, and only where the CPU can fault CPUID (`cpuid_fault` in
// /proc/cpuinfo): CPUID then traps (SIGSEGV) and the handler answers it with the feature bits
// cleared. See README.md beside this file.
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <cpuid.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef ARCH_SET_CPUID
#define ARCH_SET_CPUID 0x1012
#endif

// CPUID.(EAX=7,ECX=0): EBX AVX512F 16, DQ 17, IFMA 21, PF 26, ER 27, CD 28, BW 30, VL 31;
// ECX VBMI 1, VBMI2 6, VNNI 11, BITALG 12, VPOPCNTDQ 14; EDX 4VNNIW 2, 4FMAPS 3, VP2INTERSECT 8,
// FP16 23, AMX-BF16 22, AMX-TILE 24, AMX-INT8 25. CPUID.(EAX=7,ECX=1): EAX AVX-VNNI 4, AVX512_BF16 5.
#define EBX7_MASK ((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 30) | (1u << 31))
#define ECX7_MASK ((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14))
#define EDX7_MASK ((1u << 2) | (1u << 3) | (1u << 8) | (1u << 22) | (1u << 23) | (1u << 24) | (1u << 25))
#define EAX71_MASK ((1u << 4) | (1u << 5))

static long set_cpuid(int enabled) { return syscall(SYS_arch_prctl, ARCH_SET_CPUID, enabled); }

static void on_segv(int sig, siginfo_t *info, void *context) {
    (void)info;
    ucontext_t *uc = (ucontext_t *)context;
    greg_t *r = uc->uc_mcontext.gregs;
    const unsigned char *ip = (const unsigned char *)r[REG_RIP];
    if (ip[0] != 0x0f || ip[1] != 0xa2) {
        // A real fault: let it kill the process as it would have.
        signal(sig, SIG_DFL);
        return;
    }
    unsigned leaf = (unsigned)r[REG_RAX], sub = (unsigned)r[REG_RCX], a, b, c, d;
    set_cpuid(1);
    __cpuid_count(leaf, sub, a, b, c, d);
    set_cpuid(0);
    if (leaf == 7 && sub == 0) {
        b &= ~EBX7_MASK;
        c &= ~ECX7_MASK;
        d &= ~EDX7_MASK;
    } else if (leaf == 7 && sub == 1) {
        a &= ~EAX71_MASK;
    }
    r[REG_RAX] = a;
    r[REG_RBX] = b;
    r[REG_RCX] = c;
    r[REG_RDX] = d;
    r[REG_RIP] += 2;
}

__attribute__((constructor)) static void cpuid_mask_init(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    if (set_cpuid(0) != 0) {
        static const char msg[] = "cpuid_mask: this CPU/kernel cannot fault CPUID (no cpuid_fault); nothing masked\n";
        (void)!write(2, msg, sizeof msg - 1);
        if (getenv("CPUID_MASK_REQUIRED")) _exit(3);
    }
}
