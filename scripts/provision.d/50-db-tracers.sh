# The services the mysql, postgres and rabbitmq tracers are tested against, and the
# oslo.messaging fixture of the firehose test. Installs what is missing, starts what is not
# running with the machine image's own commands, and never restarts a running service
# (other sessions' tests may be using it).

# mariadb-install-db and mariadbd start the private MariaDB of the digest test; postgresql-contrib
# ships pg_stat_statements (a separate package on older Debian releases, a virtual one on 12).
apt_need mariadbd mariadb-server mariadb-install-db mariadb-server rabbitmqctl rabbitmq-server
if [ ! -x /usr/lib/postgresql/15/bin/initdb ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  apt_install postgresql postgresql-contrib
fi
if ! ls /usr/share/postgresql/*/extension/pg_stat_statements.control >/dev/null 2>&1; then
  apt_install postgresql-contrib
fi
# Debian's OpenStack library for the RPC fixture; it lands in /usr/bin/python3's dist-packages.
# find_spec looks without importing (importing oslo.messaging takes seconds).
if ! /usr/bin/python3 -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("oslo_messaging") is None)' 2>/dev/null; then
  apt_install python3-oslo.messaging
fi

# MariaDB on 127.0.0.1:3306.
if ! port_open 3306; then
  log "starting mariadb"
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  wait_port 3306 mariadb
fi

# PostgreSQL on 127.0.0.1:5432.
if ! port_open 5432; then
  log "starting postgresql"
  # shellcheck disable=SC2046
  as_root pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start
  wait_port 5432 postgresql
fi

# RabbitMQ on 127.0.0.1:5672. The Erlang VM takes a few seconds more than the others.
if ! port_open 5672; then
  log "starting rabbitmq"
  as_root rabbitmq-server -detached
  for _ in $(seq 600); do port_open 5672 && break; sleep 0.1; done
  wait_port 5672 rabbitmq
fi

# The management plugin (HTTP API on 15672) is what the rabbitmq tracer reads queue and
# exchange statistics from. `rabbitmq-plugins enable` switches it on in the running node
# (no restart) and records it in enabled_plugins for the next start.
if ! port_open 15672; then
  log "enabling rabbitmq_management"
  as_root rabbitmq-plugins enable rabbitmq_management >/dev/null
  wait_port 15672 rabbitmq-management
fi
