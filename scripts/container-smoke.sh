#!/usr/bin/env bash
# Container smoke test: build the serving image, run it, and check that it answers like the service.
#
#   bash scripts/container-smoke.sh
#
# Builds the image from the Dockerfile, starts it, waits for /ready, classifies and summarizes a BBC
# test article and checks the answers, checks the server runs as non-root and the HEALTHCHECK passes,
# then serves a mounted model directory through TEXTCNN_MODEL_DIR. Prints the image size and the time
# from `run` to ready. Removes the containers and temporary files it made on any exit.
#
# Engine: docker when a docker daemon answers, otherwise podman (installed with apt-get if missing).
# With docker the build is the ordinary one (python:3.11-slim, packages from the index). With podman
# it works without any image registry: it builds a local Debian base image with debootstrap and
# downloads the wheels on the host (the index is not reachable from inside a build on these
# machines). Both are cached in .container-cache/ (gitignored); delete it for a cold run.
#
# Environment: CONTAINER_ENGINE=docker|podman forces the engine; TEXTCNN_IMAGE names the image
# (default localhost/textcnn:smoke); SMOKE_ARTICLE_ID picks the test article; READY_TIMEOUT (s).
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=.container-cache # relative: its wheels/ must lie inside the build context
IMAGE=${TEXTCNN_IMAGE:-localhost/textcnn:smoke}
BASE_IMAGE_LOCAL=localhost/textcnn-base:bookworm-py311
ARTICLES=data/bbc_news_summary/test.jsonl
ARTICLE_ID=${SMOKE_ARTICLE_ID:-business-008}
READY_TIMEOUT=${READY_TIMEOUT:-120}
SUITE=bookworm # python3 3.11 and glibc 2.36: what the wheels are downloaded for
PY_VERSION=3.11
GLIBC_MINOR=36

START=$(date +%s)
log() { printf '[smoke %3ss] %s\n' "$(($(date +%s) - START))" "$*" >&2; }
die() {
    log "FAIL: $*"
    exit 1
}

python3 -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null \
    || die "python3 >= 3.11 is needed on the host (tomllib)"

apt_install() {
    log "apt-get install $*"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "$@" >/dev/null \
        || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
}

# ---- engine -------------------------------------------------------------------------------------
ENGINE=${CONTAINER_ENGINE:-}
if [[ -z $ENGINE ]]; then
    if command -v docker >/dev/null && timeout 20 docker info >/dev/null 2>&1; then
        ENGINE=docker
    else
        ENGINE=podman
    fi
fi
[[ $ENGINE == docker || $ENGINE == podman ]] || die "CONTAINER_ENGINE must be docker or podman, not $ENGINE"

