//! The release front's process start-up: glibc's static `__libc_start_main`, minus the CPU
//! probe.
//!
//! Why: a statically linked glibc program runs `init_cpu_features` before `main`, and on the
//! VMs pbal is measured on (and many cloud VMs) every `cpuid` instruction traps to the
//! hypervisor. glibc's probe executes 68 of them here (49 only to size the caches for
//! `memcpy`'s tuning), ~7 µs each: ~0.5 ms, about half of a whole 10^3-row `pbal plan`, spent
//! before `main`. Nothing a plan does needs the result: it selects the AVX2/ERMS variants of
//! the string functions, which at a plan's sizes are no faster than the SSE2 baselines every
//! x86-64 CPU has.
//!
//! So the front, when linked statically (`scripts/build-release.sh`), defines
//! `__libc_start_main` itself, and the static-pie start code (`rcrt1.o`) calls this one instead of
//! glibc's. It takes glibc 2.36's own steps, in glibc's order, by calling glibc's own
//! functions: the auxiliary vector, tunables, the static-pie self-relocation (which runs the
//! IFUNC resolvers: they find no CPU features and pick the baseline functions), thread-local
//! storage, the stack and pointer guards from `AT_RANDOM`, glibc's early and first
//! initialisation, the `atexit` of the `.fini_array`, the `.preinit_array`/`_init`/`.init_array`
//! constructors (std's argument capture is one), then `exit(main(…))`. It only skips the CPU
//! probe, and sets the string functions' size thresholds, which the probe would have computed,
//! to glibc's own defaults. Because this object defines every symbol of glibc's `libc-start.o`
//! that anything else refers to, that object is never linked: `scripts/check-static-front.sh`
//! checks that its CPU-probe functions are absent from the release front, and that the front
//! plans byte for byte like `pbal-full`.
//!
//! What the probe would also have set stays at glibc's defaults, and the front uses none of it:
//! `AT_HWCAP`/platform strings for `dlopen` paths, `sysconf`'s cache sizes, the x86 tunables of
//! `GLIBC_TUNABLES`. Also left out, as the front needs neither: the `setjmp` glibc wraps `main`
//! in so that `pthread_exit` from the main thread ends it (the front never calls it), and unwind
//! information for the assembly (a backtrace stops at `after_relocation`).
//!
//! It follows glibc 2.36 (Debian 12, the toolchain's C library) step by step, so it is compiled
//! only when `scripts/build-release.sh` finds exactly that version (`getconf
//! GNU_LIBC_VERSION`) and sets `--cfg pbal_glibc_start`; with any other glibc the front keeps
//! glibc's own start-up. The dynamically linked builds (`cargo build`, `pbal-full`) never
//! compile this: there `ld.so` has already run before any code of ours, and libc's own entry
//! point is the right one.

use std::ffi::{c_char, c_int, c_long, c_void};

/// A constructor in `.preinit_array`/`.init_array`, called as glibc calls them.
type Init = unsafe extern "C" fn(c_int, *mut *mut c_char, *mut *mut c_char);
/// A destructor in `.fini_array`.
type Fini = unsafe extern "C" fn();
/// The program's C `main` (the front's is in `main.rs`).
type Main = unsafe extern "C" fn(c_int, *mut *mut c_char, *mut *mut c_char) -> c_int;

