#!/usr/bin/env bash
# Print the folder of an upstream source snapshot (a build input, never copied into this repo).
#
#   engine/third-party.sh NAME        e.g. pulumi-command, pulumi-language-python
#
# Looked for, in this order: $WEBSTACK_THIRD_PARTY/NAME; ../shared/third_party/NAME beside this
# checkout; the same beside the checkout this one was cloned from (a clean clone in /tmp of a
# workspace checkout). Exit 1, naming the places, when it is in none of them.
set -euo pipefail
NAME="${1:?usage: third-party.sh NAME}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

candidates=()
[[ -n "${WEBSTACK_THIRD_PARTY:-}" ]] && candidates+=("${WEBSTACK_THIRD_PARTY}/${NAME}")
candidates+=("${REPO}/../shared/third_party/${NAME}")
origin="$(git -C "${REPO}" remote get-url origin 2>/dev/null || true)"
origin="${origin#file://}"
[[ "${origin}" == /* && -d "${origin}" ]] && candidates+=("${origin}/../shared/third_party/${NAME}")

for dir in "${candidates[@]}"; do
	if [[ -f "${dir}/SOURCE.md" && -f "${dir}/go.mod" ]]; then
		(cd "${dir}" && pwd)
		exit 0
	fi
done
printf 'engine/third-party.sh: no upstream source for %s; looked in: %s\n' "${NAME}" "${candidates[*]}" >&2
exit 1
