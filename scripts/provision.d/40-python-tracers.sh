# The python and bpftrace tracers: bpftrace (USDT probes in Debian's CPython, and the scripts
# in tracers/scripts/), and uwsgi with its python3 plugin for the python tracer's libpython
# test (an embedder, whose probes live in libpython3.11.so rather than /usr/bin/python3.11).
# systemtap is not installed: it needs the running kernel's build tree, which no package
# provides for this project's VM kernel, and its tracer reports exactly that.
apt_need bpftrace bpftrace uwsgi_python3 uwsgi-plugin-python3

# Tracepoints (the shipped bpftrace scripts) need tracefs; USDT probes do not. Mount it when it
# is missing and we may; the bpftrace tracer would otherwise try the same at its start.
if [ ! -e /sys/kernel/tracing/events ] && [ "$(id -u)" = 0 ]; then
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || log "could not mount tracefs; tracepoint scripts will fail with that reason"
fi