// glibc's internal (hidden) symbols: in a static link they are ordinary symbols of the same
// executable. Signatures as in glibc 2.36 (Debian 12, the toolchain's C library).
unsafe extern "C" {
    // Written by glibc (`setenv`), so never assumed unchanged.
    static mut __environ: *mut *mut c_char;
    static _dl_random: *const u8;
    static __libc_enable_secure: c_int;
    fn __libc_setup_tls();
    fn __libc_early_init(initial: bool);
    fn __libc_init_first(argc: c_int, argv: *mut *mut c_char, env: *mut *mut c_char);
    fn __libc_check_standard_fds();
    fn __cxa_atexit(
        f: unsafe extern "C" fn(*mut c_void),
        arg: *mut c_void,
        dso: *mut c_void,
    ) -> c_int;
    fn _dl_debug_initialize(ldbase: usize, ns: c_long) -> *mut c_void;
    fn _init();
    fn _fini();
    fn exit(status: c_int) -> !;
    // Defined by the linker around the constructor and destructor arrays.
    static __preinit_array_start: [Init; 0];
    static __preinit_array_end: [Init; 0];
    static __init_array_start: [Init; 0];
    static __init_array_end: [Init; 0];
    static __fini_array_start: [Fini; 0];
    static __fini_array_end: [Fini; 0];
}

// The string functions' tuning, otherwise defined (and computed by the CPU probe) in glibc's
// `libc-start.o`. Values: glibc's static defaults (32 KiB data cache, 1 MiB shared cache, 2 KiB
// `rep movsb`/`rep stosb` thresholds, read only by the ERMS variants, which are not selected).
// The non-temporal threshold (copies above it bypass the cache) has no static default in glibc,
// which sets it to 3/4 of the shared cache it finds (~181 MiB on the measuring VM, which reports
// a 480 MiB L3). 16 MiB keeps every copy a plan makes on the ordinary path (a 10^6-row plan
// makes none over 4 MiB); larger copies would only be slower or faster, never different.
#[unsafe(no_mangle)]
static mut __x86_data_cache_size_half: c_long = 32 * 1024 / 2;
#[unsafe(no_mangle)]
static mut __x86_data_cache_size: c_long = 32 * 1024;
#[unsafe(no_mangle)]
static mut __x86_shared_cache_size_half: c_long = 1024 * 1024 / 2;
#[unsafe(no_mangle)]
static mut __x86_shared_cache_size: c_long = 1024 * 1024;
#[unsafe(no_mangle)]
static mut __x86_shared_non_temporal_threshold: c_long = 16 * 1024 * 1024;
#[unsafe(no_mangle)]
static mut __x86_rep_movsb_threshold: c_long = 2048;
#[unsafe(no_mangle)]
static mut __x86_rep_stosb_threshold: c_long = 2048;
#[unsafe(no_mangle)]
static mut __x86_rep_movsb_stop_threshold: c_long = 16 * 1024 * 1024;
#[unsafe(no_mangle)]
static mut __x86_string_control: c_int = 0;

/// Runs the `.fini_array` destructors, last first, then `_fini` (registered with
/// `__cxa_atexit`, as glibc does, so `exit` runs them after the `atexit` handlers registered
/// later).
unsafe extern "C" fn call_fini(_: *mut c_void) {
    // SAFETY: the linker's bounds of this executable's `.fini_array`.
    unsafe {
        let start = (&raw const __fini_array_start).cast::<Fini>();
        let mut at = (&raw const __fini_array_end).cast::<Fini>();
        while at > start {
            at = at.sub(1);
            (*at)();
        }
        _fini();
    }
}

/// Calls each constructor between `start` and `end` with the program's arguments.
///
/// # Safety
/// `start..end` are the linker's bounds of one of this executable's constructor arrays.
unsafe fn run_inits(
    start: *const Init,
    end: *const Init,
    argc: c_int,
    argv: *mut *mut c_char,
    env: *mut *mut c_char,
) {
    let mut at = start;
    while at < end {
        // SAFETY: as the caller promised.
        unsafe {
            (*at)(argc, argv, env);
            at = at.add(1);
        }
    }
}

