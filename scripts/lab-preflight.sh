#!/usr/bin/env bash
# make lab / lab-down preflight: is there a Compose (COMPOSE, default "docker compose") and a
# container engine it can reach? Prints every missing piece with what to do, exits 2 if any.
set -uo pipefail
compose="${COMPOSE:-docker compose}"
read -r -a cmd <<<"$compose"
problems=()
if ! command -v "${cmd[0]}" >/dev/null 2>&1; then
  problems+=("'${cmd[0]}' is not on PATH: install Docker Engine with the Compose plugin, or set COMPOSE (e.g. COMPOSE=docker-compose, COMPOSE='podman compose')")
elif ! "${cmd[@]}" version >/dev/null 2>&1; then
  problems+=("'$compose version' fails: Docker Compose is missing (install the docker-compose-plugin package), or set COMPOSE to a Compose that works (COMPOSE=docker-compose, COMPOSE='podman compose')")
fi
# The engine: podman for podman-compose / podman compose, else a Docker engine.
engine=docker
case "${cmd[0]}" in podman | podman-compose) engine=podman ;; esac
if ! command -v "$engine" >/dev/null 2>&1; then
  [ "$engine" = "${cmd[0]}" ] || problems+=("no '$engine' CLI on PATH to reach a container engine")
elif ! "$engine" info >/dev/null 2>&1; then
  problems+=("no container engine reachable ('$engine info' fails): start the daemon (or set DOCKER_HOST), and check you may use its socket")
fi
if [ ${#problems[@]} -gt 0 ]; then
  for p in "${problems[@]}"; do echo "lab: $p" >&2; done
  echo "lab: without Docker, 'make lab-local' runs the same lab with the pinned Envoy as a process (docs/lab.md)" >&2
  exit 2
fi
