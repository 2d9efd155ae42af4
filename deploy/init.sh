#!/bin/sh
# Prepare deploy/ for `docker compose -f deploy/compose.yaml up -d --build`:
#   deploy/init.sh +BRIDGE_NUMBER +YOUR_NUMBER
# writes deploy/.env (every change-me of .env.example replaced by a fresh random value; mode
# 0600) and deploy/config.yaml (the bridge number, your number, every WhatsApp session).
# It never overwrites either file: delete one to have it written again.
set -eu
here=$(cd "$(dirname "$0")" && pwd)

usage() {
    echo "usage: $0 +BRIDGE_NUMBER +YOUR_NUMBER" >&2
    echo "  BRIDGE_NUMBER: the Signal number the bridge runs (linked or registered in signal-cli)" >&2
    echo "  YOUR_NUMBER:   your own Signal number, where your WhatsApp chats arrive" >&2
    exit 2
}

[ "$#" -eq 2 ] || usage
for number in "$1" "$2"; do
    case "$number" in
        +[1-9]*) ;;
        *) echo "$0: '$number' is not a phone number in international form (+491701234567)" >&2; usage ;;
    esac
    digits=${number#+}
    case "$digits" in
        *[!0-9]*) echo "$0: '$number' has characters other than digits after the +" >&2; usage ;;
    esac
    if [ "${#digits}" -lt 8 ] || [ "${#digits}" -gt 15 ]; then
        echo "$0: '$number' must have 8 to 15 digits" >&2
        usage
    fi
done
[ "$1" != "$2" ] || { echo "$0: the bridge number and your number must differ" >&2; usage; }

umask 077
if [ -e "$here/.env" ]; then
    echo "deploy/.env exists: kept (its secrets encrypt the database)"
else
    while IFS= read -r line; do
        case "$line" in
            *=change-me)
                secret=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
                printf '%s=%s\n' "${line%=change-me}" "$secret" ;;
            *) printf '%s\n' "$line" ;;
        esac
    done <"$here/.env.example" >"$here/.env.tmp"
    mv "$here/.env.tmp" "$here/.env"
    echo "deploy/.env written with fresh secrets (mode 0600)"
fi

umask 022
if [ -e "$here/config.yaml" ]; then
    echo "deploy/config.yaml exists: kept"
else
    cat >"$here/config.yaml.tmp" <<YAML
# whatsignal in deploy/compose.yaml. WAHA's and signal-cli's URLs, the database path and the
# listening address come from the compose file; every other key is described in config.yaml
# at the repository root.
signal:
  intermediaryPhoneNumber: "$1"
channels:
  # "*": every WhatsApp session of WAHA, whatever its name.
  - whatsappSessionName: "*"
    signalDestinationPhoneNumber: "$2"
YAML
    mv "$here/config.yaml.tmp" "$here/config.yaml"
    echo "deploy/config.yaml written"
fi
echo "next: docker compose -f deploy/compose.yaml up -d --build"