// The entry `rcrt1.o`'s `_start` calls: `__libc_start_main(main, argc, argv, init, fini,
// rtld_fini, stack_end)`, with the kernel's `argc`/`argv` (the environment and the auxiliary
// vector follow `argv` on the stack); `init` and `fini` are null since glibc 2.34, `rtld_fini`
// is null in a static program. Until `_dl_relocate_static_pie` returns, the executable's own
// pointers (its GOT among them) still hold link-time addresses and the string functions' IFUNCs
// are unresolved, so this first part is assembly that only calls functions directly and
// addresses data relative to the instruction pointer (compiled Rust loads extern symbols from
// the GOT). It stores the environment and the stack end, hands the auxiliary vector and the
// environment to glibc, relocates, and goes on in `after_relocation`.
std::arch::global_asm!(
    ".globl __libc_start_main",
    ".type __libc_start_main, @function",
    "__libc_start_main:",
    // Five pushes: the stack is 16-byte aligned for the calls below.
    "push rbx",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "mov rbx, rdi",
    "mov r12d, esi",
    "mov r13, rdx",
    "mov r14, r9",
    // stack_end, the seventh argument: above the return address and the five pushes.
    "mov rax, [rsp + 48]",
    "mov [rip + __libc_stack_end], rax",
    "movsxd rax, esi",
    "lea rdi, [rdx + rax * 8 + 8]",
    "mov [rip + __environ], rdi",
    // The auxiliary vector starts after the environment's null.
    "2:",
    "cmp qword ptr [rdi], 0",
    "lea rdi, [rdi + 8]",
    "jne 2b",
    "call _dl_aux_init",
    "mov rdi, [rip + __environ]",
    "call __tunables_init",
    // glibc probes the CPU here. Left out: see the module documentation.
    "call _dl_relocate_static_pie",
    "mov rdi, rbx",
    "mov esi, r12d",
    "mov rdx, r13",
    "mov rcx, r14",
    "call {after}",
    "ud2",
    ".size __libc_start_main, . - __libc_start_main",
    after = sym after_relocation,
);

/// The rest of glibc's start-up, once the executable is relocated: thread-local storage, the
/// guards, glibc's own initialisation, the constructors, then `exit(main(…))`.
///
/// # Safety
/// Called once, by `__libc_start_main` above, with `_start`'s arguments.
unsafe extern "C" fn after_relocation(
    main: Main,
    argc: c_int,
    argv: *mut *mut c_char,
    rtld_fini: Option<unsafe extern "C" fn(*mut c_void)>,
) -> ! {
    // SAFETY: glibc's start-up sequence, called once with the kernel's own arguments; see the
    // module documentation for each step.
    unsafe {
        __libc_setup_tls();
        // The stack protector's canary (its low byte zero, so a string copy cannot forge it) and
        // the pointer guard that `setjmp` and `atexit` mangle code pointers with, from the
        // kernel's 16 random bytes, into the thread control block as glibc puts them.
        let random = _dl_random;
        let canary = u64::from_ne_bytes(*random.cast::<[u8; 8]>()) & !0xff;
        let pointer_guard = u64::from_ne_bytes(*random.add(8).cast::<[u8; 8]>());
        std::arch::asm!(
            "mov qword ptr fs:[0x28], {canary}",
            "mov qword ptr fs:[0x30], {guard}",
            canary = in(reg) canary,
            guard = in(reg) pointer_guard,
            options(nostack, preserves_flags),
        );
        if let Some(f) = rtld_fini {
            __cxa_atexit(f, std::ptr::null_mut(), std::ptr::null_mut());
        }
        __libc_early_init(true);
        __libc_init_first(argc, argv, __environ);
        __cxa_atexit(call_fini, std::ptr::null_mut(), std::ptr::null_mut());
        if __libc_enable_secure != 0 {
            __libc_check_standard_fds();
        }
        let env = __environ;
        run_inits(
            (&raw const __preinit_array_start).cast(),
            (&raw const __preinit_array_end).cast(),
            argc,
            argv,
            env,
        );
        _init();
        run_inits(
            (&raw const __init_array_start).cast(),
            (&raw const __init_array_end).cast(),
            argc,
            argv,
            env,
        );
        _dl_debug_initialize(0, 0);
        exit(main(argc, argv, __environ))
    }
}