BUILD_ARGS=()
if [[ $ENGINE == podman ]]; then
    missing=()
    for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
    if ((${#missing[@]})); then apt_install "${missing[@]}"; fi
    mkdir -p "$CACHE"
    # runc: crun rejects the hybrid cgroup layout of some VMs; lower ulimits: root's defaults can be
    # refused inside a sandbox. chroot isolation builds without nested namespaces.
    if [[ -z ${CONTAINERS_CONF:-} ]]; then
        cat >"$CACHE/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
EOF
        export CONTAINERS_CONF=$PWD/$CACHE/containers.conf
    fi
    export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}

    # The base image: minimal Debian with python3 and venv, made with debootstrap, kept as a tarball.
    if ! podman image exists "$BASE_IMAGE_LOCAL"; then
        base_tar=$CACHE/base-$SUITE-py.tar
        if [[ ! -s $base_tar ]]; then
            mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
            [[ -n $mirror ]] || mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
            mirror=${mirror:-http://deb.debian.org/debian}
            log "debootstrap $SUITE from $mirror (about a minute)"
            rm -rf "$CACHE"/rootfs.* # left by an interrupted run
            rootfs=$(mktemp -d "$PWD/$CACHE/rootfs.XXXXXX")
            debootstrap --variant=minbase --include=python3,python3-venv "$SUITE" "$rootfs" "$mirror" \
                >"$CACHE/debootstrap.log" 2>&1 || die "debootstrap failed, see $CACHE/debootstrap.log"
            rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
            tar -C "$rootfs" -cf "$base_tar.part" . && mv "$base_tar.part" "$base_tar"
            rm -rf "$rootfs"
        fi
        log "import $base_tar as $BASE_IMAGE_LOCAL"
        podman import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            "$base_tar" "$BASE_IMAGE_LOCAL" >/dev/null
    fi

    # The wheels: downloaded on the host for the base image's Python, refreshed when the list changes.
    requirements=$(python3 - <<'EOF'
import tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
print("\n".join(["torch==2.13.0", *deps, "setuptools>=69", "wheel"]))
EOF
)
    stamp=$(printf '%s\n' "$requirements" | sha256sum | cut -c1-16)
    if [[ ! -f $CACHE/wheels/.complete-$stamp ]]; then
        python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
        log "pip download the wheels into $CACHE/wheels"
        rm -rf "$CACHE/wheels"
        mapfile -t reqs <<<"$requirements"
        # Every manylinux tag the base image's glibc (2.36 in bookworm) accepts; pip does not infer them.
        platforms=()
        for tag in manylinux1 manylinux2010 manylinux2014 $(printf 'manylinux_2_%s ' $(seq 5 "$GLIBC_MINOR")); do
            platforms+=(--platform "${tag}_$(uname -m)")
        done
        python3 -m pip download --dest "$CACHE/wheels" --only-binary=:all: \
            --python-version "$PY_VERSION" --implementation cp "${platforms[@]}" \
            "${reqs[@]}" >"$CACHE/pip-download.log" 2>&1 \
            || { tail -n 20 "$CACHE/pip-download.log" >&2; die "pip download failed"; }
        touch "$CACHE/wheels/.complete-$stamp"
    fi
    BUILD_ARGS=(--pull=never --format docker --build-arg "BASE_IMAGE=$BASE_IMAGE_LOCAL"
        --build-arg "WHEELS=$CACHE/wheels" --build-arg PIP_OFFLINE=1)
fi

# ---- build --------------------------------------------------------------------------------------
log "$ENGINE build -t $IMAGE"
build_start=$(date +%s)
"$ENGINE" build "${BUILD_ARGS[@]}" -t "$IMAGE" -f Dockerfile . >"${TMPDIR:-/tmp}/textcnn-smoke-build.log" 2>&1 \
    || { tail -n 40 "${TMPDIR:-/tmp}/textcnn-smoke-build.log" >&2; die "image build failed"; }
build_s=$(($(date +%s) - build_start))
size_bytes=$("$ENGINE" image inspect --format '{{.Size}}' "$IMAGE")
size_mb=$((size_bytes / 1000000))
log "built in ${build_s}s; image size ${size_mb} MB"

# ---- run ----------------------------------------------------------------------------------------
CONTAINERS=()
WORK=$(mktemp -d)
cleanup() {
    local status=$?
    if ((${#CONTAINERS[@]})); then
        if ((status != 0)); then "$ENGINE" logs "${CONTAINERS[-1]}" 2>&1 | tail -n 30 >&2 || true; fi
        "$ENGINE" rm -f "${CONTAINERS[@]}" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME [run options...]: runs the image detached; sets CID and URL.
start() {
    local name=$1-$$
    shift
    # stderr aside: without systemd podman cannot schedule the HEALTHCHECK and says so (it is run below).
    CID=$("$ENGINE" run -d --name "$name" -p 127.0.0.1::8000 \
        -e TEXTCNN_WORKERS=1 -e TEXTCNN_TORCH_THREADS=1 "$@" "$IMAGE" 2>"$WORK/run.err") \
        || { cat "$WORK/run.err" >&2; die "$ENGINE run failed"; }
    CONTAINERS+=("$CID")
    local port
    port=$("$ENGINE" port "$CID" 8000/tcp | head -n 1)
    URL=http://127.0.0.1:${port##*:}
}

# wait_ready T0: polls /ready until 200 and prints the seconds since T0 (a date +%s.%N stamp).
wait_ready() {
    python3 - "$URL/ready" "$1" "$READY_TIMEOUT" <<'EOF'
import sys, time, urllib.request
url, t0, timeout = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
while time.time() - t0 < timeout:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                print(f"{time.time() - t0:.1f}")
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.2)
sys.exit(f"{url} not ready after {timeout:.0f}s")
EOF
}

t0=$(date +%s.%N)
start textcnn-smoke
ready_s=$(wait_ready "$t0") || die "the container did not become ready"
log "ready ${ready_s}s after run at $URL"

# The image serves this checkout's model, not one from a stale cached layer: the weights' sha256 in
# the manifest is the version /v1/model reports.
python3 - "$URL" <<'EOF' || die "the image does not serve this checkout's default model"
import json, sys, urllib.request
expected = json.load(open("textcnn/default_model/manifest.json"))["files"]["model.safetensors"][:12]
with urllib.request.urlopen(sys.argv[1] + "/v1/model", timeout=10) as response:
    served = json.load(response)["version"]
assert served == expected, f"serving model version {served}, this checkout's is {expected}"
EOF
log "it serves this checkout's default model"

# The answers: the article's label; every summary sentence is the article's text at its offsets.
python3 - "$URL" "$ARTICLES" "$ARTICLE_ID" <<'EOF' || die "the answers are wrong"
import json, sys, urllib.request
url, path, article_id = sys.argv[1:]
labels = {"business", "entertainment", "politics", "sport", "tech"}
rows = [json.loads(line) for line in open(path, encoding="utf-8")]
row = next(r for r in rows if r["id"] == article_id)
text = row["text"]

def post(route, body):
    request = urllib.request.Request(
        url + route, json.dumps(body).encode(), {"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200, (route, response.status)
        return json.load(response)

(result,) = post("/classify", {"text": text})["results"]
assert result["label"] in labels, f"label {result['label']!r} is not one of {sorted(labels)}"
assert result["label"] == row["label"], f"{article_id}: labelled {result['label']!r}, expected {row['label']!r}"
(summary,) = post("/summarize", {"text": text, "max_sentences": 3})["results"]
sentences = summary["sentences"]
assert 1 <= len(sentences) <= 3, f"{len(sentences)} summary sentences"
for s in sentences:
    assert s["text"] in text, f"summary sentence not in the article: {s['text']!r}"
    assert text[s["start"] : s["end"]] == s["text"], f"offsets {s['start']}:{s['end']} do not match"
print(f"classify: {article_id} -> {result['label']} ({result['confidence']:.2f}); "
      f"summarize: {len(sentences)} sentences, all in the article")
EOF

uid=$("$ENGINE" exec "$CID" cat /proc/1/status | awk '/^Uid:/ {print $2}')
[[ -n $uid && $uid != 0 ]] || die "the server runs as uid '$uid'"
log "the server (pid 1) runs as uid $uid"

# The image's HEALTHCHECK command, run the way the engine runs it.
healthcheck=$("$ENGINE" image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE")
mapfile -t check < <(python3 -c '
import json, sys
test = json.loads(sys.argv[1])["Test"]
assert test[0] == "CMD" and "/health" in " ".join(test), test
print("\n".join(test[1:]))' "$healthcheck") || die "the image has no HEALTHCHECK on /health: $healthcheck"
"$ENGINE" exec "$CID" "${check[@]}" || die "the HEALTHCHECK command fails"
log "HEALTHCHECK passes"

# A mounted model directory replaces the embedded one: a copy under another name must be served.
python3 - "$WORK/model" <<'EOF'
import hashlib, json, shutil, sys
from pathlib import Path
out = Path(sys.argv[1])
shutil.copytree("textcnn/default_model", out)
config = json.loads((out / "config.json").read_text())
config["name"] = "smoke-mounted"
(out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
manifest = json.loads((out / "manifest.json").read_text())
manifest["files"]["config.json"] = hashlib.sha256((out / "config.json").read_bytes()).hexdigest()
(out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
EOF
chmod -R a+rX "$WORK"
start textcnn-smoke-model -v "$WORK/model:/models/custom:ro" -e TEXTCNN_MODEL_DIR=/models/custom
wait_ready "$(date +%s.%N)" >/dev/null || die "the container with a mounted model did not become ready"
python3 - "$URL" <<'EOF' || die "the mounted model is not the one served"
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/v1/model", timeout=10) as response:
    name = json.load(response)["name"]
assert name == "smoke-mounted", f"serving {name!r}"
EOF
log "TEXTCNN_MODEL_DIR serves a mounted model directory"

log "PASS: engine $ENGINE, image $IMAGE ${size_mb} MB, build ${build_s}s, run to ready ${ready_s}s," \
    "total $(($(date +%s) - START))s"
