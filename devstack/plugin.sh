#!/bin/bash
# devstack/plugin.sh — the Scalpels devstack plugin: installs Node.js and Scalpels on every
# node, starts a Scalpels agent labelled with the node's devstack services, and (on the node
# with scalpels-broker enabled) the embedded MQTT broker the agents and runners meet on.
#
# devstack calls it as `plugin.sh <mode> <phase>`; its functions can also be sourced and
# called on their own (the plugin's test does that against a local checkout, without devstack).

# The functions devstack provides, for use outside devstack (test, manual runs).
if ! type is_service_enabled >/dev/null 2>&1; then
    is_service_enabled() {
        local s
        for s in "$@"; do
            [[ ",${ENABLED_SERVICES:-}," == *",$s,"* ]] && return 0
        done
        return 1
    }
fi
if ! type echo_summary >/dev/null 2>&1; then
    echo_summary() { echo "scalpels: $*"; }
fi

_scalpels_sudo() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# scalpels_node_ok: a node of at least SCALPELS_NODE_MAJOR is on PATH.
scalpels_node_ok() {
    local major
    command -v node >/dev/null 2>&1 || return 1
    major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) || return 1
    [ "$major" -ge "$SCALPELS_NODE_MAJOR" ]
}

# install_node: the distro's nodejs when recent enough, else NodeSource's.
install_node() {
    scalpels_node_ok && return 0
    echo_summary "Installing Node.js $SCALPELS_NODE_MAJOR"
    _scalpels_sudo apt-get install -y nodejs npm || true
    if ! scalpels_node_ok; then
        curl -fsSL "https://deb.nodesource.com/setup_${SCALPELS_NODE_MAJOR}.x" | _scalpels_sudo bash -
        _scalpels_sudo apt-get install -y nodejs
    fi
    scalpels_node_ok || { echo "scalpels: Node.js $SCALPELS_NODE_MAJOR could not be installed" >&2; return 1; }
}

# install_scalpels: Node, the checkout's dependencies and build, and the `scalpels` command.
# A checkout that is already built (dist/ and node_modules/ present) is not rebuilt.
install_scalpels() {
    install_node
    if [ ! -d "$SCALPELS_DIR/.git" ] && [ ! -f "$SCALPELS_DIR/package.json" ]; then
        if type git_clone >/dev/null 2>&1; then
            git_clone "$SCALPELS_REPO" "$SCALPELS_DIR" "$SCALPELS_BRANCH"
        else
            git clone --branch "$SCALPELS_BRANCH" "$SCALPELS_REPO" "$SCALPELS_DIR"
        fi
    fi
    if [ ! -d "$SCALPELS_DIR/node_modules" ] || [ ! -d "$SCALPELS_DIR/dist/commands" ]; then
        echo_summary "Building Scalpels in $SCALPELS_DIR"
        (cd "$SCALPELS_DIR" && npm ci && npm run build)
    fi
    mkdir -p "$SCALPELS_BIN_DIR" 2>/dev/null || _scalpels_sudo mkdir -p "$SCALPELS_BIN_DIR"
    _scalpels_sudo ln -sf "$SCALPELS_DIR/bin/run.js" "$SCALPELS_BIN_DIR/scalpels"
    "$SCALPELS_BIN_DIR/scalpels" --version
}

# scalpels_agent_labels: --label flags for this node: role=controller when Keystone or the
# APIs run here, role=compute for n-cpu alone, and one service.<name>=enabled per service.
scalpels_agent_labels() {
    local role=other s
    if is_service_enabled key n-api g-api q-svc neutron-api; then
        role=controller
    elif is_service_enabled n-cpu; then
        role=compute
    fi
    printf -- '--label role=%s' "$role"
    local IFS=,
    for s in ${ENABLED_SERVICES:-}; do
        [ -n "$s" ] && printf -- ' --label service.%s=enabled' "$s"
    done
}

_scalpels_use_systemd() {
    case "$SCALPELS_SERVICE_MANAGER" in
        systemd) return 0 ;;
        process) return 1 ;;
    esac
    [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
}

# configure_scalpels: the shared secret (created once) and the agent's environment file, in
# the format deploy/scalpels-agent.service reads.
configure_scalpels() {
    _scalpels_sudo mkdir -p "$SCALPELS_CONF_DIR" "$SCALPELS_STATE_DIR"
    if [ ! -s "$SCALPELS_CONF_DIR/secret" ]; then
        # Every node of the deployment must share it: multinode jobs copy the controller's.
        head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' | _scalpels_sudo tee "$SCALPELS_CONF_DIR/secret" >/dev/null
        _scalpels_sudo chmod 600 "$SCALPELS_CONF_DIR/secret"
    fi
    _scalpels_sudo tee "$SCALPELS_CONF_DIR/scalpels-agent.env" >/dev/null <<ENV
SCALPELS_BROKER=mqtt://$SCALPELS_BROKER_HOST:$SCALPELS_BROKER_PORT
SCALPELS_SECRET_FILE=$SCALPELS_CONF_DIR/secret
SCALPELS_AGENT_ARGS="--name $SCALPELS_AGENT_NAME $(scalpels_agent_labels) --spool-dir $SCALPELS_STATE_DIR/spool --insecure $SCALPELS_AGENT_EXTRA_ARGS"
ENV
}

