# OpenStack end to end (issue 8): Debian's Keystone served by uwsgi against MariaDB, with
# osprofiler writing trace events to Redis, and shellcheck for the devstack plugin's test.
# The Keystone test starts its own private Keystone (test/integration/helpers/keystone.ts);
# nothing here configures or starts the packaged one.

# find_spec looks for a module without importing it (importing keystone takes seconds).
py_has() { /usr/bin/python3 -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$1') is None)" 2>/dev/null; }

openstack_missing=()
command -v keystone-manage >/dev/null 2>&1 || openstack_missing+=(keystone)
command -v openstack >/dev/null 2>&1 || openstack_missing+=(python3-openstackclient)
command -v uwsgi_python3 >/dev/null 2>&1 || openstack_missing+=(uwsgi-plugin-python3)
py_has osprofiler || openstack_missing+=(python3-osprofiler)
py_has redis || openstack_missing+=(python3-redis)
py_has pymysql || openstack_missing+=(python3-pymysql)
command -v redis-server >/dev/null 2>&1 || openstack_missing+=(redis-server)
command -v shellcheck >/dev/null 2>&1 || openstack_missing+=(shellcheck)
if [ ${#openstack_missing[@]} -gt 0 ]; then
  # keystone's postinst tries to start its service, which a container without systemd refuses:
  # the packages are unpacked and configured all the same, so that failure is tolerated and
  # what matters (the binaries and modules) is checked right after.
  apt_install "${openstack_missing[@]}" || log "apt reported an error (the packaged keystone service cannot start here); checking what was installed"
  as_root env DEBIAN_FRONTEND=noninteractive dpkg --configure -a >/dev/null 2>&1 || true
  for bin in keystone-manage openstack uwsgi_python3 redis-server; do
    command -v "$bin" >/dev/null 2>&1 || { echo "provision: $bin is still missing" >&2; exit 1; }
  done
  for mod in keystone osprofiler redis pymysql; do
    py_has "$mod" || { echo "provision: python module $mod is still missing from /usr/bin/python3" >&2; exit 1; }
  done
fi
# The packaged keystone (apache2/uwsgi units) is not used; make sure a half-started one does not
# hold a port the tests want. Nothing to stop when it never ran.

# Redis on 127.0.0.1:6379: osprofiler's backend.
if ! port_open 6379; then
  log "starting redis"
  as_root redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save '' --appendonly no >/dev/null
  wait_port 6379 redis
fi
