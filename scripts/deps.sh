# Installs the Debian packages the project needs, if any is missing (sourced by tour.sh/test.sh).
ASYNCIO_DEPS="g++ clang clang-tools cmake ninja-build catch2 libfmt-dev libcurl4-openssl-dev nlohmann-json3-dev libasio-dev python3 openssl curl libssl-dev node-llhttp libwslay-dev zlib1g-dev libgmime-3.0-dev pkg-config python3-aiohttp python3-websockets gdb wrk chromium"
asyncio_install_deps() {
  local missing=()
  for p in $ASYNCIO_DEPS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing missing packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}