# _scalpels_start_process NAME ARGS...: a background process with a pid file and a log, for
# nodes without systemd.
_scalpels_start_process() {
    local name=$1
    shift
    local pidfile="$SCALPELS_STATE_DIR/$name.pid"
    if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        return 0
    fi
    nohup "$@" >>"$SCALPELS_STATE_DIR/$name.log" 2>&1 &
    echo $! >"$pidfile"
}

_scalpels_stop_process() {
    local pidfile="$SCALPELS_STATE_DIR/$1.pid"
    local pid
    if [ -s "$pidfile" ]; then
        pid=$(cat "$pidfile")
        kill "$pid" 2>/dev/null || true
        # The agent stops its tracers and flushes its spool first: give it the unit's 20 s.
        for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$pidfile"
    fi
}

# start_scalpels_broker: the embedded broker, listening for the agents of every node.
start_scalpels_broker() {
    if _scalpels_use_systemd; then
        _scalpels_sudo tee "$SCALPELS_SYSTEMD_DIR/scalpels-broker.service" >/dev/null <<UNIT
[Unit]
Description=Scalpels embedded MQTT broker (devstack)
After=network-online.target
[Service]
ExecStart=$SCALPELS_BIN_DIR/scalpels broker --host 0.0.0.0 --port $SCALPELS_BROKER_PORT
Restart=on-failure
[Install]
WantedBy=multi-user.target
UNIT
        _scalpels_sudo systemctl daemon-reload
        _scalpels_sudo systemctl enable --now scalpels-broker.service
    else
        _scalpels_start_process scalpels-broker "$SCALPELS_BIN_DIR/scalpels" broker --host "$SCALPELS_BROKER_HOST" --port "$SCALPELS_BROKER_PORT"
    fi
}

# start_scalpels_agent: the agent, with deploy/scalpels-agent.service under systemd.
start_scalpels_agent() {
    if _scalpels_use_systemd; then
        # The unit runs `/usr/bin/env scalpels`: SCALPELS_BIN_DIR must be on systemd's PATH
        # (/usr/local/bin is); its environment file is the one configure_scalpels wrote.
        sed "s|^EnvironmentFile=.*|EnvironmentFile=-$SCALPELS_CONF_DIR/scalpels-agent.env|" \
            "$SCALPELS_DIR/deploy/scalpels-agent.service" | _scalpels_sudo tee "$SCALPELS_SYSTEMD_DIR/scalpels-agent.service" >/dev/null
        _scalpels_sudo systemctl daemon-reload
        _scalpels_sudo systemctl enable --now scalpels-agent.service
    else
        local SCALPELS_BROKER SCALPELS_SECRET_FILE SCALPELS_AGENT_ARGS
        # shellcheck disable=SC1091
        . "$SCALPELS_CONF_DIR/scalpels-agent.env"
        # Word splitting of SCALPELS_AGENT_ARGS is wanted: it holds flags, as in the unit.
        # shellcheck disable=SC2086
        SCALPELS_BROKER=$SCALPELS_BROKER SCALPELS_SECRET_FILE=$SCALPELS_SECRET_FILE \
            _scalpels_start_process scalpels-agent "$SCALPELS_BIN_DIR/scalpels" agent --log-format json $SCALPELS_AGENT_ARGS
    fi
}

stop_scalpels() {
    if _scalpels_use_systemd; then
        _scalpels_sudo systemctl stop scalpels-agent.service scalpels-broker.service 2>/dev/null || true
    else
        _scalpels_stop_process scalpels-agent
        _scalpels_stop_process scalpels-broker
    fi
}

# devstack entry points.
if [[ "${1:-}" == "stack" || "${1:-}" == "unstack" || "${1:-}" == "clean" ]]; then
    if is_service_enabled scalpels-agent scalpels-broker; then
        case "$1/${2:-}" in
            stack/install)
                echo_summary "Installing Scalpels"
                install_scalpels
                ;;
            stack/post-config)
                configure_scalpels
                ;;
            stack/extra)
                # After every service started: the labels describe what runs here.
                if is_service_enabled scalpels-broker; then start_scalpels_broker; fi
                if is_service_enabled scalpels-agent; then start_scalpels_agent; fi
                ;;
            unstack/* | clean/*)
                stop_scalpels
                ;;
        esac
    fi
fi
