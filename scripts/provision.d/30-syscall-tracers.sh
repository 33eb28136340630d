# The syscalls, fsio and perf tracers: their tools, the syscall-number header that names
# bpftrace's raw_syscalls events, and tracefs (bpftrace's tracepoints need it mounted).
apt_need strace strace bpftrace bpftrace perf linux-perf

# The syscalls tracer names bpftrace's syscall numbers from this header at run time.
if [ ! -f /usr/include/x86_64-linux-gnu/asm/unistd_64.h ] && [ "$(uname -m)" = x86_64 ]; then
  apt_install linux-libc-dev
fi

# tracefs is not mounted in some containers; tracepoints are invisible without it. The
# tracer mounts it itself when it may; doing it here makes `tracers list` say "available"
# from the start. A refusal (no CAP_SYS_ADMIN) is not a provisioning failure: the tracer
# then reports the reason and falls back to strace.
if [ -d /sys/kernel/tracing ] && [ ! -e /sys/kernel/tracing/events ]; then
  if as_root mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; then
    log "mounted tracefs on /sys/kernel/tracing"
  else
    log "could not mount tracefs on /sys/kernel/tracing; the syscalls tracer will use strace"
  fi
fi
