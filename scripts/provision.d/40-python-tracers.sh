# The python, bpftrace and command tracers: bpftrace (USDT probes in Debian's CPython, and the
# scripts in tracers/scripts/), and uwsgi with its python3 plugin for the libpython test
# (an embedder whose probes live in libpython3.11.so, not in /usr/bin/python3.11).
apt_need bpftrace bpftrace uwsgi_python3 uwsgi-plugin-python3 uwsgi uwsgi-core

# Syscall tracepoints need tracefs; USDT probes do not. Mount it where it is missing and we may:
# the bpftrace tracer's syscall scripts then run (the tracer says so when it is absent).
if [ ! -e /sys/kernel/tracing/events ] && [ "$(id -u)" = 0 ]; then
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || log "could not mount tracefs; syscall tracepoints stay unavailable"
fi
