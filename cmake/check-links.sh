#!/usr/bin/env bash
# Checks that every relative link and image in every tracked markdown file points at a
# tracked file (or a directory holding tracked files): a file that is untracked or ignored
# is not in the repository, however good it looks in a checkout. Anchors (#...) and web
# links are not checked. Exit 0: all resolve; 1: the broken ones are listed; 77: not a git
# checkout (ctest reports the test as skipped).
#
# Usage: cmake/check-links.sh [SOURCE_DIR]
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "check-links: $(pwd) is not a git checkout, so tracked files are unknown: skipped"
    exit 77
fi
tracked=$(mktemp)
trap 'rm -f "$tracked"' EXIT
git ls-files >"$tracked"
broken=0 checked=0
while IFS= read -r md; do
    dir=$(dirname "$md")
    # [text](target) and ![alt](target); the target ends at ')', whitespace or '#'.
    while IFS= read -r target; do
        [[ -z "$target" || "$target" =~ ^(https?:|mailto:) ]] && continue
        path=$(realpath -m --relative-to=. "$dir/$target")
        checked=$((checked + 1))
        if ! grep -qxF -- "$path" "$tracked" && ! grep -q -- "^$path/" "$tracked"; then
            echo "check-links: $md links to $target, which is not a tracked file"
            broken=$((broken + 1))
        fi
    done < <(grep -oE '\]\([^)#[:space:]]+' "$md" | sed 's/^](//')
done < <(git ls-files '*.md')
if ((broken > 0)); then
    echo "check-links: $broken of $checked links point at files that are not in the repository"
    exit 1
fi
echo "check-links: all $checked relative links in tracked markdown files point at tracked files"
